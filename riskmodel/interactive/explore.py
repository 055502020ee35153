"""What the interactive explorer needs, as library functions.

Priors from sliders, shareable URL state, the funnel, tables and figures, and saving an assumption set as a new
prior version. The Streamlit app only lays these out; the CLI and analyses can call them too.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskmodel.data.distributions import FAMILIES, check_params, elicit_interval
from riskmodel.data.features import VOCABULARY, Context
from riskmodel.data.priors import CAPABILITIES, PARAMETERS, ParamPrior, PriorSet, prior_store
from riskmodel.data.registry import Release, format_version
from riskmodel.errors import InputError, PriorError, RegistryError, RiskmodelError
from riskmodel.model.summaries import weighted_mean
from riskmodel.versions import SAMPLER

if TYPE_CHECKING:
    from riskmodel.data.evidence import EvidenceSet
    from riskmodel.results.result import FitResult

__all__ = [
    "ADJUSTABLE",
    "ALL_CONTEXTS",
    "BETA_PARAMETERS",
    "assumption_table",
    "beta_from_interval",
    "beta_from_mean_strength",
    "capability_sources",
    "changed_assumptions",
    "context_rate_chart",
    "context_rate_table",
    "decode_capability",
    "decode_state",
    "default_refs",
    "encode_state",
    "fit_in_stages",
    "funnel",
    "funnel_chart",
    "prior_from_interval",
    "prior_from_params",
    "release_priors",
    "summary_table",
    "system_table",
    "what_if_table",
    "worst_case_chart",
    "worst_case_ecdf",
]

#: Every assumption of a prior file can be adjusted in the explorer, in the file's order.
ADJUSTABLE: tuple[str, ...] = tuple(PARAMETERS)
#: Parameters with probability support: besides a 90% interval they can be set by mean and strength.
BETA_PARAMETERS: tuple[str, ...] = tuple(p for p, info in PARAMETERS.items() if info.support == "unit")

#: Every combination of context features (pre-RL, prerequisites implicit), for editing the critical contexts.
ALL_CONTEXTS: tuple[Context, ...] = tuple(
    Context(vc, ti, sp)
    for vc in VOCABULARY["value_conflict"]
    for ti in VOCABULARY["training_info"]
    for sp in VOCABULARY["scratchpad"]
)


def default_refs() -> tuple[str, str]:
    """``NAME@VERSION`` of the prior and evidence sets a fit uses by default (named explicitly, not "latest")."""
    from riskmodel.data.registry import DEFAULT_EVIDENCE, DEFAULT_PRIORS

    return DEFAULT_PRIORS, DEFAULT_EVIDENCE


def fit_in_stages(
    priors: PriorSet,
    evidence: EvidenceSet,
    say: Callable[[str], None],
    *,
    seed: int = 1,
    chains: int = 4,
    draws: int = 1000,
    tune: int = 1000,
    sampler: str = SAMPLER,
) -> FitResult:
    """The exact fit of ``riskmodel.fit``, saying each stage it goes through (for a status panel).

    Stages: read from the fit store (when it holds this key), otherwise compile the model (only the first time
    in a process) and sample; ``say`` gets one short sentence per stage before it starts.
    """
    from riskmodel.model import sampling
    from riskmodel.model.spec import model_data
    from riskmodel.results import store
    from riskmodel.results.result import fit, fit_settings

    key = store.fit_key(fit_settings(priors, evidence, seed, chains, draws, tune, sampler))
    if store.is_stored(key):
        say("Reading the fit from the fit store (no sampling needed).")
    else:
        say("No stored fit for these priors and evidence: fitting once; later runs and sessions read it.")
        data = model_data(priors, evidence)
        if sampler == "nutpie" and not sampling.is_compiled(data):
            say("Compiling the model (first fit in this process; about a minute on a fresh machine).")
            sampling.compiled_model(data)
        say(f"Sampling {chains} chains x ({tune} tuning + {draws}) draws with {sampler}, then checking sampler health.")
    result = fit(priors, evidence, seed=seed, chains=chains, draws=draws, tune=tune, sampler=sampler)
    say("Fitted and checked." if result.healthy else "Fitted, but the sampler health checks failed (see Health).")
    return result


def beta_from_mean_strength(base: ParamPrior, mean: float, strength: float) -> ParamPrior:
    """A Beta prior with the given mean and strength (alpha + beta, a pseudo-count of observations)."""
    if PARAMETERS[base.name].support != "unit":
        raise PriorError("mean and strength set a Beta prior: this parameter is not a probability", field=base.name)
    if not (isinstance(mean, int | float) and 0.0 < mean < 1.0):
        raise PriorError(f"mean must lie strictly between 0 and 1, got {mean!r}", field=f"{base.name}.mean")
    if not (isinstance(strength, int | float) and 0.0 < strength <= 1e6):
        raise PriorError(f"strength must be in (0, 1e6], got {strength!r}", field=f"{base.name}.strength")
    params = check_params(
        "Beta",
        {"alpha": float(mean * strength), "beta": float((1.0 - mean) * strength)},
        file=None,
        field=f"{base.name}",
    )
    return replace(base, distribution="Beta", params=params, interval90=None)


def prior_from_interval(base: ParamPrior, low: float, high: float, family: str | None = None) -> ParamPrior:
    """The maximum-entropy prior of ``family`` (default: the parameter's own) with 90% of its mass in [low, high]."""
    family = family or base.distribution
    if family not in FAMILIES or FAMILIES[family].support != PARAMETERS[base.name].support:
        raise PriorError(f"a {family} prior does not fit this parameter's support", field=f"{base.name}.distribution")
    params = elicit_interval(family, low, high, field=f"{base.name}.interval90")
    return replace(base, distribution=family, params=params, interval90=(float(low), float(high)))


def beta_from_interval(base: ParamPrior, low: float, high: float) -> ParamPrior:
    """The maximum-entropy Beta prior with 90% of its mass in [low, high] (PreliZ maxent)."""
    return prior_from_interval(base, low, high, "Beta")


def prior_from_params(base: ParamPrior, family: str, params: dict[str, float]) -> ParamPrior:
    """A prior of ``family`` with the given parameters (checked as a prior file's are)."""
    if family not in FAMILIES or FAMILIES[family].support != PARAMETERS[base.name].support:
        raise PriorError(f"a {family} prior does not fit this parameter's support", field=f"{base.name}.distribution")
    return replace(
        base, distribution=family, params=check_params(family, params, file=None, field=base.name), interval90=None
    )


# ---------------------------------------------------------------------------------------------- shareable state
_NUM = r"([-+]?[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)"
_MEAN_RE = re.compile(rf"^m{_NUM}s{_NUM}$")
_INTERVAL_RE = re.compile(rf"^i{_NUM}~{_NUM}(?::([A-Za-z]+))?$")
_PARAMS_RE = re.compile(r"^([A-Za-z]+):((?:[a-z]+=[-+0-9.eE]+,?)+)$")


def encode_state(
    priors: PriorSet,
    base: PriorSet,
    *,
    excluded: frozenset[str] = frozenset(),
    evidence: str = "",
    system: str = "new",
    capability: frozenset[str] | None = None,
) -> dict[str, str]:
    """URL query parameters that restore an assumption set: base prior ref, changed priors, contexts, evidence.

    A changed prior is ``p.NAME=iLOW~HIGH[:FAMILY]`` (a 90% interval) or ``p.NAME=FAMILY:arg=value,...``; the model
    settings are ``consistency`` and ``tail_df``; ``capability`` names the sources whose capability evidence is in
    the likelihood, when they differ from the file's.
    """
    out = {"priors": base.ref, "system": system}
    if evidence:
        out["evidence"] = evidence
    if capability is not None:
        out["capability"] = ",".join(sorted(capability)) or "none"
    for name in ADJUSTABLE:
        p = priors[name]
        if (p.distribution, p.params) == (base[name].distribution, base[name].params):
            continue
        # full precision (repr): rounding could turn a valid value into one decode_state refuses (0.9999995 -> 1)
        if p.interval90 is not None:
            out[f"p.{name}"] = f"i{float(p.interval90[0])!r}~{float(p.interval90[1])!r}:{p.distribution}"
        else:
            out[f"p.{name}"] = f"{p.distribution}:" + ",".join(f"{k}={float(v)!r}" for k, v in p.params.items())
    if priors.critical != base.critical:
        out["critical"] = ";".join(
            f"{c.value_conflict},{c.training_info},{c.scratchpad},{c.prerequisites}" for c in priors.critical
        )
    if priors.consistency != base.consistency:
        out["consistency"] = priors.consistency
    if priors.tail_df != base.tail_df:
        out["tail_df"] = repr(priors.tail_df)
    if excluded:
        out["exclude"] = ",".join(sorted(excluded))
    return out


def decode_capability(params: dict[str, str], evidence: EvidenceSet) -> frozenset[str]:
    """Sources whose capability evidence the URL switches into the likelihood (default: the evidence file's choice).

    Unknown sources raise a one-line error.
    """
    raw = params.get("capability")
    if raw is None:
        return evidence.capability_sources
    chosen = frozenset() if raw == "none" else frozenset(x for x in raw.split(",") if x)
    evidence.with_capability_likelihood(chosen)  # refuses a source without capability counts
    return chosen


def decode_state(params: dict[str, str], base: PriorSet) -> tuple[PriorSet, frozenset[str]]:
    """Apply URL query parameters (from :func:`encode_state`) to ``base``; bad values raise one-line errors."""
    priors = base
    for key, value in params.items():
        if not isinstance(value, str) or len(value) > 4000:
            raise InputError("must be a short string", field=f"url.{key}")
        if key.startswith("p."):
            name = key[2:]
            if name not in ADJUSTABLE:
                raise InputError(f"unknown assumption {name!r}", field=f"url.{key}")
            try:
                if m := _MEAN_RE.match(value):
                    new = beta_from_mean_strength(base[name], float(m[1]), float(m[2]))
                elif m := _INTERVAL_RE.match(value):
                    new = prior_from_interval(base[name], float(m[1]), float(m[2]), m[3] or None)
                elif m := _PARAMS_RE.match(value):
                    args = dict(part.split("=", 1) for part in m[2].split(",") if part)
                    new = prior_from_params(base[name], m[1], {k: float(v) for k, v in args.items()})
                else:
                    raise InputError(
                        f"{value[:40]!r} is not mMEANsSTRENGTH, iLOW~HIGH[:FAMILY] or FAMILY:arg=value,...",
                        field=f"url.{key}",
                    )
            except (ValueError, OverflowError) as exc:
                raise InputError(f"not a number ({exc})", field=f"url.{key}") from None
            except RiskmodelError as exc:
                raise InputError(exc.reason, field=f"url.{key}") from None
            priors = priors.with_parameter(new)
        elif key == "critical":
            contexts = []
            for part in value.split(";"):
                feats = part.split(",")
                if len(feats) == 3:
                    feats.append("implicit")
                ok = len(feats) == 4 and all(
                    f in VOCABULARY[v]
                    for f, v in zip(
                        feats, ("value_conflict", "training_info", "scratchpad", "prerequisites"), strict=True
                    )
                )
                if not ok:
                    raise InputError(
                        f"{part[:60]!r} is not value_conflict,training_info,scratchpad[,prerequisites]",
                        field="url.critical",
                    )
                contexts.append(Context(*feats[:3], prerequisites=feats[3]))
            priors = priors.with_critical(tuple(contexts))
        elif key == "consistency":
            priors = priors.with_model(consistency=value)
        elif key == "tail_df":
            try:
                priors = priors.with_model(tail_df=float(value))
            except ValueError:
                raise InputError(f"{value[:40]!r} is not a number", field="url.tail_df") from None
    excluded = frozenset(x for x in params.get("exclude", "").split(",") if x)
    return priors, excluded


# ---------------------------------------------------------------------------------------------- funnel and tables
def funnel(result: FitResult, system: str) -> pd.DataFrame:
    """How each extra assumption cuts the probability, from training-gaming to the worst case.

    Rows: P(training-gaming in the elicitation context), P(misaligned after training), P(misaligned and the plan is
    carried out: consistency or other route), then each capability added in turn (with the shared competence).
    """
    cd = ("chain", "draw")
    q = result.quantities.sel(system=system)
    w = result.weights
    p_pre = q["p_misaligned_pre"].transpose(*cd).values
    elicit = q["tg_rate_elicitation"]
    tg = (
        p_pre * elicit.sel(disposition="misaligned").transpose(*cd).values
        + (1 - p_pre) * elicit.sel(disposition="aligned").transpose(*cd).values
    )
    rows = [
        ("training-gaming (elicitation context)", weighted_mean(tg, w)),
        ("misaligned after training", weighted_mean(q["p_misaligned_post"].transpose(*cd).values, w)),
        ("... and carries out the plan (consistency or other route)", weighted_mean(q["p_misaligned_and_route"], w)),
    ]
    through = q["p_route_and_capabilities"]
    for cap in CAPABILITIES:
        rows.append((f"... and {cap.replace('_', ' ')}", weighted_mean(through.sel(capability=cap), w)))
    # numbered so that charts keep the order of the stages
    return pd.DataFrame([(f"{i + 1}. {s}", p) for i, (s, p) in enumerate(rows)], columns=["stage", "probability"])


def funnel_chart(table: pd.DataFrame) -> dict[str, Any]:
    """The funnel as horizontal bars with their values (a Vega-Lite specification)."""
    y = {"field": "stage", "type": "nominal", "sort": None, "title": None, "axis": {"labelLimit": 320}}
    x = {"field": "probability", "type": "quantitative"}
    return {
        "data": {"values": table.to_dict(orient="records")},
        "height": {"step": 24},
        "layer": [
            {"mark": "bar", "encoding": {"y": y, "x": x, "tooltip": [{"field": "stage"}, {"field": "probability"}]}},
            {
                "mark": {"type": "text", "align": "left", "dx": 3},
                "encoding": {"y": y, "x": x, "text": {"field": "probability", "format": ".2g"}},
            },
        ],
    }


def capability_sources(evidence: EvidenceSet) -> list[str]:
    """Sources of an evidence set that have capability-evidence counts (each can be switched into the likelihood)."""
    from riskmodel.data.evidence import CAPABILITY_EVIDENCE

    return sorted({r.source for r in evidence.rows if r.quantity in CAPABILITY_EVIDENCE and r.has_counts})


def what_if_table(before: FitResult, after: FitResult, system: str, observed: str) -> pd.DataFrame:
    """What a hypothetical observation of ``observed`` does: P(worst case) for ``system`` and P(misaligned).

    One row per quantity, before and after (means and 90% intervals), and the Bayes factor the hypothetical
    observation carries for the worst case of ``system``. A system new to the fit starts from the population.
    """
    from riskmodel.model.summaries import summarize

    rows = []
    for label, key, sys in (
        (f"P(worst case), {system}", "p_worst_case", system),
        (f"P(misaligned), {observed}", "p_misaligned_pre", observed),
    ):
        src = sys if sys in before.systems else "new"
        a = summarize(before.quantities[key].sel(system=src), before.weights)
        b = summarize(after.quantities[key].sel(system=sys), after.weights)
        rows.append(
            {
                "quantity": label,
                "before": a.mean,
                "before 90%": f"[{a.lower:.2g}, {a.upper:.2g}]",
                "after": b.mean,
                "after 90%": f"[{b.lower:.2g}, {b.upper:.2g}]",
            }
        )
    odds = lambda p: p / (1.0 - p) if 0.0 < p < 1.0 else float("nan")  # noqa: E731
    rows.append(
        {
            "quantity": "Bayes factor of the observation (worst case)",
            "after": odds(rows[0]["after"]) / odds(rows[0]["before"]),
        }
    )
    return pd.DataFrame(rows)


def assumption_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per extra assumption: P(worst case) if it were certain vs as modeled, and the log10 ratio."""
    return pd.DataFrame.from_dict(report["assumptions"], orient="index").rename(
        columns={
            "p_worst_case_if_certain": "if certain",
            "p_worst_case_as_modeled": "as modeled",
            "log10_ratio": "log10 ratio",
        }
    )


def system_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per system: P(misaligned) with its MCSE and bound, consistency, P(worst case) and its Bayes factor.

    ``odds bound``: the largest factor by which the system's own evidence can move its odds of misalignment under
    these priors (``riskmodel.model.bounds``).
    """
    return pd.DataFrame.from_dict(
        {
            s: {
                "P(misaligned)": d["p_misaligned"]["mean"],
                "MCSE": d["p_misaligned"]["mcse"],
                "P(misaligned), prior": d["p_misaligned_prior"]["mean"],
                "Bayes factor (misaligned)": d["bayes_factor_misaligned"]["value"],
                "odds bound": d["odds_bound"],
                "consistency | misaligned": d["consistency_given_misaligned"],
                "P(worst case)": d["p_worst_case"]["mean"],
                "P(worst case) 5%": d["p_worst_case"]["lower"],
                "P(worst case) 95%": d["p_worst_case"]["upper"],
                "Bayes factor (worst case)": d["bayes_factor_worst_case"]["value"],
            }
            for s, d in report["per_system"].items()
        },
        orient="index",
    )


def context_rate_table(result: FitResult, system: str) -> pd.DataFrame:
    """Training-gaming rates per context for ``system``, with the observed data points where there are any.

    Observed rows: the flagged-reasoning rate the model predicts (``p * sensitivity + (1 - p) * false_positive``,
    from the system's own pattern) against the observed k/n with a Jeffreys 90% interval. Declared contexts
    (elicitation, training, deployment-critical): the training-gaming rate, mixing the two dispositions by the
    system's P(misaligned).
    """
    from scipy import stats

    from riskmodel.model.summaries import weighted_quantile

    post, w = result.posterior, result.weights
    cd = ("chain", "draw")

    def arr(da: Any, *dims: str) -> np.ndarray:
        return da.transpose(*cd, *dims).values

    rows = []
    if "tg_rate_reasoning" in post:
        sens, fpos = arr(post["reasoning_sensitivity"]), arr(post["reasoning_false_positive"])
        rate_all = post["tg_rate_reasoning"]
        obs_ids = list(rate_all["reasoning_obs"].values)
        rates = arr(rate_all, "reasoning_obs")
        for row in result.evidence.reasoning_rows():
            if row.system != system:
                continue
            p = rates[:, :, obs_ids.index(row.id)]
            flagged = p * sens + (1 - p) * fpos
            lo, hi = weighted_quantile(flagged, [0.05, 0.95], w)
            jeff = stats.beta(row.k + 0.5, row.n - row.k + 0.5)
            rows.append(
                {
                    "context": f"{row.setting} {row.stage}: {row.context.label()}",
                    "kind": "observed",
                    "model_mean": weighted_mean(flagged, w),
                    "model_lower": lo,
                    "model_upper": hi,
                    "observed": row.k / row.n,
                    "observed_lower": jeff.ppf(0.05),
                    "observed_upper": jeff.ppf(0.95),
                }
            )
    q = result.quantities.sel(system=system)
    p_pre = arr(q["p_misaligned_pre"])
    critical = arr(q["tg_rate_critical"], "disposition", "context")
    declared = [
        ("elicitation", arr(q["tg_rate_elicitation"], "disposition")),
        ("training", arr(q["tg_rate_training"], "disposition")),
    ]
    declared += [(f"critical: {c}", critical[..., j]) for j, c in enumerate(q["context"].values)]
    for label, rate in declared:
        mixed = p_pre * rate[..., 1] + (1 - p_pre) * rate[..., 0]
        lo, hi = weighted_quantile(mixed, [0.05, 0.95], w)
        rows.append(
            {
                "context": label,
                "kind": "declared",
                "model_mean": weighted_mean(mixed, w),
                "model_lower": lo,
                "model_upper": hi,
            }
        )
    return pd.DataFrame(rows)


def context_rate_chart(table: pd.DataFrame) -> dict[str, Any]:
    """Model rates with 90% intervals per context, observed k/n (with Jeffreys intervals) beside them.

    A Vega-Lite specification (``st.vega_lite_chart``): the browser draws it, so a rerun of the explorer does no
    plotting on the server. Rates are clipped at 1e-4 for the log axis.
    """
    model = table[["context", "model_mean", "model_lower", "model_upper"]].set_axis(
        ["context", "rate", "lower", "upper"], axis=1
    )
    parts = [model.assign(source="model (90%)")]
    if "observed" in table:
        obs = table.dropna(subset=["observed"])[["context", "observed", "observed_lower", "observed_upper"]]
        parts.append(obs.set_axis(["context", "rate", "lower", "upper"], axis=1).assign(source="observed k/n (90%)"))
    data = pd.concat(parts, ignore_index=True)
    data[["rate", "lower", "upper"]] = data[["rate", "lower", "upper"]].clip(lower=1e-4)
    log = {"type": "log", "domain": [1e-4, 1]}
    y = {"field": "context", "type": "nominal", "sort": list(dict.fromkeys(table["context"])), "title": None}
    common = {
        "y": y,
        "yOffset": {"field": "source", "type": "nominal"},
        "color": {"field": "source", "type": "nominal", "title": None, "legend": {"orient": "top"}},
    }
    return {
        "data": {"values": data.to_dict(orient="records")},
        "height": {"step": 22},
        "layer": [
            {
                "mark": "rule",
                "encoding": {
                    **common,
                    "x": {"field": "lower", "type": "quantitative", "scale": log, "title": "training-gaming rate"},
                    "x2": {"field": "upper"},
                },
            },
            {
                "mark": {"type": "point", "filled": True},
                "encoding": {
                    **common,
                    "x": {"field": "rate", "type": "quantitative", "scale": log},
                    "tooltip": [{"field": f} for f in ("context", "source", "rate", "lower", "upper")],
                },
            },
        ],
    }


def summary_table(report: dict[str, Any]) -> pd.DataFrame:
    """The headline numbers of a report as a table (one row per quantity; posterior and prior columns)."""
    rows = []
    for key, label in (("p_worst_case", "P(worst case)"), ("p_misaligned", "P(misaligned)")):
        post, prior = report[key], report[f"{key}_prior"]
        rows.append(
            {
                "quantity": label,
                "posterior_mean": post["mean"],
                "posterior_lower90": post["lower"],
                "posterior_upper90": post["upper"],
                "prior_mean": prior["mean"],
                "prior_lower90": prior["lower"],
                "prior_upper90": prior["upper"],
            }
        )
    for x, p in report["exceedance"].items():
        rows.append(
            {"quantity": f"P(P(worst case) > {x})", "posterior_mean": p, "prior_mean": report["exceedance_prior"][x]}
        )
    rows.append({"quantity": "Bayes factor (worst case)", "posterior_mean": report["bayes_factor_worst_case"]["value"]})
    rows.append({"quantity": "Bayes factor (misaligned)", "posterior_mean": report["bayes_factor_misaligned"]["value"]})
    for s, d in report["per_system"].items():
        rows.append(
            {
                "quantity": f"P(worst case | {s})",
                "posterior_mean": d["p_worst_case"]["mean"],
                "posterior_lower90": d["p_worst_case"]["lower"],
                "posterior_upper90": d["p_worst_case"]["upper"],
                "prior_mean": d["bayes_factor_worst_case"]["prior"],
            }
        )
    return pd.DataFrame(rows)


def table_csv(table: pd.DataFrame, stamp: str) -> bytes:
    """CSV bytes of a table, its first line a comment naming the citation (or why there is none)."""
    buf = io.StringIO()
    buf.write(f"# {stamp}\n")
    table.to_csv(buf, index=False)
    return buf.getvalue().encode()


def worst_case_ecdf(result: FitResult, system: str, points: int = 120) -> pd.DataFrame:
    """ECDF of P(worst case) for ``system``, prior and posterior (importance-weighted), at ``points`` levels each."""
    from riskmodel.model.summaries import weighted_quantile

    levels = np.linspace(0.0, 1.0, points)
    rows = []
    for label, draws, w in (
        ("prior", result.prior_quantities["p_worst_case"].sel(system=system), result.prior_weights),
        ("posterior", result.quantities["p_worst_case"].sel(system=system), result.weights),
    ):
        x = np.clip(weighted_quantile(draws, list(levels), w), 1e-7, 1.0)
        rows.append(pd.DataFrame({"p_worst_case": x, "cumulative": levels, "distribution": label}))
    return pd.concat(rows, ignore_index=True)


def worst_case_chart(ecdf: pd.DataFrame, system: str) -> dict[str, Any]:
    """ECDF of P(worst case), prior vs posterior, on a log axis (a Vega-Lite specification)."""
    return {
        "data": {"values": ecdf.to_dict(orient="records")},
        "height": 260,
        "mark": {"type": "line", "interpolate": "step-after"},
        "encoding": {
            "x": {
                "field": "p_worst_case",
                "type": "quantitative",
                "scale": {"type": "log"},
                "title": f"P(worst case) for system '{system}'",
            },
            "y": {"field": "cumulative", "type": "quantitative", "title": "cumulative probability"},
            "color": {"field": "distribution", "type": "nominal", "title": None, "legend": {"orient": "top"}},
        },
    }


# ---------------------------------------------------------------------------------------------- saving versions
def next_version(name: str, bump: str = "minor") -> str:
    """The next semantic version of a prior set (``bump``: major, minor or patch)."""
    latest = prior_store().latest_version(name)
    if latest is None:
        return "1.0.0"
    major, minor, patch = latest
    if bump == "major":
        return format_version((major + 1, 0, 0))
    if bump == "patch":
        return format_version((major, minor, patch + 1))
    return format_version((major, minor + 1, 0))


def release_priors(
    priors: PriorSet,
    changelog: str,
    *,
    name: str,
    author: str,
    rationales: dict[str, str] | None = None,
    parent: PriorSet | None = None,
) -> Release:
    """Release an edited assumption set as the next version of ``name`` (a name the user picked; 1.0.0 if new).

    ``rationales`` give the new reason for each changed assumption (every changed one needs one); ``parent`` is the
    release the assumptions were edited from. See :func:`riskmodel.data.authoring.release`.
    """
    from riskmodel.data import authoring

    if not isinstance(name, str) or not name.strip():
        raise RegistryError("pick the prior set to release into: a new name or an existing one", field="name")
    draft = priors
    for param, why in (rationales or {}).items():
        if param not in draft.parameters:
            raise PriorError(f"unknown assumption {param!r}", field="rationale")
        if isinstance(why, str) and why.strip():
            draft = draft.with_parameter(replace(draft[param], rationale=why.strip()))
    if parent is not None:
        draft = replace(draft, parent=f"{parent.ref} sha256:{parent.sha256}" if parent.released else "")
    return authoring.release(draft, author=author, changelog=changelog, name=name.strip())


def changed_assumptions(priors: PriorSet, parent: PriorSet) -> list[str]:
    """Assumptions whose prior differs from the release they were edited from (each needs a rationale to release)."""
    from riskmodel.data.authoring import changed_parameters

    return changed_parameters(priors, parent)


# ---------------------------------------------------------------------------------------------- explorer controls
def fits_this_model(ref: str) -> bool:
    """Whether a released prior set is written for the model this package fits (older ones are listed, not fitted).

    A release that cannot be read for another reason (say, its bytes changed) counts as fitting: the explorer then
    reports the problem when it loads it, and keeps its last good state.
    """
    from riskmodel.data.priors import load_priors

    try:
        load_priors(ref)
    except PriorError as exc:
        return "written for model" not in exc.reason
    except RiskmodelError:
        return True
    return True


def assumption_groups() -> list[tuple[str, list[str]]]:
    """The adjustable assumptions by group, in the prior file's order (how the explorer lays them out)."""
    titles = {
        "disposition": "disposition",
        "causal": "causal reinforcement",
        "pattern": "patterns: aligned population means",
        "separation": "patterns: misaligned minus aligned",
        "spread": "patterns: between-system spread",
        "shared": "shared effects",
        "competence": "strategic competence",
        "measurement": "measurement",
        "worst_case": "worst case",
        "capability": "capabilities",
    }
    groups: dict[str, list[str]] = {}
    for name in ADJUSTABLE:
        groups.setdefault(PARAMETERS[name].group, []).append(name)
    return [(titles.get(g, g), names) for g, names in groups.items()]


@dataclass(frozen=True)
class ControlSpec:
    """Starting values and ranges of one assumption's widgets (values outside a widget's range are clamped, said)."""

    beta: bool
    interval: tuple[float, float]
    low: float
    high: float
    min: float
    max: float
    step: float
    mean: float = 0.5
    strength: float = 2.0
    clamped: str = ""


def control_spec(prior: ParamPrior) -> ControlSpec:
    """Widget values for ``prior``: its 90% interval (as elicited, or its 5th-95th percentile), within range."""
    support = PARAMETERS[prior.name].support
    lo_w, hi_w, step = {"unit": (0.0, 1.0, 0.001), "positive": (0.0, 1e3, 0.01), "real": (-1e3, 1e3, 0.01)}[support]
    interval = prior.interval90 or tuple(float(x) for x in prior.quantile([0.05, 0.95]))
    low, high = (min(max(v, lo_w), hi_w) for v in interval)
    clamped = ""
    if (low, high) != tuple(interval):
        clamped = (
            f"the prior's 90% interval {interval} lies outside the widgets' range [{lo_w:g}, {hi_w:g}]: shown clamped"
        )
    out = ControlSpec(False, (low, high) if clamped else tuple(interval), low, high, lo_w, hi_w, step, clamped=clamped)
    if prior.distribution == "Beta":
        a, b = prior.params["alpha"], prior.params["beta"]
        mean, strength = a / (a + b), a + b
        m_c, s_c = min(max(mean, 0.001), 0.999), min(max(strength, 0.1), 1e5)
        note = clamped
        if (m_c, s_c) != (mean, strength):
            note = (note + "; " if note else "") + (
                f"mean {mean:.4g} and strength {strength:.4g} lie outside the widgets' range: shown clamped"
            )
        return replace(out, beta=True, mean=float(round(m_c, 3)), strength=float(round(s_c, 2)), clamped=note)
    return out


def fmt_mean(summary: dict[str, Any]) -> str:
    """``mean ± MCSE`` of a headline probability."""
    mcse = summary.get("mcse")
    return f"{summary['mean']:.3g}" + (f" ± {mcse:.1g}" if mcse else "")


def fmt_prob(x: float) -> str:
    """A probability with three significant digits (short enough for a metric tile)."""
    return f"{x:.3g}"


def headline_caption(report: dict[str, Any]) -> str:
    """The headline's Monte Carlo error, what its interval means, and its exceedance probabilities, in one caption."""
    pw = report["p_worst_case"]
    return (
        f"P(worst case) = {fmt_mean(pw)} (posterior mean ± its Monte Carlo standard error, from the ESS of this very "
        f"mean); {report['interval_meaning']}: {fmt_interval(pw)}. {exceedance_text(report)}"
    )


def fmt_interval(summary: dict[str, Any]) -> str:
    """``[lower, upper]`` (a dash between numbers reads as a minus sign)."""
    return f"[{summary['lower']:.2g}, {summary['upper']:.2g}]"


def exceedance_text(report: dict[str, Any]) -> str:
    """One line of exceedance probabilities P(P(worst case) > x)."""
    return "Exceedance P(P(worst case) > x): " + ", ".join(f"{k}: {v:.3g}" for k, v in report["exceedance"].items())


def contraction_table(report: dict[str, Any]) -> pd.DataFrame:
    """Prior vs posterior mean and sd per assumption, its contraction, and whether it is prior only."""
    df = pd.DataFrame.from_dict(report["contraction"], orient="index")
    return df.reset_index(names="assumption")[
        ["assumption", "prior_mean", "prior_sd", "posterior_mean", "posterior_sd", "contraction", "prior_only"]
    ]


def prior_only_text(report: dict[str, Any]) -> str:
    """Which assumptions the evidence does not touch (their posterior is their prior)."""
    from riskmodel.results.report import PRIOR_ONLY_CONTRACTION

    only = [k for k, v in report["contraction"].items() if v["prior_only"]]
    return (
        f"{len(only)} of {len(report['contraction'])} assumptions are prior only (not informed by any row, or "
        f"contraction below {PRIOR_ONLY_CONTRACTION:g}): " + ", ".join(only)
    )


def health_text(report: dict[str, Any]) -> str:
    """One line of sampler health and fast-update method."""
    diag, upd = report["diagnostics"], report["update"] or {}
    rel = diag.get("max_relative_mcse")
    text = (
        f"{diag['divergences']} divergences, max r_hat {diag['max_r_hat']:.4g}, min ESS {diag['min_ess_bulk']:.0f}"
        + (f", largest headline MCSE {rel:.1%} of its value" if rel is not None else "")
        + f"; update: {upd.get('method', 'exact fit')}"
    )
    if upd.get("pareto_k") is not None:
        text += f", Pareto k {upd['pareto_k']:.2f}"
    return text

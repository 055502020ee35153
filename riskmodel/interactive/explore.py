"""What the interactive explorer needs, as library functions.

Priors from sliders, shareable URL state, the funnel, tables and figures, and saving an assumption set as a new
prior version. The Streamlit app only lays these out; the CLI and analyses can call them too.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskmodel.data.distributions import elicit_interval
from riskmodel.data.features import VOCABULARY, Context
from riskmodel.data.priors import CAPABILITIES, PARAMETERS, ParamPrior, PriorSet, parse_priors, prior_store
from riskmodel.data.registry import Release, check_name, format_version
from riskmodel.errors import InputError, PriorError, RegistryError
from riskmodel.model.quantities import weighted_mean

if TYPE_CHECKING:
    from riskmodel.data.evidence import EvidenceSet
    from riskmodel.results.result import FitResult

__all__ = [
    "ALL_CONTEXTS",
    "BETA_PARAMETERS",
    "assumption_table",
    "beta_from_interval",
    "beta_from_mean_strength",
    "capability_sources",
    "context_rate_chart",
    "context_rate_table",
    "decode_capability",
    "decode_state",
    "default_refs",
    "encode_state",
    "funnel",
    "funnel_chart",
    "release_priors",
    "summary_table",
    "system_table",
    "what_if_table",
    "worst_case_chart",
    "worst_case_ecdf",
]

#: Parameters with probability support: each can be set by mean and strength or by a 90% interval.
BETA_PARAMETERS: tuple[str, ...] = tuple(p for p, info in PARAMETERS.items() if info.support == "unit")

#: Every combination of context features (pre-RL), for editing the deployment-critical contexts.
ALL_CONTEXTS: tuple[Context, ...] = tuple(
    Context(vc, ti, sp)
    for vc in VOCABULARY["value_conflict"]
    for ti in VOCABULARY["training_info"]
    for sp in VOCABULARY["scratchpad"]
)


def default_refs() -> tuple[str, str]:
    """``NAME@VERSION`` of the prior and evidence sets a fit uses by default (latest non-deprecated releases)."""
    import inspect

    from riskmodel.data.evidence import evidence_store
    from riskmodel.results.result import fit

    defaults = inspect.signature(fit).parameters
    return (
        prior_store().resolve(defaults["priors"].default).ref,
        evidence_store().resolve(defaults["evidence"].default).ref,
    )


def beta_from_mean_strength(base: ParamPrior, mean: float, strength: float) -> ParamPrior:
    """A Beta prior with the given mean and strength (alpha + beta, a pseudo-count of observations)."""
    if not (isinstance(mean, int | float) and 0.0 < mean < 1.0):
        raise PriorError(f"mean must lie strictly between 0 and 1, got {mean!r}", field=f"{base.name}.mean")
    if not (isinstance(strength, int | float) and 0.0 < strength <= 1e6):
        raise PriorError(f"strength must be > 0, got {strength!r}", field=f"{base.name}.strength")
    params = {"alpha": float(mean * strength), "beta": float((1.0 - mean) * strength)}
    return replace(base, distribution="Beta", params=params, interval90=None)


def beta_from_interval(base: ParamPrior, low: float, high: float) -> ParamPrior:
    """The maximum-entropy Beta prior with 90% of its mass in [low, high] (PreliZ maxent)."""
    params = elicit_interval("Beta", low, high, field=f"{base.name}.interval90")
    return replace(base, distribution="Beta", params=params, interval90=(float(low), float(high)))


# ---------------------------------------------------------------------------------------------- shareable state
_NUM = r"([0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)"
_MEAN_RE = re.compile(rf"^m{_NUM}s{_NUM}$")
_INTERVAL_RE = re.compile(rf"^i{_NUM}-{_NUM}$")
_BETA_RE = re.compile(rf"^b{_NUM},{_NUM}$")


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

    ``capability``: the sources whose capability evidence is in the likelihood, when they differ from the file's.
    """
    out = {"priors": base.ref, "system": system}
    if evidence:
        out["evidence"] = evidence
    if capability is not None:
        out["capability"] = ",".join(sorted(capability)) or "none"
    for name in BETA_PARAMETERS:
        p = priors[name]
        if (p.distribution, p.params) == (base[name].distribution, base[name].params):
            continue
        if p.interval90 is not None:
            # full precision (repr): rounding could turn a valid value into one decode_state refuses (0.9999995 -> 1)
            out[f"p.{name}"] = f"i{float(p.interval90[0])!r}-{float(p.interval90[1])!r}"
        else:
            out[f"p.{name}"] = f"b{float(p.params['alpha'])!r},{float(p.params['beta'])!r}"
    if priors.critical != base.critical:
        out["critical"] = ";".join(f"{c.value_conflict},{c.training_info},{c.scratchpad}" for c in priors.critical)
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
            if name not in BETA_PARAMETERS:
                raise InputError(f"unknown assumption {name!r}", field=f"url.{key}")
            if m := _MEAN_RE.match(value):
                priors = priors.with_parameter(beta_from_mean_strength(base[name], float(m[1]), float(m[2])))
            elif m := _INTERVAL_RE.match(value):
                priors = priors.with_parameter(beta_from_interval(base[name], float(m[1]), float(m[2])))
            elif m := _BETA_RE.match(value):
                a, b = float(m[1]), float(m[2])
                if not (0 < a <= 1e6 and 0 < b <= 1e6):
                    raise InputError("Beta parameters must be > 0", field=f"url.{key}")
                priors = priors.with_parameter(
                    replace(base[name], distribution="Beta", params={"alpha": a, "beta": b}, interval90=None)
                )
            else:
                raise InputError(f"{value!r} is not mMEANsSTRENGTH, iLOW-HIGH or bALPHA,BETA", field=f"url.{key}")
        elif key == "critical":
            contexts = []
            for part in value.split(";"):
                feats = part.split(",")
                if (
                    len(feats) != 3
                    or feats[0] not in VOCABULARY["value_conflict"]
                    or feats[1] not in VOCABULARY["training_info"]
                    or feats[2] not in VOCABULARY["scratchpad"]
                ):
                    raise InputError(f"{part!r} is not value_conflict,training_info,scratchpad", field="url.critical")
                contexts.append(Context(*feats))
            priors = priors.with_critical(tuple(contexts))
    excluded = frozenset(x for x in params.get("exclude", "").split(",") if x)
    return priors, excluded


# ---------------------------------------------------------------------------------------------- funnel and tables
def funnel(result: FitResult, system: str) -> pd.DataFrame:
    """How each extra assumption cuts the probability, from training-gaming to the worst case.

    Rows: P(training-gaming in the elicitation context), P(misaligned after training), P(misaligned and the plan is
    carried out: consistency or other route), then each capability added in turn (with the competence factor).
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
    route = q["p_misaligned_and_route"].transpose(*cd).values
    rows = [
        ("training-gaming (elicitation context)", weighted_mean(tg, w)),
        ("misaligned after training", weighted_mean(q["p_misaligned_post"].transpose(*cd).values, w)),
        ("... and carries out the plan (consistency or other route)", weighted_mean(route, w)),
    ]
    through = result.capability_detail["p_capabilities_through"]
    for cap in CAPABILITIES:
        share = through.sel(capability=cap).transpose(*cd).values
        rows.append((f"... and {cap.replace('_', ' ')}", weighted_mean(route * share, w)))
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
    observation carries for the worst case of ``system``.
    """
    from riskmodel.model.quantities import summarize

    rows = []
    for label, key, sys in (
        (f"P(worst case), {system}", "p_worst_case", system),
        (f"P(misaligned), {observed}", "p_misaligned_pre", observed),
    ):
        a = summarize(before.quantities[key].sel(system=sys), before.weights)
        b = summarize(after.quantities[key].sel(system=sys), after.weights)
        rows.append(
            {
                "quantity": label,
                "before": a.mean,
                "before 90%": f"{a.lower:.2g} - {a.upper:.2g}",
                "after": b.mean,
                "after 90%": f"{b.lower:.2g} - {b.upper:.2g}",
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
    """One row per assumption: prior and posterior mean, P(worst case) if certain vs as modeled, log10 ratio."""
    return pd.DataFrame.from_dict(report["assumptions"], orient="index")


def system_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per system: P(misaligned) posterior and prior, P(worst case) and its Bayes factor."""
    return pd.DataFrame.from_dict(
        {
            s: {
                "P(misaligned)": d["p_misaligned"]["mean"],
                "P(misaligned), prior": d["p_misaligned_prior"]["mean"],
                "P(worst case)": d["p_worst_case"]["mean"],
                "P(worst case) 5%": d["p_worst_case"]["lower"],
                "P(worst case) 95%": d["p_worst_case"]["upper"],
                "Bayes factor": d["bayes_factor_worst_case"]["value"],
            }
            for s, d in report["per_system"].items()
        },
        orient="index",
    )


def context_rate_table(result: FitResult, system: str) -> pd.DataFrame:
    """Training-gaming rates per context for ``system``, with the observed data points where there are any.

    Observed rows: the flagged-reasoning rate the model predicts (``p * sensitivity + (1 - p) * false_positive``,
    mixing the two dispositions by the system's P(misaligned)) against the observed k/n with a Jeffreys 90%
    interval. Declared contexts (elicitation, training, deployment-critical): the training-gaming rate itself.
    """
    from scipy import stats

    from riskmodel.model.quantities import weighted_quantile

    post, w = result.posterior, result.weights
    cd = ("chain", "draw")

    def arr(da: Any, *dims: str) -> np.ndarray:
        """(chain, draw, *dims) values: the mixing below is plain array arithmetic (it reruns on every slider move)."""
        return da.transpose(*cd, *dims).values

    def mix(p_mis: np.ndarray, by_disposition: np.ndarray, dispositions: list[str]) -> np.ndarray:
        i_al, i_mis = dispositions.index("aligned"), dispositions.index("misaligned")
        return p_mis * by_disposition[..., i_mis] + (1 - p_mis) * by_disposition[..., i_al]

    rows = []
    if "tg_rate_reasoning" in post:
        p_mis = arr(post["p_misaligned_system"].sel(system=system))
        sens, fpos = arr(post["reasoning_sensitivity"]), arr(post["reasoning_false_positive"])
        rate_all = post["tg_rate_reasoning"]
        obs_ids = list(rate_all["reasoning_obs"].values)
        rates = arr(rate_all, "reasoning_obs", "disposition")
        dispositions = list(rate_all["disposition"].values)
        for row in result.evidence.reasoning_rows():
            if row.system != system:
                continue
            mixed = mix(p_mis, rates[:, :, obs_ids.index(row.id)], dispositions)
            flagged = mixed * sens + (1 - mixed) * fpos
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
    dispositions = list(q["disposition"].values)
    critical = arr(q["tg_rate_critical"], "disposition", "context")
    declared = [
        ("elicitation", arr(q["tg_rate_elicitation"], "disposition")),
        ("training", arr(q["tg_rate_training"], "disposition")),
    ]
    declared += [(f"critical: {c}", critical[..., j]) for j, c in enumerate(q["context"].values)]
    for label, rate in declared:
        mixed = mix(p_pre, rate, dispositions)
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
    from riskmodel.model.quantities import weighted_quantile

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
    priors: PriorSet, changelog: str, *, name: str | None = None, version: str | None = None, summary: str | None = None
) -> Release:
    """Write an assumption set as the next released version of its prior set and register its hash.

    Never overwrites: a name/version that exists is refused. The text is validated by parsing it back first. Without
    ``version`` the next minor version is chosen under the registry lock, so two saves at once get two versions.
    """
    import datetime as dt

    if not isinstance(changelog, str) or not changelog.strip():
        raise RegistryError("a new version needs a changelog line", field="changelog")
    name = name or priors.name
    check_name(name, field="name")

    def render(v: str) -> bytes:
        new = replace(
            priors,
            name=name,
            version=v,
            date=dt.date.today().isoformat(),
            changelog=changelog.strip(),
            summary=summary or priors.summary,
        )
        text = new.to_toml()
        parse_priors(text, file=f"{name}/{v}.toml")  # refuse anything the loader would refuse
        return text.encode()

    if version is None:
        return prior_store().release_next(name, render)
    return prior_store().release(name, version, render(version))

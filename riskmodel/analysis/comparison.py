"""Model comparison on the evidence: is training-gaming a fixed trait of a system, or does it depend on context.

Three models of the same likelihood rows (training-gaming reasoning and compliance counts), under the same prior set:

- ``monolithic`` (a): one context-independent training-gaming rate per system state, ``logit p_s ~ Normal`` with the
  prior that the context layer gives the elicitation context (``tg_intercept_aligned + value_conflict_effect_aligned``);
  a system after extra RL training is a later state of the system (the package's ``after_rl_effect`` shift), not a
  context, so the comparison with (b) is about contexts only.
- ``context`` (b): the logistic context layer of :mod:`riskmodel.model.graph` with a single disposition (its aligned
  component: the same priors, no mixture).
- ``mixture`` (c): the package model, the context layer with the marginalized per-system disposition mixture.

The unit of leave-one-out is **one published row** (a count ``k`` of ``n``). In (a) and (b) the rows are independent
given the parameters, so the pointwise log-likelihood is the row's binomial log-probability. In (c) the disposition
is shared by every row of a system, so rows of one system are dependent given the parameters; the pointwise term is
the row's log-probability *conditional on the other rows of its system*,
``log p(y_i | theta, y_-i) = log L_s(all rows) - log L_s(all rows but i)`` (with ``L_s`` the disposition-marginal
likelihood of system s). The full posterior is the leave-row-out posterior times ``p(y_i | theta, y_-i)``, so PSIS
with these terms estimates exactly the leave-one-row-out predictive density, the same quantity as in (a) and (b).

Rows whose Pareto k exceeds 0.7 are refitted exactly without the row (``arviz_stats.reloo``; the row is removed by
setting its ``n`` to 0, which keeps the compiled model). "Prefers" means an elpd difference larger than
:data:`PREFER_SE` standard errors of the difference; anything smaller is "no preference". With a handful of rows the
standard error itself is crude: the comparison says so rather than hide it.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from riskmodel.data.evidence import EvidenceRow, EvidenceSet, load_evidence
from riskmodel.data.features import DESIGN_COLUMNS, SHARED_EFFECTS, Context
from riskmodel.data.priors import PARAMETERS, PriorSet, load_priors
from riskmodel.errors import InputError
from riskmodel.model.spec import ModelData, model_data

__all__ = [
    "K_THRESHOLD",
    "MODELS",
    "PREFER_SE",
    "Comparison",
    "LikelihoodRow",
    "ModelFit",
    "compare_models",
    "contraction_table",
    "fit_comparison_model",
    "likelihood_table",
    "plot_ppc",
    "pointwise_loglik",
    "posterior_predictive",
    "preference",
    "simulated_evidence",
]

MODELS: tuple[str, ...] = ("monolithic", "context", "mixture")
MODEL_LABELS: dict[str, str] = {
    "monolithic": "(a) monolithic: one rate per system state",
    "context": "(b) context-dependent logistic layer",
    "mixture": "(c) context-dependent + disposition mixture",
}
#: Pareto k above which a row is refitted exactly.
K_THRESHOLD = 0.7
#: A model is preferred when its elpd is higher by more than this many standard errors of the difference.
PREFER_SE = 2.0
TARGET_ACCEPT = 0.9

_compiled: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class LikelihoodRow:
    """One row of the likelihood: which count array and column it lives in, and what it measured."""

    id: str
    kind: str  # "reasoning", "train" (compliance in training) or "unmonitored" (compliance unmonitored)
    column: int  # column in counts_reasoning (reasoning) or counts_pair (train, unmonitored)
    system: int
    k: int
    n: int
    row: EvidenceRow

    @property
    def label(self) -> str:
        """Short label for tables and plots."""
        r = self.row
        what = {"reasoning": "TG reasoning", "train": "complied (training)", "unmonitored": "complied (unmonitored)"}
        stage = " after RL" if r.stage != "pre-rl" else ""
        vc = "conflict" if r.value_conflict == "yes" else "no conflict"
        return f"{r.source} {r.system} {r.setting}{stage}, {vc}: {what[self.kind]}"


def likelihood_table(evidence: EvidenceSet, data: ModelData) -> list[LikelihoodRow]:
    """The likelihood rows of ``evidence`` in the order of ``data`` (reasoning rows, then compliance cells)."""
    sys_idx = {s: i for i, s in enumerate(data.coords["system"])}
    out = [
        LikelihoodRow(r.id, "reasoning", j, sys_idx[r.system], int(r.k), int(r.n), r)  # type: ignore[arg-type]
        for j, r in enumerate(evidence.reasoning_rows())
    ]
    for j, pair in enumerate(evidence.compliance_pairs()):
        for kind, r in (("train", pair.training), ("unmonitored", pair.unmonitored)):
            if r is not None:
                out.append(LikelihoodRow(r.id, kind, j, sys_idx[r.system], int(r.k), int(r.n), r))  # type: ignore[arg-type]
    return out


def _without_row(data: ModelData, row: LikelihoodRow) -> ModelData:
    """The same model data with one row's count removed (n = 0 adds nothing; the graph and compiled model stay)."""
    if row.kind == "reasoning":
        counts = data.counts_reasoning.copy()
        counts[:, row.column] = 0
        return replace(data, counts_reasoning=counts)
    counts = data.counts_pair.copy()
    rows = (0, 1) if row.kind == "train" else (2, 3)
    counts[list(rows), row.column] = 0
    return replace(data, counts_pair=counts)


# ---------------------------------------------------------------------------------------------------- the models
def build_comparison_model(data: ModelData, kind: str) -> Any:
    """PyMC model (a) ``monolithic`` or (b) ``context``; (c) is :func:`riskmodel.model.graph.build_model` itself.

    Both keep the prior set's hyperparameters and the counts in ``pm.Data`` (reuse of the compiled model), expose the
    training-gaming probability of every likelihood row as ``tg_rate_reasoning`` (reasoning_obs) and ``tg_rate_pair``
    (pair), and use the measurement layer of the package model unchanged.
    """
    import pymc as pm
    import pytensor.tensor as pt

    from riskmodel.model.graph import _binomial_logp, _family_blocks

    if kind not in ("monolithic", "context"):
        raise InputError(f"unknown comparison model {kind!r}", field="model")
    hi = data.hyper_index
    with pm.Model(coords=data.coords) as model:
        hyper = pm.Data("prior_hyper", data.prior_hyper)
        prm = _family_blocks(data, hyper)
        if kind == "monolithic":
            if data.families["tg_intercept_aligned"] != "Normal":
                raise InputError("the monolithic model needs a Normal tg_intercept_aligned prior", field="priors")
            mu = hyper[hi["tg_intercept_aligned.mu"]] + hyper[hi["value_conflict_effect_aligned.mu"]]
            sd = pt.sqrt(
                hyper[hi["tg_intercept_aligned.sigma"]] ** 2 + hyper[hi["value_conflict_effect_aligned.sigma"]] ** 2
            )
            theta = pm.Normal("tg_logit_system", mu=mu, sigma=sd, dims="system")
            # a system after extra RL training is a later state of the system, not a context: it keeps its own
            # rate through the package's after-RL shift, so (a) vs (b) isolates context-dependence
            rl = prm["after_rl_effect"]
            col = DESIGN_COLUMNS.index("after_rl")
            logit_r = theta[data.sys_reasoning] + rl * data.x_reasoning[:, col]
            logit_p = theta[data.sys_pair] + rl * data.x_pair[:, col]
        else:
            a_al = prm["tg_intercept_aligned"]
            conflict = pm.Normal(
                "tg_conflict_logit_aligned",
                mu=a_al + hyper[hi["value_conflict_effect_aligned.mu"]],
                sigma=hyper[hi["value_conflict_effect_aligned.sigma"]],
            )
            vc_al = pm.Deterministic("value_conflict_effect_aligned", conflict - a_al)
            effect = pm.Deterministic(
                "context_effect_single",
                pt.stack([vc_al, *[prm[SHARED_EFFECTS[c]] for c in DESIGN_COLUMNS[1:]]]),
                dims="feature",
            )
            setting = pt.concatenate([prm.get("setting_effect", pt.zeros((0,))), pt.zeros((1,))])
            z = pm.Normal("system_offset_z", 0.0, 1.0, dims="system")
            offset = pm.Deterministic("system_offset", prm["system_offset_scale"] * z * data.offset_mask, dims="system")
            logit_r = a_al + pt.dot(data.x_reasoning, effect) + setting[data.set_reasoning] + offset[data.sys_reasoning]
            logit_p = a_al + pt.dot(data.x_pair, effect) + setting[data.set_pair] + offset[data.sys_pair]
        if len(data.coords["reasoning_obs"]):
            p_r = pm.Deterministic("tg_rate_reasoning", pm.math.sigmoid(logit_r), dims="reasoning_obs")
            counts = pm.Data("counts_reasoning", data.counts_reasoning)
            q = p_r * prm["reasoning_sensitivity"] + (1.0 - p_r) * prm["reasoning_false_positive"]
            pm.Potential("reasoning", _binomial_logp(counts[0], counts[1], q).sum())
        if len(data.coords["pair"]):
            p_c = pm.Deterministic("tg_rate_pair", pm.math.sigmoid(logit_p), dims="pair")
            c = prm["baseline_compliance"]
            counts = pm.Data("counts_pair", data.counts_pair)
            comply = c + (1.0 - c) * prm["behaviour_share"] * p_c
            pm.Potential("complied_training", _binomial_logp(counts[0], counts[1], comply).sum())
            pm.Potential("complied_unmonitored", _binomial_logp(counts[2], counts[3], c).sum())
    return model


def _compiled_for(kind: str, data: ModelData) -> Any:
    """Compiled nutpie model of ``kind`` with ``data``'s counts (compiled once per graph structure)."""
    if kind == "mixture":
        from riskmodel.model.sampling import compiled_model

        return compiled_model(data)
    import nutpie

    key = (kind, data.structure_key(likelihood=True))
    with _lock:
        if key not in _compiled:
            _compiled[key] = nutpie.compile_pymc_model(build_comparison_model(data, kind))
        return _compiled[key].with_data(**data.data_values(likelihood=True))


def _sample(kind: str, data: ModelData, *, seed: int, chains: int, draws: int, tune: int) -> xr.Dataset:
    import nutpie

    trace = nutpie.sample(
        _compiled_for(kind, data),
        draws=draws,
        tune=tune,
        chains=chains,
        cores=min(chains, os.cpu_count() or 1),
        seed=seed,
        progress_bar=False,
        target_accept=TARGET_ACCEPT,
    )
    post = trace["posterior"].to_dataset()
    post.attrs["divergences"] = int(trace["sample_stats"]["diverging"].sum())
    return post


# ------------------------------------------------------------------------------------------- pointwise likelihood
def _mixture_rates(post: xr.Dataset, data: ModelData, x: np.ndarray, sys: np.ndarray, sett: np.ndarray) -> np.ndarray:
    """(chain, draw, disposition, obs) training-gaming probabilities of the package model, from its parameters."""
    intercept = post["tg_intercept"].transpose("chain", "draw", "disposition").values
    effect = post["context_effect"].transpose("chain", "draw", "disposition", "feature").values
    if "setting_effect" in post:
        setting = post["setting_effect"].transpose("chain", "draw", "setting").values
    else:
        setting = np.zeros((*intercept.shape[:2], 0))
    setting = np.concatenate([setting, np.zeros((*setting.shape[:2], 1))], axis=-1)
    offset = post["system_offset"].transpose("chain", "draw", "system").values
    logit = intercept[..., None] + np.einsum("cdkf,of->cdko", effect, x)
    logit = logit + (setting[..., sett] + offset[..., sys])[:, :, None, :]
    return 1.0 / (1.0 + np.exp(-logit))


def row_probabilities(kind: str, post: xr.Dataset, data: ModelData, rows: list[LikelihoodRow]) -> np.ndarray:
    """(chain, draw, disposition, row) probability of the counted outcome of each row.

    ``p sens + (1 - p) fp`` for reasoning, ``c + (1 - c) g p`` for compliance in training, ``c`` unmonitored; the
    disposition axis has size 1 in the models without the mixture.
    """
    if kind == "mixture":
        p_r = _mixture_rates(post, data, data.x_reasoning, data.sys_reasoning, data.set_reasoning)
        p_p = _mixture_rates(post, data, data.x_pair, data.sys_pair, data.set_pair)
    else:
        shape = (post.sizes["chain"], post.sizes["draw"], 1, 0)
        p_r = (
            post["tg_rate_reasoning"].transpose("chain", "draw", "reasoning_obs").values[:, :, None, :]
            if "tg_rate_reasoning" in post
            else np.zeros(shape)
        )
        p_p = (
            post["tg_rate_pair"].transpose("chain", "draw", "pair").values[:, :, None, :]
            if "tg_rate_pair" in post
            else np.zeros(shape)
        )

    def scalar(name: str) -> np.ndarray:
        return post[name].transpose("chain", "draw").values[:, :, None]

    sens, fp, g = scalar("reasoning_sensitivity"), scalar("reasoning_false_positive"), scalar("behaviour_share")
    c = post["baseline_compliance"].transpose("chain", "draw", "pair").values if data.coords["pair"] else None
    cols = []
    for r in rows:
        if r.kind == "reasoning":
            p = p_r[..., r.column]
            cols.append(p * sens + (1.0 - p) * fp)
        elif r.kind == "train":
            cc = c[..., r.column][..., None]  # type: ignore[index]
            cols.append(cc + (1.0 - cc) * g * p_p[..., r.column])
        else:
            cols.append(np.broadcast_to(c[..., r.column][..., None], p_p.shape[:3]))  # type: ignore[index]
    return np.stack(cols, axis=-1)


def pointwise_loglik(kind: str, post: xr.Dataset, data: ModelData, rows: list[LikelihoodRow]) -> xr.DataArray:
    """(chain, draw, row) pointwise log-likelihood for leave-one-row-out (see the module docstring for (c))."""
    from scipy.special import logsumexp
    from scipy.stats import binom

    prob = np.clip(row_probabilities(kind, post, data, rows), 1e-300, 1.0)
    k = np.array([r.k for r in rows])
    n = np.array([r.n for r in rows])
    ll = binom.logpmf(k, n, prob)  # (chain, draw, disposition, row)
    if kind != "mixture":
        out = ll[:, :, 0, :]
    else:
        pi = post["p_misaligned"].transpose("chain", "draw").values
        log_w = np.stack([np.log1p(-pi), np.log(pi)], axis=-1)  # (chain, draw, disposition)
        sys = np.array([r.system for r in rows])
        out = np.empty((*ll.shape[:2], len(rows)))
        for s in np.unique(sys):
            members = np.flatnonzero(sys == s)
            total = ll[..., members].sum(axis=-1)  # (chain, draw, disposition)
            joint = logsumexp(log_w + total, axis=-1)
            for i in members:
                out[..., i] = joint - logsumexp(log_w + total - ll[..., i], axis=-1)
    return xr.DataArray(out, dims=("chain", "draw", "row"), coords={"row": [r.id for r in rows]}, name="y")


# ------------------------------------------------------------------------------------------------ LOO and reloo
def _refit_wrapper(kind: str, data: ModelData, rows: list[LikelihoodRow], tree: xr.DataTree, settings: dict) -> Any:
    from arviz_stats import SamplingWrapper

    class _LeaveRowOut(SamplingWrapper):
        """Exact refit without one row (its n set to 0), for rows whose Pareto k is too high."""

        def sel_observations(self, idx: Any) -> tuple[ModelData, int]:
            i = int(np.asarray(idx).ravel()[0]) if not isinstance(idx, dict) else rows_ids.index(idx["row"])
            self.current = i
            return _without_row(data, rows[i]), i

        def sample(self, modified: ModelData) -> xr.Dataset:
            # a seed per left-out row, derived from the comparison's seed: refits are reproducible
            return _sample(kind, modified, **{**settings, "seed": settings["seed"] + 1000 + self.current})

        def get_inference_data(self, post: xr.Dataset) -> xr.DataTree:
            return xr.DataTree.from_dict({"posterior": post})

        def log_likelihood__i(self, i: int, idata: xr.DataTree) -> xr.DataArray:
            ll = pointwise_loglik(kind, idata["posterior"].to_dataset(), data, rows)
            return ll.isel(row=[i])

    rows_ids = [r.id for r in rows]
    return _LeaveRowOut(model=kind, idata_orig=tree)


@dataclass
class ModelFit:
    """One comparison model fitted to the evidence: posterior, pointwise log-likelihood and its LOO."""

    kind: str
    posterior: xr.Dataset
    loglik: xr.DataArray
    loo: Any  # ELPDDataLOO after exact refits of the high-k rows
    pareto_k: xr.DataArray | None  # Pareto k of PSIS before any refit
    refitted: tuple[str, ...]
    rows: list[LikelihoodRow]
    data: ModelData

    @property
    def elpd_i(self) -> np.ndarray:
        """Pointwise elpd (after refits)."""
        return np.asarray(self.loo.elpd_i.values)


def fit_comparison_model(
    kind: str,
    priors: str | PriorSet = "baseline",
    evidence: str | EvidenceSet = "published-evals",
    *,
    seed: int = 1,
    chains: int = 4,
    draws: int = 1000,
    tune: int = 1000,
    posterior: xr.Dataset | None = None,
    k_threshold: float = K_THRESHOLD,
    loo: bool = True,
    refit: dict[str, int] | None = None,
) -> ModelFit:
    """Fit one comparison model (or take its ``posterior``), compute PSIS-LOO and refit the rows with k > threshold.

    ``loo=False`` skips cross-validation (``loo`` and ``pareto_k`` are then None), e.g. for predictive checks only.
    ``refit`` overrides ``chains``/``draws``/``tune`` of the exact refits (default: the same as the fit).
    """
    import arviz_stats as azs

    if kind not in MODELS:
        raise InputError(f"unknown comparison model {kind!r} (known: {', '.join(MODELS)})", field="model")
    ps, ev = load_priors(priors), load_evidence(evidence)
    data = model_data(ps, ev)
    rows = likelihood_table(ev, data)
    if not rows:
        raise InputError("the evidence has no likelihood rows to compare models on", field="evidence")
    settings = {"seed": seed, "chains": chains, "draws": draws, "tune": tune}
    post = posterior if posterior is not None else _sample(kind, data, **settings)
    ll = pointwise_loglik(kind, post, data, rows)
    if not loo:
        return ModelFit(kind, post, ll, None, None, (), rows, data)
    tree = xr.DataTree.from_dict({"posterior": post, "log_likelihood": xr.Dataset({"y": ll})})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Pp]areto.*")
        psis = azs.loo(tree, pointwise=True, var_name="y")
        k = psis.pareto_k.copy()
        bad = [rows[i].id for i in np.flatnonzero(k.values > k_threshold)]
        result = (
            azs.reloo(
                _refit_wrapper(kind, data, rows, tree, {**settings, **(refit or {})}),
                loo_orig=psis,
                k_threshold=k_threshold,
            )
            if bad
            else psis
        )
    return ModelFit(kind, post, ll, result, k, tuple(bad), rows, data)


def preference(a: ModelFit, b: ModelFit) -> dict[str, Any]:
    """How much better ``b`` predicts the rows than ``a``: elpd(b) - elpd(a), its SE, and the verdict."""
    diff = b.elpd_i - a.elpd_i
    n = diff.size
    se = float(np.sqrt(n * np.var(diff, ddof=1))) if n > 1 else float("nan")
    d = float(diff.sum())
    if np.isfinite(se) and d > PREFER_SE * se:
        verdict = f"prefers {b.kind}"
    elif np.isfinite(se) and -d > PREFER_SE * se:
        verdict = f"prefers {a.kind}"
    else:
        verdict = "no preference"
    return {"a": a.kind, "b": b.kind, "elpd_diff": d, "se": se, "verdict": verdict, "n_rows": n}


@dataclass
class Comparison:
    """Every model's fit, ArviZ's comparison table, and the pairwise verdicts."""

    fits: dict[str, ModelFit]
    table: pd.DataFrame
    pairs: pd.DataFrame

    @property
    def best(self) -> str:
        """The model with the highest elpd."""
        return str(self.table.index[0])


def compare_models(
    priors: str | PriorSet = "baseline",
    evidence: str | EvidenceSet = "published-evals",
    *,
    models: tuple[str, ...] = MODELS,
    seed: int = 1,
    chains: int = 4,
    draws: int = 1000,
    tune: int = 1000,
    posteriors: dict[str, xr.Dataset] | None = None,
    refit: dict[str, int] | None = None,
) -> Comparison:
    """Fit ``models`` to the same likelihood rows and compare them by leave-one-row-out elpd.

    ``posteriors`` may hold already sampled posteriors (e.g. the default fit's for ``mixture``). The table is
    ``arviz_stats.compare`` (elpd, SE, elpd difference to the best and its SE, stacking weight) plus, per model, the
    largest Pareto k before refitting, the refitted rows and the verdict against the best model.
    """
    import arviz_stats as azs

    fits = {
        m: fit_comparison_model(
            m,
            priors,
            evidence,
            seed=seed,
            chains=chains,
            draws=draws,
            tune=tune,
            posterior=(posteriors or {}).get(m),
            refit=refit,
        )
        for m in models
    }
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        table = azs.compare({m: f.loo for m, f in fits.items()})
    best = fits[str(table.index[0])]
    table["max_pareto_k_psis"] = [float(fits[m].pareto_k.max()) for m in table.index]
    table["rows_refitted"] = [len(fits[m].refitted) for m in table.index]
    table["verdict_vs_best"] = [
        "best" if m == best.kind else preference(fits[m], best)["verdict"].replace(f"prefers {best.kind}", "worse")
        for m in table.index
    ]
    table["model"] = [MODEL_LABELS[m] for m in table.index]
    pairs = pd.DataFrame(
        [preference(fits[a], fits[b]) for i, a in enumerate(models) for b in models[i + 1 :]]
    ).set_index(["a", "b"])
    return Comparison(fits, table, pairs)


# ------------------------------------------------------------------------------------- posterior predictive checks
def posterior_predictive(fit: ModelFit, *, seed: int = 1, prob: float = 0.9) -> pd.DataFrame:
    """Posterior predictive rate ``k_rep / n`` of every likelihood row: mean, central ``prob`` interval, observed.

    In the mixture model each draw first draws each system's disposition from its posterior given the data
    (``p_misaligned_system``), then the counts given that disposition.
    """
    rng = np.random.default_rng([seed, 0xC0FFEE])
    prob_rows = row_probabilities(fit.kind, fit.posterior, fit.data, fit.rows)  # (chain, draw, disp, row)
    c, d = prob_rows.shape[:2]
    if fit.kind == "mixture":
        p_mis = fit.posterior["p_misaligned_system"].transpose("chain", "draw", "system").values
        disp = (rng.random(p_mis.shape) < p_mis).astype(int)  # (chain, draw, system)
        sys = np.array([r.system for r in fit.rows])
        pick = disp[..., sys]  # (chain, draw, row)
        p = np.take_along_axis(prob_rows, pick[:, :, None, :], axis=2)[:, :, 0, :]
    else:
        p = prob_rows[:, :, 0, :]
    n = np.array([r.n for r in fit.rows])
    rate = rng.binomial(n, p) / n
    lo, hi = np.quantile(rate.reshape(c * d, -1), [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    obs = np.array([r.k / r.n for r in fit.rows])
    return pd.DataFrame(
        {
            "label": [r.label for r in fit.rows],
            "kind": [r.kind for r in fit.rows],
            "observed": obs,
            "k": [r.k for r in fit.rows],
            "n": n,
            "predicted_mean": rate.reshape(c * d, -1).mean(axis=0),
            "lower": lo,
            "upper": hi,
            "covered": (obs >= lo) & (obs <= hi),
        },
        index=pd.Index([r.id for r in fit.rows], name="row"),
    )


def plot_ppc(ppcs: dict[str, pd.DataFrame], reference: list[EvidenceRow] | None = None) -> Any:
    """One panel per model: the posterior predictive 90% interval of each row's rate against the observed rate.

    ``reference`` rows (rate without n) are drawn as grey crosses: shown, never fitted.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(next(iter(ppcs.values()))["label"])
    ref = reference or []
    ylabels = labels + [f"{r.source} {r.setting} {r.training_info} sp:{r.scratchpad}: {r.quantity} (ref.)" for r in ref]
    fig, axes = plt.subplots(1, len(ppcs), figsize=(4.2 * len(ppcs) + 3.5, 0.42 * len(ylabels) + 1.6), sharey=True)
    axes = np.atleast_1d(axes)
    y = np.arange(len(ylabels))[::-1]
    for ax, (kind, df) in zip(axes, ppcs.items(), strict=True):
        yy = y[: len(df)]
        ax.hlines(yy, df["lower"], df["upper"], color="tab:blue", lw=4, alpha=0.5, label="90% predictive interval")
        ax.plot(df["predicted_mean"], yy, "|", color="tab:blue", ms=10)
        colors = np.where(df["covered"], "black", "tab:red")
        ax.scatter(df["observed"], yy, c=colors, zorder=3, s=22, label="observed k/n (red: outside)")
        if ref:
            ax.scatter([r.rate for r in ref], y[len(df) :], marker="x", color="grey", label="rate only (not fitted)")
        ax.set_title(MODEL_LABELS.get(kind, kind), fontsize=9)
        ax.set_xlim(-0.02, 1.0)
        ax.set_xlabel("rate")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, ylabels, fontsize=7)
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout(rect=(0, 0.03, 1, 1))  # room for a stamp line under the panels
    return fig


# -------------------------------------------------------------------------------------------- prior contraction
def contraction_table(posterior: xr.Dataset, prior: xr.Dataset, informed: frozenset[str] | None = None) -> pd.DataFrame:
    """Per parameter (and element): prior and posterior sd and the contraction ``1 - var_post / var_prior``.

    Near 0: the posterior is the prior (the conclusion rests on the prior alone); near 1: the data decide it.
    """
    out = []
    for name in PARAMETERS:
        if name not in posterior or name not in prior:
            continue
        post, pri = posterior[name], prior[name]
        extra = [d for d in post.dims if d not in ("chain", "draw")]
        elements = post[extra[0]].values if extra else [None]
        for el in elements:
            p = post.sel({extra[0]: el}) if extra else post
            q = pri.sel({extra[0]: el}) if extra else pri
            vp, vq = float(p.var()), float(q.var())
            out.append(
                {
                    "parameter": name,
                    "element": "" if el is None else str(el),
                    "group": PARAMETERS[name].group,
                    "prior_mean": float(q.mean()),
                    "prior_sd": vq**0.5,
                    "posterior_mean": float(p.mean()),
                    "posterior_sd": vp**0.5,
                    "contraction": 1.0 - vp / vq if vq > 0 else float("nan"),
                    "informed": None if informed is None else name in informed,
                }
            )
    return pd.DataFrame(out)


# ------------------------------------------------------------------------------------------------ simulated data
def simulated_evidence(truth: str, *, seed: int = 0, n: int = 400, sensitivity: float = 0.8) -> EvidenceSet:
    """Reasoning counts simulated from a known model, for checking that the comparison recovers it.

    Eight contexts (value conflict x scratchpad x training-information mode) of one system, ``n`` episodes each.
    ``truth = "context"``: ``logit p = -4 + 3 vc - 1.5 no_scratchpad + 0.5 documents``; ``truth = "monolithic"``:
    ``p = 0.12`` everywhere. Counts are ``Binomial(n, p sensitivity + (1 - p) 0.005)``.
    """
    from riskmodel.data.evidence import parse_evidence

    if truth not in ("context", "monolithic"):
        raise InputError(f"unknown truth {truth!r}", field="truth")
    rng = np.random.default_rng([seed, 7])
    rows = []
    for vc in ("yes", "no"):
        for sp in ("yes", "no"):
            for info in ("prompted", "documents"):
                ctx = Context(vc, info, sp)
                if truth == "context":
                    logit = -4 + 3 * (vc == "yes") - 1.5 * (sp == "no") + 0.5 * (info == "documents")
                    p = 1 / (1 + np.exp(-logit))
                else:
                    p = 0.12
                k = int(rng.binomial(n, p * sensitivity + (1 - p) * 0.005))
                rows.append(
                    f'[[row]]\nid = "sim-{ctx.label().replace(",", "-").replace(":", "-")}"\nsource = "SIM"\n'
                    f'system = "sim-system"\nsetting = "helpful-only"\ncondition = "training"\n'
                    f'training_info = "{info}"\nscratchpad = "{sp}"\nvalue_conflict = "{vc}"\n'
                    f'quantity = "training_gaming_reasoning"\nk = {k}\nn = {n}\nwhere_read = "simulated ({truth})"\n'
                )
    text = (
        f'name = "simulated-{truth}"\nversion = "0.0.{seed}"\ndate = "2026-11-25"\n'
        f'summary = "Simulated from the {truth} model"\nchangelog = "simulated"\n\n'
        '[sources.SIM]\ncitation = "simulated data (riskmodel.analysis.comparison.simulated_evidence)"\n\n'
        + "\n".join(rows)
    )
    return parse_evidence(text, file=f"<simulated-{truth}>")

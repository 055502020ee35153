"""Simulation-based calibration (SBC) of model 2: context-layer hyperparameters, patterns, disposition, measurement.

For each replication (Talts et al. 2018):

1. draw every sampled parameter from the prior (:func:`riskmodel.model.prior.draw_prior`: exactly the parameters
   in ``data.sampled``), then each system's disposition ``d_s ~ Bernoulli(p_misaligned)``, its standardized pattern
   coordinates ``u_s ~ Student-t(tail_df)`` and its competence ``kappa_s ~ N(0, 1)``, and assemble its pattern
   ``theta_s = aligned + d_s separation + spread u_s`` (intercept ``+ competence_loading kappa_s``), the population
   distribution of :mod:`riskmodel.model.graph`;
2. simulate the counts of the evidence structure's rows from exactly the model's likelihood
   (:func:`simulate_counts`): reasoning counts ``Bin(n, p sens + (1 - p) fp)``, compliance cells
   ``Bin(n_t, c + (1 - c) g p)`` and ``Bin(n_u, c)``, threshold outcomes ``Bernoulli(P(observed gap or rate >
   threshold))`` with the normal approximation the likelihood uses;
3. refit with the model compiled once for the structure (only ``pm.Data`` values change: the counts, and for the
   negative control a prior hyperparameter);
4. record the rank of each true value among ``n_ranks`` thinned posterior draws. The disposition is binary: its
   posterior draws are ``Bernoulli(p_misaligned_system)`` per draw and ties are broken uniformly at random, which
   keeps the rank uniform under calibration.

If inference is calibrated every rank is uniform on ``0..n_ranks``. Uniformity is tested per quantity by a chi-square
test on ``bins`` equal-width bins; with ``K`` quantities each is judged at ``alpha / K`` (Bonferroni), so a calibrated
model is flagged with probability at most ``alpha``. The negative control simulates from the right prior and fits
with a deliberately wrong one on one hyperparameter (:func:`misspecify`): the same test must flag it.

The default structure (:func:`sbc_evidence`) is a reduced evidence set of five simulated systems with every kind of
counted row (reasoning counts in four contexts, after RL, compliance cells with and without a scratchpad, a gap and a
rate threshold outcome), small enough that 100 refits take a few minutes.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats
from scipy.special import expit

from riskmodel.data.evidence import EvidenceRow, EvidenceSet, load_evidence
from riskmodel.data.features import COORDINATES
from riskmodel.data.priors import PriorSet, load_priors
from riskmodel.data.registry import DEFAULT_PRIORS
from riskmodel.errors import InputError
from riskmodel.model.prior import draw_prior
from riskmodel.model.spec import PARAMETER_DIMS, ModelData, model_data

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "WRONG_PRIOR",
    "SBCResult",
    "Truth",
    "draw_truth",
    "misspecify",
    "plot_ranks",
    "rank_uniformity",
    "run_sbc",
    "sbc_evidence",
    "simulate_counts",
]

#: The negative control of the analysis and the test: the aligned intercept's prior moved by 2 prior sds and made
#: 4 times narrower when fitting (data are simulated from the right prior).
WRONG_PRIOR: tuple[str, float, float] = ("intercept_aligned", 2.0, 0.25)


# --------------------------------------------------------------------------------------------- evidence structure
def sbc_evidence(n: int = 100) -> EvidenceSet:
    """The reduced evidence structure of the SBC: five simulated systems, every kind of counted row.

    ``sbc-a``: reasoning counts with and without value conflict, and after RL; ``sbc-b``: reasoning counts with and
    without a scratchpad; ``sbc-c``: compliance cells (training and unmonitored) with and without a scratchpad;
    ``sbc-d``: a compliance-gap threshold outcome (1%, ``n`` per tier); ``sbc-e``: a reasoning-rate threshold outcome
    (5%). ``n`` episodes per row; the counts are placeholders (the SBC simulates them).
    """
    rows: list[EvidenceRow] = []

    def add(system: str, suffix: str, condition: str, quantity: str, **kw: Any) -> None:
        ctx = {"value_conflict": "yes", "scratchpad": "yes", "stage": "pre-rl", **kw}
        threshold = ctx.pop("threshold", None)
        rows.append(
            EvidenceRow(
                id=f"{system}-{suffix}",
                source="SBC",
                system=system,
                setting="helpful-only",
                stage=ctx["stage"],
                condition=condition,
                training_info="prompted",
                scratchpad=ctx["scratchpad"],
                value_conflict=ctx["value_conflict"],
                quantity=quantity,
                k=None if threshold is not None else 0,
                n=n,
                rate=None,
                k_is_derived=False,
                where_read="simulated (riskmodel.analysis.calibration.sbc_evidence)",
                threshold=threshold,
                outcome="below" if threshold is not None else "",
            )
        )

    tgr = "training_gaming_reasoning"
    add("sbc-a", "vc-yes-tgr", "training", tgr)
    add("sbc-a", "vc-no-tgr", "training", tgr, value_conflict="no")
    add("sbc-a", "after-rl-tgr", "training", tgr, stage="after-rl")
    add("sbc-b", "sp-yes-tgr", "training", tgr)
    add("sbc-b", "sp-no-tgr", "training", tgr, scratchpad="no")
    for sp in ("yes", "no"):
        add("sbc-c", f"sp-{sp}-comp-train", "training", "complied", scratchpad=sp)
        add("sbc-c", f"sp-{sp}-comp-unmon", "unmonitored", "complied", scratchpad=sp)
    add("sbc-d", "gap-threshold", "gap", "compliance_gap", threshold=0.01)
    add("sbc-e", "tgr-threshold", "training", tgr, threshold=0.05)
    return EvidenceSet(
        name="sbc-structure",
        version="1.0.0",
        date="2026-12-01",
        summary="Reduced evidence structure of the simulation-based calibration (counts are simulated)",
        changelog="simulated",
        sources={"SBC": "simulated structure (riskmodel.analysis.calibration.sbc_evidence)"},
        rows=tuple(rows),
        path="<sbc-structure>",
    )


# ------------------------------------------------------------------------------------------------------ truths
@dataclass(frozen=True)
class Truth:
    """One replication's true values: the sampled parameters, and per system its disposition, pattern, competence."""

    params: dict[str, np.ndarray]  # every parameter in data.sampled (vectors for setting_effect, baseline_compliance)
    disposition: np.ndarray  # (system,) 0 aligned, 1 misaligned
    theta: np.ndarray  # (system, coordinate) pattern (log-odds)
    competence: np.ndarray  # (system,)


def _coordinate_values(params: dict[str, np.ndarray], suffix: str, fill: float) -> np.ndarray:
    return np.array([float(params.get(f"{c}_{suffix}", fill)) for c in COORDINATES])


def draw_truth(data: ModelData, reps: int, seed: int) -> list[Truth]:
    """``reps`` draws from the prior of everything the data depend on (see the module docstring)."""
    prior = draw_prior(data, reps, seed)
    rng = np.random.default_rng([seed, 0x7E57])
    n_sys = len(data.coords["system"])
    values = {
        name: np.asarray(prior[name].isel(chain=0).values, dtype=float) for name in data.sampled if data.size(name) > 0
    }
    out = []
    for r in range(reps):
        params = {name: v[r] for name, v in values.items()}
        d = (rng.random(n_sys) < params["p_misaligned"]).astype(np.int64)
        u = rng.standard_t(data.tail_df, size=(n_sys, len(COORDINATES)))
        kappa = rng.standard_normal(n_sys)
        aligned = _coordinate_values(params, "aligned", 0.0)
        separation = _coordinate_values(params, "separation", 0.0)
        spread = _coordinate_values(params, "spread", 1.0)
        theta = aligned[None, :] + d[:, None] * separation[None, :] + spread[None, :] * u
        theta[:, 0] += float(params.get("competence_loading", 0.0)) * kappa
        out.append(Truth(params, d, theta, kappa))
    return out


def _logit(truth: Truth, data: ModelData, x: np.ndarray, xs: np.ndarray, sys: np.ndarray, sett: np.ndarray):
    out = (truth.theta[sys] * x).sum(axis=1)
    if "after_rl_effect" in truth.params:
        out = out + float(truth.params["after_rl_effect"]) * xs[:, 0]
    if "setting_effect" in truth.params:
        out = out + np.concatenate([np.atleast_1d(truth.params["setting_effect"]), [0.0]])[sett]
    return out


def simulate_counts(truth: Truth, data: ModelData, rng: np.random.Generator) -> ModelData:
    """The evidence structure's counts simulated from one truth (its ``n`` and thresholds kept).

    Reasoning ``k ~ Bin(n, p sens + (1 - p) fp)``; compliance ``k_t ~ Bin(n_t, c + (1 - c) g p)``,
    ``k_u ~ Bin(n_u, c)``; threshold outcome ``~ Bernoulli(P(observed > threshold))`` (the likelihood's normal
    approximation, so the data come from exactly the fitted model). Population and capability rows are not
    simulated (the SBC structure has none).
    """
    from riskmodel.model.likelihood import _gap_above, _rate_above

    if data.population_rows.shape[1] or data.cap_index.size:
        raise InputError("the SBC simulates reasoning, compliance and threshold rows only", field="evidence")
    p_ = truth.params
    sens = float(p_.get("reasoning_sensitivity", 1.0))
    fpos = float(p_.get("reasoning_false_positive", 0.0))
    g = float(p_.get("behaviour_share", 0.0))
    c = np.atleast_1d(p_.get("baseline_compliance", np.zeros(0)))
    cr = data.counts_reasoning.copy()
    if cr.shape[1]:
        p = expit(_logit(truth, data, data.x_reasoning, data.xs_reasoning, data.sys_reasoning, data.set_reasoning))
        cr[0] = rng.binomial(cr[1], p * sens + (1 - p) * fpos)
    cp = data.counts_pair.copy()
    if cp.shape[1]:
        p = expit(_logit(truth, data, data.x_pair, data.xs_pair, data.sys_pair, data.set_pair))
        cc = c[data.cell_pair]
        cp[0] = rng.binomial(cp[1], cc + (1 - cc) * g * p)
        cp[2] = rng.binomial(cp[3], cc)
    th = data.threshold_rows.copy()
    if th.shape[1]:
        p = expit(_logit(truth, data, data.x_threshold, data.xs_threshold, data.sys_threshold, data.set_threshold))
        t, n, _, kind = th
        gap = _gap_above(p, c[data.cell_threshold], g, n, t) if (kind == 0).any() else 0.0
        rate = _rate_above(p, sens, fpos, n, t) if (kind == 1).any() else 0.0
        th[2] = (rng.random(th.shape[1]) < np.where(kind == 0, gap, rate)).astype(float)
    return dataclasses.replace(data, counts_reasoning=cr, counts_pair=cp, threshold_rows=th)


def misspecify(data: ModelData, param: str, *, shift_sd: float, scale: float) -> ModelData:
    """The same structure with a wrong Normal prior on ``param``: mean moved by ``shift_sd`` prior sds, sd scaled."""
    if data.families.get(param) != "Normal":
        raise InputError(f"the negative control needs a Normal prior, {param!r} is not one", field="wrong_prior")
    mu_i, sd_i = data.hyper_index[f"{param}.mu"], data.hyper_index[f"{param}.sigma"]
    hyper = data.prior_hyper.copy()
    hyper[mu_i] += shift_sd * hyper[sd_i]
    hyper[sd_i] *= scale
    return dataclasses.replace(data, prior_hyper=hyper)


# ----------------------------------------------------------------------------------------------------- ranking
def _columns(data: ModelData) -> list[tuple[str, str, Any]]:
    """(column name, group, locator) of every ranked quantity."""
    cols: list[tuple[str, str, Any]] = []
    groups = {"aligned": "context layer", "separation": "context layer", "spread": "context layer"}
    for name in sorted(data.sampled):
        dim = PARAMETER_DIMS.get(name)
        group = groups.get(name.rsplit("_", 1)[-1], "measurement")
        if name in ("p_misaligned", "competence_loading"):
            group = "context layer"
        if name in ("after_rl_effect", "setting_effect"):
            group = "shared"
        if dim:
            cols += [(f"{name}[{c}]", group, (name, dim, c)) for c in data.coords[dim]]
        else:
            cols.append((name, group, (name, None, None)))
    lay = data.layout
    systems = data.coords["system"]
    for i, (s, k) in enumerate(zip(lay.free_system, lay.free_coord, strict=True)):
        cols.append((f"pattern[{systems[s]}|{COORDINATES[k]}]", "pattern", ("pattern", i, (int(s), int(k)))))
    for j, s in enumerate(lay.competent):
        cols.append((f"competence[{systems[s]}]", "pattern", ("competence", j, int(s))))
    for s in np.unique(lay.free_system):
        cols.append((f"disposition[{systems[s]}]", "disposition", ("disposition", None, int(s))))
    return cols


def _thin(x: np.ndarray, n_ranks: int) -> np.ndarray:
    """``n_ranks`` draws spread evenly through each chain (chains interleaved); ``x`` is (chain, draw)."""
    per_chain = -(-n_ranks // x.shape[0])
    idx = np.linspace(0, x.shape[1] - 1, per_chain).round().astype(int)
    return x[:, idx].T.ravel()[:n_ranks]


def _rank(true: float, draws: np.ndarray, rng: np.random.Generator) -> int:
    """Rank of ``true`` among ``draws``, ties broken uniformly at random."""
    below = int(np.sum(draws < true))
    ties = int(np.sum(draws == true))
    return below + int(rng.integers(0, ties + 1))


def _ranks(
    post: xr.Dataset, truth: Truth, data: ModelData, cols: list[tuple[str, str, Any]], n_ranks: int, rng: Any
) -> list[int]:
    out = []
    systems = data.coords["system"]
    for _, _, (name, where, what) in cols:
        if name == "disposition":
            p = _thin(post["p_misaligned_system"].sel(system=systems[what]).transpose("chain", "draw").values, n_ranks)
            out.append(_rank(float(truth.disposition[what]), (rng.random(n_ranks) < p).astype(float), rng))
            continue
        if name == "pattern":
            draws = post["pattern"].isel(free=where).transpose("chain", "draw").values
            true = float(truth.theta[what])
        elif name == "competence":
            draws = post["competence"].isel(competent_system=where).transpose("chain", "draw").values
            true = float(truth.competence[what])
        elif where is None:
            draws = post[name].transpose("chain", "draw").values
            true = float(truth.params[name])
        else:
            draws = post[name].sel({where: what}).transpose("chain", "draw").values
            true = float(np.atleast_1d(truth.params[name])[data.coords[where].index(what)])
        out.append(_rank(true, _thin(draws, n_ranks), rng))
    return out


@dataclass
class SBCResult:
    """Ranks of every replication, with the settings that produced them."""

    ranks: pd.DataFrame  # one row per replication, one column per ranked quantity (0..n_ranks)
    n_ranks: int
    label: str
    settings: dict[str, Any]
    diagnostics: pd.DataFrame  # per replication: divergences, min ESS of the ranked quantities, seconds
    groups: dict[str, str]  # column -> group (context layer, pattern, disposition, measurement, shared)

    def uniformity(self, bins: int = 10, alpha: float = 0.01) -> pd.DataFrame:
        """Per-quantity chi-square uniformity p-values and whether the Bonferroni-corrected test flags them."""
        out = rank_uniformity(self.ranks, self.n_ranks, bins=bins, alpha=alpha)
        out.insert(0, "group", [self.groups.get(c, "") for c in out.index])
        return out


def rank_uniformity(ranks: pd.DataFrame, n_ranks: int, *, bins: int = 10, alpha: float = 0.01) -> pd.DataFrame:
    """Chi-square test of uniform ranks per column, judged at ``alpha / n_columns`` (Bonferroni).

    Ranks take ``n_ranks + 1`` values; with ``(n_ranks + 1) % bins == 0`` each bin holds the same number of values,
    so the expected count per bin is exactly ``reps / bins``.
    """
    if (n_ranks + 1) % bins:
        raise InputError(f"n_ranks + 1 = {n_ranks + 1} is not a multiple of bins = {bins}", field="bins")
    k = ranks.shape[1]
    rows = []
    for col in ranks.columns:
        r = ranks[col].to_numpy()
        counts = np.bincount(r * bins // (n_ranks + 1), minlength=bins)
        chi2, p = stats.chisquare(counts)
        rows.append(
            {
                "quantity": col,
                "chi2": float(chi2),
                "p_value": float(p),
                "min_bin": int(counts.min()),
                "max_bin": int(counts.max()),
                "flagged": bool(p < alpha / k),
            }
        )
    out = pd.DataFrame(rows).set_index("quantity")
    out.attrs["alpha"] = alpha
    out.attrs["threshold"] = alpha / k
    return out


def run_sbc(
    reps: int = 100,
    *,
    priors: str | PriorSet = DEFAULT_PRIORS,
    evidence: str | EvidenceSet | None = None,
    seed: int = 20261201,
    chains: int = 2,
    draws: int = 200,
    tune: int = 300,
    n_ranks: int = 99,
    wrong_prior: tuple[str, float, float] | None = None,
    label: str = "calibrated",
) -> SBCResult:
    """Run ``reps`` SBC replications on an evidence structure (default :func:`sbc_evidence`) under ``priors``.

    Parameters
    ----------
    wrong_prior
        ``(param, shift_sd, scale)``: fit with a Normal prior on ``param`` moved by ``shift_sd`` prior sds and its sd
        multiplied by ``scale`` (the negative control); data are always simulated from the true prior.
    n_ranks
        Number of thinned posterior draws each true value is ranked among (ranks take ``n_ranks + 1`` values).
    """
    import arviz_stats as azs
    import nutpie

    from riskmodel.model.sampling import compiled_model
    from riskmodel.results.result import ADAPTATION, TARGET_ACCEPT

    if reps < 1 or chains * draws < n_ranks:
        raise InputError("need reps >= 1 and chains * draws >= n_ranks", field="reps")
    ps = load_priors(priors)
    ev = sbc_evidence() if evidence is None else load_evidence(evidence)
    data = model_data(ps, ev)
    fit_data = misspecify(data, wrong_prior[0], shift_sd=wrong_prior[1], scale=wrong_prior[2]) if wrong_prior else data
    truths = draw_truth(data, reps, seed)
    cols = _columns(data)
    sim_rng = np.random.default_rng([seed, 0x51])
    rank_rng = np.random.default_rng([seed, 0x52])
    ranks = np.zeros((reps, len(cols)), dtype=np.int64)
    diag = []
    for r, truth in enumerate(truths):
        sim = simulate_counts(truth, fit_data, sim_rng)
        t0 = time.perf_counter()
        trace = nutpie.sample(
            compiled_model(sim),
            draws=draws,
            tune=tune,
            chains=chains,
            cores=chains,
            seed=int(seed + r),
            progress_bar=False,
            target_accept=TARGET_ACCEPT,
            adaptation=ADAPTATION,
        )
        seconds = time.perf_counter() - t0
        post = data.split_blocks(trace["posterior"].to_dataset())
        ranks[r] = _ranks(post, truth, data, cols, n_ranks, rank_rng)
        sampled = [v for v in post.data_vars if v.endswith("_block") or v in ("pattern", "competence")]
        ess = azs.ess(post[sampled], method="bulk")
        min_ess = float(min(np.nanmin(np.atleast_1d(ess[v].values)) for v in ess.data_vars))
        diag.append(
            {
                "rep": r,
                "divergences": int(trace["sample_stats"]["diverging"].sum()),
                "min_ess_bulk": round(min_ess, 1),
                "seconds": round(seconds, 3),
            }
        )
    settings = {
        "priors": ps.ref,
        "priors_sha256": ps.content_sha256,
        "evidence": ev.ref,
        "evidence_sha256": ev.subset_sha256,
        "reps": reps,
        "seed": seed,
        "chains": chains,
        "draws": draws,
        "tune": tune,
        "n_ranks": n_ranks,
        "sampler": "nutpie",
        "wrong_prior": list(wrong_prior) if wrong_prior else None,
    }
    names = [c[0] for c in cols]
    return SBCResult(
        pd.DataFrame(ranks, columns=names), n_ranks, label, settings, pd.DataFrame(diag), {c[0]: c[1] for c in cols}
    )


def plot_ranks(results: list[SBCResult], bins: int = 10) -> Figure:
    """ECDF difference plot of the normalized ranks (ECDF minus uniform), one panel per result.

    The band is the pointwise 99% binomial band of an ECDF of ``reps`` uniform ranks, Bonferroni-adjusted over the
    evaluation grid: lines leaving it are miscalibrated. Flagged quantities are drawn thick and named.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6.5 * len(results), 4.4), squeeze=False)
    grid = np.linspace(0, 1, 101)[1:-1]
    for ax, res in zip(axes[0], results, strict=True):
        reps = len(res.ranks)
        z = (res.ranks.to_numpy() + 0.5) / (res.n_ranks + 1)
        a = 0.01 / grid.size
        lo = stats.binom.ppf(a / 2, reps, grid) / reps - grid
        hi = stats.binom.ppf(1 - a / 2, reps, grid) / reps - grid
        ax.fill_between(grid, lo, hi, color="0.85", label="99% band (uniform ranks)")
        test = res.uniformity(bins=bins)
        for j, col in enumerate(res.ranks.columns):
            ecdf = (z[:, j][:, None] <= grid[None, :]).mean(axis=0) - grid
            flagged = bool(test.loc[col, "flagged"])
            ax.plot(grid, ecdf, lw=2.0 if flagged else 0.7, label=col if flagged else None)
        ax.axhline(0, color="black", lw=0.5)
        ax.set_title(f"{res.label}: {reps} replications, {res.ranks.shape[1]} quantities", fontsize=10)
        ax.set_xlabel("normalized rank")
        ax.set_ylabel("ECDF - uniform")
        ax.legend(fontsize=6, loc="lower left")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig

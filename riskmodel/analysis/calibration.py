"""Simulation-based calibration (SBC) of the fitted layers: context layer, measurement and disposition.

For each replication: draw every parameter from the prior (:func:`riskmodel.model.graph.draw_prior`), draw each system's
disposition ``M_pre ~ Bernoulli(p_misaligned)``, simulate the counts of the evidence structure through the same
binomial measurement model as :func:`riskmodel.model.graph.build_model` (reasoning rows through sensitivity and false
positives; compliance cells in training and unmonitored), fit them with the cached compiled sampler, and record the
rank of the true value among ``L`` thinned posterior draws. If inference is calibrated the ranks are uniform on
``0..L`` (Talts et al. 2018). The disposition is binary: its posterior draws are ``Bernoulli(p_misaligned_system)``
per draw and ties are broken uniformly at random, which keeps the rank uniform under calibration.

Uniformity is tested per parameter by a chi-square test on ``bins`` equal-width bins of the ranks; with ``K``
parameters the family is judged at ``alpha / K`` (Bonferroni), so a calibrated model is flagged with probability at
most ``alpha``. The negative control fits with a deliberately wrong prior (simulating from the right one), and the
same test must flag it.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from riskmodel.data.evidence import EvidenceSet, load_evidence
from riskmodel.data.priors import PriorSet, load_priors
from riskmodel.errors import InputError
from riskmodel.model.prior import draw_prior
from riskmodel.model.spec import ModelData, model_data

__all__ = [
    "CALIBRATED",
    "SBCResult",
    "misspecify",
    "plot_ranks",
    "rank_uniformity",
    "run_sbc",
    "simulate_counts",
]

#: Scalar parameters whose calibration is checked (context layer, measurement, disposition); vector parameters
#: (``setting_effect``, ``baseline_compliance``) are checked per element, and the disposition of each system with
#: counts as ``M_pre[SYSTEM]``.
CALIBRATED: tuple[str, ...] = (
    "p_misaligned",
    "tg_intercept_aligned",
    "tg_intercept_gap",
    "value_conflict_effect_aligned",
    "value_conflict_effect_gap",
    "after_rl_effect",
    "system_offset_scale",
    "reasoning_sensitivity",
    "reasoning_false_positive",
    "behaviour_share",
)


def _logit_rates(theta: dict[str, np.ndarray], data: ModelData, x: np.ndarray, sys: np.ndarray, sett: np.ndarray):
    """(disposition, observation) training-gaming probabilities of one parameter draw, as in ``build_model``."""
    intercept = theta["tg_intercept"]  # (2,)
    effect = theta["context_effect"]  # (2, feature)
    setting = np.concatenate([np.atleast_1d(theta.get("setting_effect", np.zeros(0))), [0.0]])
    offset = theta["system_offset"]
    logit = intercept[:, None] + effect @ x.T + (setting[sett] + offset[sys])[None, :]
    return 1.0 / (1.0 + np.exp(-logit))


def simulate_counts(
    theta: dict[str, np.ndarray], disposition: np.ndarray, data: ModelData, rng: np.random.Generator
) -> ModelData:
    """Counts of the evidence structure simulated from one parameter draw and one disposition per system.

    Parameters
    ----------
    theta
        One draw of every model variable (as in :func:`riskmodel.model.graph.draw_prior`, chain and draw dims dropped).
    disposition
        0 (aligned) or 1 (misaligned) per system.
    data
        The evidence structure; its ``n`` are kept and its ``k`` replaced by simulated ones.
    """
    cr = data.counts_reasoning.copy()
    if cr.shape[1]:
        p = _logit_rates(theta, data, data.x_reasoning, data.sys_reasoning, data.set_reasoning)
        p_obs = p[disposition[data.sys_reasoning], np.arange(cr.shape[1])]
        q = p_obs * theta["reasoning_sensitivity"] + (1 - p_obs) * theta["reasoning_false_positive"]
        cr[0] = rng.binomial(cr[1], q)
    cp = data.counts_pair.copy()
    if cp.shape[1]:
        p = _logit_rates(theta, data, data.x_pair, data.sys_pair, data.set_pair)
        p_obs = p[disposition[data.sys_pair], np.arange(cp.shape[1])]
        c = np.atleast_1d(theta["baseline_compliance"])
        cp[0] = rng.binomial(cp[1], c + (1 - c) * theta["behaviour_share"] * p_obs)
        cp[2] = rng.binomial(cp[3], c)
    return dataclasses.replace(data, counts_reasoning=cr, counts_pair=cp)


def misspecify(data: ModelData, param: str, *, shift_sd: float, scale: float) -> ModelData:
    """The same structure with a wrong Normal prior on ``param``: mean moved by ``shift_sd`` prior sds, sd scaled."""
    mu_i, sd_i = data.hyper_index[f"{param}.mu"], data.hyper_index[f"{param}.sigma"]
    hyper = data.prior_hyper.copy()
    hyper[mu_i] += shift_sd * hyper[sd_i]
    hyper[sd_i] *= scale
    return dataclasses.replace(data, prior_hyper=hyper)


def _parameter_columns(data: ModelData) -> list[str]:
    cols = list(CALIBRATED)
    cols += [f"setting_effect[{s}]" for s in data.coords["setting"]]
    cols += [f"baseline_compliance[{p}]" for p in data.coords["pair"]]
    return cols


def _true_values(theta: dict[str, np.ndarray], data: ModelData) -> dict[str, float]:
    out = {p: float(theta[p]) for p in CALIBRATED}
    for i, s in enumerate(data.coords["setting"]):
        out[f"setting_effect[{s}]"] = float(theta["setting_effect"][i])
    for i, p in enumerate(data.coords["pair"]):
        out[f"baseline_compliance[{p}]"] = float(theta["baseline_compliance"][i])
    return out


def _posterior_values(post: Any, data: ModelData, col: str) -> np.ndarray:
    """Posterior draws (chain, draw) of one calibrated column."""
    if col.startswith("setting_effect["):
        return post["setting_effect"].sel(setting=col[len("setting_effect[") : -1]).values
    if col.startswith("baseline_compliance["):
        return post["baseline_compliance"].sel(pair=col[len("baseline_compliance[") : -1]).values
    return post[col].values


def _thin(x: np.ndarray, n_ranks: int) -> np.ndarray:
    """``n_ranks`` draws spread evenly through each chain (chains interleaved)."""
    per_chain = -(-n_ranks // x.shape[0])
    idx = np.linspace(0, x.shape[1] - 1, per_chain).round().astype(int)
    return x[:, idx].T.ravel()[:n_ranks]


def _rank(true: float, draws: np.ndarray, rng: np.random.Generator) -> int:
    """Rank of ``true`` among ``draws``, ties broken uniformly at random."""
    below = int(np.sum(draws < true))
    ties = int(np.sum(draws == true))
    return below + int(rng.integers(0, ties + 1))


@dataclass
class SBCResult:
    """Ranks of every replication, with the settings that produced them."""

    ranks: pd.DataFrame  # one row per replication, one column per calibrated quantity (0..n_ranks)
    n_ranks: int
    label: str
    settings: dict[str, Any]
    diagnostics: pd.DataFrame  # per replication: divergences, seconds

    def uniformity(self, bins: int = 10, alpha: float = 0.01) -> pd.DataFrame:
        """Per-quantity chi-square uniformity p-values and whether the Bonferroni-corrected test flags them."""
        return rank_uniformity(self.ranks, self.n_ranks, bins=bins, alpha=alpha)


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
    priors: str | PriorSet = "baseline@1.1.0",
    evidence: str | EvidenceSet = "published-evals@1.0.0",
    seed: int = 20261125,
    chains: int = 2,
    draws: int = 200,
    tune: int = 300,
    n_ranks: int = 99,
    wrong_prior: tuple[str, float, float] | None = None,
    label: str = "calibrated",
) -> SBCResult:
    """Run ``reps`` SBC replications on the evidence structure of ``evidence`` under ``priors``.

    Parameters
    ----------
    wrong_prior
        ``(param, shift_sd, scale)``: fit with a Normal prior on ``param`` moved by ``shift_sd`` prior sds and its sd
        multiplied by ``scale`` (the negative control); data are always simulated from the true prior.
    n_ranks
        Number of thinned posterior draws the true value is ranked among (ranks take ``n_ranks + 1`` values).
    """
    import nutpie

    from riskmodel.model.sampling import compiled_model

    if reps < 1 or chains * draws < n_ranks:
        raise InputError("need reps >= 1 and chains * draws >= n_ranks", field="reps")
    ps, ev = load_priors(priors), load_evidence(evidence)
    data = model_data(ps, ev)
    fit_data = (
        misspecify(data, *wrong_prior[:1], shift_sd=wrong_prior[1], scale=wrong_prior[2]) if wrong_prior else data
    )
    truth = draw_prior(data, reps, seed)
    rng = np.random.default_rng([seed, 0xC0FFEE])
    with_counts = sorted(
        {int(i) for i in data.sys_reasoning} | {int(i) for i in data.sys_pair[data.counts_pair[1] > 0]}
    )
    cols = _parameter_columns(data) + [f"M_pre[{data.coords['system'][i]}]" for i in with_counts]
    ranks = np.zeros((reps, len(cols)), dtype=np.int64)
    diag = []
    for r in range(reps):
        theta = {k: truth[k].values[0, r] for k in truth.data_vars}
        disposition = (rng.random(len(data.coords["system"])) < theta["p_misaligned"]).astype(np.int64)
        sim = simulate_counts(theta, disposition, fit_data, rng)
        t0 = time.perf_counter()
        trace = nutpie.sample(
            compiled_model(sim),
            draws=draws,
            tune=tune,
            chains=chains,
            cores=chains,
            seed=int(seed + r),
            progress_bar=False,
            target_accept=0.9,
        )
        seconds = time.perf_counter() - t0
        post = trace["posterior"]
        true = _true_values(theta, data)
        for j, col in enumerate(cols):
            if col.startswith("M_pre["):
                s = col[len("M_pre[") : -1]
                pm_sys = _thin(post["p_misaligned_system"].sel(system=s).values, n_ranks)
                m_draws = (rng.random(n_ranks) < pm_sys).astype(float)
                ranks[r, j] = _rank(float(disposition[data.coords["system"].index(s)]), m_draws, rng)
            else:
                ranks[r, j] = _rank(true[col], _thin(_posterior_values(post, data, col), n_ranks), rng)
        diag.append(
            {"rep": r, "divergences": int(trace["sample_stats"]["diverging"].sum()), "seconds": round(seconds, 3)}
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
    return SBCResult(pd.DataFrame(ranks, columns=cols), n_ranks, label, settings, pd.DataFrame(diag))


def plot_ranks(results: list[SBCResult], bins: int = 10) -> Any:
    """ECDF difference plot of the normalized ranks (ECDF minus uniform, with a 99% simultaneous-ish band).

    One panel per result; one line per quantity. The band is the pointwise 99% binomial band of an ECDF of ``reps``
    uniform ranks, Bonferroni-adjusted over the evaluation grid: lines leaving it are miscalibrated.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6.5 * len(results), 4.2), squeeze=False)
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
            flagged = test.loc[col, "flagged"]
            ax.plot(grid, ecdf, lw=2.0 if flagged else 0.8, label=col if flagged else None)
        ax.axhline(0, color="black", lw=0.5)
        ax.set_title(f"{res.label}: {reps} replications", fontsize=10)
        ax.set_xlabel("normalized rank")
        ax.set_ylabel("ECDF - uniform")
        ax.legend(fontsize=6, loc="lower left")
    fig.tight_layout()
    return fig

"""Summaries of draws: weighted means and quantiles, exceedance, Monte Carlo standard errors and Bayes factors.

Every summary takes draws with dims ``(chain, draw, ...)`` and optional normalized importance weights of shape
(chain, draw) (a fast update's); Monte Carlo standard errors use the effective sample size of the mean of that very
quantity (ArviZ's ``ess(method="mean")``), scaled by the weights' relative efficiency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

__all__ = [
    "EXCEEDANCE_LEVELS",
    "BayesFactor",
    "IntervalSummary",
    "bayes_factor",
    "bayes_factors",
    "exceedance",
    "mcse_of_mean",
    "mcse_of_means",
    "summarize",
    "weighted_mean",
    "weighted_quantile",
]

#: Thresholds x of the exceedance probabilities P(P(worst case) > x).
EXCEEDANCE_LEVELS: tuple[float, ...] = (0.01, 0.05, 0.10)


@dataclass(frozen=True)
class IntervalSummary:
    """Mean and 90% equal-tailed interval of a probability's draws."""

    mean: float
    lower: float
    upper: float

    def as_dict(self) -> dict[str, float]:
        """``{mean, lower, upper}``."""
        return {"mean": self.mean, "lower": self.lower, "upper": self.upper}


def weighted_mean(draws: xr.DataArray | np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean over chain and draw, with normalized importance weights of shape (chain, draw) if given."""
    x = np.asarray(draws, dtype=float)
    if weights is None:
        return float(x.mean())
    return float((x.reshape(weights.size) * weights.ravel()).sum())


def weighted_quantile(
    draws: xr.DataArray | np.ndarray, q: list[float], weights: np.ndarray | None = None
) -> np.ndarray:
    """Quantiles over chain and draw, with normalized importance weights if given."""
    x = np.asarray(draws, dtype=float).ravel()
    if weights is None:
        return np.quantile(x, q)
    order = np.argsort(x)
    cum = np.cumsum(weights.ravel()[order])
    cum -= 0.5 * weights.ravel()[order]  # midpoint rule, like the unweighted 'linear' quantile
    return np.interp(q, cum, x[order])


def summarize(draws: xr.DataArray, weights: np.ndarray | None = None) -> IntervalSummary:
    """Mean and 90% equal-tailed interval over chain and draw (importance-weighted if ``weights`` is given)."""
    lo, hi = weighted_quantile(draws, [0.05, 0.95], weights)
    return IntervalSummary(weighted_mean(draws, weights), float(lo), float(hi))


def exceedance(draws: xr.DataArray, weights: np.ndarray | None = None) -> dict[str, float]:
    """P(P > x) for each exceedance level x."""
    x = np.asarray(draws, dtype=float)
    return {f"{lvl:g}": weighted_mean(x > lvl, weights) for lvl in EXCEEDANCE_LEVELS}


def mcse_of_mean(draws: xr.DataArray, weights: np.ndarray | None = None, *, independent: bool = False) -> float:
    """Monte Carlo standard error of the (weighted) mean of (chain, draw) draws, from the ESS of the mean.

    With importance weights the effective sample size is scaled by the weights' relative efficiency
    ``(1 / sum w^2) / N``. ``independent`` draws (ancestral prior draws) have an ESS equal to their number.
    """
    x = np.asarray(draws, dtype=float)
    if x.ndim == 1:
        x = x[None, :]
    return float(mcse_of_means(x[..., None], weights, independent=independent)[0])


def mcse_of_means(
    x: np.ndarray, weights: np.ndarray | None = None, *, independent: bool = False, return_ess: bool = False
) -> Any:
    """:func:`mcse_of_mean` of each column ``x[:, :, j]`` of (chain, draw, column) draws, in one ESS call.

    ``return_ess``: return ``(mcse, ess)``, the effective sample sizes of the means used.
    """
    from arviz_stats.base import array_stats

    n = x.shape[0] * x.shape[1]
    w = np.full(x.shape[:2], 1.0 / n) if weights is None else weights.reshape(x.shape[:2])
    mean = np.einsum("cdj,cd->j", x, w)
    sd = np.sqrt(np.einsum("cdj,cd->j", (x - mean) ** 2, w))
    if independent:
        ess = np.full(x.shape[2], float(n))
    else:
        ess = np.asarray(array_stats.ess(np.moveaxis(x, -1, 0), chain_axis=-2, draw_axis=-1, method="mean"), float)
        ess = np.where(sd > 0, ess, 1.0)  # constant draws: no error, whatever the ESS estimate says
    if weights is not None:
        ess = ess * (1.0 / float((weights**2).sum())) / n
    mcse = np.where(sd > 0, sd / np.sqrt(np.maximum(ess, 1.0)), 0.0)
    return (mcse, ess) if return_ess else mcse


@dataclass(frozen=True)
class BayesFactor:
    """Posterior odds over prior odds of an event, with the Monte Carlo standard error of its natural log."""

    value: float
    log_mcse: float
    posterior: float
    prior: float

    def as_dict(self) -> dict[str, float]:
        """``{value, log_mcse, posterior, prior}``."""
        return {"value": self.value, "log_mcse": self.log_mcse, "posterior": self.posterior, "prior": self.prior}


def bayes_factor(
    posterior: xr.DataArray,
    prior: xr.DataArray,
    weights: np.ndarray | None = None,
    prior_weights: np.ndarray | None = None,
    *,
    prior_independent: bool = False,
) -> BayesFactor:
    """Bayes factor of an event whose probability has draws ``posterior`` and ``prior`` (each (chain, draw)).

    The probability of the event is the mean of its draws; the log-odds' standard error follows by the delta method
    from each side's Monte Carlo standard error (``prior_independent``: the prior draws are independent, as the
    ancestral draws of :func:`riskmodel.model.graph.draw_prior` are, so their ESS is their number).
    """
    post = np.asarray(posterior, dtype=float)
    pri = np.asarray(prior, dtype=float)
    post, pri = (a[None, :, None] if a.ndim == 1 else a[..., None] for a in (post, pri))
    return _bayes_factors(post, pri, weights, prior_weights, prior_independent)[0]


def bayes_factors(
    posterior: xr.DataArray,
    prior: xr.DataArray,
    dim: str,
    weights: np.ndarray | None = None,
    prior_weights: np.ndarray | None = None,
    *,
    prior_independent: bool = False,
    mcse: bool = True,
) -> dict[str, BayesFactor]:
    """:func:`bayes_factor` for each coordinate of ``dim`` (draws with dims chain, draw and ``dim``).

    ``mcse=False`` skips the Monte Carlo standard errors (``log_mcse`` is NaN), for views that do not show them.
    """
    post = posterior.transpose("chain", "draw", dim).values
    pri = prior.transpose("chain", "draw", dim).values
    bfs = _bayes_factors(post, pri, weights, prior_weights, prior_independent, mcse)
    return dict(zip((str(c) for c in posterior[dim].values), bfs, strict=True))


def _bayes_factors(
    post: np.ndarray,
    pri: np.ndarray,
    weights: np.ndarray | None,
    prior_weights: np.ndarray | None,
    prior_independent: bool,
    mcse: bool = True,
) -> list[BayesFactor]:
    eps = 1e-300

    def means(x: np.ndarray, w: np.ndarray | None) -> np.ndarray:
        return x.mean(axis=(0, 1)) if w is None else np.einsum("cdj,cd->j", x, w.reshape(x.shape[:2]))

    p1, p0 = means(post, weights), means(pri, prior_weights)
    if mcse:
        se1 = mcse_of_means(post, weights)
        se0 = mcse_of_means(pri, prior_weights, independent=prior_independent)
    else:
        se1 = se0 = np.full(post.shape[2], np.nan)
    out = []
    for a, b, s1, s0 in zip(p1, p0, se1, se0, strict=True):
        a, b = float(a), float(b)
        value = (max(a, eps) / max(1.0 - a, eps)) / (max(b, eps) / max(1.0 - b, eps))
        log_mcse = float(np.hypot(s1 / max(a * (1.0 - a), eps), s0 / max(b * (1.0 - b), eps)))
        out.append(BayesFactor(float(value), log_mcse, a, b))
    return out

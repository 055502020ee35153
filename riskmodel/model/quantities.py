"""Worst-case risk and its parts, computed draw by draw from parameter draws (posterior or prior).

Everything here is plain numpy/xarray arithmetic on draws with dims ``(chain, draw, ...)``; no MCMC. That is what
makes fast updates possible: an assumption the evidence does not inform can be redrawn from a new prior and these
functions rerun on the cached draws. The equations are in ``docs/model.md``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import xarray as xr
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import expit, ndtr, ndtri

from riskmodel.data.features import design_matrix
from riskmodel.data.priors import PriorSet

__all__ = [
    "EXCEEDANCE_LEVELS",
    "IntervalSummary",
    "all_capabilities",
    "bayes_factor",
    "bayes_factors",
    "capability_breakdown",
    "capability_detail",
    "exceedance",
    "summarize",
    "weighted_mean",
    "weighted_quantile",
    "worst_case",
]

#: Thresholds x of the exceedance probabilities P(P(worst case) > x).
EXCEEDANCE_LEVELS: tuple[float, ...] = (0.01, 0.05, 0.10)
_NODES, _WEIGHTS = hermegauss(48)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def all_capabilities(q: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """P(every capability holds | misaligned) when capability ``a`` holds with probability ``q[..., a]``.

    The capabilities are linked by a shared competence factor F: capability a holds when
    ``sqrt(s) F + sqrt(1-s) e_a < ndtri(q_a)`` with independent standard normals, so ``s = 0`` gives the product of
    the ``q_a`` and ``s -> 1`` their minimum. F is integrated out by Gauss-Hermite quadrature; the result is clipped
    to the Frechet bound ``min_a q_a`` that the exact integral obeys, so quadrature error cannot break it.
    """
    return capability_breakdown(q, strength, detail=False)[0]


class _Memo:
    """A small thread-safe LRU memo of a pure array function, keyed by the arrays' bytes.

    It changes no result, only speed: on the explorer's slider path one capability changes at a time, and the
    conditional probabilities of the others are the same arrays as on the previous rerun.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes) -> np.ndarray | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: bytes, value: np.ndarray) -> None:
        value.setflags(write=False)
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)


_COND_MEMO = _Memo(24)


def _conditional(q: np.ndarray, s: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """P(one capability holds | competence factor at each quadrature node), shape (..., node)."""
    h = hashlib.blake2b(digest_size=16)
    for a in (q, s):
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    key = h.digest()
    out = _COND_MEMO.get(key)
    if out is None:
        out = ndtr(ndtri(q)[..., None] * scale - shift)
        _COND_MEMO.put(key, out)
    return out


def capability_breakdown(
    q: np.ndarray, strength: np.ndarray, *, detail: bool = True
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """P(all capabilities) as in :func:`all_capabilities`, with two views of the same integral.

    Returns ``(total, if_certain, through)``: ``total[...]`` is P(every capability holds); ``if_certain[..., a]`` is
    that probability were capability ``a`` certain; ``through[..., a]`` is P(capabilities ``0..a`` all hold), the
    steps of the funnel. One evaluation of the conditional probabilities serves all three. ``detail=False`` skips
    the last two (returned as None).
    """
    q = np.clip(np.asarray(q, dtype=float), 0.0, 1.0)
    s = np.clip(np.asarray(strength, dtype=float), 0.0, 1.0 - 1e-9)[..., None]
    scale = 1.0 / np.sqrt(1.0 - s)
    shift = (np.sqrt(s) * scale) * _NODES  # (..., node)
    # one (..., node) slice per capability: the products below run over a short Python loop of whole arrays
    cond = [_conditional(q[..., a], s, scale, shift) for a in range(q.shape[-1])]
    if not detail:
        product = cond[0]
        for c in cond[1:]:
            product = product * c
        return np.minimum(product @ _WEIGHTS, q.min(axis=-1)), None, None
    before = [np.ones_like(shift)]
    for c in cond[:-1]:
        before.append(before[-1] * c)
    after = [np.ones_like(shift)]
    for c in cond[:0:-1]:
        after.append(after[-1] * c)
    after = after[::-1]
    q_before = np.minimum.accumulate(np.concatenate([np.ones_like(q[..., :1]), q[..., :-1]], axis=-1), axis=-1)
    q_after = np.minimum.accumulate(np.concatenate([np.ones_like(q[..., :1]), q[..., :0:-1]], axis=-1), axis=-1)
    through = np.minimum(
        np.stack([(b * c) @ _WEIGHTS for b, c in zip(before, cond, strict=True)], axis=-1),
        np.minimum.accumulate(q, axis=-1),
    )
    if_certain = np.minimum(
        np.stack([(b * a) @ _WEIGHTS for b, a in zip(before, after, strict=True)], axis=-1),
        np.minimum(q_before, q_after[..., ::-1]),
    )
    total = through[..., -1]
    return total, if_certain, through


def _route(consistency: np.ndarray, other: np.ndarray) -> np.ndarray:
    """P(the worst-case strategy is carried out): via consistent training-gaming, or via the other route."""
    return 1.0 - (1.0 - consistency) * (1.0 - other)


def worst_case(
    params: xr.Dataset,
    priors: PriorSet,
    *,
    capability_override: dict[str, float] | None = None,
    consistency_override: float | None = None,
) -> xr.Dataset:
    """Every worst-case quantity per (chain, draw, system).

    ``params`` holds draws of the model's parameters (posterior or prior). The overrides set an assumption to a
    fixed value (e.g. a capability to 1: "if it were certain"). The arithmetic runs on plain arrays in the fixed
    order (chain, draw, system, disposition, context) because it sits on the explorer's slider path.
    """
    cd = ("chain", "draw")
    intercept = params["tg_intercept"].transpose(*cd, "disposition").values
    effect = params["context_effect"].transpose(*cd, "disposition", "feature").values
    offset = params["system_offset"].transpose(*cd, "system").values
    contexts = [*priors.critical, priors.elicitation, priors.training]
    x = design_matrix(contexts)  # (context, feature)
    logit = (
        intercept[:, :, None, :, None] + np.einsum("cdef,kf->cdek", effect, x)[:, :, None] + offset[:, :, :, None, None]
    )
    rates = expit(logit)  # (chain, draw, system, disposition, context)
    n_crit = len(priors.critical)
    crit, elicit, train = rates[..., :n_crit], rates[..., n_crit], rates[..., n_crit + 1]
    # consistency: how much of the elicited rate carries over to the weakest critical context (capped at 1)
    consistency = np.minimum(crit / elicit[..., None], 1.0).min(axis=-1)  # (chain, draw, system, disposition)
    if consistency_override is not None:
        consistency = np.full_like(consistency, consistency_override)
    p_pre = params["p_misaligned_system"].transpose(*cd, "system").values
    rho = params["reinforcement"].transpose(*cd).values[..., None]
    other = params["other_route"].transpose(*cd).values[..., None]
    entrenched = (1.0 - p_pre) * rho * train[..., 0]  # aligned before training, misaligned after
    caps = params["capabilities"].transpose(*cd, "capability").values.copy()
    names = list(params["capabilities"]["capability"].values)
    for name, value in (capability_override or {}).items():
        caps[..., names.index(name)] = value
    p_caps = capability_breakdown(caps, params["competence_correlation"].transpose(*cd).values, detail=False)[0][
        ..., None
    ]
    cons_al, cons_mis = consistency[..., 0], consistency[..., 1]
    route = p_pre * _route(cons_mis, other) + entrenched * _route(cons_al, other)
    via_consistency = p_pre * cons_mis + entrenched * cons_al
    via_other_only = (p_pre * (1.0 - cons_mis) + entrenched * (1.0 - cons_al)) * other
    dims = (*cd, "system")
    ddims = (*dims, "disposition")
    coords = {
        **{d: params.coords[d] for d in (*cd, "system", "disposition")},  # reuses their indexes
        "context": [c.label() for c in priors.critical],
    }
    return xr.Dataset(
        {
            "p_misaligned_pre": (dims, p_pre),
            "p_misaligned_post": (dims, p_pre + entrenched),
            "consistency": (ddims, consistency),
            "p_all_capabilities": (dims, np.broadcast_to(p_caps, p_pre.shape)),
            "p_misaligned_and_route": (dims, route),
            "p_worst_case": (dims, route * p_caps),
            "p_worst_case_consistency_route": (dims, via_consistency * p_caps),
            "p_worst_case_other_route": (dims, (p_pre + entrenched) * other * p_caps),
            "p_worst_case_other_route_only": (dims, via_other_only * p_caps),
            "tg_rate_elicitation": (ddims, elicit),
            "tg_rate_training": (ddims, train),
            "tg_rate_critical": ((*ddims, "context"), crit),
        },
        coords=coords,
    )


def capability_detail(params: xr.Dataset) -> xr.Dataset:
    """How P(all capabilities) depends on each capability, per (chain, draw, capability).

    ``p_all_capabilities_if_certain``: P(all capabilities) were that capability certain; ``p_capabilities_through``:
    P(the capabilities up to this one all hold), in the order of the dim (the funnel's steps).
    """
    cd = ("chain", "draw")
    caps = params["capabilities"].transpose(*cd, "capability")
    _, if_certain, through = capability_breakdown(caps.values, params["competence_correlation"].transpose(*cd).values)
    dims = (*cd, "capability")
    return xr.Dataset(
        {"p_all_capabilities_if_certain": (dims, if_certain), "p_capabilities_through": (dims, through)},
        coords={"chain": caps["chain"], "draw": caps["draw"], "capability": caps["capability"]},
    )


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


def _mcse_of_mean(draws: xr.DataArray, weights: np.ndarray | None = None, *, independent: bool = False) -> float:
    """Monte Carlo standard error of the (weighted) mean of (chain, draw) draws, from the bulk ESS.

    With importance weights the effective sample size is scaled by the weights' relative efficiency
    ``(1 / sum w^2) / N``. ``independent`` draws (ancestral prior draws) have an ESS equal to their number.
    """
    x = np.asarray(draws, dtype=float)
    if x.ndim == 1:
        x = x[None, :]
    return float(_mcse_of_means(x[..., None], weights, independent=independent)[0])


def _mcse_of_means(x: np.ndarray, weights: np.ndarray | None = None, *, independent: bool = False) -> np.ndarray:
    """:func:`_mcse_of_mean` of each column ``x[:, :, j]`` of (chain, draw, column) draws, in one ESS call."""
    from arviz_stats.base import array_stats

    n = x.shape[0] * x.shape[1]
    w = np.full(x.shape[:2], 1.0 / n) if weights is None else weights.reshape(x.shape[:2])
    mean = np.einsum("cdj,cd->j", x, w)
    sd = np.sqrt(np.einsum("cdj,cd->j", (x - mean) ** 2, w))
    if independent:
        ess = np.full(x.shape[2], float(n))
    else:
        ess = np.asarray(array_stats.ess(np.moveaxis(x, -1, 0), chain_axis=-2, draw_axis=-1, method="bulk"), float)
        ess = np.where(sd > 0, ess, 1.0)  # constant draws: no error, whatever the ESS estimate says
    if weights is not None:
        ess = ess * (1.0 / float((weights**2).sum())) / n
    return np.where(sd > 0, sd / np.sqrt(np.maximum(ess, 1.0)), 0.0)


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
        se1 = _mcse_of_means(post, weights)
        se0 = _mcse_of_means(pri, prior_weights, independent=prior_independent)
    else:
        se1 = se0 = np.full(post.shape[2], np.nan)
    out = []
    for a, b, s1, s0 in zip(p1, p0, se1, se0, strict=True):
        a, b = float(a), float(b)
        value = (max(a, eps) / max(1.0 - a, eps)) / (max(b, eps) / max(1.0 - b, eps))
        log_mcse = float(np.hypot(s1 / max(a * (1.0 - a), eps), s0 / max(b * (1.0 - b), eps)))
        out.append(BayesFactor(float(value), log_mcse, a, b))
    return out

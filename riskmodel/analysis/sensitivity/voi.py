"""Value of information: how much learning a quantity, or running an evaluation, would revise P(worst case).

The value of information (in variance terms) of learning ``X`` is ``Var(E[P(W) | X])``: the expected squared
revision of the forecast. For an assumption no row informs it is also the expected reduction of the epistemic
variance ``Var(Y)`` of ``Y = P(W | posterior draw, uninformed assumptions)`` (law of total variance), and its share of
``Var(Y)`` is the assumption's first-order Sobol index (:mod:`riskmodel.analysis.sensitivity.sobol`), computed here
exactly by quadrature. Information about the target system itself (its training-gaming rate in a context, counts of
an evaluation of it) also speaks to its own pattern and disposition, which ``Y`` averages over, so its share of
``Var(Y)`` can exceed 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from riskmodel.analysis.sensitivity.common import (
    Progress,
    SystemDraws,
    check_system,
    declared_contexts,
    flat_weights,
    noop,
    stamp,
    uninformed_parameters,
)
from riskmodel.analysis.sensitivity.hypothetical import Units, flag_rates, tg_rates, unit_loglik
from riskmodel.errors import InputError
from riskmodel.model.spec import NEW_SYSTEM
from riskmodel.model.summaries import weighted_mean

if TYPE_CHECKING:
    from riskmodel.data.features import Context
    from riskmodel.results.result import FitResult

__all__ = [
    "EPISODES",
    "preposterior_voi",
    "value_of_information",
    "voi_by_replacement",
    "voi_given_data",
]

#: Episodes of the proposed evaluations (default).
EPISODES: tuple[int, ...] = (20, 100, 400)
#: Outcomes per block when accumulating a preposterior analysis (bounds the memory of the (unit, outcome) arrays).
_OUTCOME_BLOCK = 32


def _wvar(y: np.ndarray, w: np.ndarray | None) -> float:
    y = np.asarray(y, dtype=float).ravel()
    m = weighted_mean(y, w)
    return weighted_mean((y - m) ** 2, w)


def voi_by_replacement(
    evaluate: Callable[[float], np.ndarray],
    dist: Any,
    *,
    weights: np.ndarray | None = None,
    nodes: int = 16,
) -> float:
    """Value of learning exactly a parameter independent of everything else: ``Var(E[Y | parameter])``.

    ``evaluate(x)`` returns the draws of the output with the parameter fixed at ``x`` (the other inputs at their
    draws, weighted by ``weights``), so ``g(x) = E[Y | parameter = x]`` is their weighted mean; Gauss-Legendre
    quadrature with ``nodes`` points over the parameter's quantile scale integrates over ``dist``:
    ``Var(g) = E[g^2] - E[g]^2``, exactly 0 when ``Y`` ignores the parameter.
    """
    if isinstance(nodes, bool) or not isinstance(nodes, int) or not 2 <= nodes <= 200:
        raise InputError(f"must be a whole number from 2 to 200, got {nodes!r}", field="nodes")
    u, gw = np.polynomial.legendre.leggauss(nodes)
    u, gw = (u + 1) / 2, gw / 2
    g = np.array([weighted_mean(evaluate(float(dist.ppf(ui))), weights) for ui in u])
    dev = g - g[0]  # exactly 0 everywhere when Y ignores the parameter
    return max(float((gw * dev**2).sum() - (gw * dev).sum() ** 2), 0.0)


def voi_given_data(
    x: np.ndarray, y: np.ndarray, *, weights: np.ndarray | None = None, bins: int | None = None
) -> float:
    """Value of learning ``x`` exactly, ``Var(E[y | x])``, estimated from joint draws of (x, y).

    Draws are sorted by ``x`` and cut into ``bins`` groups of equal weight (default ``sqrt(N_eff)``); the result is
    the between-group variance of the group means minus its Monte Carlo bias ``(bins - 1) / N_eff`` x the mean
    within-group variance, clipped at 0.
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    w = flat_weights(weights, x.size)
    n_eff = 1.0 / float((w**2).sum())
    bins = bins or max(2, round(math.sqrt(n_eff)))
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    group = np.minimum((cw / cw[-1] * bins - 1e-12).astype(int), bins - 1)
    mean = float((w * y).sum())
    pb = np.bincount(group, weights=w[order], minlength=bins)
    sy = np.bincount(group, weights=w[order] * y[order], minlength=bins)
    syy = np.bincount(group, weights=w[order] * y[order] ** 2, minlength=bins)
    keep = pb > 0
    mb = sy[keep] / pb[keep]
    between = float((pb[keep] * (mb - mean) ** 2).sum())
    within = float((syy[keep] - pb[keep] * mb**2).sum())
    return max(between - (bins - 1) / n_eff * within, 0.0)


def preposterior_voi(
    y: np.ndarray,
    likelihood: np.ndarray | Callable[[np.ndarray], np.ndarray],
    *,
    outcomes: int | None = None,
    weights: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> dict[str, Any]:
    """Preposterior value of an experiment with outcomes ``k = 0..K-1``, from draws and each draw's likelihoods.

    Parameters
    ----------
    y
        Draws (or units) of the output, shape (N,).
    likelihood
        ``P(k | draw)``, shape (N, K) with rows summing to 1, or a function of an array of outcomes returning those
        columns (then ``outcomes`` gives K; the columns are computed in blocks).
    weights
        Normalized weights of the draws (None: equal).
    groups
        Which draw each row belongs to (rows that are units of one draw, e.g. its generated copies); the effective
        sample size is that of the per-group weights. Default: each row its own draw.

    Returns
    -------
    dict
        ``p_outcome`` (K,): the predictive probability of each outcome; ``mean_given_outcome`` (K,): ``E[Y | k]``;
        ``variance_reduction``: ``sum_k P(k) (E[Y | k] - E[Y])^2``, the variance over outcomes of the updated mean
        (the expected squared revision; the expected reduction of ``Var(Y)`` when ``Y`` does not depend on ``k``),
        less its Monte Carlo bias and clipped at 0; ``mc_bias``: that bias, ``sum_k P(k) Var(estimate of
        E[Y | k])`` (each term the delta-method variance of the self-normalized weighted mean, summed per group);
        ``variance_reduction_raw``: before the correction; ``expected_ess``: the mean over outcomes of the effective
        sample size of the updated weights (per group). Raw (not Pareto-smoothed) importance weights
        ``w_i P(k | draw i)`` keep ``sum_k P(k) E[Y | k] = E[Y]`` exact.
    """
    y = np.asarray(y, dtype=float).ravel()
    n = y.size
    w = flat_weights(weights, n)
    if groups is None:
        order, starts = None, None
    else:  # rows sorted by group, and where each group starts: sums per group by np.add.reduceat
        g = np.asarray(groups).ravel()
        order = np.argsort(g, kind="stable")
        starts = np.flatnonzero(np.r_[True, g[order][1:] != g[order][:-1]])

    blocks = None  # groups that are consecutive rows of one size (units of a draw): a reshape sums them
    if order is not None and np.all(np.diff(order) == 1) and n % starts.size == 0:
        if np.all(np.diff(starts) == n // starts.size):
            blocks = n // starts.size

    def per_group(x: np.ndarray) -> np.ndarray:
        if order is None:
            return x
        if blocks is not None:
            return x.reshape(-1, blocks, x.shape[1]).sum(axis=1)
        return np.add.reduceat(x[order], starts, axis=0)

    if callable(likelihood):
        if outcomes is None:
            raise InputError("give the number of outcomes with a likelihood function", field="outcomes")
        kk, lik_fn = int(outcomes), likelihood
    else:
        lik = np.asarray(likelihood, dtype=float)
        kk = lik.shape[1]

        def lik_fn(ks: np.ndarray) -> np.ndarray:
            return lik[:, ks]

    p_k, mean_k, ess, se2 = np.zeros(kk), np.zeros(kk), np.zeros(kk), np.zeros(kk)
    for start in range(0, kk, _OUTCOME_BLOCK):
        ks = np.arange(start, min(start + _OUTCOME_BLOCK, kk))
        joint = w[:, None] * np.asarray(lik_fn(ks), dtype=float).reshape(n, ks.size)
        pk = joint.sum(axis=0)
        safe = np.where(pk > 0, pk, 1.0)
        a = joint / safe  # the updated (normalized) weights given each outcome
        m = (a * y[:, None]).sum(axis=0)
        p_k[ks], mean_k[ks] = pk, m
        ess[ks] = np.where(pk > 0, 1.0 / np.maximum((per_group(a) ** 2).sum(axis=0), 1e-300), 0.0)
        se2[ks] = (per_group(a * (y[:, None] - m)) ** 2).sum(axis=0)
    mean = float((w * y).sum())
    raw = float((p_k * (mean_k - mean) ** 2).sum())
    bias = float((p_k * se2).sum())
    return {
        "p_outcome": p_k,
        "mean_given_outcome": mean_k,
        "variance_reduction": max(raw - bias, 0.0),
        "variance_reduction_raw": raw,
        "mc_bias": bias,
        "expected_ess": float((p_k * ess).sum() / max(p_k.sum(), 1e-300)),
    }


def _collapsed(draws: SystemDraws, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Draws of ``Y = P(W | draw, uninformed assumptions)`` and their weights, ``copies`` per posterior draw.

    For each copy ``c``, every uninformed assumption is set on all copies of the draw to its copy-``c`` value (an
    independent prior draw) and the draw's generated coordinates are averaged over as usual: so these are draws of
    the output whose variance the Sobol indices decompose. Returns (draws (chain, draw, copy), weights alike).
    """
    ds = draws.draws
    names = [n for n in names if "copy" in ds[n].dims]
    out = np.stack(
        [
            draws.quantities({n: ds[n].isel(copy=c).transpose("chain", "draw").values for n in names})["p_worst_case"]
            .transpose("chain", "draw")
            .values
            for c in range(draws.copies)
        ],
        axis=-1,
    )
    w = flat_weights(draws.weights, out.shape[0] * out.shape[1]).reshape(out.shape[:2])
    return out, np.broadcast_to(w[..., None] / draws.copies, out.shape)


def _direct_likelihood(result: FitResult, obs: Any, shape: tuple[int, ...]) -> Callable[[np.ndarray], np.ndarray]:
    """Outcome likelihoods of a named system's counts per draw, spread over the target's (copy, disposition) units."""
    from riskmodel.interactive.whatif import observation_loglik

    def lik(ks: np.ndarray) -> np.ndarray:
        ll = observation_loglik(result, obs, k=ks)  # (chain, draw, k)
        full = np.broadcast_to(np.exp(ll)[:, :, None, None, :], (*shape, ks.size))
        return full.reshape(-1, ks.size)

    return lik


def _unit_likelihood(
    q: np.ndarray, n: int, e_weight: np.ndarray, *, same: bool, shape: tuple[int, ...]
) -> Callable[[np.ndarray], np.ndarray]:
    """Outcome likelihoods per target unit from the evaluated system's per-unit flagged rates ``q``.

    The evaluated system is the target (``same``: unit by unit) or another system (its dispositions summed out with
    their probabilities; its copy c shares the copy's uninformed assumptions with the target's copy c).
    """
    p_disp = e_weight / np.maximum(e_weight.sum(axis=-1, keepdims=True), 1e-300)

    def lik(ks: np.ndarray) -> np.ndarray:
        lk = np.exp(unit_loglik(q, n, ks))  # (chain, draw, copy, disposition, k)
        if not same:
            lk = (p_disp[..., None] * lk).sum(axis=3, keepdims=True)
        return np.broadcast_to(lk, (*shape, ks.size)).reshape(-1, ks.size)

    return lik


def _eval_units(result: FitResult, eval_system: str, target: str, target_units: Units) -> Units:
    if eval_system == target:
        return target_units
    return Units.of(SystemDraws.posterior(result, eval_system))


def value_of_information(
    result: FitResult,
    *,
    system: str | None = None,
    nodes: int = 16,
    episodes: Sequence[int] = EPISODES,
    eval_systems: Sequence[str] | None = None,
    contexts: Sequence[tuple[str, Context]] | None = None,
    progress: Progress | None = None,
) -> xr.Dataset:
    """Value of information for P(worst case) of ``system`` (default: the fit's target).

    - ``learned`` (perfect information): each assumption no row informs, exactly (``Var(E[P(W) | theta])`` by
      Gauss-Legendre quadrature over its prior, the assumption fixed on every copy at each node), and the
      training-gaming rate of ``system`` in each declared context (elicitation, training, critical; approximate:
      binned joint draws of (rate, P(worst case)) over the (draw, copy, disposition) units).
    - (``evaluation``, ``episodes``, ``eval_system``) (preposterior): a proposed evaluation of ``n`` episodes of
      ``eval_system`` in each declared context (or ``contexts``) counting flagged training-gaming reasoning. Every
      count ``k = 0..n`` is weighed by its predictive probability and the cached draws reweighted by its likelihood:
      for a named system whose rows inform every coordinate of the context, the draw-level likelihood of
      :func:`riskmodel.interactive.whatif.observation_loglik`; otherwise (a new system, coordinates no row informs)
      Rao-Blackwellized over the generated copies and the disposition, ``P(k | draw) = mean over copies of
      sum_d P(d) Binom(k | n, q_copy,d)``, with ``E[P(W) | k]`` weighting each copy (and, for the target itself,
      each disposition) by its own likelihood (:mod:`riskmodel.analysis.sensitivity.hypothetical`).

    Returns
    -------
    xarray.Dataset
        ``voi_variance`` (learned): ``Var(E[P(W) | learned])``; ``voi_variance_share``: divided by ``Var(Y)``, the
        variance the Sobol indices decompose (for an uninformed assumption: its first-order Sobol index);
        ``estimator``; ``preposterior_voi_variance`` (evaluation, episodes, eval_system):
        ``sum_k P(k) (E[P(W) | k] - E[P(W)])^2``, the expected squared revision of the forecast, less its Monte Carlo
        bias (``preposterior_mc_bias``, see :func:`preposterior_voi`); ``preposterior_shift_sd_relative``: its
        square root over the current P(worst case);
        ``preposterior_voi_variance_share``: over ``Var(Y)``; ``preposterior_expected_ess``: the mean over outcomes of
        the effective sample size of the updated draw weights (small: the revision is noisy);
        ``preposterior_method`` (evaluation, eval_system). ``attrs``: ``p_worst_case_mean``, ``p_worst_case_variance``
        (``Var(Y)``).
    """
    from riskmodel.interactive.whatif import Observation, reweightable

    progress = progress or noop
    system = check_system(result, system)
    eval_systems = [system] if eval_systems is None else list(eval_systems)
    for s in eval_systems:
        check_system(result, s)
    episodes = [int(n) for n in episodes]
    if not episodes or any(n < 1 or n > 100_000 for n in episodes):
        raise InputError(f"must be whole numbers from 1 to 100000, got {episodes!r}", field="episodes")
    ctx = list(contexts) if contexts is not None else declared_contexts(result)
    draws = SystemDraws.posterior(result, system)
    w = result.weights
    free = uninformed_parameters(result)
    y_now = result.quantities["p_worst_case"].sel(system=system).transpose("chain", "draw").values
    mean = weighted_mean(y_now, w)
    y_all, w_all = _collapsed(draws, free)
    var_y = _wvar(y_all, w_all)
    learned, vv, how = [], [], []
    total = len(free) + len(ctx) * (1 + len(episodes) * len(eval_systems))
    done = 0
    for name in free:
        v = voi_by_replacement(
            lambda x, name=name: draws.quantities({name: x})["p_worst_case"].transpose("chain", "draw").values,
            result.priors[name].dist(),
            weights=w,
            nodes=nodes,
        )
        learned.append(name)
        vv.append(v)
        how.append("exact (quadrature over the prior)")
        done += 1
        progress("voi", done, total)
    units = Units.of(draws)
    unit_w = units.weight.ravel()
    for label, c in ctx:
        rates = tg_rates(units.draws, c)  # (chain, draw, copy, disposition), like the units
        learned.append(f"tg_rate[{label}]")
        vv.append(voi_given_data(rates.ravel(), units.p_worst_case.ravel(), weights=unit_w))
        how.append("binned joint draws (approximate)")
        done += 1
        progress("voi", done, total)
    shape = (len(ctx), len(episodes), len(eval_systems))
    pre, ess, bias = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    methods = np.full((len(ctx), len(eval_systems)), "", dtype=object)
    groups = np.broadcast_to(np.arange(draws.shape[0] * draws.shape[1]).reshape(*draws.shape, 1, 1), units.weight.shape)
    for s_i, e_sys in enumerate(eval_systems):
        e_units = _eval_units(result, e_sys, system, units)
        for i, (_, c) in enumerate(ctx):
            obs = Observation(e_sys, c, 0, 1)
            direct = e_sys != NEW_SYSTEM and not reweightable(result, obs)
            methods[i, s_i] = (
                "draw-level likelihood (whatif.observation_loglik)"
                if direct
                else "per-copy likelihood (Rao-Blackwellized over copies and disposition)"
            )
            q_e = None if direct else flag_rates(e_units.draws, c)
            for j, n in enumerate(episodes):
                if direct:
                    lik_fn = _direct_likelihood(result, Observation(e_sys, c, 0, n), units.weight.shape)
                else:
                    lik_fn = _unit_likelihood(q_e, n, e_units.weight, same=e_sys == system, shape=units.weight.shape)
                r = preposterior_voi(
                    units.p_worst_case.ravel(), lik_fn, outcomes=n + 1, weights=unit_w, groups=groups.ravel()
                )
                pre[i, j, s_i], ess[i, j, s_i] = r["variance_reduction"], r["expected_ess"]
                bias[i, j, s_i] = r["mc_bias"]
                done += 1
                progress("voi", done, total)
    vv_arr = np.array(vv)
    ds = xr.Dataset(
        {
            "voi_variance": (("learned",), vv_arr),
            "voi_variance_share": (("learned",), vv_arr / var_y if var_y > 0 else np.zeros(len(vv))),
            "estimator": (("learned",), np.array(how, dtype=str)),
            "preposterior_voi_variance": (("evaluation", "episodes", "eval_system"), pre),
            "preposterior_voi_variance_share": (
                ("evaluation", "episodes", "eval_system"),
                pre / var_y if var_y > 0 else np.zeros(shape),
            ),
            "preposterior_shift_sd_relative": (
                ("evaluation", "episodes", "eval_system"),
                np.sqrt(pre) / mean if mean > 0 else np.zeros(shape),
            ),
            "preposterior_mc_bias": (("evaluation", "episodes", "eval_system"), bias),
            "preposterior_expected_ess": (("evaluation", "episodes", "eval_system"), ess),
            "preposterior_method": (("evaluation", "eval_system"), methods.astype(str)),
        },
        coords={
            "learned": learned,
            "evaluation": [lbl for lbl, _ in ctx],
            "episodes": episodes,
            "eval_system": eval_systems,
        },
    )
    ds.attrs.update({"p_worst_case_mean": mean, "p_worst_case_variance": var_y, "quadrature_nodes": nodes})
    return stamp(ds, result, analysis="value of information", system=system, eval_systems=eval_systems)

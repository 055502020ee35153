"""Sobol indices (SALib): how much each uninformed assumption, and the fitted posterior, drive P(worst case).

See :func:`sobol` for exactly which variance is decomposed; :func:`sobol_indices` is the generic estimator (any
vectorized function of independent inputs), tested against the closed form of a product of independent Betas.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from riskmodel.analysis.sensitivity.common import (
    SystemDraws,
    check_system,
    flat_weights,
    stamp,
    uninformed_parameters,
)
from riskmodel.errors import InputError

if TYPE_CHECKING:
    from riskmodel.results.result import FitResult

__all__ = ["DRAW_INPUT", "DrawIndex", "p_worst_case_at", "sobol", "sobol_indices"]

#: Name of the grouped input "which posterior draw" (every informed parameter, with the draw's generated copies).
DRAW_INPUT = "posterior draw (informed assumptions)"
#: Evaluations per worst-case rerun (bounds the memory of the (pair, copy, context) arrays).
CHUNK = 8192


class DrawIndex:
    """The posterior draw as an input on the unit interval: ``ppf(u)`` is the flat draw number at quantile ``u``.

    With importance weights the draws are chosen with probability equal to their weight (inverse CDF of the
    weights), so the input's distribution is the (reweighted) posterior.
    """

    def __init__(self, weights: np.ndarray | None, n: int) -> None:
        self.cdf = np.cumsum(flat_weights(weights, n))
        self.n = n

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Flat draw numbers (chain-major) at quantiles ``u``."""
        return np.minimum(np.searchsorted(self.cdf, np.asarray(u, dtype=float), side="right"), self.n - 1)


def sobol_indices(
    func: Callable[[dict[str, np.ndarray]], np.ndarray],
    dists: dict[str, Any],
    *,
    n_base: int = 1024,
    seed: int = 1,
    conf_level: float = 0.95,
    num_resamples: int = 200,
) -> xr.Dataset:
    """First-order and total Sobol indices of ``func`` over independent inputs with distributions ``dists``.

    The inputs are sampled by SALib's scrambled Sobol sequence (Saltelli scheme, ``n_base * (d + 2)`` evaluations)
    on the unit cube and mapped through each distribution's quantile function (``ppf``; a discrete input such as
    :class:`DrawIndex` works the same way); SALib estimates the indices (Saltelli 2010 first order, Jansen total)
    with bootstrap confidence intervals at ``conf_level`` (``*_conf``: the half-width).
    """
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    if isinstance(n_base, bool) or not isinstance(n_base, int | np.integer) or n_base < 2 or n_base & (n_base - 1):
        raise InputError(f"must be a power of 2 (Sobol sequences), got {n_base!r}", field="n_base")
    names = list(dists)
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    u = sobol_sample.sample(problem, int(n_base), calc_second_order=False, scramble=True, seed=seed)
    u = np.clip(u, 1e-12, 1 - 1e-12)
    x = {n: np.asarray(dists[n].ppf(u[:, i])) for i, n in enumerate(names)}
    y = np.asarray(func(x), dtype=float)
    res = sobol_analyze.analyze(
        problem, y, calc_second_order=False, num_resamples=num_resamples, conf_level=conf_level, seed=seed
    )
    ds = xr.Dataset(
        {
            "first_order": (("parameter",), np.asarray(res["S1"], dtype=float)),
            "first_order_conf": (("parameter",), np.asarray(res["S1_conf"], dtype=float)),
            "total": (("parameter",), np.asarray(res["ST"], dtype=float)),
            "total_conf": (("parameter",), np.asarray(res["ST_conf"], dtype=float)),
        },
        coords={"parameter": names},
    )
    ds.attrs.update(
        {
            "n_base": int(n_base),
            "evaluations": int(y.size),
            "conf_level": conf_level,
            "output_mean": float(y.mean()),
            "output_variance": float(y.var()),
            "seed": seed,
        }
    )
    return ds


def p_worst_case_at(draws: SystemDraws, index: np.ndarray, values: dict[str, np.ndarray]) -> np.ndarray:
    """P(worst case) of the system at (posterior draw ``index[i]``, assumptions ``values[name][i]``), per pair.

    Each pair's value is the mean over the draw's generated copies of the conditional P(worst case) given the draw,
    the copy's generated coordinates and competence, and the assumptions set to the pair's values on every copy.
    """
    index = np.asarray(index, dtype=np.int64)
    out = np.empty(index.size)
    for start in range(0, index.size, CHUNK):
        sl = slice(start, start + CHUNK)
        q = draws.at(index[sl], {k: np.asarray(v)[sl] for k, v in values.items()}).quantities()
        out[sl] = q["p_worst_case"].values.ravel()
    return out


def sobol(
    result: FitResult,
    *,
    system: str | None = None,
    n_base: int = 1024,
    seed: int | None = None,
    conf_level: float = 0.95,
    num_resamples: int = 200,
) -> xr.Dataset:
    """Sobol indices of P(worst case) of ``system`` over every assumption no row informs, and the posterior draw.

    What is decomposed: the variance of ``Y = P(W | D, U)`` over the independent inputs

    - ``U``: every assumption of the prior file that no selected row informs (:func:`uninformed_parameters`: the
      context effects of the coordinates no row touches, their separations and spreads, the route, reinforcement and
      uninformed capabilities), each drawn from its prior (which is its posterior);
    - ``D``: one posterior draw, chosen with its (importance) weight: a *grouped* input standing for every informed
      parameter jointly (``parameter`` = :data:`DRAW_INPUT`), with that draw's generated pattern coordinates and
      competences of the system;

    where ``P(W | D, U)`` is the mean over D's generated copies of the conditional P(worst case) given D, the copy's
    generated coordinates, and ``U`` set on every copy. So ``Var(Y)`` is the epistemic variance of P(worst case)
    given every assumption, the spread a reader of the headline number is uncertain about (its mean is the headline
    P(worst case)). ``first_order`` of an uninformed assumption is ``Var(E[Y | U_i]) / Var(Y)``, the share it would
    remove if learned exactly (its value of information, see :mod:`~riskmodel.analysis.sensitivity.voi`);
    ``first_order`` of ``D`` is the share the fitted posterior carries; ``total`` includes interactions. Uncertainty
    about the system's own generated pattern (the 8 copies average it) stays inside ``Y`` and is not apportioned.

    Evaluations are vectorized: each Saltelli sample is one (draw, assumption values) pair rerun through
    :func:`riskmodel.model.quantities.worst_case` in chunks.
    """
    system = check_system(result, system)
    names = uninformed_parameters(result)
    draws = SystemDraws.posterior(result, system)
    n = draws.shape[0] * draws.shape[1]
    dists: dict[str, Any] = {p: result.priors[p].dist() for p in names}
    dists[DRAW_INPUT] = DrawIndex(result.weights, n)

    def func(x: dict[str, np.ndarray]) -> np.ndarray:
        return p_worst_case_at(draws, x[DRAW_INPUT], {p: x[p] for p in names})

    ds = sobol_indices(
        func,
        dists,
        n_base=n_base,
        seed=result.seed if seed is None else seed,
        conf_level=conf_level,
        num_resamples=num_resamples,
    )
    kind = ["uninformed assumption"] * len(names) + ["posterior draw (grouped)"]
    ds["input"] = (("parameter",), np.array(kind, dtype=str))
    analysis = "Sobol indices of P(worst case | posterior draw, uninformed assumptions)"
    return stamp(ds, result, analysis=analysis, system=system)

"""How far one system's evidence can move its odds of misalignment under a prior set (the bounded-evidence property).

A system's evidence reaches its disposition only through its own pattern: the Bayes factor of its rows for
"misaligned" is ``p(y | misaligned) / p(y | aligned) = E[r(theta) | y, aligned]`` with ``r(theta)`` the ratio of the two
dispositions' population densities of the pattern (hyperparameters integrated over their priors), so it can never
exceed ``sup r``. The coordinates' hyperparameters have independent priors, so ``r`` factorizes over the coordinates
the system's rows inform, and the bound is the product of one-dimensional suprema, computed here by Monte Carlo over
the prior on a grid. With Student-t between-system distributions ``r -> 1`` in both tails, so the supremum is finite;
with normal tails it would not be. With several systems the shared hyperparameters are learned from all of them and
the bound applies given those (it is then a statement about the posterior of the hyperparameters, docs/model.md).
"""

from __future__ import annotations

import numpy as np

from riskmodel.data.features import COORDINATES
from riskmodel.data.priors import PriorSet

__all__ = ["coordinate_odds_bounds", "system_odds_bound"]


def _density_ratio(priors: PriorSet, coord: str, draws: int, seed: int, grid: int) -> float:
    rng = np.random.default_rng([seed, COORDINATES.index(coord)])
    a = priors[f"{coord}_aligned"].draw(draws, rng)
    sep = priors[f"{coord}_separation"].draw(draws, rng)
    tau = priors[f"{coord}_spread"].draw(draws, rng)
    if coord == "intercept":
        a = a + priors["competence_loading"].draw(draws, rng) * rng.standard_normal(draws)
    from scipy.special import gammaln

    nu = priors.tail_df
    log_c = float(gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(nu * np.pi))

    def pdf(z: np.ndarray) -> np.ndarray:
        return np.exp(log_c - (nu + 1.0) / 2.0 * np.log1p(z**2 / nu))

    # the grid spans both components' bulk and far tails (the ratio tends to 1 in the tails of Student-t densities)
    u = rng.standard_t(priors.tail_df, size=draws)
    lo = np.quantile(np.concatenate([a + tau * u, a + sep + tau * u]), 0.0005)
    hi = np.quantile(np.concatenate([a + tau * u, a + sep + tau * u]), 0.9995)
    x = np.linspace(lo, hi, grid)[:, None]
    dens_al = (pdf((x - a) / tau) / tau).mean(axis=1)
    dens_mis = (pdf((x - a - sep) / tau) / tau).mean(axis=1)
    ratio = dens_mis / dens_al
    return float(max(ratio.max(), (1.0 / ratio).max()))


_CACHE: dict[tuple[object, ...], float] = {}


def _key(priors: PriorSet, coord: str, draws: int, seed: int, grid: int) -> tuple[object, ...]:
    """What one coordinate's bound depends on: its three priors (and the loading for the intercept), the tails."""
    names = [f"{coord}_aligned", f"{coord}_separation", f"{coord}_spread"]
    if coord == "intercept":
        names.append("competence_loading")
    parts = tuple((priors[n].distribution, tuple(sorted(priors[n].params.items()))) for n in names)
    return (coord, parts, priors.tail_df, draws, seed, grid)


def coordinate_odds_bounds(priors: PriorSet, *, draws: int = 4000, seed: int = 0, grid: int = 240) -> dict[str, float]:
    """Per pattern coordinate: the largest factor (either way) by which one coordinate can move a system's odds.

    Monte Carlo over the prior (``draws``) on a grid (``grid`` points): about 3% error at the defaults, which is
    plenty for a bound shown beside P(misaligned); the property tests use more. Memoized per coordinate on the priors
    it depends on (moving any other assumption in the explorer reuses it).
    """
    out = {}
    for c in COORDINATES:
        key = _key(priors, c, draws, seed, grid)
        if key not in _CACHE:
            if len(_CACHE) > 512:
                _CACHE.clear()
            _CACHE[key] = _density_ratio(priors, c, draws, seed, grid)
        out[c] = _CACHE[key]
    return out


def system_odds_bound(priors: PriorSet, informed: list[str]) -> float:
    """The largest factor by which a system's evidence on the ``informed`` coordinates can move its odds."""
    bounds = coordinate_odds_bounds(priors)
    return float(np.prod([bounds[c] for c in informed])) if informed else 1.0

"""The allow-list of prior distributions, and elicitation of a 90% interval into a distribution's parameters.

Every family names its parameters, their constraints and its support once here; the PyMC model, the numpy draws used
for fast updates and the densities used for importance reweighting all read this one table.
"""

from __future__ import annotations

import functools
import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from riskmodel.errors import PriorError

__all__ = ["FAMILIES", "Family", "check_interval", "elicit_interval", "elicitation_library", "frozen"]


@dataclass(frozen=True)
class Family:
    """An allowed distribution family: its parameter names, their constraints and its support."""

    name: str
    params: tuple[str, ...]
    positive: tuple[str, ...]
    support: str  # "unit", "real" or "positive"


FAMILIES: dict[str, Family] = {
    "Beta": Family("Beta", ("alpha", "beta"), ("alpha", "beta"), "unit"),
    "Normal": Family("Normal", ("mu", "sigma"), ("sigma",), "real"),
    "HalfNormal": Family("HalfNormal", ("sigma",), ("sigma",), "positive"),
    "LogNormal": Family("LogNormal", ("mu", "sigma"), ("sigma",), "positive"),
    "Gamma": Family("Gamma", ("alpha", "beta"), ("alpha", "beta"), "positive"),
}

_LIMIT = 1e6  # parameters beyond this are refused: they are typos, and they overflow the samplers
#: A LogNormal's scale is exp(mu): beyond +/-700 it overflows a double (exp(709.8) is the largest), so mu is bounded
#: there whatever the general limit says.
LOGNORMAL_MU_LIMIT = 700.0


def check_params(family: str, params: dict[str, Any], *, file: str | None, field: str) -> dict[str, float]:
    """Validate a family's parameters and return them as floats, or raise a one-line :class:`PriorError`."""
    fam = FAMILIES[family]
    unknown = sorted(set(params) - set(fam.params))
    if unknown:
        raise PriorError(
            f"{family} has no parameter {unknown[0]!r} (it takes {', '.join(fam.params)})", file=file, field=field
        )
    out: dict[str, float] = {}
    for p in fam.params:
        if p not in params:
            raise PriorError(f"{family} needs parameter {p!r}", file=file, field=field)
        v = params[p]
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise PriorError(f"{p} must be a finite number, got {v!r}", file=file, field=f"{field}.{p}")
        if p in fam.positive and v <= 0:
            raise PriorError(f"{p} must be > 0, got {v!r}", file=file, field=f"{field}.{p}")
        if abs(v) > _LIMIT:
            raise PriorError(f"{p} must be within +/-{_LIMIT:g}, got {v!r}", file=file, field=f"{field}.{p}")
        out[p] = float(v)
    if family == "LogNormal" and abs(out["mu"]) > LOGNORMAL_MU_LIMIT:
        raise PriorError(
            f"mu must be within +/-{LOGNORMAL_MU_LIMIT:g} (the scale exp(mu) overflows beyond), got {out['mu']!r}",
            file=file,
            field=f"{field}.mu",
        )
    return out


def frozen(family: str, params: dict[str, float]) -> Any:
    """The scipy distribution of a family with the given parameters (densities, quantiles, draws)."""
    return _frozen(family, tuple(sorted(params.items())))


@functools.lru_cache(maxsize=512)
def _frozen(family: str, items: tuple[tuple[str, float], ...]) -> Any:
    from scipy import stats  # slow to import: only when a density or a draw is needed

    params = dict(items)
    if family == "Beta":
        return stats.beta(params["alpha"], params["beta"])
    if family == "Normal":
        return stats.norm(params["mu"], params["sigma"])
    if family == "HalfNormal":
        return stats.halfnorm(scale=params["sigma"])
    if family == "LogNormal":
        try:
            scale = math.exp(params["mu"])
        except OverflowError:
            raise PriorError(f"LogNormal mu = {params['mu']!r} overflows exp(mu)", field="mu") from None
        return stats.lognorm(s=params["sigma"], scale=scale)
    if family == "Gamma":
        return stats.gamma(params["alpha"], scale=1.0 / params["beta"])
    raise KeyError(family)


def _cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "riskmodel" / "elicitation.json"


def _read_cache() -> dict[str, dict[str, float]]:
    try:
        data = json.loads(_cache_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(cache: dict[str, dict[str, float]]) -> None:
    from riskmodel.data.registry import atomic_write

    try:
        atomic_write(_cache_path(), json.dumps(cache, sort_keys=True).encode(), exclusive=False)
    except OSError:  # a read-only home only costs speed
        pass


@functools.cache
def _preliz_version() -> str:
    from importlib.metadata import version

    return version("preliz")


def elicitation_library() -> str:
    """The library (and version) that turns a 90% interval into distribution parameters."""
    return f"PreliZ {_preliz_version()} maxent (Normal in closed form)"


def check_interval(
    family: str, low: float, high: float, *, file: str | None = None, field: str = "interval90"
) -> tuple[float, float]:
    """A valid 90% interval for ``family`` as floats, or a one-line :class:`PriorError` saying what is wrong."""
    fam = FAMILIES[family]
    for name, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise PriorError(f"interval {name} must be a finite number, got {v!r}", file=file, field=field)
        if abs(v) > _LIMIT:
            raise PriorError(f"interval {name} must be within +/-{_LIMIT:g}, got {v!r}", file=file, field=field)
    low, high = float(low), float(high)
    if not low < high:
        raise PriorError(f"interval low must be below high, got [{low:g}, {high:g}]", file=file, field=field)
    if fam.support == "unit" and not (0.0 < low and high < 1.0):
        raise PriorError(
            f"a {family} interval must lie strictly inside (0, 1), got [{low:g}, {high:g}]", file=file, field=field
        )
    if fam.support == "positive" and low < 0.0:
        raise PriorError(f"a {family} interval must be >= 0, got [{low:g}, {high:g}]", file=file, field=field)
    return low, high


def elicit_interval(
    family: str, low: float, high: float, *, mass: float = 0.9, file: str | None = None, field: str = "interval90"
) -> dict[str, float]:
    """Parameters of the maximum-entropy ``family`` distribution with ``mass`` of its probability in ``[low, high]``.

    Uses PreliZ's ``maxent``; a Normal is solved in closed form. Results are cached on disk (they depend only on the
    inputs and the PreliZ version). Raises :class:`PriorError` when the interval is invalid or the family cannot put
    that mass there (e.g. a HalfNormal interval that does not start near 0).
    """
    low, high = check_interval(family, low, high, file=file, field=field)
    if family == "Normal":
        from statistics import NormalDist

        z = NormalDist().inv_cdf(0.5 + mass / 2)
        # the documented limits hold for elicited parameters too (a wide interval could give sigma beyond them)
        return check_params(family, {"mu": (low + high) / 2, "sigma": (high - low) / (2 * z)}, file=file, field=field)

    key = f"{family}|{low!r}|{high!r}|{mass!r}|preliz {_preliz_version()}"
    cache = _read_cache()
    if key in cache:
        return dict(cache[key])
    import preliz  # slow to import (numba): only when the cache misses

    dist = getattr(preliz, family)()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            preliz.maxent(dist, low, high, mass, plot=False)
        except Exception as exc:
            raise PriorError(
                f"a {family} cannot be fitted to [{low:g}, {high:g}] ({exc})", file=file, field=field
            ) from None
    params = {p: float(v) for p, v in zip(FAMILIES[family].params, dist.params, strict=True)}
    got = float(dist.cdf(high) - dist.cdf(low)) if all(np.isfinite(list(params.values()))) else float("nan")
    if not abs(got - mass) < 0.01:
        raise PriorError(
            f"no {family} puts {mass:.0%} of its mass in [{low:g}, {high:g}] (best fit puts {got:.0%})",
            file=file,
            field=field,
        )
    check_params(family, params, file=file, field=field)
    cache[key] = params
    _write_cache(cache)
    return params

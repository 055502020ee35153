"""Installed versions of riskmodel, its samplers and the libraries its numbers depend on (for provenance)."""

from __future__ import annotations

import importlib.util
import platform
from functools import cache
from importlib import metadata

from riskmodel.errors import InputError

__all__ = [
    "SAMPLER",
    "SAMPLERS",
    "SAMPLER_LIBRARIES",
    "check_sampler",
    "dependency_versions",
    "package_version",
    "sampler_libraries",
    "sampler_version",
]

#: The default sampler (chosen by measurement: README "Speed", benchmarks/fit_speed.py).
SAMPLER = "nutpie"
#: Every sampler a fit can use (``--sampler``); the citation names the one that drew its numbers.
SAMPLERS = ("nutpie", "numpyro", "pymc")
#: The distributions whose versions determine each sampler's draws besides PyMC and PyTensor (the fit store's key).
SAMPLER_LIBRARIES: dict[str, tuple[str, ...]] = {
    "nutpie": ("nutpie", "numba"),
    "numpyro": ("numpyro", "jax", "jaxlib"),
    "pymc": ("pymc", "numba"),
}


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "missing"


def package_version() -> str:
    """Installed version of riskmodel."""
    v = _version("riskmodel")
    return "0+unknown" if v == "missing" else v


def sampler_version(sampler: str = SAMPLER) -> str:
    """Installed version of a sampler (the version a citation names next to it); ``"missing"`` if not installed."""
    return _version(SAMPLER_LIBRARIES[sampler][0])


def sampler_libraries(sampler: str = SAMPLER) -> dict[str, str]:
    """Versions of every library that determines a sampler's draws (part of the fit store's key)."""
    return {dist: _version(dist) for dist in SAMPLER_LIBRARIES[sampler]}


def check_sampler(sampler: str, max_seconds: float | None = None) -> None:
    """Refuse, before any work, a sampler that is not known or not installed, or a time limit it cannot keep."""
    if sampler not in SAMPLERS:
        raise InputError(f"unknown sampler {sampler!r} (known: {', '.join(SAMPLERS)})", field="sampler")
    missing = [d for d in SAMPLER_LIBRARIES[sampler] if importlib.util.find_spec(d) is None]
    if missing:
        extra = " (pip install 'riskmodel[jax]')" if sampler == "numpyro" else ""
        raise InputError(f"sampler {sampler!r} needs {', '.join(missing)}, not installed{extra}", field="sampler")
    if max_seconds is not None and sampler != "nutpie":
        raise InputError(
            f"--max-seconds stops only the nutpie sampler; {sampler} runs to the end once started",
            field="max-seconds",
        )


@cache
def dependency_versions() -> dict[str, str]:
    """Versions of Python and of every library the numbers depend on (an optional sampler: ``"missing"``)."""
    out = {"python": platform.python_version()}
    for pkg in ("pymc", "pytensor", "arviz", "numpy", "numba", "nutpie", "numpyro", "jax", "xarray", "preliz"):
        out[pkg] = _version(pkg)
    return out

"""Installed versions of riskmodel, its sampler and the libraries its numbers depend on (for provenance)."""

from __future__ import annotations

import platform
from functools import cache
from importlib import metadata

__all__ = ["SAMPLER", "dependency_versions", "package_version", "sampler_version"]

SAMPLER = "nutpie"


def package_version() -> str:
    """Installed version of riskmodel."""
    try:
        return metadata.version("riskmodel")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


def sampler_version() -> str:
    """Installed version of the sampler (nutpie): part of every provenance and citation."""
    try:
        return metadata.version(SAMPLER)
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "missing"


@cache
def dependency_versions() -> dict[str, str]:
    """Versions of Python and of every library the numbers depend on."""
    out = {"python": platform.python_version()}
    for pkg in ("pymc", "pytensor", "arviz", "numpy", "nutpie", "xarray", "preliz"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:  # pragma: no cover
            out[pkg] = "missing"
    return out

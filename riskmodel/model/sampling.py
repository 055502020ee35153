"""Sampling: compile the model once per graph structure, run NUTS, and check the sampler's health.

Compiled samplers are cached per graph structure for the life of the process, so a refit after changing prior
hyperparameters or counts only swaps ``pm.Data`` values. This is the only module that imports the sampler.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from riskmodel.model.graph import build_model
from riskmodel.model.spec import ModelData

__all__ = ["ESS_MIN", "R_HAT_MAX", "Diagnostics", "clear_compile_cache", "compiled_model", "diagnose"]

R_HAT_MAX = 1.01
ESS_MIN = 400

_compiled: dict[str, Any] = {}
_compiled_lock = threading.Lock()


def clear_compile_cache() -> None:
    """Forget every compiled sampler (the next fit compiles again)."""
    with _compiled_lock:
        _compiled.clear()


def compiled_model(data: ModelData) -> Any:
    """The nutpie-compiled model for ``data``'s graph structure, with ``data``'s values swapped in."""
    import nutpie

    key = data.structure_key(likelihood=True)
    with _compiled_lock:
        if key not in _compiled:
            _compiled[key] = nutpie.compile_pymc_model(build_model(data, likelihood=True))
        return _compiled[key].with_data(**data.data_values(likelihood=True))


@dataclass(frozen=True)
class Diagnostics:
    """Sampler health: divergences, worst r_hat, smallest bulk and tail ESS, and plain-language warnings."""

    divergences: int
    max_r_hat: float
    min_ess_bulk: float
    min_ess_tail: float
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return not self.warnings

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "divergences": self.divergences,
            "max_r_hat": self.max_r_hat,
            "min_ess_bulk": self.min_ess_bulk,
            "min_ess_tail": self.min_ess_tail,
            "warnings": list(self.warnings),
            "ok": self.ok,
        }


def diagnose(trace: xr.DataTree, var_names: list[str]) -> Diagnostics:
    """Check divergences, r_hat and ESS of ``var_names`` against the thresholds and explain any failure."""
    import arviz as az

    div = int(trace["sample_stats"]["diverging"].sum())
    with warnings.catch_warnings():
        # constant quantities (e.g. the offset of the system that anchors the intercepts) give NaN, ignored below
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        rhat = az.rhat(trace, var_names=var_names)
        ess_b = az.ess(trace, var_names=var_names, method="bulk")
        ess_t = az.ess(trace, var_names=var_names, method="tail")

    def extreme(ds: xr.Dataset, fn: Any) -> float:
        vals = np.concatenate([np.ravel(ds[v].values) for v in ds.data_vars])
        vals = vals[np.isfinite(vals)]
        return float(fn(vals)) if vals.size else float("nan")

    max_rhat, min_b, min_t = extreme(rhat, np.max), extreme(ess_b, np.min), extreme(ess_t, np.min)
    warns = []
    if div:
        warns.append(
            f"{div} divergent transitions: the sampler may have missed part of the posterior; treat the "
            "numbers as suspect."
        )
    if max_rhat > R_HAT_MAX:
        warns.append(f"max r_hat {max_rhat:.3f} > {R_HAT_MAX}: chains disagree; run more draws or check the priors.")
    if min(min_b, min_t) < ESS_MIN:
        warns.append(
            f"smallest effective sample size {min(min_b, min_t):.0f} < {ESS_MIN}: Monte Carlo error is "
            "large; run more draws."
        )
    return Diagnostics(div, max_rhat, min_b, min_t, tuple(warns))

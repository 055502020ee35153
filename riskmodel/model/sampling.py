"""Sampling: compile the model once per graph structure and run NUTS.

Compiled samplers are cached per graph structure for the life of the process, so a refit after changing prior
hyperparameters or counts only swaps ``pm.Data`` values. This is the only module that imports the sampler
(health checks are in :mod:`riskmodel.model.diagnostics`).

A cached compiled model carries one piece of state beyond its data: nutpie's initial-point function, compiled by
PyMC from the model's shared variables, which ``with_data`` does not update. Its support points depend on prior
hyperparameters, so a fit of B on a model compiled for A would start from A's initial points, and its draws would
depend on what the process fitted first (issue 14). :func:`compiled_model` therefore gives every fit an initial-point
function that first sets those shared variables to that fit's own data: a fit's draws depend only on its inputs.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from riskmodel.model.graph import build_model
from riskmodel.model.spec import ModelData

__all__ = ["clear_compile_cache", "compiled_model", "is_compiled"]

_compiled: dict[str, Any] = {}
_compiled_lock = threading.Lock()
#: Held while an initial point is computed: the shared variables it reads are set for one fit at a time.
_initial_point_lock = threading.Lock()


def clear_compile_cache() -> None:
    """Forget every compiled sampler (the next fit compiles again)."""
    with _compiled_lock:
        _compiled.clear()


def is_compiled(data: ModelData) -> bool:
    """Whether this process has compiled the model for ``data``'s graph structure already."""
    with _compiled_lock:
        return data.structure_key(likelihood=True) in _compiled


def compiled_model(data: ModelData) -> Any:
    """The nutpie-compiled model for ``data``'s graph structure, with ``data``'s values swapped in."""
    import nutpie

    key = data.structure_key(likelihood=True)
    with _compiled_lock:
        if key not in _compiled:
            _compiled[key] = nutpie.compile_pymc_model(build_model(data, likelihood=True))
        return _own_initial_points(_compiled[key].with_data(**data.data_values(likelihood=True)))


def _own_initial_points(compiled: Any) -> Any:
    """``compiled`` with an initial-point function that computes from ``compiled``'s own data, not the cached one's.

    PyMC compiled the initial-point function against the model's shared variables, holding the values of the first
    fit of this structure; ``with_data`` swaps only the data the log-density reads. Setting the shared variables to
    this fit's data just before each call gives the initial points a fresh compile for this data would give.
    """
    values = [(var, compiled.shared_data[key]) for var, key in compiled.shared_var_keys.items()]
    base = compiled.initial_point_func

    def initial_point(seed: Any = None) -> Any:
        with _initial_point_lock:
            for var, value in values:
                var.set_value(value)
            return base(seed)

    return dataclasses.replace(compiled, initial_point_func=initial_point)

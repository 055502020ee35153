"""Sampling: compile the model once per graph structure and run NUTS.

Compiled samplers are cached per graph structure for the life of the process, so a refit after changing prior
hyperparameters or counts only swaps ``pm.Data`` values. This is the only module that imports the sampler
(health checks are in :mod:`riskmodel.model.diagnostics`).
"""

from __future__ import annotations

import threading
from typing import Any

from riskmodel.model.graph import build_model
from riskmodel.model.spec import ModelData

__all__ = ["clear_compile_cache", "compiled_model", "is_compiled"]

_compiled: dict[str, Any] = {}
_compiled_lock = threading.Lock()


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
        return _compiled[key].with_data(**data.data_values(likelihood=True))

"""Sampling: run NUTS with one of the samplers in :data:`riskmodel.versions.SAMPLERS`.

- ``nutpie`` (the default): the model is compiled once per graph structure for the life of the process (numba), so
  a refit after changing prior hyperparameters or counts only swaps ``pm.Data`` values. It samples in the
  background and is polled, so Ctrl-C and ``max_seconds`` stop it within a poll.
- ``numpyro`` (JAX; the optional ``jax`` extra) and ``pymc`` (PyMC's own NUTS, numba backend): through
  ``pm.sample``. PyMC builds their log-density with the data as constants, so every fit compiles again (JAX keeps
  an in-memory cache for identical graphs). They cannot be stopped at a time limit; Ctrl-C stops them. numpyro
  runs with PyMC's default ``chain_method="parallel"``, which numpyro draws one chain after another when there are
  fewer JAX devices than chains (on a CPU, one device unless ``XLA_FLAGS`` says otherwise); measured on 2 cores,
  4 x 1000 draws: 26.7 s, while an explicit ``"sequential"`` took 57.0 s and ``"vectorized"`` 38.4 s.

Every model is compiled with numba's fast-math flags off (:func:`exact_float`). With them on (PyTensor's default),
LLVM may reassociate floating-point sums differently when it compiles the model afresh and when it loads the parts
from numba's on-disk cache, and the draws differed: measured, the first run with empty compile caches drew
``9f9a0107...`` and every later run of the same key ``9734d97e...`` (2 x 300 draws, seed 1), so a citation made on
a fresh machine could not be verified bit for bit after it. With the flags off both drew ``94013e63...``.

This is the only module that imports a sampler (health checks are in :mod:`riskmodel.model.diagnostics`).

A cached compiled model carries one piece of state beyond its data: nutpie's initial-point function, compiled by
PyMC from the model's shared variables, which ``with_data`` does not update. Its support points depend on prior
hyperparameters, so a fit of B on a model compiled for A would start from A's initial points, and its draws would
depend on what the process fitted first (issue 14). :func:`compiled_model` therefore gives every fit an initial-point
function that first sets those shared variables to that fit's own data: a fit's draws depend only on its inputs.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from riskmodel.errors import FitError
from riskmodel.model.graph import build_model
from riskmodel.model.spec import ModelData
from riskmodel.versions import SAMPLER, check_sampler

__all__ = ["clear_compile_cache", "compile_nutpie", "compiled_model", "exact_float", "is_compiled", "sample"]

_compiled: dict[str, Any] = {}
_compiled_lock = threading.Lock()
#: Held while an initial point is computed: the shared variables it reads are set for one fit at a time.
_initial_point_lock = threading.Lock()


def exact_float() -> Any:
    """A context in which PyTensor compiles with numba's fast-math flags off (same draws cold and from cache)."""
    import pytensor

    return pytensor.config.change_flags(numba__fastmath=False)


def compile_nutpie(model: Any) -> Any:
    """The nutpie-compiled model of a PyMC model, its floating point exact (:func:`exact_float`)."""
    import nutpie

    with exact_float():
        return nutpie.compile_pymc_model(model)


def clear_compile_cache() -> None:
    """Forget every compiled sampler (the next fit compiles again)."""
    with _compiled_lock:
        _compiled.clear()


def is_compiled(data: ModelData, sampler: str = SAMPLER) -> bool:
    """Whether this process has compiled the model for ``data``'s graph structure already (``nutpie`` only).

    The other samplers compile inside every fit, so for them this is always False.
    """
    if sampler != "nutpie":
        return False
    with _compiled_lock:
        return data.structure_key(likelihood=True) in _compiled


def compiled_model(data: ModelData) -> Any:
    """The nutpie-compiled model for ``data``'s graph structure, with ``data``'s values swapped in."""
    key = data.structure_key(likelihood=True)
    with _compiled_lock:
        if key not in _compiled:
            _compiled[key] = compile_nutpie(build_model(data, likelihood=True))
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


def _first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, or its type when the message is empty."""
    lines = [x.strip() for x in str(exc).splitlines() if x.strip()]
    return lines[0][:300] if lines else type(exc).__name__


def sample(
    data: ModelData,
    *,
    sampler: str,
    seed: int,
    chains: int,
    draws: int,
    tune: int,
    target_accept: float,
    adaptation: str,
    progress: bool,
    cores: int | None,
    max_seconds: float | None,
    stage: Callable[[str], None],
) -> tuple[Any, bool]:
    """Run NUTS; returns the trace (posterior and sample_stats, a DataTree) and whether ``max_seconds`` stopped it.

    Ctrl-C stops any sampler and re-raises ``KeyboardInterrupt`` (never a partial trace taken for a complete one);
    every sampler failure becomes one :class:`FitError` line. ``adaptation`` is nutpie's mass-matrix setting (the
    others adapt a diagonal mass matrix, their default).
    """
    check_sampler(sampler, max_seconds)
    cores = cores or min(chains, os.cpu_count() or 1)
    if sampler == "nutpie":
        return _sample_nutpie(
            data, seed, chains, draws, tune, target_accept, adaptation, progress, cores, max_seconds, stage
        )
    stage(f"sampling with {sampler} (it compiles the model first): {chains} chains x {tune} tuning + {draws} draws")
    return _sample_pm(data, sampler, seed, chains, draws, tune, target_accept, progress, cores), False


def _finished(handle: Any) -> bool:
    """Whether a background nutpie sampler is done (nutpie 0.16 raises ``TimeoutError`` while it is not)."""
    try:
        return bool(handle.is_finished)
    except TimeoutError:
        return False


#: How often the nutpie sampler is polled for completion, Ctrl-C and ``max_seconds`` (seconds).
_POLL = 0.05


def _sample_nutpie(
    data: ModelData,
    seed: int,
    chains: int,
    draws: int,
    tune: int,
    target_accept: float,
    adaptation: str,
    progress: bool,
    cores: int,
    max_seconds: float | None,
    stage: Callable[[str], None],
) -> tuple[Any, bool]:
    """Run nutpie in the background, polled so that Ctrl-C and ``max_seconds`` can stop it.

    Polling lets Ctrl-C reach Python: nutpie's own handler would return the partial trace as if it were complete.
    """
    handle = None
    try:
        if not is_compiled(data):
            stage("compiling the model (once per model structure and process; minutes on a first run)")
        compiled = compiled_model(data)
        stage(f"sampling {chains} chains x {tune} tuning + {draws} draws")
        import nutpie

        started = time.monotonic()
        handle = nutpie.sample(
            compiled,
            draws=draws,
            tune=tune,
            chains=chains,
            cores=cores,
            seed=seed,
            progress_bar=progress and sys.stderr.isatty(),
            target_accept=target_accept,
            adaptation=adaptation,
            blocking=False,
        )
        stopped = False
        while not _finished(handle):
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                stopped = True
                break
            time.sleep(_POLL)
        trace = handle.abort() if stopped else handle.wait()
        handle = None
    except KeyboardInterrupt:
        if handle is not None:
            handle.cancel()
        raise
    except Exception as exc:
        if handle is not None:
            handle.cancel()
        raise FitError(f"the sampler failed: {_first_line(exc)}", field="sampler") from exc
    got = int(trace["posterior"].sizes.get("draw", 0)) if "posterior" in trace else 0
    if stopped and got < 2:
        raise FitError(
            f"stopped by --max-seconds {max_seconds:g} before the first draws (still tuning): no result; "
            "nothing was written",
            field="max-seconds",
        )
    return trace, stopped


def _sample_pm(
    data: ModelData,
    sampler: str,
    seed: int,
    chains: int,
    draws: int,
    tune: int,
    target_accept: float,
    progress: bool,
    cores: int,
) -> Any:
    """``pm.sample`` with numpyro or PyMC's own NUTS; a Ctrl-C it swallows (returning what it drew) is re-raised."""
    import pymc as pm
    import xarray as xr

    interrupted = threading.Event()
    restore = None
    if threading.current_thread() is threading.main_thread():

        def on_sigint(signum: int, frame: Any) -> None:
            interrupted.set()
            raise KeyboardInterrupt

        restore = signal.signal(signal.SIGINT, on_sigint)
    try:
        with build_model(data, likelihood=True), exact_float():
            trace = pm.sample(
                draws=draws,
                tune=tune,
                chains=chains,
                cores=cores,
                random_seed=seed,
                target_accept=target_accept,
                nuts_sampler=sampler,
                progressbar=progress and sys.stderr.isatty(),
                compute_convergence_checks=False,
            )
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        if interrupted.is_set():
            raise KeyboardInterrupt from exc
        raise FitError(f"the sampler failed: {_first_line(exc)}", field="sampler") from exc
    finally:
        if restore is not None:
            signal.signal(signal.SIGINT, restore)
    if interrupted.is_set():
        raise KeyboardInterrupt
    # only what the fit store keeps and the results read: the sampler's output, not PyMC's other groups
    return xr.DataTree.from_dict(
        {"posterior": trace["posterior"].to_dataset(), "sample_stats": trace["sample_stats"].to_dataset()}
    )

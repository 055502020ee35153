"""Refit sweeps: many exact fits under different prior sets, serially, in local worker processes, or on Dask.

A refit is the expensive fallback of a sensitivity sweep (a grid point whose importance weights are unreliable,
Pareto k > 0.7). Each refit returns a small summary dict, so only a few numbers cross process boundaries.

Reproducibility: every refit uses the same seed as the fit it replaces. In one process nutpie gives the same draws
for the same model, data and seed, so a serial sweep and a Dask ``LocalCluster(processes=False)`` (threads in this
process) agree **bit for bit**. Worker processes (``workers > 1`` or a Dask cluster with processes) compile the model
again, and nutpie is not bit-reproducible across processes: those agree with a serial run **within Monte Carlo
error** (each summary carries its MCSE).
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from riskmodel.data.evidence import EvidenceSet
from riskmodel.data.priors import PriorSet

__all__ = ["refit_summary", "refit_sweep"]


def refit_summary(
    priors: PriorSet,
    evidence: EvidenceSet,
    system: str,
    seed: int,
    chains: int,
    draws: int,
    tune: int,
) -> dict[str, Any]:
    """Fit exactly and return the numbers a sweep records (JSON-ready, small).

    Keys: ``p_worst_case`` and its ``mcse_p_worst_case``, ``p_misaligned``, ``p_misaligned_after_training``,
    ``log10_bayes_factor``, ``divergences``, ``ok`` (sampler health).
    """
    from riskmodel.model.quantities import _mcse_of_mean, bayes_factor, weighted_mean
    from riskmodel.results.result import fit

    res = fit(priors, evidence, system=system, seed=seed, chains=chains, draws=draws, tune=tune)
    q, q0 = res.quantities.sel(system=system), res.prior_quantities.sel(system=system)
    bf = bayes_factor(q["p_worst_case"], q0["p_worst_case"])
    return {
        "p_worst_case": weighted_mean(q["p_worst_case"]),
        "mcse_p_worst_case": _mcse_of_mean(q["p_worst_case"].transpose("chain", "draw")),
        "p_misaligned": weighted_mean(q["p_misaligned_pre"]),
        "p_misaligned_after_training": weighted_mean(q["p_misaligned_post"]),
        "log10_bayes_factor": math.log10(bf.value) if bf.value > 0 else float("nan"),
        "divergences": res.diagnostics.divergences,
        "ok": res.diagnostics.ok,
    }


def refit_sweep(
    priors: Sequence[PriorSet],
    evidence: EvidenceSet,
    *,
    system: str,
    seed: int,
    chains: int,
    draws: int,
    tune: int,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    on_done: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Refit under each prior set and return one :func:`refit_summary` per set, in order.

    Parameters
    ----------
    workers
        ``None`` or 1: serially in this process (reuses the compiled model). More: that many local worker processes
        (each compiles the model once, ~15 s).
    scheduler
        Address of a Dask scheduler (``tcp://host:8786``): the refits run on that cluster's workers.
    client
        An existing ``dask.distributed.Client`` (e.g. on a ``LocalCluster``); takes precedence over ``scheduler``.
    on_done
        Called with the number of finished refits after each one (progress bars).
    """
    args = [(p, evidence, system, seed, chains, draws, tune) for p in priors]
    if not args:
        return []
    if client is not None or scheduler is not None:
        from dask.distributed import Client, as_completed

        own = client is None
        client = client or Client(scheduler)
        try:
            futures = [client.submit(refit_summary, *a, pure=False) for a in args]
            for i, _ in enumerate(as_completed(futures), start=1):
                if on_done:
                    on_done(i)
            return client.gather(futures)
        finally:
            if own:
                client.close()
    if workers is None or workers <= 1:
        out = []
        for i, a in enumerate(args, start=1):
            out.append(refit_summary(*a))
            if on_done:
                on_done(i)
        return out
    ctx = multiprocessing.get_context("spawn")  # nutpie/numba threads do not survive fork
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(refit_summary, *a) for a in args]
        out = []
        for i, f in enumerate(futures, start=1):
            out.append(f.result())
            if on_done:
                on_done(i)
        return out

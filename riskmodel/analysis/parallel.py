"""Refit sweeps: many exact fits under different prior sets, serially, in local worker processes, or on Dask.

A refit is the expensive fallback of a sensitivity sweep (a grid point whose importance weights are unreliable,
Pareto k > 0.7). Each refit returns a small summary dict, so only a few numbers cross process boundaries.

Refits go through the fit store, so a repeated sweep reads its refits back instead of sampling again.

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
from riskmodel.errors import InputError
from riskmodel.versions import SAMPLER

__all__ = ["SCHEDULER_TIMEOUT", "connect", "refit_summary", "refit_sweep"]

#: Seconds to wait for a Dask scheduler before saying it cannot be reached.
SCHEDULER_TIMEOUT = 10.0


def connect(scheduler: str, timeout: float = SCHEDULER_TIMEOUT) -> Any:
    """A ``dask.distributed.Client`` on the scheduler at ``scheduler``, or a one-line :class:`InputError`.

    Checked before anything expensive runs (the ``sensitivity`` command connects before it fits).
    """
    from dask.distributed import Client

    if not isinstance(scheduler, str) or not scheduler.strip():
        raise InputError("must be a scheduler address such as tcp://host:8786", field="scheduler")
    try:
        return Client(scheduler, timeout=f"{timeout}s")
    except (OSError, TimeoutError, ValueError) as exc:
        line = next((x.strip() for x in str(exc).splitlines() if x.strip()), type(exc).__name__)
        raise InputError(f"cannot reach the Dask scheduler at {scheduler!r}: {line[:200]}", field="scheduler") from None


def refit_summary(
    priors: PriorSet,
    evidence: EvidenceSet,
    system: str,
    seed: int,
    chains: int,
    draws: int,
    tune: int,
    cache_dir: str | None = None,
    cache: bool = True,
    sampler: str = SAMPLER,
) -> dict[str, Any]:
    """Fit exactly and return the numbers a sweep records (JSON-ready, small).

    Keys: ``p_worst_case`` with its ``mcse_p_worst_case`` and ``ess_p_worst_case`` (the ESS of the mean),
    ``p_misaligned``, ``p_misaligned_after_training``, ``log10_bayes_factor`` (the prior side from the fit's
    independent prior draws), ``divergences``, ``ok`` (sampler health). The fit goes through the fit store
    (``cache_dir``, default ``$RISKMODEL_CACHE_DIR`` or the user cache; ``cache=False``: always sample), so a
    repeated sweep reads its refits back.
    """
    from riskmodel.model.summaries import bayes_factor, mcse_of_means, weighted_mean
    from riskmodel.results.result import fit

    res = fit(
        priors,
        evidence,
        system=system,
        seed=seed,
        chains=chains,
        draws=draws,
        tune=tune,
        sampler=sampler,
        cache=cache,
        cache_dir=cache_dir,
    )
    q, q0 = res.quantities.sel(system=system), res.prior_quantities.sel(system=system)
    pw = q["p_worst_case"].transpose("chain", "draw")
    bf = bayes_factor(pw, q0["p_worst_case"].transpose("chain", "draw"), prior_independent=True)
    mcse, ess = mcse_of_means(pw.values[..., None], return_ess=True)
    return {
        "p_worst_case": weighted_mean(pw),
        "mcse_p_worst_case": float(mcse[0]),
        "ess_p_worst_case": float(ess[0]),
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
    cache_dir: str | None = None,
    cache: bool = True,
    sampler: str = SAMPLER,
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
    cache_dir, cache
        The fit store the refits read and fill (default ``$RISKMODEL_CACHE_DIR`` or the user cache); ``cache=False``
        always samples.
    sampler
        The sampler of every refit (the base fit's, so that refits and reweighted points are comparable).
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise InputError(f"must be a whole number >= 1, got {workers!r}", field="workers")
    args = [(p, evidence, system, seed, chains, draws, tune, cache_dir, cache, sampler) for p in priors]
    if not args:
        return []
    if client is not None or scheduler is not None:
        from dask.distributed import as_completed

        own = client is None
        if own:
            client = connect(scheduler)
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

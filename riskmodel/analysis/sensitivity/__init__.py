"""Sensitivity analyses of worst-case risk: one-way sweeps (tornado), power scaling, Sobol, value of information.

Every function takes a fitted result and returns an ``xarray.Dataset`` with named dims (``parameter``, ``grid``,
``quantity``, ``learned``, ``evaluation``, ``episodes``, ``eval_system``) stamped with the citation and provenance
of the fit it reads (:func:`stamp`). ``docs/sensitivity.md`` explains the methods; one module per method:

- :mod:`~riskmodel.analysis.sensitivity.tornado`: one-way sweeps over every assumption of the prior file (fixed on
  every copy and rerun for an uninformed one, exact; PSIS-reweighted or refit for an informed one) and the tornado;
- :mod:`~riskmodel.analysis.sensitivity.psense`: ArviZ power-scaling sensitivity, flagging prior-data conflict;
- :mod:`~riskmodel.analysis.sensitivity.sobol`: SALib Sobol indices of P(worst case) over every uninformed
  assumption and the posterior draw (grouped);
- :mod:`~riskmodel.analysis.sensitivity.voi`: value of information, perfect and preposterior;
- :mod:`~riskmodel.analysis.sensitivity.hypothetical`: hypothetical counts of any system on the cached draws,
  Rao-Blackwellized over its generated copies (what the preposterior analysis and the training-gaming analysis use);
- :mod:`~riskmodel.analysis.sensitivity.common`: provenance, which assumptions are informed, one system's draws.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from riskmodel.analysis.sensitivity.common import (
    GRID_POINTS,
    GRID_RANGE,
    Progress,
    SystemDraws,
    declared_contexts,
    grid_levels,
    informed_parameters,
    stamp,
    uninformed_parameters,
)
from riskmodel.analysis.sensitivity.hypothetical import Units, flag_rates, observed_one_way, tg_rates, unit_loglik
from riskmodel.analysis.sensitivity.psense import PRIOR_SELECTIONS, log_density_draws, power_scaling
from riskmodel.analysis.sensitivity.sobol import DRAW_INPUT, DrawIndex, p_worst_case_at, sobol, sobol_indices
from riskmodel.analysis.sensitivity.tornado import (
    BAYES_FACTOR_PRIOR_DRAWS,
    QUANTITIES,
    location_prior,
    one_way,
    one_way_function,
    tornado_table,
)
from riskmodel.analysis.sensitivity.voi import (
    EPISODES,
    preposterior_voi,
    value_of_information,
    voi_by_replacement,
    voi_given_data,
)
from riskmodel.errors import InputError

if TYPE_CHECKING:
    import xarray as xr

    from riskmodel.results.result import FitResult

__all__ = [
    "BAYES_FACTOR_PRIOR_DRAWS",
    "DRAW_INPUT",
    "EPISODES",
    "GRID_POINTS",
    "GRID_RANGE",
    "METHODS",
    "PRIOR_SELECTIONS",
    "QUANTITIES",
    "DrawIndex",
    "Progress",
    "SystemDraws",
    "Units",
    "declared_contexts",
    "flag_rates",
    "grid_levels",
    "informed_parameters",
    "location_prior",
    "log_density_draws",
    "observed_one_way",
    "one_way",
    "one_way_function",
    "p_worst_case_at",
    "power_scaling",
    "preposterior_voi",
    "sensitivity_report",
    "sobol",
    "sobol_indices",
    "stamp",
    "tg_rates",
    "tornado_table",
    "uninformed_parameters",
    "unit_loglik",
    "value_of_information",
    "voi_by_replacement",
    "voi_given_data",
]

METHODS: tuple[str, ...] = ("tornado", "psense", "sobol", "voi")


def sensitivity_report(
    result: FitResult,
    methods: Sequence[str] = METHODS,
    *,
    system: str | None = None,
    points: int = GRID_POINTS,
    n_base: int = 1024,
    refit: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    episodes: Sequence[int] = EPISODES,
    nodes: int = 16,
    progress: Progress | None = None,
) -> dict[str, xr.Dataset]:
    """Run the chosen analyses on one fit; returns ``{method: Dataset}`` with each dataset's run time in its attrs.

    Arguments are checked before any analysis runs (one-line :class:`~riskmodel.errors.InputError`).
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InputError(f"unknown method {unknown[0]!r} (known: {', '.join(METHODS)})", field="method")
    grid_levels(points)
    if isinstance(n_base, bool) or not isinstance(n_base, int) or n_base < 2 or n_base & (n_base - 1):
        raise InputError(f"must be a power of 2 (Sobol sequences), got {n_base!r}", field="n_base")
    out: dict[str, xr.Dataset] = {}
    for m in methods:
        t0 = time.perf_counter()
        if m == "tornado":
            ds = one_way(
                result,
                points=points,
                system=system,
                refit=refit,
                workers=workers,
                scheduler=scheduler,
                client=client,
                progress=progress,
            )
        elif m == "psense":
            ds = power_scaling(result, system=system)
        elif m == "sobol":
            ds = sobol(result, system=system, n_base=n_base)
        else:
            ds = value_of_information(result, system=system, episodes=episodes, nodes=nodes, progress=progress)
        ds.attrs["seconds"] = time.perf_counter() - t0
        out[m] = ds
    return out

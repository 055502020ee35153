"""Which prior-file parameters the selected evidence informs: those some likelihood term depends on.

Decided per parameter from the structure of the likelihood (which rows exist, which pattern coordinates they touch,
which measurement terms they use), not by group. An uninformed parameter's posterior is its prior, independent of
everything else, so fast updates redraw it exactly and sensitivity analyses vary it without refitting. A test checks
this classification against the numerical dependence of the numpy log-likelihood on each parameter.
"""

from __future__ import annotations

import numpy as np

from riskmodel.data.features import COORDINATES
from riskmodel.data.priors import CAPABILITIES
from riskmodel.model.spec import ModelData

__all__ = ["informed_parameters"]


def informed_parameters(data: ModelData) -> frozenset[str]:
    """Parameters that enter a likelihood term of the evidence selected in ``data``."""
    out: set[str] = set()
    coords = set(int(k) for k in data.layout.free_coord)
    pop_x = data.x_population
    if pop_x.shape[0]:
        coords |= {int(k) for k in np.flatnonzero(pop_x.any(axis=0))} | {0}
    for k in sorted(coords):
        c = COORDINATES[k]
        out |= {f"{c}_aligned", f"{c}_separation", f"{c}_spread"}
    if coords:
        out.add("p_misaligned")
    if 0 in coords:
        out.add("competence_loading")
    shared = [data.xs_reasoning, data.xs_pair[data.counts_pair[1] > 0], data.xs_threshold, data.xs_population]
    if any(x.shape[0] and x[:, 0].any() for x in shared):
        out.add("after_rl_effect")
    if data.coords["setting"]:
        out.add("setting_effect")
    rate_thresholds = bool((data.threshold_rows[3] == 1).any()) if data.threshold_rows.shape[1] else False
    rate_population = bool((data.population_rows[4] == 1).any()) if data.population_rows.shape[1] else False
    gap_thresholds = bool((data.threshold_rows[3] == 0).any()) if data.threshold_rows.shape[1] else False
    gap_population = bool((data.population_rows[4] == 0).any()) if data.population_rows.shape[1] else False
    if data.counts_reasoning.shape[1] or rate_thresholds or rate_population:
        out |= {"reasoning_sensitivity", "reasoning_false_positive"}
    if (data.counts_pair.shape[1] and (data.counts_pair[1] > 0).any()) or gap_thresholds or gap_population:
        out.add("behaviour_share")
    if data.coords["cell"]:
        out.add("baseline_compliance")
    if data.cap_index.size:
        out |= {CAPABILITIES[i] for i in np.unique(data.cap_index)} | {"competence_correlation"}
    return frozenset(out)

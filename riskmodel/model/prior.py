"""Ancestral draws of the model without its likelihood terms, in numpy (the prior side of every Bayes factor)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from riskmodel.data.distributions import frozen
from riskmodel.data.features import DESIGN_COLUMNS, SHARED_EFFECTS
from riskmodel.data.priors import CAPABILITIES, PARAMETERS
from riskmodel.model.spec import FAMILY_ARGS, PARAMETER_DIMS, ModelData

__all__ = ["draw_prior"]


def draw_prior(data: ModelData, draws: int, seed: int) -> xr.Dataset:
    """Ancestral draws of the model without its likelihood terms, in numpy (dims ``(chain=1, draw, ...)``).

    The same random variables and transforms as :func:`build_model` with ``likelihood=False`` (a test checks the two
    agree in distribution); numpy because compiling PyMC's prior-predictive function costs seconds on every new
    prior set, which the explorer and refits would pay again and again.
    """
    rng = np.random.default_rng([seed, 0x5EED])
    out: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    cd = ("chain", "draw")
    for name in PARAMETERS:
        size = data.size(name)
        if size == 0:
            continue
        family = data.families[name]
        params = {arg: float(data.prior_hyper[data.hyper_index[f"{name}.{arg}"]]) for arg in FAMILY_ARGS[family]}
        dim = PARAMETER_DIMS.get(name)
        shape = (1, draws, size) if dim else (1, draws)
        out[name] = ((*cd, dim) if dim else cd, np.asarray(frozen(family, params).rvs(size=shape, random_state=rng)))
    v = {k: a for k, (_, a) in out.items()}
    a_al = v["tg_intercept_aligned"]
    vc_al = v["value_conflict_effect_aligned"]
    shared = [v[SHARED_EFFECTS[c]] for c in DESIGN_COLUMNS[1:]]
    out["tg_intercept"] = ((*cd, "disposition"), np.stack([a_al, a_al + v["tg_intercept_gap"]], axis=-1))
    aligned = np.stack([vc_al, *shared], axis=-1)
    misaligned = np.stack([vc_al - v["value_conflict_effect_gap"], *shared], axis=-1)
    out["context_effect"] = ((*cd, "disposition", "feature"), np.stack([aligned, misaligned], axis=-2))
    n_sys = len(data.coords["system"])
    z = rng.standard_normal((1, draws, n_sys))
    out["system_offset"] = ((*cd, "system"), v["system_offset_scale"][..., None] * z * data.offset_mask)
    out["p_misaligned_system"] = ((*cd, "system"), np.repeat(v["p_misaligned"][..., None], n_sys, axis=-1))
    out["capabilities"] = ((*cd, "capability"), np.stack([v[c] for c in CAPABILITIES], axis=-1))
    coords = {k: data.coords[k] for k in ("system", "disposition", "feature", "capability", "setting", "pair")}
    return xr.Dataset(out, coords={**coords, "chain": [0], "draw": np.arange(draws)})

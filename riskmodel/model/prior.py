"""Numpy draws: the prior side of every Bayes factor, and the generated pattern coordinates of the posterior.

The prior draws are ancestral draws of the model without its likelihood terms (a test checks them against NUTS draws
of :func:`riskmodel.model.graph.build_model` with ``likelihood=False``); numpy because compiling PyMC's
prior-predictive function costs seconds on every new prior set, which the explorer and refits would pay again and
again. Generated coordinates (:func:`generated`) are the standardized Student-t pattern coordinates and standard-normal
competences that no row informs, ``GENERATED_COPIES`` per draw, seeded: they turn into patterns for each disposition
in :func:`riskmodel.model.quantities.patterns`.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from riskmodel.data.distributions import frozen
from riskmodel.data.features import COORDINATES
from riskmodel.data.priors import PARAMETERS
from riskmodel.model.spec import FAMILY_ARGS, GENERATED_COPIES, NEW_SYSTEM, PARAMETER_DIMS, ModelData

__all__ = ["PRIOR_DRAWS", "draw_prior", "generated"]

#: Prior draws per fit: cheap independent numpy draws, many, so that the prior side of a Bayes factor adds little
#: Monte Carlo error.
PRIOR_DRAWS = 40000


def _param_draws(data: ModelData, name: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    family = data.families[name]
    params = {arg: float(data.prior_hyper[data.hyper_index[f"{name}.{arg}"]]) for arg in FAMILY_ARGS[family]}
    return np.asarray(frozen(family, params).rvs(size=shape, random_state=rng))


def generated(
    data: ModelData, chains: int, draws: int, seed: int, *, stream: int = 1, systems: list[str] | None = None
) -> xr.Dataset:
    """Everything no likelihood term depends on, ``GENERATED_COPIES`` times per draw, seeded.

    The uninformed prior-file parameters (drawn from their priors; their posterior is their prior), the standardized
    Student-t pattern coordinates and the standard-normal competences of every system. Dims ``(chain, draw, copy,
    ...)``; ``stream`` separates the posterior's generated draws from the prior's; ``systems`` (default: the model's).
    """
    rng = np.random.default_rng([seed, 0x9E7, stream])
    systems = list(data.coords["system"]) if systems is None else systems
    n_sys = len(systems)
    m = GENERATED_COPIES
    cdm = ("chain", "draw", "copy")
    out: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    for name in PARAMETERS:
        size = data.size(name)
        if name in data.sampled or size == 0:
            continue
        dim = PARAMETER_DIMS.get(name)
        shape = (chains, draws, m, size) if dim else (chains, draws, m)
        out[name] = ((*cdm, dim) if dim else cdm, _param_draws(data, name, shape, rng))
    # standardized draws are stored in single precision (7 digits; they are combined in double precision)
    u = rng.standard_t(data.tail_df, size=(chains, draws, m, n_sys, len(COORDINATES))).astype(np.float32)
    kappa = rng.standard_normal((chains, draws, m, n_sys)).astype(np.float32)
    out["pattern_u"] = ((*cdm, "system", "coordinate"), u)
    out["competence_u"] = ((*cdm, "system"), kappa)
    coords = {k: data.coords[k] for k in ("coordinate", "setting", "cell")}
    coords |= {"system": systems, "chain": np.arange(chains), "draw": np.arange(draws), "copy": np.arange(m)}
    return xr.Dataset(out, coords=coords)


def draw_prior(data: ModelData, draws: int = PRIOR_DRAWS, seed: int = 1) -> xr.Dataset:
    """Ancestral draws of the model without its likelihood terms (dims ``(chain=1, draw, ...)``).

    The sampled parameters once per draw, everything else as in :func:`generated` (``copy`` dim), so the prior side
    of every Bayes factor has the same structure as the posterior. Without evidence every system is a system drawn
    from the population, so one system (``new``) stands for all of them; ``p_misaligned_system`` is
    ``p_misaligned``. Independent draws: their Monte Carlo error is that of ``draws`` independent samples.
    """
    rng = np.random.default_rng([seed, 0x5EED])
    out: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    cd = ("chain", "draw")
    for name in PARAMETERS:
        size = data.size(name)
        if name not in data.sampled or size == 0:
            continue
        dim = PARAMETER_DIMS.get(name)
        shape = (1, draws, size) if dim else (1, draws)
        out[name] = ((*cd, dim) if dim else cd, _param_draws(data, name, shape, rng))
    coords = {k: data.coords[k] for k in ("setting", "cell")}
    ds = xr.Dataset(out, coords={**coords, "chain": [0], "draw": np.arange(draws)})
    ds = ds.merge(generated(data, 1, draws, seed, stream=2, systems=[NEW_SYSTEM]))
    pi = ds["p_misaligned"]
    ds["p_misaligned_system"] = pi.expand_dims(system=[NEW_SYSTEM], axis=-1).transpose(*pi.dims, "system")
    return ds

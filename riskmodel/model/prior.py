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
from riskmodel.data.priors import PARAMETERS, PriorSet
from riskmodel.errors import PriorError
from riskmodel.model.spec import FAMILY_ARGS, GENERATED_COPIES, NEW_SYSTEM, PARAMETER_DIMS, ModelData

__all__ = ["DEGENERATE_MASS", "PRIOR_DRAWS", "check_prior_mass", "degenerate_parameters", "draw_prior", "generated"]

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


#: A rate within this distance of 0 or 1 is degenerate (a probability the data cannot move and NUTS cannot explore).
RATE_EDGE = 1e-4
#: A log-odds parameter beyond +/- this is degenerate (a rate below 1e-13 or above 1 - 1e-13).
LOG_ODDS_EDGE = 30.0
#: ... and when its TAIL_QUANTILE and 1 - TAIL_QUANTILE quantiles are beyond TAIL_LIMIT (a LogNormal(0, 338): median 1,
#: but draws that overflow to infinity).
TAIL_QUANTILE = 1e-9
TAIL_LIMIT = 1e100
#: A prior set fails the prior predictive check when a parameter puts more than this share of its mass there.
DEGENERATE_MASS = 0.5


def degenerate_parameters(priors: PriorSet, data: ModelData | None = None) -> list[tuple[str, float, str]]:
    """The parameters whose prior puts most of its mass on degenerate values, as (name, mass, where) rows.

    A prior predictive sanity check, exact (from each prior's CDF, no draws): a rate parameter (unit support) is
    degenerate within :data:`RATE_EDGE` of 0 or 1, a log-odds parameter (every other parameter: pattern
    coordinates, effects, spreads, loadings) beyond :data:`LOG_ODDS_EDGE` in absolute value. Such priors make every
    derived rate 0 or 1 (and the worst-case ratios 0/0), and the sampler crawls for minutes on them; a parameter
    counts when more than :data:`DEGENERATE_MASS` of its prior lies there. With ``data``, parameters the model does
    not use (size 0) are skipped. A parameter whose :data:`TAIL_QUANTILE` quantiles lie beyond :data:`TAIL_LIMIT` (or
    are not finite) counts too: its draws overflow.
    """
    out = []
    for name, info in PARAMETERS.items():
        if data is not None and data.size(name) == 0:
            continue
        p = priors.parameters[name]
        try:
            with np.errstate(all="ignore"):
                dist = frozen(p.distribution, p.params)
                if info.support == "unit":
                    mass = float(dist.cdf(RATE_EDGE) + dist.sf(1.0 - RATE_EDGE))
                    where = f"within {RATE_EDGE:g} of 0 or 1"
                else:
                    mass = float(dist.cdf(-LOG_ODDS_EDGE) + dist.sf(LOG_ODDS_EDGE))
                    where = f"beyond +/-{LOG_ODDS_EDGE:g} on the log-odds scale"
                tails = np.asarray(dist.ppf([TAIL_QUANTILE, 1.0 - TAIL_QUANTILE]), dtype=float)
        except (ArithmeticError, ValueError, PriorError):  # scipy/boost overflow on subnormal or huge parameters
            out.append((name, float("nan"), "(its distribution cannot be evaluated: the parameters are extreme)"))
            continue
        if not np.isfinite(mass) or mass > DEGENERATE_MASS:
            out.append((name, mass, where))
        elif not np.all(np.isfinite(tails)) or np.max(np.abs(tails)) > TAIL_LIMIT:
            out.append((name, float(TAIL_QUANTILE), f"beyond +/-{TAIL_LIMIT:g} (a tail that overflows the draws)"))
    return out


def check_prior_mass(priors: PriorSet, data: ModelData | None = None) -> None:
    """Refuse (one :class:`PriorError` line naming the parameters) a prior set that :func:`degenerate_parameters` flags.

    Run before any MCMC, so that such a prior set costs milliseconds instead of a sampler that never finishes.
    """
    bad = degenerate_parameters(priors, data)
    if not bad:
        return
    name, mass, where = bad[0]
    more = f" (also {', '.join(b[0] for b in bad[1:])})" if len(bad) > 1 else ""
    share = f"{mass:.3g}" if mass < 0.01 else f"{mass:.0%}" if np.isfinite(mass) else "an incomputable share"
    raise PriorError(
        f"prior predictive check failed: {name} puts {share} of its prior mass {where}{more}; such degenerate "
        "rates make the numbers meaningless and the sampler crawl: widen or move these priors",
        file=priors.path or priors.ref,
        field=f"parameters.{name}",
    )

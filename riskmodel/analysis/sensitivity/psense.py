"""Power-scaling sensitivity (ArviZ ``psense_summary``): does a prior fight the data, or carry a number alone.

The prior or the likelihood is raised to a power near 1 and the change of each posterior marginal measured by
importance weighting of the cached draws (Kallioinen et al. 2023), from the log prior and log likelihood of every
posterior draw (:func:`riskmodel.model.likelihood.log_prior` and :func:`~riskmodel.model.likelihood.log_likelihood`,
the numpy transcription of the model that a test checks against the compiled model).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from riskmodel.analysis.sensitivity.common import check_system, informed_parameters, stamp
from riskmodel.errors import InputError
from riskmodel.model.likelihood import log_likelihood, log_prior

if TYPE_CHECKING:
    from riskmodel.results.result import FitResult

__all__ = ["PRIOR_SELECTIONS", "log_density_draws", "power_scaling"]

#: Which prior terms are power-scaled: the prior file's assumptions, or everything the sampler samples.
PRIOR_SELECTIONS: tuple[str, ...] = ("assumptions", "all")


def log_density_draws(result: FitResult) -> dict[str, np.ndarray]:
    """Per posterior draw (chain, draw): the log densities power scaling perturbs.

    ``assumptions``: the log prior density of the sampled prior-file assumptions (the priors someone elicited);
    ``population``: the log density of the systems' sampled pattern coordinates (the disposition mixture of
    Student-t distributions) and competences given those assumptions (the hierarchical part of the prior);
    ``likelihood``: the log likelihood of the selected evidence. ``assumptions + population`` is
    :func:`riskmodel.model.likelihood.log_prior`.
    """
    base = result.base or result
    post, data = base.posterior_draws, base.data
    shape = (post.sizes["chain"], post.sizes["draw"])
    every = log_prior(post, data, base.priors)
    top = np.zeros(every.shape)
    for name in sorted(data.sampled):
        x = post[name].transpose("chain", "draw", ...).values.reshape(every.size, -1)
        top += base.priors[name].logpdf(x).sum(axis=1)
    return {
        "assumptions": top.reshape(shape),
        "population": (every - top).reshape(shape),
        "likelihood": np.asarray(log_likelihood(post, data)).reshape(shape),
    }


def power_scaling(
    result: FitResult, *, system: str | None = None, threshold: float = 0.05, prior: str = "assumptions"
) -> xr.Dataset:
    """Power-scaling sensitivity of the prior and the likelihood (ArviZ ``psense_summary``) per quantity.

    Parameters
    ----------
    result
        A fit (a fast update is analysed on the exact fit it came from).
    system
        Whose P(worst case) and P(misaligned) are checked besides the parameters (default: the fit's target).
    threshold
        ArviZ's threshold of the sensitivity (cumulative Jensen-Shannon distance gradient).
    prior
        ``"assumptions"`` (default): power-scale the priors of the sampled prior-file assumptions only, the
        hierarchical density of the systems' patterns and competences staying as it is (what brms and priorsense do
        by default: scaling the population distribution would change the model, not the prior); ``"all"``: the
        whole log prior of :func:`riskmodel.model.likelihood.log_prior`.

    Returns
    -------
    xarray.Dataset
        Per ``parameter`` (each element of a vector assumption, then ``p_worst_case`` and ``p_misaligned`` of the
        system): ``prior_sensitivity``, ``likelihood_sensitivity``, ArviZ's ``diagnosis`` and ``conflict`` (both above
        the threshold: potential prior-data conflict); a prior sensitivity alone above it means a strong prior or a
        weak likelihood.
    """
    from arviz_stats import psense_summary

    if prior not in PRIOR_SELECTIONS:
        raise InputError(f"must be one of {', '.join(PRIOR_SELECTIONS)}, got {prior!r}", field="prior")
    base = result.base or result
    system = check_system(base, system)
    names = informed_parameters(base)
    if not names:
        raise InputError("the selected evidence informs no assumption: there is no likelihood to scale", field="method")
    post = base.posterior_draws
    ds = post[names].copy()
    q = base.quantities.sel(system=system, drop=True)
    ds["p_worst_case"] = q["p_worst_case"].transpose("chain", "draw")
    ds["p_misaligned"] = q["p_misaligned_pre"].transpose("chain", "draw")
    dens = log_density_draws(base)
    cd = ("chain", "draw")
    tree = xr.DataTree.from_dict(
        {
            "posterior": ds,
            "log_prior": xr.Dataset({k: (cd, dens[k]) for k in ("assumptions", "population")}),
            "log_likelihood": xr.Dataset({"likelihood": (cd, dens["likelihood"])}),
        }
    )
    selection = ["assumptions"] if prior == "assumptions" else ["assumptions", "population"]
    log = logging.getLogger("arviz_stats.psense")  # it logs generic advice on any flag; ``diagnosis`` says it
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        df = psense_summary(tree, threshold=threshold, round_to=6, prior_var_names=selection)
    finally:
        log.setLevel(level)
    out = xr.Dataset(
        {
            "prior_sensitivity": (("parameter",), df["prior"].to_numpy(dtype=float)),
            "likelihood_sensitivity": (("parameter",), df["likelihood"].to_numpy(dtype=float)),
            "diagnosis": (("parameter",), df["diagnosis"].astype(str).to_numpy()),
        },
        coords={"parameter": [str(i) for i in df.index]},
    )
    out["conflict"] = (out["prior_sensitivity"] > threshold) & (out["likelihood_sensitivity"] > threshold)
    return stamp(
        out, result, analysis="power-scaling sensitivity", system=system, threshold=threshold, prior_scaled=prior
    )

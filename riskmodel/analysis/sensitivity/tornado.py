"""One-way sweeps of worst-case risk over every assumption of the prior file, and the tornado that ranks them.

- An assumption no selected row informs (``result.data.sampled`` does not list it) is *fixed* at each point of a
  grid over its prior's 5th-95th percentile, on every generated copy of every posterior (and prior) draw, and the
  worst-case arithmetic reruns: exact, no MCMC (its posterior is its prior, independent of everything else).
- An assumption the evidence informs has its prior *shifted* so that its median moves across the same range (its
  spread kept), and the cached posterior and prior draws are importance reweighted with the prior density ratio,
  Pareto-smoothed (PSIS), exactly as :func:`riskmodel.interactive.update.update` does. A point whose Pareto k
  exceeds 0.7 (or is NaN) is refit when asked (serially, in worker processes or on Dask,
  :mod:`riskmodel.analysis.parallel`), else marked ``skipped`` and left NaN.

Every point carries the Monte Carlo standard error of its P(worst case), from the ESS of that very mean (scaled by
the weights' relative efficiency at reweighted points).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import optimize, stats

from riskmodel.analysis.sensitivity.common import (
    GRID_POINTS,
    Progress,
    SystemDraws,
    check_system,
    grid_levels,
    informed_parameters,
    noop,
    stamp,
    uninformed_parameters,
)
from riskmodel.data.priors import ParamPrior
from riskmodel.errors import InputError
from riskmodel.interactive.update import PARETO_K_MAX, _psis
from riskmodel.model.summaries import mcse_of_means, weighted_mean

if TYPE_CHECKING:
    from riskmodel.results.result import FitResult

__all__ = [
    "BAYES_FACTOR_PRIOR_DRAWS",
    "QUANTITIES",
    "location_prior",
    "one_way",
    "one_way_function",
    "tornado_table",
]

#: What each one-way grid point records.
QUANTITIES: tuple[str, ...] = ("p_worst_case", "p_misaligned", "p_misaligned_after_training", "log10_bayes_factor")
#: Prior draws the prior side of a fixed-value point's Bayes factor reruns on (the first ones; independent draws).
BAYES_FACTOR_PRIOR_DRAWS = 2000


def location_prior(prior: ParamPrior, target: float) -> ParamPrior:
    """The prior shifted so that its median is ``target``, its spread kept (same sigma, shape or Beta strength)."""
    p, fam = prior.params, prior.distribution
    if fam == "Normal":
        new = {"mu": target, "sigma": p["sigma"]}
    elif fam == "LogNormal":
        new = {"mu": math.log(target), "sigma": p["sigma"]}
    elif fam == "HalfNormal":
        new = {"sigma": target / float(stats.halfnorm.ppf(0.5))}
    elif fam == "Gamma":
        new = {"alpha": p["alpha"], "beta": p["beta"] * float(prior.quantile(0.5)) / target}
    elif fam == "Beta":
        s = p["alpha"] + p["beta"]
        m = optimize.brentq(lambda m: stats.beta.ppf(0.5, m * s, (1 - m) * s) - target, 1e-9, 1 - 1e-9, xtol=1e-12)
        new = {"alpha": m * s, "beta": (1 - m) * s}
    else:  # pragma: no cover - the allow-list is checked when the prior file is parsed
        raise KeyError(fam)
    return replace(prior, params=new, interval90=None)


def _log10_bf(p1: float, p0: float) -> float:
    """log10 of posterior odds over prior odds of an event with probability p1 after and p0 before the evidence."""
    if not (0 < p1 < 1 and 0 < p0 < 1):
        return float("nan")
    return math.log10(p1 / (1 - p1)) - math.log10(p0 / (1 - p0))


def _draw_matrix(ds: xr.Dataset, name: str) -> np.ndarray:
    """Draws of a sampled parameter as (chain * draw, element)."""
    x = ds[name].transpose("chain", "draw", ...).values
    return x.reshape(x.shape[0] * x.shape[1], -1)


def _cd(q: xr.Dataset, name: str) -> np.ndarray:
    return q[name].transpose("chain", "draw").values


def one_way(
    result: FitResult,
    parameters: Sequence[str] | None = None,
    *,
    points: int = GRID_POINTS,
    system: str | None = None,
    refit: bool = False,
    pareto_k_max: float = PARETO_K_MAX,
    bf_prior_draws: int = BAYES_FACTOR_PRIOR_DRAWS,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    progress: Progress | None = None,
) -> xr.Dataset:
    """One-way sweeps of P(worst case), P(misaligned), P(misaligned after training) and the Bayes factor.

    Parameters
    ----------
    result
        A fit. Uninformed assumptions are swept on its draws and weights as they are (so a result with hypothetical
        evidence from :func:`riskmodel.interactive.whatif.what_if` can be swept too); informed priors are swept from
        the exact fit it came from.
    parameters
        Which assumptions (default: every assumption of the prior file that has values, uninformed first).
    points
        Grid points per assumption, spanning its prior's 5th-95th percentile.
    system
        The target system (default: the fit's).
    refit
        Refit the informed-prior points whose importance weights are unreliable (Pareto k > ``pareto_k_max`` or
        NaN); otherwise they are marked ``skipped`` and left NaN.
    bf_prior_draws
        Prior draws the prior side of a fixed point's Bayes factor reruns on (the first ones of the fit's
        independent prior draws; the baseline uses all of them).
    workers, scheduler, client
        Where refits run (see :func:`riskmodel.analysis.parallel.refit_sweep`).

    Returns
    -------
    xarray.Dataset
        ``estimate`` (parameter, grid, quantity); ``value`` (parameter, grid): the fixed value, or the median of the
        shifted prior; ``level``: its prior quantile; ``method`` (parameter, grid): ``fixed``, ``reweighted``,
        ``refit`` or ``skipped``; ``pareto_k`` (the larger of the posterior's and the prior draws'); ``ess`` and
        ``mcse_p_worst_case`` (the ESS of the mean of P(worst case) and its Monte Carlo standard error); per
        parameter ``sweep`` (``fixed value`` or ``prior median``), ``low``/``high`` (P(W) at the two ends) and
        ``swing`` (max - min of P(W) over the grid); ``baseline`` (quantity).
    """
    progress = progress or noop
    system = check_system(result, system)
    levels = grid_levels(points)
    free, informed = uninformed_parameters(result), informed_parameters(result)
    parameters = [*free, *informed] if parameters is None else list(parameters)
    unknown = [p for p in parameters if p not in free and p not in informed]
    if unknown:
        raise InputError(f"unknown assumption, or one without values: {unknown[0]!r}", field="parameters")
    base = result.base or result
    shape = (len(parameters), len(levels))
    est = np.full((*shape, len(QUANTITIES)), np.nan)
    mcse, ess = np.full(shape, np.nan), np.full(shape, np.nan)
    value, kvals = np.full(shape, np.nan), np.full(shape, np.nan)
    method = np.full(shape, "skipped", dtype=object)
    sweep: list[str] = []
    total, done = len(parameters) * len(levels), 0
    post = SystemDraws.posterior(result, system)
    prior = SystemDraws.prior(result, bf_prior_draws)
    q_base, q0_base = base.quantities.sel(system=system), base.prior_quantities.sel(system=system)
    pw_base, pre_base = _cd(q_base, "p_worst_case"), _cd(q_base, "p_misaligned_pre")
    post_base, pw0_base = _cd(q_base, "p_misaligned_post"), _cd(q0_base, "p_worst_case")
    pending: list[tuple[int, int, Any]] = []
    for i, name in enumerate(parameters):
        if name in free:
            sweep.append("fixed value")
            xs = np.asarray(result.priors[name].quantile(levels), dtype=float)
            cols = []
            for j, x in enumerate(xs):
                q = post.quantities({name: float(x)})
                q0 = prior.quantities({name: float(x)})
                pw = _cd(q, "p_worst_case")
                p1, p0 = weighted_mean(pw, post.weights), weighted_mean(_cd(q0, "p_worst_case"), prior.weights)
                est[i, j] = [
                    p1,
                    weighted_mean(_cd(q, "p_misaligned_pre"), post.weights),
                    weighted_mean(_cd(q, "p_misaligned_post"), post.weights),
                    _log10_bf(p1, p0),
                ]
                cols.append(pw)
                value[i, j], method[i, j], kvals[i, j] = x, "fixed", 0.0
                done += 1
                progress("tornado", done, total)
            mcse[i], ess[i] = mcse_of_means(np.stack(cols, axis=-1), post.weights, return_ess=True)
            continue
        sweep.append("prior median")
        # importance reweighting exactly as riskmodel.interactive.update does for one changed informed prior (PSIS
        # on the posterior and on the prior draws); the old densities are computed once per parameter
        old = base.priors[name]
        x_post, x_prior = _draw_matrix(base.posterior_draws, name), _draw_matrix(base.prior_draws, name)
        old_post, old_prior = old.logpdf(x_post).sum(axis=1), old.logpdf(x_prior).sum(axis=1)
        for j, target in enumerate(np.asarray(old.quantile(levels), dtype=float)):
            new = location_prior(old, float(target))
            nd = new.dist()
            value[i, j] = float(nd.median())
            w, k = _psis(nd.logpdf(x_post).sum(axis=1) - old_post, (base.chains, base.draws))
            w0, k0 = _psis(nd.logpdf(x_prior).sum(axis=1) - old_prior, (1, x_prior.shape[0]))
            kvals[i, j] = max(k, k0)
            if kvals[i, j] <= pareto_k_max:  # False for a NaN k: unreliable
                p1, p0 = weighted_mean(pw_base, w), weighted_mean(pw0_base, w0)
                est[i, j] = [p1, weighted_mean(pre_base, w), weighted_mean(post_base, w), _log10_bf(p1, p0)]
                m, e = mcse_of_means(pw_base[..., None], w, return_ess=True)
                mcse[i, j], ess[i, j] = float(m[0]), float(e[0])
                method[i, j] = "reweighted"
            elif refit:
                pending.append((i, j, base.priors.with_parameter(new)))
            done += 1
            progress("tornado", done, total)
    if pending:
        from riskmodel.analysis.parallel import refit_sweep

        def on_done(n: int) -> None:
            progress("refit", n, len(pending))

        out = refit_sweep(
            [p for _, _, p in pending],
            base.evidence,
            system=system,
            seed=base.seed,
            chains=base.chains,
            draws=base.draws,
            tune=base.tune,
            sampler=base.sampler,
            workers=workers,
            scheduler=scheduler,
            client=client,
            on_done=on_done,
            cache_dir=base.cache_dir,
        )
        for (i, j, _), summary in zip(pending, out, strict=True):
            est[i, j] = [summary[q] for q in QUANTITIES]
            mcse[i, j], ess[i, j] = summary["mcse_p_worst_case"], summary["ess_p_worst_case"]
            method[i, j] = "refit"
    q, q0 = result.quantities.sel(system=system), result.prior_quantities.sel(system=system)
    p1 = weighted_mean(_cd(q, "p_worst_case"), result.weights)
    p0 = weighted_mean(q0["p_worst_case"].transpose("chain", "draw"), result.prior_weights)
    baseline = [
        p1,
        weighted_mean(_cd(q, "p_misaligned_pre"), result.weights),
        weighted_mean(_cd(q, "p_misaligned_post"), result.weights),
        _log10_bf(p1, p0),
    ]
    pw = est[..., 0]
    valid = np.isfinite(pw).any(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (every point skipped)
        swing = np.where(valid, np.nanmax(pw, axis=1) - np.nanmin(pw, axis=1), np.nan)
    ds = xr.Dataset(
        {
            "estimate": (("parameter", "grid", "quantity"), est),
            "mcse_p_worst_case": (("parameter", "grid"), mcse),
            "ess": (("parameter", "grid"), ess),
            "value": (("parameter", "grid"), value),
            "method": (("parameter", "grid"), method.astype(str)),
            "pareto_k": (("parameter", "grid"), kvals),
            "level": (("grid",), levels),
            "sweep": (("parameter",), np.array(sweep, dtype=str)),
            "low": (("parameter",), _end(pw, first=True)),
            "high": (("parameter",), _end(pw, first=False)),
            "swing": (("parameter",), swing),
            "baseline": (("quantity",), np.array(baseline)),
        },
        coords={"parameter": parameters, "grid": np.arange(len(levels)), "quantity": list(QUANTITIES)},
    )
    ds["level"].attrs["meaning"] = "prior quantile of the grid point (of the fixed value, or of the shifted median)"
    ds["ess"].attrs["meaning"] = "effective sample size of the mean of P(worst case) at the point"
    return stamp(
        ds,
        result,
        analysis="one-way sweeps",
        system=system,
        pareto_k_max=pareto_k_max,
        bf_prior_draws=min(bf_prior_draws, result.prior_draws.sizes["draw"]),
    )


def _end(pw: np.ndarray, *, first: bool) -> np.ndarray:
    """P(W) at the first (or last) grid point that has a value, per parameter (NaN when none has)."""
    out = np.full(pw.shape[0], np.nan)
    for i, row in enumerate(pw):
        idx = np.flatnonzero(np.isfinite(row))
        if idx.size:
            out[i] = row[idx[0] if first else idx[-1]]
    return out


def one_way_function(
    evaluate: Callable[[str, float], np.ndarray],
    dists: dict[str, Any],
    *,
    points: int = GRID_POINTS,
    weights: np.ndarray | None = None,
) -> xr.Dataset:
    """One-way sweeps of any model given as ``evaluate(name, x)``: the output's draws with input ``name`` fixed at x.

    Each input is fixed in turn at ``points`` quantiles (5th-95th percentile) of its distribution in ``dists``; the
    result has ``estimate`` (parameter, grid) (the weighted mean of the draws), ``value``, ``low``, ``high`` and
    ``swing`` like :func:`one_way`, so :func:`tornado_table` ranks it the same way.
    """
    levels = grid_levels(points)
    names = list(dists)
    value = np.array([np.asarray(dists[n].ppf(levels), dtype=float) for n in names])
    est = np.array(
        [[weighted_mean(evaluate(n, float(x)), weights) for x in row] for n, row in zip(names, value, strict=True)]
    )
    return xr.Dataset(
        {
            "estimate": (("parameter", "grid"), est),
            "value": (("parameter", "grid"), value),
            "level": (("grid",), levels),
            "sweep": (("parameter",), np.full(len(names), "fixed value")),
            "method": (("parameter", "grid"), np.full(est.shape, "fixed")),
            "low": (("parameter",), est[:, 0]),
            "high": (("parameter",), est[:, -1]),
            "swing": (("parameter",), est.max(axis=1) - est.min(axis=1)),
        },
        coords={"parameter": names, "grid": np.arange(len(levels))},
    )


def tornado_table(ds: xr.Dataset) -> pd.DataFrame:
    """One-way results ranked by the swing of P(worst case) (the tornado's bars, widest first).

    ``mcse_max``: the largest Monte Carlo standard error of P(worst case) over the assumption's grid points (a swing
    well below it is noise); ``points_skipped``: grid points whose reweighting was unreliable and not refit.
    """
    df = pd.DataFrame(
        {
            "parameter": ds["parameter"].values,
            "sweep": ds["sweep"].values,
            "value_low": ds["value"].isel(grid=0).values,
            "value_high": ds["value"].isel(grid=-1).values,
            "p_worst_case_low": ds["low"].values,
            "p_worst_case_high": ds["high"].values,
            "swing": ds["swing"].values,
            "points_skipped": (ds["method"] == "skipped").sum("grid").values,
        }
    )
    if "mcse_p_worst_case" in ds:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            df["mcse_max"] = np.nanmax(ds["mcse_p_worst_case"].values, axis=1)
    return df.sort_values("swing", ascending=False, kind="stable", na_position="last").reset_index(drop=True)

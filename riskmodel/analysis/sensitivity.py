"""Sensitivity analyses of worst-case risk: one-way sweeps (tornado), power scaling, Sobol, value of information.

Every function takes a fitted result and returns an ``xarray.Dataset`` with named dims (``parameter``, ``grid``,
``quantity``, ``learned``, ``evaluation``, ``episodes``) stamped with the citation and provenance of the fit it
reads (:func:`stamp`). The methods are explained in ``docs/sensitivity.md``; in short:

- **One-way sweeps** (:func:`one_way`). An assumption the evidence does not inform (capabilities, other route,
  reinforcement, competence correlation) is *fixed* at each point of a grid over its prior's 5th-95th percentile
  and the worst-case arithmetic reruns on the cached draws: exact, no MCMC. For a prior the evidence informs, the
  prior's location is shifted so that its median moves across the same range, and the cached draws are importance
  reweighted (PSIS) with the prior density ratio; points with Pareto k > 0.7 are refit when asked (``refit=True``,
  serially, in worker processes or on Dask, see :mod:`riskmodel.analysis.parallel`) and otherwise skipped.
  ``method`` says
  which, per point.
- **Power scaling** (:func:`power_scaling`): ArviZ's ``psense_summary`` on the log prior and log likelihood of every
  draw, flagging prior-data conflict per parameter.
- **Sobol indices** (:func:`sobol`): first-order and total variance-based indices (SALib, Saltelli/Jansen
  estimators with bootstrap confidence intervals) of E[P(worst case) | assumptions] over the assumptions the evidence
  does not inform, holding the fitted posterior of the rest.
- **Value of information** (:func:`value_of_information`): the expected reduction in the variance (and the binned
  entropy) of P(worst case) if a quantity were learned exactly, and the preposterior version for a proposed
  evaluation of ``n`` episodes in a context (reweighting by the binomial likelihood of each possible count,
  :mod:`riskmodel.interactive.whatif`).

Worst-case risk is ``P(W) = P(all capabilities) x route``, where ``route`` (P(misaligned and the plan is carried
out)) is bilinear in the other-route probability and the reinforcement strength, and ``P(all capabilities)``
depends only on the capabilities and the competence correlation (``docs/model.md``). :class:`Decomposition` reads
those parts off :func:`riskmodel.model.quantities.worst_case` once, so a sweep point costs one capability integral
instead of a full rerun (a test checks the decomposition against a direct rerun).
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import optimize, stats
from scipy.special import expit

from riskmodel.data.priors import CAPABILITIES, PARAMETERS, ParamPrior
from riskmodel.errors import InputError
from riskmodel.interactive.update import PARETO_K_MAX, _psis, informed_parameters
from riskmodel.model.quantities import all_capabilities, weighted_mean, worst_case

if TYPE_CHECKING:
    from riskmodel.data.features import Context
    from riskmodel.results.result import FitResult

__all__ = [
    "GRID_POINTS",
    "METHODS",
    "QUANTITIES",
    "Decomposition",
    "entropy_bits",
    "log_likelihood_draws",
    "log_prior_draws",
    "one_way",
    "one_way_function",
    "power_scaling",
    "preposterior_voi",
    "sensitivity_report",
    "sobol",
    "sobol_indices",
    "stamp",
    "tornado_table",
    "uninformed_parameters",
    "value_of_information",
    "voi_by_replacement",
    "voi_given_data",
]

#: Points of a one-way grid (default) and the prior quantiles it spans.
GRID_POINTS = 21
GRID_RANGE = (0.05, 0.95)
#: What each one-way grid point records.
QUANTITIES: tuple[str, ...] = ("p_worst_case", "p_misaligned", "p_misaligned_after_training", "log10_bayes_factor")
METHODS: tuple[str, ...] = ("tornado", "psense", "sobol", "voi")
#: Parameters P(all capabilities) depends on, and those the route depends on (both uninformed).
_CAPABILITY_PARTS = (*CAPABILITIES, "competence_correlation")
_ROUTE_PARTS = ("other_route", "reinforcement")

#: Progress callback: (stage, done, total).
Progress = Callable[[str, int, int], None]


def _noop(stage: str, done: int, total: int) -> None:
    return None


# ---------------------------------------------------------------------------------------------- provenance
def stamp(ds: xr.Dataset, result: FitResult, **attrs: Any) -> xr.Dataset:
    """Put the citation and provenance of the fit ``result`` was computed from into ``ds.attrs`` (and return it).

    A fast update or hypothetical evidence is stamped with the exact fit it came from, and says so.
    """
    base = result.base or result
    ds.attrs["citation"] = base.citation()
    ds.attrs["provenance"] = json.dumps(base.provenance)
    ds.attrs["derived_from_exact_fit"] = int(result.exact)
    if result.update is not None:
        ds.attrs["update"] = json.dumps(result.update.as_dict())
    for k, v in attrs.items():
        ds.attrs[k] = v if isinstance(v, str | int | float) else json.dumps(v)
    return ds


def uninformed_parameters(result: FitResult) -> list[str]:
    """The assumptions the selected evidence does not inform (their posterior is their prior), in file order."""
    informed = informed_parameters(result.data)
    return [p for p in PARAMETERS if p not in informed and result.data.size(p) > 0]


def _informed(result: FitResult) -> list[str]:
    informed = informed_parameters(result.data)
    return [p for p in PARAMETERS if p in informed and result.data.size(p) > 0]


def grid_levels(points: int = GRID_POINTS) -> np.ndarray:
    """Prior quantile levels of a one-way grid: ``points`` evenly spaced from the 5th to the 95th percentile."""
    if isinstance(points, bool) or not isinstance(points, int) or not 2 <= points <= 1001:
        raise InputError(f"must be a whole number in [2, 1001], got {points!r}", field="points")
    return np.linspace(*GRID_RANGE, points)


# ---------------------------------------------------------------------------------------------- decomposition
@dataclass(frozen=True)
class Decomposition:
    """P(worst case) of one system, draw by draw, split into the parts the uninformed assumptions act on.

    ``P(W) = P(all capabilities | q, strength) * (a + b*o + rho*(c + d*o))`` and
    ``P(misaligned after training) = m0 + rho*(m1 - m0)``, with ``o`` the other-route probability and ``rho`` the
    reinforcement strength; ``a, b, c, d, m0, m1`` are per draw and read off :func:`worst_case` at the four corners
    ``o, rho in {0, 1}`` (the route is bilinear in them).
    """

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    d: np.ndarray
    m0: np.ndarray
    m1: np.ndarray
    p_pre: np.ndarray
    caps: np.ndarray  # (chain, draw, capability)
    strength: np.ndarray
    other: np.ndarray
    rho: np.ndarray
    p_all: np.ndarray
    weights: np.ndarray | None

    @classmethod
    def of(cls, params: xr.Dataset, result: FitResult, system: str, weights: np.ndarray | None) -> Decomposition:
        """Decompose the draws ``params`` (posterior or prior) of ``result`` for ``system``."""
        cd = ("chain", "draw")
        params = params.sel(system=[system])

        def corner(o: float, r: float) -> xr.Dataset:
            ds = _fixed(params, {"other_route": o, "reinforcement": r})
            return worst_case(ds, result.priors).sel(system=system)

        q = {(o, r): corner(o, r) for o in (0.0, 1.0) for r in (0.0, 1.0)}
        route = {k: v["p_misaligned_and_route"].transpose(*cd).values for k, v in q.items()}
        a = route[0.0, 0.0]
        b = route[1.0, 0.0] - a
        c = route[0.0, 1.0] - a
        d = route[1.0, 1.0] - route[1.0, 0.0] - route[0.0, 1.0] + a
        m0 = q[0.0, 0.0]["p_misaligned_post"].transpose(*cd).values
        m1 = q[0.0, 1.0]["p_misaligned_post"].transpose(*cd).values
        caps = params["capabilities"].transpose(*cd, "capability").sel(capability=list(CAPABILITIES)).values
        strength = params["competence_correlation"].transpose(*cd).values
        return cls(
            a,
            b,
            c,
            d,
            m0,
            m1,
            q[0.0, 0.0]["p_misaligned_pre"].transpose(*cd).values,
            caps,
            strength,
            params["other_route"].transpose(*cd).values,
            params["reinforcement"].transpose(*cd).values,
            q[0.0, 0.0]["p_all_capabilities"].transpose(*cd).values,
            weights,
        )

    def p_all_capabilities(self, fixed: dict[str, float] | None = None) -> np.ndarray:
        """P(all capabilities) per draw with some capability assumptions fixed."""
        fixed = fixed or {}
        if not any(k in fixed for k in _CAPABILITY_PARTS):
            return self.p_all
        caps = self.caps.copy()
        for i, name in enumerate(CAPABILITIES):
            if name in fixed:
                caps[..., i] = fixed[name]
        strength = np.broadcast_to(fixed.get("competence_correlation", self.strength), self.strength.shape)
        return all_capabilities(caps, strength)

    def route(self, fixed: dict[str, float] | None = None) -> np.ndarray:
        """P(misaligned and the plan is carried out) per draw with ``other_route``/``reinforcement`` fixed."""
        fixed = fixed or {}
        o = fixed.get("other_route", self.other)
        r = fixed.get("reinforcement", self.rho)
        return self.a + self.b * o + r * (self.c + self.d * o)

    def p_worst_case(self, fixed: dict[str, float] | None = None) -> np.ndarray:
        """P(worst case) per draw with some uninformed assumptions fixed."""
        return self.p_all_capabilities(fixed) * self.route(fixed)

    def p_misaligned_post(self, fixed: dict[str, float] | None = None) -> np.ndarray:
        """P(misaligned after training) per draw with ``reinforcement`` possibly fixed."""
        r = (fixed or {}).get("reinforcement", self.rho)
        return self.m0 + r * (self.m1 - self.m0)

    def mean_function(self) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
        """``x -> E[P(W) | every uninformed assumption fixed at x]`` averaged over the draws (vectorized over x).

        Exact for the draws: with every uninformed assumption fixed, P(all capabilities) is a number and the route's
        mean is bilinear in (o, rho) with coefficients the (weighted) means of ``a, b, c, d``.
        """
        w = self.weights
        a, b, c, d = (weighted_mean(v, w) for v in (self.a, self.b, self.c, self.d))

        def f(x: dict[str, np.ndarray]) -> np.ndarray:
            missing = [k for k in (*_CAPABILITY_PARTS, *_ROUTE_PARTS) if k not in x]
            if missing:
                raise InputError(f"every uninformed assumption needs a value; missing {missing[0]!r}", field="x")
            o, r = x["other_route"], x["reinforcement"]
            caps = np.stack([x[k] for k in CAPABILITIES], axis=-1)
            return all_capabilities(caps, x["competence_correlation"]) * (a + b * o + r * (c + d * o))

        return f


def _fixed(ds: xr.Dataset, values: dict[str, float]) -> xr.Dataset:
    """A copy of draws with scalar parameters set to constants (capabilities kept in step)."""
    out = ds.copy()
    for name, v in values.items():
        out[name] = xr.full_like(out[name], float(v))
        if name in CAPABILITIES:
            caps = out["capabilities"].copy()
            caps.loc[{"capability": name}] = float(v)
            out["capabilities"] = caps
    return out


# ---------------------------------------------------------------------------------------------- one-way sweeps
def _location_prior(prior: ParamPrior, target: float) -> ParamPrior:
    """The prior shifted so that its median is ``target`` (its spread kept: same sigma, shape or Beta strength)."""
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


def _ess(x: np.ndarray) -> float:
    from arviz_stats.base import array_stats

    x = np.asarray(x, dtype=float)
    if np.ptp(x) == 0:
        return float(x.size)
    return float(array_stats.ess(x.reshape(x.shape[0], -1), chain_axis=0, draw_axis=1, method="bulk"))


def _mcse(x: np.ndarray, w: np.ndarray | None, ess: float) -> float:
    """MCSE of a weighted mean given the draws' ESS (as :func:`riskmodel.model.quantities._mcse_of_mean`)."""
    m = weighted_mean(x, w)
    sd = math.sqrt(max(weighted_mean((np.asarray(x) - m) ** 2, w), 0.0))
    if w is not None:
        ess *= (1.0 / float((w**2).sum())) / np.asarray(x).size
    return sd / math.sqrt(max(ess, 1.0))


def _log10_bf(p1: float, p0: float) -> float:
    """log10 of posterior odds over prior odds of an event with probability p1 after and p0 before the evidence."""
    if not (0 < p1 < 1 and 0 < p0 < 1):
        return float("nan")
    return math.log10(p1 / (1 - p1)) - math.log10(p0 / (1 - p0))


def _summaries(
    pw: np.ndarray,
    pw0: np.ndarray,
    p_pre: np.ndarray,
    p_post: np.ndarray,
    w: np.ndarray | None,
    w0: np.ndarray | None,
    ess: float | None = None,
) -> tuple[list[float], float]:
    """[P(W), P(misaligned), P(misaligned after training), log10 BF] and the MCSE of P(W)."""
    p1, p0 = weighted_mean(pw, w), weighted_mean(pw0, w0)
    est = [p1, weighted_mean(p_pre, w), weighted_mean(p_post, w), _log10_bf(p1, p0)]
    return est, _mcse(pw, w, _ess(pw) if ess is None else ess)


def _draw_matrix(ds: xr.Dataset, name: str) -> np.ndarray:
    """Draws of a parameter as (chain * draw, element)."""
    x = ds[name].transpose("chain", "draw", ...).values
    return x.reshape(x.shape[0] * x.shape[1], -1)


def one_way(
    result: FitResult,
    parameters: Sequence[str] | None = None,
    *,
    points: int = GRID_POINTS,
    system: str | None = None,
    refit: bool = False,
    pareto_k_max: float = PARETO_K_MAX,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    progress: Progress | None = None,
) -> xr.Dataset:
    """One-way sweeps of P(worst case), P(misaligned) and the Bayes factor over each assumption.

    Parameters
    ----------
    result
        A fit. Uninformed assumptions are swept on its draws and weights as they are (so a result with hypothetical
        evidence from :func:`riskmodel.interactive.whatif.what_if` can be swept too); informed priors are swept
        from the exact
        fit it came from.
    parameters
        Which assumptions (default: every parameter of the model, uninformed first).
    points
        Grid points per assumption, spanning its prior's 5th-95th percentile.
    refit
        Refit the informed-prior points whose importance weights are unreliable (Pareto k > ``pareto_k_max``);
        otherwise they are marked ``skipped`` and left NaN.
    workers, scheduler, client
        Where refits run (see :func:`riskmodel.analysis.parallel.refit_sweep`).

    Returns
    -------
    xarray.Dataset
        ``estimate`` (parameter, grid, quantity); ``value`` (parameter, grid): the fixed value, or the median of the
        shifted prior; ``method`` (parameter, grid): ``fixed``, ``reweighted``, ``refit`` or ``skipped``;
        ``pareto_k``; ``mcse_p_worst_case``; per parameter ``sweep`` (what was varied), ``low``/``high`` (P(W) at
        the two ends) and ``swing`` (max - min of P(W)); ``baseline`` (quantity).
    """
    progress = progress or _noop
    system = system or result.system
    levels = grid_levels(points)
    free = uninformed_parameters(result)
    informed = _informed(result)
    if parameters is None:
        parameters = [*free, *informed]
    unknown = [p for p in parameters if p not in free and p not in informed]
    if unknown:
        raise InputError(f"unknown or absent parameter {unknown[0]!r}", field="parameters")
    base = result.base or result
    shape = (len(parameters), points)
    est = np.full((*shape, len(QUANTITIES)), np.nan)
    mcse = np.full(shape, np.nan)
    value = np.full(shape, np.nan)
    kvals = np.full(shape, np.nan)
    method = np.full(shape, "skipped", dtype=object)
    sweep = []
    total = len(parameters) * points
    done = 0
    dec = dec0 = None
    if any(p in free for p in parameters):
        dec = Decomposition.of(result.posterior, result, system, result.weights)
        dec0 = Decomposition.of(result.prior_draws, result, system, result.prior_weights)
    cd = ("chain", "draw")
    q_base = base.quantities.sel(system=system)
    pw_base = q_base["p_worst_case"].transpose(*cd).values
    pre_base = q_base["p_misaligned_pre"].transpose(*cd).values
    post_base = q_base["p_misaligned_post"].transpose(*cd).values
    pw0_base = base.prior_quantities["p_worst_case"].sel(system=system).transpose(*cd).values
    ess_base = _ess(pw_base)
    pending: list[tuple[int, int, Any]] = []
    for i, name in enumerate(parameters):
        if name in free:
            sweep.append("fixed value")
            for j, x in enumerate(result.priors[name].quantile(levels)):
                fixed = {name: float(x)}
                est[i, j], mcse[i, j] = _summaries(
                    dec.p_worst_case(fixed),
                    dec0.p_worst_case(fixed),
                    dec.p_pre,
                    dec.p_misaligned_post(fixed),
                    result.weights,
                    result.prior_weights,
                )
                value[i, j], method[i, j] = float(x), "fixed"
                done += 1
                progress("tornado", done, total)
            continue
        sweep.append("prior median")
        # importance reweighting exactly as riskmodel.interactive.update does for one changed informed prior (PSIS
        # on the
        # posterior and on the prior draws), with the old densities computed once per parameter instead of per point
        old_prior = base.priors[name]
        x_post, x_prior = _draw_matrix(base.posterior_draws, name), _draw_matrix(base.prior_draws, name)
        old_post, old_pr = old_prior.logpdf(x_post).sum(axis=1), old_prior.logpdf(x_prior).sum(axis=1)
        targets = old_prior.quantile(levels)
        for j, target in enumerate(targets):
            new_prior = _location_prior(old_prior, float(target))
            nd = new_prior.dist()
            value[i, j] = float(nd.median())
            w, k = _psis(nd.logpdf(x_post).sum(axis=1) - old_post, (base.chains, base.draws))
            w0, k0 = _psis(nd.logpdf(x_prior).sum(axis=1) - old_pr, (1, x_prior.shape[0]))
            kvals[i, j] = max(k, k0)
            if kvals[i, j] <= pareto_k_max:
                est[i, j], mcse[i, j] = _summaries(pw_base, pw0_base, pre_base, post_base, w, w0, ess_base)
                method[i, j] = "reweighted"
            elif refit:
                pending.append((i, j, base.priors.with_parameter(new_prior)))
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
            workers=workers,
            scheduler=scheduler,
            client=client,
            on_done=on_done,
        )
        for (i, j, _), summary in zip(pending, out, strict=True):
            est[i, j] = [summary[q] for q in QUANTITIES]
            mcse[i, j] = summary["mcse_p_worst_case"]
            method[i, j] = "refit"
    q, q0 = result.quantities.sel(system=system), result.prior_quantities.sel(system=system)
    baseline, _ = _summaries(
        q["p_worst_case"].values,
        q0["p_worst_case"].values,
        q["p_misaligned_pre"].values,
        q["p_misaligned_post"].values,
        result.weights,
        result.prior_weights,
    )
    pw = est[..., 0]
    valid = np.isfinite(pw).any(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (every point skipped)
        swing = np.where(valid, np.nanmax(pw, axis=1) - np.nanmin(pw, axis=1), np.nan)
    ds = xr.Dataset(
        {
            "estimate": (("parameter", "grid", "quantity"), est),
            "mcse_p_worst_case": (("parameter", "grid"), mcse),
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
        coords={"parameter": list(parameters), "grid": np.arange(points), "quantity": list(QUANTITIES)},
    )
    ds["level"].attrs["meaning"] = "prior quantile of the grid point (of the fixed value, or of the shifted median)"
    return stamp(ds, result, analysis="one-way sweeps", system=system, pareto_k_max=pareto_k_max)


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
        coords={"parameter": names, "grid": np.arange(points)},
    )


def tornado_table(ds: xr.Dataset) -> pd.DataFrame:
    """One-way results ranked by the swing of P(worst case) (the tornado's bars, widest first)."""
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
    return df.sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------- power scaling
def log_prior_draws(result: FitResult) -> np.ndarray:
    """Log prior density of every posterior draw (chain, draw): the sum over parameters of their prior log densities.

    The same densities as the model (``value_conflict_effect_aligned`` is sampled through the aligned conflict
    log-odds with a unit Jacobian, so its density is its prior's; system offsets are standard normal).
    """
    base = result.base or result
    post = base.posterior_draws
    total = np.zeros((post.sizes["chain"], post.sizes["draw"]))
    for name in PARAMETERS:
        if base.data.size(name) == 0:
            continue
        x = post[name].transpose("chain", "draw", ...).values.reshape(*total.shape, -1)
        total += base.priors[name].logpdf(x).sum(axis=-1)
    z = post["system_offset_z"].transpose("chain", "draw", ...).values
    return total + stats.norm.logpdf(z).sum(axis=-1)


def log_likelihood_draws(result: FitResult) -> np.ndarray:
    """Log likelihood of the selected evidence for every posterior draw (chain, draw), marginalized over dispositions.

    A numpy transcription of the likelihood terms of :func:`riskmodel.model.graph.build_model` (a test checks it against
    the model's own potentials on a few draws): reasoning counts, training compliance (each per system and
    disposition, summed into the marginal over each system's disposition), unmonitored compliance, and the optional
    capability likelihood.
    """
    from scipy.special import logsumexp

    base = result.base or result
    post, data = base.posterior_draws, base.data
    cd = ("chain", "draw")
    shape = (post.sizes["chain"], post.sizes["draw"])
    n_sys = len(data.coords["system"])
    ll_sys = np.zeros((*shape, n_sys, 2))
    intercept = post["tg_intercept"].transpose(*cd, "disposition").values
    effect = post["context_effect"].transpose(*cd, "disposition", "feature").values
    offset = post["system_offset"].transpose(*cd, "system").values
    if data.coords["setting"]:
        setting = post["setting_effect"].transpose(*cd, "setting").values
    else:
        setting = np.zeros((*shape, 0))
    setting = np.concatenate([setting, np.zeros((*shape, 1))], axis=-1)

    def rates(x: np.ndarray, sys: np.ndarray, sett: np.ndarray) -> np.ndarray:
        logit = intercept[..., :, None] + np.einsum("cdef,of->cdeo", effect, x)
        logit = logit + (setting[..., sett] + offset[..., sys])[..., None, :]
        return expit(logit)  # (chain, draw, disposition, obs)

    total = np.zeros(shape)
    if len(data.coords["reasoning_obs"]):
        p = rates(data.x_reasoning, data.sys_reasoning, data.set_reasoning)
        sens = post["reasoning_sensitivity"].transpose(*cd).values[..., None, None]
        fpos = post["reasoning_false_positive"].transpose(*cd).values[..., None, None]
        k, n = data.counts_reasoning
        ll = stats.binom.logpmf(k, n, p * sens + (1 - p) * fpos)
        ll_sys += np.einsum("cdeo,os->cdse", ll, np.eye(n_sys)[data.sys_reasoning])
    if len(data.coords["pair"]):
        p = rates(data.x_pair, data.sys_pair, data.set_pair)
        c = post["baseline_compliance"].transpose(*cd, "pair").values[..., None, :]
        g = post["behaviour_share"].transpose(*cd).values[..., None, None]
        kt, nt, ku, nu = data.counts_pair
        ll = stats.binom.logpmf(kt, nt, c + (1 - c) * g * p)
        ll_sys += np.einsum("cdeo,os->cdse", ll, np.eye(n_sys)[data.sys_pair])
        total += stats.binom.logpmf(ku, nu, c[..., 0, :]).sum(axis=-1)
    if data.cap_index.size:  # the optional capability likelihood: a latent "has the capability" per group
        q = post["capabilities"].transpose(*cd, "capability").sel(capability=list(CAPABILITIES)).values
        q = q[..., data.cap_index]
        ev = data.capability_evidence
        has = np.log(q) + ev[0]
        with np.errstate(divide="ignore"):
            lacks = np.log1p(-q) + np.log(np.maximum(ev[1], 1e-300))
        total += np.where(ev[1] > 0, np.logaddexp(has, lacks), has).sum(axis=-1)
    pi = post["p_misaligned"].transpose(*cd).values[..., None]
    joint = np.stack([np.log1p(-pi) + ll_sys[..., 0], np.log(pi) + ll_sys[..., 1]], axis=-1)
    return total + logsumexp(joint, axis=-1).sum(axis=-1)


def power_scaling(result: FitResult, *, system: str | None = None, threshold: float = 0.05) -> xr.Dataset:
    """Power-scaling sensitivity of the prior and the likelihood (ArviZ ``psense_summary``) per parameter.

    Covers every parameter the evidence informs (each element of a vector parameter) plus P(worst case) and
    P(misaligned) of ``system``. ``diagnosis`` is ArviZ's: potential prior-data conflict when both sensitivities
    exceed ``threshold``, a strong prior / weak likelihood when only the prior's does.
    """
    from arviz_stats import psense_summary

    base = result.base or result
    system = system or result.system
    post = base.posterior_draws
    names = _informed(base)
    ds = post[names].copy()
    ds["p_worst_case"] = base.quantities["p_worst_case"].sel(system=system, drop=True)
    ds["p_misaligned"] = base.quantities["p_misaligned_pre"].sel(system=system, drop=True)
    cd = ("chain", "draw")
    tree = xr.DataTree.from_dict(
        {
            "posterior": ds,
            "log_prior": xr.Dataset({"prior": (cd, log_prior_draws(base))}),
            "log_likelihood": xr.Dataset({"likelihood": (cd, log_likelihood_draws(base))}),
        }
    )
    log = logging.getLogger("arviz_stats.psense")  # it logs generic advice on any flag; ``diagnosis`` says it
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        df = psense_summary(tree, threshold=threshold, round_to=6)
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
    return stamp(out, result, analysis="power-scaling sensitivity", system=system, threshold=threshold)


# ---------------------------------------------------------------------------------------------- Sobol indices
def sobol_indices(
    func: Callable[[dict[str, np.ndarray]], np.ndarray],
    dists: dict[str, Any],
    *,
    n_base: int = 1024,
    seed: int = 1,
    conf_level: float = 0.95,
    num_resamples: int = 200,
) -> xr.Dataset:
    """First-order and total Sobol indices of ``func`` over independent inputs with distributions ``dists``.

    The inputs are sampled by SALib's Sobol sequence (Saltelli scheme, ``n_base * (d + 2)`` evaluations) on the unit
    cube and mapped through each distribution's quantile function; SALib estimates the indices (Saltelli 2010 first
    order, Jansen total) with bootstrap confidence intervals at ``conf_level``.
    """
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    names = list(dists)
    if n_base < 2 or n_base & (n_base - 1):
        raise InputError(f"must be a power of 2 (Sobol sequences), got {n_base!r}", field="n_base")
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    u = sobol_sample.sample(problem, n_base, calc_second_order=False, seed=seed)
    u = np.clip(u, 1e-12, 1 - 1e-12)
    x = {n: np.asarray(dists[n].ppf(u[:, i]), dtype=float) for i, n in enumerate(names)}
    y = np.asarray(func(x), dtype=float)
    res = sobol_analyze.analyze(
        problem, y, calc_second_order=False, num_resamples=num_resamples, conf_level=conf_level, seed=seed
    )
    ds = xr.Dataset(
        {
            "first_order": (("parameter",), res["S1"]),
            "first_order_conf": (("parameter",), res["S1_conf"]),
            "total": (("parameter",), res["ST"]),
            "total_conf": (("parameter",), res["ST_conf"]),
        },
        coords={"parameter": names},
    )
    ds.attrs.update(
        {
            "n_base": n_base,
            "evaluations": len(y),
            "conf_level": conf_level,
            "output_mean": float(y.mean()),
            "output_variance": float(y.var()),
            "seed": seed,
        }
    )
    return ds


def sobol(
    result: FitResult,
    *,
    system: str | None = None,
    n_base: int = 1024,
    seed: int | None = None,
) -> xr.Dataset:
    """Sobol indices of E[P(worst case) | assumptions] over the assumptions the evidence does not inform.

    Each assumption varies over its prior (= posterior); the fitted posterior of everything else is held as it is
    and averaged over (exactly, through :class:`Decomposition`).
    """
    system = system or result.system
    params = uninformed_parameters(result)
    informed_caps = [p for p in (*_CAPABILITY_PARTS, *_ROUTE_PARTS) if p not in params]
    if informed_caps:
        raise InputError(
            f"Sobol indices here need every capability and route assumption uninformed; the evidence informs "
            f"{informed_caps[0]!r} (capability likelihood switched on)",
            field="method",
        )
    dec = Decomposition.of(result.posterior, result, system, result.weights)
    dists = {p: result.priors[p].dist() for p in params}
    ds = sobol_indices(dec.mean_function(), dists, n_base=n_base, seed=result.seed if seed is None else seed)
    return stamp(ds, result, analysis="Sobol indices of E[P(worst case) | uninformed assumptions]", system=system)


# ---------------------------------------------------------------------------------------------- value of information
def entropy_bits(y: np.ndarray, w: np.ndarray | None, edges: np.ndarray) -> float:
    """Entropy (bits) of the distribution of ``log10(y)`` on the bins ``edges`` (Miller-Madow corrected).

    Values outside the edges fall into the end bins; ``w`` are normalized importance weights (or None).
    """
    x = np.clip(np.log10(np.maximum(np.asarray(y, dtype=float).ravel(), 1e-300)), edges[0], edges[-1])
    wt = None if w is None else np.asarray(w, dtype=float).ravel()
    h, _ = np.histogram(x, bins=edges, weights=wt)
    total = h.sum()
    if total <= 0:
        return 0.0
    p = h[h > 0] / total
    n_eff = x.size if wt is None else 1.0 / float(((wt / wt.sum()) ** 2).sum())
    return float(-(p * np.log2(p)).sum() + (p.size - 1) / (2.0 * n_eff * math.log(2)))


def entropy_edges(y: np.ndarray, bins: int = 30) -> np.ndarray:
    """Bin edges on log10 scale spanning the 0.5th-99.5th percentile of ``y``."""
    x = np.log10(np.maximum(np.asarray(y, dtype=float).ravel(), 1e-300))
    lo, hi = np.quantile(x, [0.005, 0.995])
    if not hi > lo:
        hi = lo + 1e-9
    return np.linspace(lo, hi, bins + 1)


def _wvar(y: np.ndarray, w: np.ndarray | None) -> float:
    y = np.asarray(y, dtype=float).ravel()
    m = weighted_mean(y, w)
    return weighted_mean((y - m) ** 2, w)


def voi_by_replacement(
    evaluate: Callable[[float], np.ndarray],
    dist: Any,
    y: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    nodes: int = 16,
    edges: np.ndarray | None = None,
) -> tuple[float, float]:
    """Value of learning a parameter exactly, for a parameter independent of everything else.

    ``evaluate(x)`` returns the draws of the output with the parameter fixed at ``x`` (the other inputs at their
    draws, weighted by ``weights``), so ``g(x) = E[Y | parameter = x]``; ``y`` are the draws with the parameter at its
    own draws. Gauss-Legendre quadrature over the parameter's quantile (``nodes`` points) integrates over ``dist``.

    Returns
    -------
    (variance reduction, entropy reduction in bits)
        ``Var(E[Y | parameter]) = Var(Y) - E[Var(Y | parameter)]`` (exactly 0 when ``Y`` does not depend on the
        parameter) and ``H(Y) - E[H(Y | parameter)]`` of the binned ``log10 Y``.
    """
    u, gw = np.polynomial.legendre.leggauss(nodes)
    u, gw = (u + 1) / 2, gw / 2
    edges = entropy_edges(y) if edges is None else edges
    h_y = entropy_bits(y, weights, edges)
    g, h = np.empty(nodes), np.empty(nodes)
    for i, ui in enumerate(u):
        draws = evaluate(float(dist.ppf(ui)))
        g[i] = weighted_mean(draws, weights)
        h[i] = h_y - entropy_bits(draws, weights, edges)
    dev = g - g[0]  # exactly 0 everywhere when Y ignores the parameter
    var = float((gw * dev**2).sum() - (gw * dev).sum() ** 2)
    return max(var, 0.0), float((gw * h).sum())


def voi_given_data(
    x: np.ndarray, y: np.ndarray, *, weights: np.ndarray | None = None, bins: int | None = None, edges: Any = None
) -> tuple[float, float]:
    """Value of learning ``x`` exactly, estimated from joint draws of (x, y) (for a quantity that depends on others).

    Draws are sorted by ``x`` and cut into ``bins`` groups of equal weight (default ``sqrt(N)``); ``Var(E[y | x])`` is
    the between-group variance of the group means minus its Monte Carlo bias ``(bins - 1) / N_eff * mean within-group
    variance`` (clipped at 0). Entropy: ``H(y) - sum_b P(b) H(y | b)`` of the binned ``log10 y``.
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    w = np.full(x.size, 1.0 / x.size) if weights is None else np.asarray(weights, dtype=float).ravel() / np.sum(weights)
    bins = bins or max(2, round(math.sqrt(x.size)))
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    group = np.minimum((cw * bins - 1e-12).astype(int), bins - 1)
    edges = entropy_edges(y) if edges is None else edges
    h_y = entropy_bits(y, w, edges)
    mean = float((w * y).sum())
    between, within, ent = 0.0, 0.0, 0.0
    for b in range(bins):
        idx = order[group == b]
        if not idx.size:
            continue
        pb = w[idx].sum()
        wb = w[idx] / pb
        mb = float((wb * y[idx]).sum())
        between += pb * (mb - mean) ** 2
        within += pb * float((wb * (y[idx] - mb) ** 2).sum())
        ent += pb * (h_y - entropy_bits(y[idx], wb, edges))
    n_eff = 1.0 / float((w**2).sum())
    return max(between - (bins - 1) / n_eff * within, 0.0), ent


def preposterior_voi(
    y: np.ndarray, likelihood: np.ndarray, *, weights: np.ndarray | None = None, edges: np.ndarray | None = None
) -> dict[str, Any]:
    """Preposterior value of an experiment with outcomes ``k`` from draws and each draw's outcome likelihoods.

    Parameters
    ----------
    y
        Draws of the output, shape (N,), or (N, K) when the output itself depends on the outcome ``k``.
    likelihood
        ``P(k | draw)``, shape (N, K), each row summing to 1 over the K possible outcomes.
    weights
        Normalized weights of the draws (None: equal).

    Returns
    -------
    dict
        ``p_outcome`` (K,), ``mean_given_outcome`` (K,), ``variance_reduction``: the variance over outcomes of the
        updated mean ``sum_k P(k) (E[Y|k] - E[Y])^2`` (= expected reduction of Var(Y) when Y does not depend on k;
        always >= 0), ``expected_variance_reduction``: ``Var(Y) - sum_k P(k) Var(Y|k)``, ``entropy_reduction``:
        ``H(Y) - sum_k P(k) H(Y|k)`` in bits, and ``expected_ess``: the mean effective sample size of the updated
        weights. Raw (not Pareto-smoothed) importance weights ``w_i P(k | draw i)`` keep ``sum_k P(k) E[Y|k] = E[Y]``
        exact.
    """
    lik = np.asarray(likelihood, dtype=float)
    n, kk = lik.shape
    w = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, dtype=float).ravel()
    yk = np.asarray(y, dtype=float).reshape(n, -1)
    yk = np.broadcast_to(yk, (n, kk)) if yk.shape[1] == 1 else yk
    y_now = (yk * lik).sum(axis=1) / lik.sum(axis=1)  # E[Y | draw] before the outcome (equals y when y is (N,))
    joint = w[:, None] * lik
    p_k = joint.sum(axis=0)
    keep = p_k > 0
    wk = np.where(keep, joint / np.where(keep, p_k, 1.0), 0.0)
    mean_k = (wk * yk).sum(axis=0)
    mean = float((w * y_now).sum())
    var_k = (wk * (yk - mean_k) ** 2).sum(axis=0)
    edges = entropy_edges(y_now) if edges is None else edges
    h_y = entropy_bits(y_now, w, edges)
    h_k = np.array([entropy_bits(yk[:, k], wk[:, k], edges) if p_k[k] > 1e-6 else h_y for k in range(kk)])
    ess = np.where(keep, 1.0 / np.maximum((wk**2).sum(axis=0), 1e-300), 0.0)
    return {
        "p_outcome": p_k,
        "mean_given_outcome": mean_k,
        "variance_reduction": float((p_k * (mean_k - mean) ** 2).sum()),
        "expected_variance_reduction": float(_wvar(y_now, w) - (p_k * var_k).sum()),
        "entropy_reduction": float((p_k * (h_y - h_k)).sum()),
        "expected_ess": float((p_k * ess).sum()),
    }


def _declared_contexts(result: FitResult) -> list[tuple[str, Context]]:
    ps = result.priors
    out = [
        (f"elicitation: {ps.elicitation.label()}", ps.elicitation),
        (f"training: {ps.training.label()}", ps.training),
    ]
    return out + [(f"critical: {c.label()}", c) for c in ps.critical]


def value_of_information(
    result: FitResult,
    *,
    system: str | None = None,
    nodes: int = 16,
    episodes: Sequence[int] = (20, 100, 400),
    eval_system: str | None = None,
    contexts: Sequence[tuple[str, Context]] | None = None,
    progress: Progress | None = None,
) -> xr.Dataset:
    """Value of information for P(worst case) of ``system``: what learning each quantity would do to its uncertainty.

    - ``learned`` (perfect information): each uninformed assumption (exact, by replacement over its prior) and the
      training-gaming rate of ``system`` in each declared context (elicitation, training, critical; mixed over its
      disposition; estimated from the joint draws by binning).
    - (``evaluation``, ``episodes``) (preposterior): a proposed evaluation of ``n`` episodes of ``eval_system``
      (default ``system``) in each declared context (or ``contexts``), counting flagged training-gaming reasoning;
      every possible count is weighed by its predictive probability and the draws reweighted by its likelihood.

    Variances are of the draws of P(worst case) (its epistemic uncertainty); ``voi_variance_share`` divides by
    Var(P(W)). ``preposterior_voi_variance`` is the variance over outcomes of the updated P(W) (the expected squared
    revision of the forecast): it equals the expected reduction of Var(P(W)) when the evaluated system is not the
    target, and can exceed Var(P(W)) when it is, because the counts then also speak to the target's own disposition,
    which each draw of P(W) averages over. ``preposterior_expected_variance_reduction`` is the literal
    ``Var(P(W)) - E[Var(P(W) | counts)]`` (it can be negative in that case); ``preposterior_shift_sd_relative`` is the
    standard deviation of the revision relative to the current P(W).
    """
    from riskmodel.interactive.whatif import Observation, _update_system, observation_loglik

    progress = progress or _noop
    system = system or result.system
    eval_system = eval_system or system
    w = result.weights
    cd = ("chain", "draw")
    q = result.quantities.sel(system=system)
    y = q["p_worst_case"].transpose(*cd).values
    var_y = _wvar(y, w)
    edges = entropy_edges(y)
    dec = Decomposition.of(result.posterior, result, system, w)
    learned, vv, ve, how = [], [], [], []
    free = uninformed_parameters(result)
    ctx = list(contexts) if contexts is not None else _declared_contexts(result)
    total = len(free) + len(ctx) * (1 + len(episodes))
    done = 0
    for name in free:
        v, e = voi_by_replacement(
            lambda x, name=name: dec.p_worst_case({name: x}),
            result.priors[name].dist(),
            y,
            weights=w,
            nodes=nodes,
            edges=edges,
        )
        learned.append(name)
        vv.append(v)
        ve.append(e)
        how.append("exact (replacement over the prior)")
        done += 1
        progress("voi", done, total)
    p_pre = q["p_misaligned_pre"].transpose(*cd).values
    for label, c in ctx:
        rate = _context_rate(result, system, c)
        mixed = p_pre * rate[..., 1] + (1 - p_pre) * rate[..., 0]
        v, e = voi_given_data(mixed, y, weights=w, edges=edges)
        learned.append(f"tg_rate[{label}]")
        vv.append(v)
        ve.append(e)
        how.append("binned joint draws (approximate)")
        done += 1
        progress("voi", done, total)
    # preposterior: P(W) of the target is linear in its P(misaligned), which the new counts update draw by draw
    post = result.posterior
    if eval_system == system:
        y1 = _with_p_misaligned(result, system, 1.0)
        y0 = _with_p_misaligned(result, system, 0.0)
    pre = np.full((len(ctx), len(episodes), 4), np.nan)
    ref = result.priors.reference_setting
    p_eval = post["p_misaligned_system"].sel(system=eval_system).transpose(*cd).values
    for i, (_, c) in enumerate(ctx):
        for j, n in enumerate(episodes):
            ks = np.arange(n + 1)
            ll = observation_loglik(post, Observation(eval_system, c, 0, int(n)), ref, k=ks)
            marginal, p_new = _update_system(p_eval, ll)
            lik = np.exp(marginal).reshape(-1, n + 1)
            if eval_system == system:
                yk = (p_new * y1[..., None] + (1 - p_new) * y0[..., None]).reshape(-1, n + 1)
            else:
                yk = y.reshape(-1, 1)
            r = preposterior_voi(yk, lik, weights=None if w is None else w.ravel(), edges=edges)
            pre[i, j] = [
                r["variance_reduction"],
                r["expected_variance_reduction"],
                r["entropy_reduction"],
                r["expected_ess"],
            ]
            done += 1
            progress("voi", done, total)
    ds = xr.Dataset(
        {
            "voi_variance": (("learned",), np.array(vv)),
            "voi_variance_share": (("learned",), np.array(vv) / var_y if var_y > 0 else np.zeros(len(vv))),
            "voi_entropy_bits": (("learned",), np.array(ve)),
            "estimator": (("learned",), np.array(how, dtype=str)),
            "preposterior_voi_variance": (("evaluation", "episodes"), pre[..., 0]),
            "preposterior_shift_sd_relative": (
                ("evaluation", "episodes"),
                np.sqrt(pre[..., 0]) / weighted_mean(y, w) if weighted_mean(y, w) > 0 else np.zeros(pre.shape[:2]),
            ),
            "preposterior_expected_variance_reduction": (("evaluation", "episodes"), pre[..., 1]),
            "preposterior_voi_entropy_bits": (("evaluation", "episodes"), pre[..., 2]),
            "preposterior_expected_ess": (("evaluation", "episodes"), pre[..., 3]),
        },
        coords={"learned": learned, "evaluation": [lbl for lbl, _ in ctx], "episodes": list(episodes)},
    )
    ds.attrs.update({"p_worst_case_mean": weighted_mean(y, w), "p_worst_case_variance": var_y})
    return stamp(ds, result, analysis="value of information", system=system, eval_system=eval_system)


def _context_rate(result: FitResult, system: str, context: Context) -> np.ndarray:
    """Training-gaming rate of ``system`` in ``context`` (reference setting) per (chain, draw, disposition)."""
    cd = ("chain", "draw")
    post = result.posterior
    logit = post["tg_intercept"].transpose(*cd, "disposition").values + np.einsum(
        "cdef,f->cde", post["context_effect"].transpose(*cd, "disposition", "feature").values, context.design_row()
    )
    return expit(logit + post["system_offset"].sel(system=system).transpose(*cd).values[..., None])


def _with_p_misaligned(result: FitResult, system: str, value: float) -> np.ndarray:
    """P(worst case) per draw of ``system`` if its P(misaligned before training) were ``value`` on every draw."""
    post = result.posterior.sel(system=[system]).copy()
    post["p_misaligned_system"] = xr.full_like(post["p_misaligned_system"], value)
    return worst_case(post, result.priors)["p_worst_case"].sel(system=system).transpose("chain", "draw").values


# ---------------------------------------------------------------------------------------------- everything
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
    progress: Progress | None = None,
) -> dict[str, xr.Dataset]:
    """Run the chosen analyses on one fit; returns ``{method: Dataset}`` with each dataset's run time in its attrs."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InputError(f"unknown method {unknown[0]!r} (known: {', '.join(METHODS)})", field="method")
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
                progress=progress,
            )
        elif m == "psense":
            ds = power_scaling(result, system=system)
        elif m == "sobol":
            ds = sobol(result, system=system, n_base=n_base)
        else:
            ds = value_of_information(result, system=system, progress=progress)
        ds.attrs["seconds"] = time.perf_counter() - t0
        out[m] = ds
    return out

"""The numbers users read from a fit, as one JSON-ready dictionary (what ``riskmodel run --json`` prints).

Every probability is the posterior mean of a per-draw conditional probability, given with its Monte Carlo standard
error (from the ESS of that very mean) and the 90% interval of the per-draw values. That interval is uncertainty
about a probability, not a forecast range: a per-draw probability can be bimodal (near 0 for most draws, near 1 for
a few), and then its mean can even lie outside its interval; the report says so where it happens.

Every assumption carries its prior-to-posterior contraction and whether the selected evidence informs it at all;
numbers that equal their prior are marked ``prior_only``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from riskmodel.data.evidence import reference_reason
from riskmodel.data.features import COORDINATES
from riskmodel.data.priors import CAPABILITIES, PARAMETERS
from riskmodel.model.bounds import system_odds_bound
from riskmodel.model.informed import informed_parameters
from riskmodel.model.quantities import worst_case
from riskmodel.model.spec import PARAMETER_DIMS
from riskmodel.model.summaries import bayes_factors, exceedance, mcse_of_means, summarize, weighted_mean

if TYPE_CHECKING:
    from riskmodel.results.result import FitResult

__all__ = ["PRIOR_ONLY_CONTRACTION", "assumption_effects", "build_report", "contraction"]

#: Below this prior-to-posterior contraction (1 - posterior variance / prior variance) an assumption is "prior only".
PRIOR_ONLY_CONTRACTION = 0.10
#: What the interval of a per-draw probability is.
INTERVAL_MEANING = "90% interval of the per-draw probability: uncertainty about the probability, not a forecast range"


def _wvar(x: np.ndarray, w: np.ndarray | None) -> float:
    m = weighted_mean(x, w)
    return weighted_mean((np.asarray(x) - m) ** 2, w)


def contraction(result: FitResult) -> dict[str, dict[str, Any]]:
    """Per assumption (each element of a vector one): prior and posterior mean and sd, contraction, prior only.

    ``informed``: whether any selected likelihood term depends on it (:func:`riskmodel.model.informed`); an
    uninformed assumption's posterior is its prior exactly, whatever its sampled contraction says. ``prior_only``:
    uninformed, or contraction below :data:`PRIOR_ONLY_CONTRACTION`.
    """
    informed = informed_parameters(result.data)
    out: dict[str, dict[str, Any]] = {}
    post, prior = result.posterior, result.prior_draws
    for name in PARAMETERS:
        if name not in post:
            continue
        x1, w1 = _flat(post[name], result.weights)
        x0, w0 = _flat(prior[name], result.prior_weights)
        dim = PARAMETER_DIMS.get(name)
        labels = [name] if dim is None else [f"{name}[{c}]" for c in post[name][dim].values]
        for j, label in enumerate(labels):
            v1, v0 = _wvar(x1[:, j], w1), _wvar(x0[:, j], w0)
            c = 1.0 - v1 / v0 if v0 > 0 else 0.0
            is_informed = name in informed
            out[label] = {
                "group": PARAMETERS[name].group,
                "prior_mean": weighted_mean(x0[:, j], w0),
                "prior_sd": math.sqrt(v0),
                "posterior_mean": weighted_mean(x1[:, j], w1),
                "posterior_sd": math.sqrt(v1),
                "contraction": c,
                "informed": is_informed,
                "prior_only": (not is_informed) or c < PRIOR_ONLY_CONTRACTION,
            }
    return out


def _flat(da: xr.DataArray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Draws as (sample, element) over chain, draw and copy, with the draw weights spread over the copies."""
    dim = [d for d in da.dims if d not in ("chain", "draw", "copy")]
    order = ["chain", "draw", *(["copy"] if "copy" in da.dims else []), *dim]
    x = da.transpose(*order).values
    m = da.sizes.get("copy", 1)
    x = x.reshape(x.shape[0] * x.shape[1] * m, -1)
    w = None if weights is None else np.repeat(np.asarray(weights).ravel() / m, m)
    return x, w


def _log10_ratio(a: float, b: float) -> float:
    return math.log10(a / b) if a > 0 and b > 0 else float("nan")


def assumption_effects(result: FitResult, system: str) -> dict[str, dict[str, float]]:
    """For each extra assumption: P(worst case) if it were certain vs as modeled (and the log10 ratio).

    A certain capability holds for every misaligned system; certain consistency makes every system that is misaligned
    after training carry out the plan. Equal to rerunning :func:`worst_case` with ``capability_override`` or
    ``consistency_override`` (a test checks that); computed from one per-copy pass, since a certain capability only
    drops its factor from the product and certain consistency makes the route probability the misaligned share.
    """
    w = result.weights
    base = weighted_mean(result.quantities["p_worst_case"].sel(system=system), w)
    q = worst_case(result.posterior, result.priors, result.data.layout, systems=[system], per_copy=True)
    caps = q["p_capability"].isel(system=0).transpose("chain", "draw", "copy", "capability").values
    route = q["p_misaligned_and_route"].isel(system=0).transpose("chain", "draw", "copy").values
    m_post = q["p_misaligned_post"].isel(system=0).transpose("chain", "draw", "copy").values
    certain = {cap: route * np.prod(np.delete(caps, i, axis=-1), axis=-1) for i, cap in enumerate(CAPABILITIES)}
    certain["consistency"] = m_post * caps.prod(axis=-1)
    out: dict[str, dict[str, float]] = {}
    for name, per_copy in certain.items():
        value = weighted_mean(per_copy.mean(axis=2), w)
        out[name] = {
            "p_worst_case_if_certain": value,
            "p_worst_case_as_modeled": base,
            "log10_ratio": _log10_ratio(value, base),
        }
    return out


def _summary(draws: xr.DataArray | np.ndarray, w: np.ndarray | None, mcse: float) -> dict[str, Any]:
    s = summarize(draws, w)
    out: dict[str, Any] = {**s.as_dict(), "mcse": mcse}
    if not s.lower <= s.mean <= s.upper:
        out["note"] = (
            "the mean lies outside the 90% interval of the per-draw probability: a few draws carry it (the per-draw "
            "probability is bimodal)"
        )
    return out


def _conditional_mean(x: np.ndarray, p: np.ndarray, w: np.ndarray | None) -> float:
    """E[x | disposition] from per-draw values and the per-draw probability of that disposition."""
    denom = weighted_mean(p, w)
    return weighted_mean(x * p, w) / denom if denom > 0 else float("nan")


def build_report(result: FitResult, system: str, *, interactive: bool = False) -> dict[str, Any]:
    """Headline numbers for ``system``, per-system numbers, contraction, diagnostics, provenance and the citation.

    ``interactive``: skip the Monte Carlo standard errors of the per-system Bayes factors other than the target's
    (the explorer recomputes on every slider move).
    """
    w, w0 = result.weights, result.prior_weights
    cd = ("chain", "draw")
    qa, qa0 = result.quantities, result.prior_quantities
    q, q0 = qa.sel(system=system), qa0.sel(system=system)
    systems = [str(s) for s in qa["system"].values]
    pw = qa["p_worst_case"].transpose(*cd, "system").values
    pm = qa["p_misaligned_pre"].transpose(*cd, "system").values
    mcse = mcse_of_means(np.concatenate([pw, pm], axis=-1), w)
    n = len(systems)

    def bfs(post: xr.DataArray, prior: xr.DataArray, dim: str, with_mcse: bool) -> dict[str, dict[str, float]]:
        out = bayes_factors(post, prior, dim, w, w0, prior_independent=True, mcse=with_mcse)
        return {k: v.as_dict() for k, v in out.items()}

    bf_w = bfs(qa["p_worst_case"], qa0["p_worst_case"], "system", not interactive)
    bf_m = bfs(qa["p_misaligned_pre"], qa0["p_misaligned_pre"], "system", not interactive)
    if interactive:
        one = {"system": [system]}
        bf_w[system] = bfs(qa["p_worst_case"].sel(one), qa0["p_worst_case"].sel(one), "system", True)[system]
    routes = ["p_worst_case_consistency_route", "p_worst_case_other_route"]
    by_route = bfs(q[routes].to_dataarray("route"), q0[routes].to_dataarray("route"), "route", not interactive)
    total = weighted_mean(q["p_worst_case"], w)
    share_cons = weighted_mean(q["p_worst_case_consistency_route"], w) / total if total > 0 else float("nan")
    share_other = weighted_mean(q["p_worst_case_other_route_only"], w) / total if total > 0 else float("nan")
    cap_prior = {c: weighted_mean(qa0["p_capability"].sel(system=system, capability=c), w0) for c in CAPABILITIES}
    layout = result.data.layout
    informed_coordinates: dict[str, list[str]] = {}
    for i, k in zip(layout.free_system, layout.free_coord, strict=True):
        informed_coordinates.setdefault(layout.systems[i], []).append(COORDINATES[k])
    per_system = {}
    for j, s in enumerate(systems):
        qs = qa.sel(system=s)
        p_mis = qs["p_misaligned_pre"].transpose(*cd).values
        cons = qs["consistency"].transpose(*cd, "disposition").values
        per_system[s] = {
            "p_worst_case": _summary(pw[..., j], w, float(mcse[j])),
            "p_misaligned": _summary(pm[..., j], w, float(mcse[n + j])),
            "p_misaligned_prior": summarize(qa0["p_misaligned_pre"].sel(system=s), w0).as_dict(),
            "bayes_factor_worst_case": bf_w[s],
            "bayes_factor_misaligned": bf_m[s],
            "odds_bound": system_odds_bound(result.priors, informed_coordinates.get(s, [])),
            "consistency_given_misaligned": _conditional_mean(cons[..., 1], p_mis, w),
            "consistency_given_aligned": _conditional_mean(cons[..., 0], 1.0 - p_mis, w),
            "capabilities": {
                c: {
                    "prior": cap_prior[c],
                    "posterior": weighted_mean(qs["p_capability"].sel(capability=c), w),
                }
                for c in CAPABILITIES
            },
        }
    evidence = result.evidence
    return {
        "system": system,
        "interval_meaning": INTERVAL_MEANING,
        "p_worst_case": per_system[system]["p_worst_case"],
        "p_worst_case_prior": summarize(q0["p_worst_case"], w0).as_dict(),
        "exceedance": exceedance(q["p_worst_case"], w),
        "exceedance_prior": exceedance(q0["p_worst_case"], w0),
        "p_misaligned": per_system[system]["p_misaligned"],
        "p_misaligned_prior": summarize(q0["p_misaligned_pre"], w0).as_dict(),
        "p_misaligned_after_training": summarize(q["p_misaligned_post"], w).as_dict(),
        "bayes_factor_worst_case": bf_w[system],
        "bayes_factor_misaligned": bf_m[system],
        "bayes_factor_routes": {"consistency": by_route[routes[0]], "other": by_route[routes[1]]},
        "route_shares": {"consistency": share_cons, "other_route_only": share_other},
        "assumptions": assumption_effects(result, system),
        "contraction": contraction(result),
        "per_system": per_system,
        "evidence_rows": {
            "likelihood": [r.id for r in evidence.likelihood_rows()],
            "reference_only": {r.id: reference_reason(r) for r in evidence.reference_rows()},
        },
        "diagnostics": result.diagnostics.as_dict(),
        "update": result.update.as_dict() if result.update else None,
        "provenance": result.provenance,
        "citation": None if result.not_citable() else result.citation(),
        "not_citable": result.not_citable() or None,
    }

"""The numbers users read from a fit, as one JSON-ready dictionary (what ``riskmodel run --json`` prints)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import xarray as xr

from riskmodel.data.evidence import reference_reason
from riskmodel.data.priors import CAPABILITIES
from riskmodel.model.quantities import bayes_factors, exceedance, summarize, weighted_mean

if TYPE_CHECKING:
    from riskmodel.results.result import FitResult

__all__ = ["assumption_effects", "build_report"]


def assumption_effects(result: FitResult, system: str) -> dict[str, dict[str, float]]:
    """For each assumption: its prior and posterior mean, and P(worst case) if it were certain vs as modeled.

    A certain capability leaves the route untouched and replaces P(all capabilities) by its value with that
    capability certain; certain consistency makes every system misaligned after training carry out the plan.
    """
    q, w = result.quantities.sel(system=system), result.weights
    base = weighted_mean(q["p_worst_case"], w)
    route = q["p_misaligned_and_route"]
    out: dict[str, dict[str, float]] = {}
    for cap in CAPABILITIES:
        certain = route * result.capability_detail["p_all_capabilities_if_certain"].sel(capability=cap)
        out[cap] = _effect(result, cap, base, weighted_mean(certain, w))
    cons = q["consistency"].sel(disposition="misaligned")
    cons_prior = result.prior_quantities["consistency"].sel(system=system, disposition="misaligned")
    certain = weighted_mean(q["p_misaligned_post"] * q["p_all_capabilities"], w)
    out["consistency"] = {
        "prior_mean": weighted_mean(cons_prior, result.prior_weights),
        "posterior_mean": weighted_mean(cons, w),
        "p_worst_case_if_certain": certain,
        "p_worst_case_as_modeled": base,
        "log10_ratio": _log10_ratio(certain, base),
    }
    return out


def _log10_ratio(a: float, b: float) -> float:
    return math.log10(a / b) if a > 0 and b > 0 else float("nan")


def _effect(result: FitResult, name: str, base: float, certain: float) -> dict[str, float]:
    return {
        "prior_mean": result.priors[name].mean(),
        "posterior_mean": weighted_mean(result.posterior[name], result.weights),
        "p_worst_case_if_certain": certain,
        "p_worst_case_as_modeled": base,
        "log10_ratio": _log10_ratio(certain, base),
    }


def build_report(result: FitResult, system: str, *, interactive: bool = False) -> dict[str, Any]:
    """Headline numbers for ``system``, per-system numbers, diagnostics, provenance and the citation.

    ``interactive``: skip the Monte Carlo standard errors the explorer does not show (those of the per-system and
    route Bayes factors; the headline Bayes factor keeps its own), because the page recomputes on every slider move.
    """
    w, w0 = result.weights, result.prior_weights
    q = result.quantities.sel(system=system)
    q0 = result.prior_quantities.sel(system=system)
    pw = q["p_worst_case"]

    def bfs(post: xr.DataArray, prior: xr.DataArray, dim: str, mcse: bool) -> dict[str, dict[str, float]]:
        out = bayes_factors(post, prior, dim, w, w0, prior_independent=True, mcse=mcse)
        return {k: v.as_dict() for k, v in out.items()}

    all_pw, all_pw0 = result.quantities["p_worst_case"], result.prior_quantities["p_worst_case"]
    by_system = bfs(all_pw, all_pw0, "system", not interactive)
    if interactive:
        one = {"system": [system]}
        by_system[system] = bfs(all_pw.sel(one), all_pw0.sel(one), "system", True)[system]
    routes = ["p_worst_case_consistency_route", "p_worst_case_other_route"]
    by_route = bfs(q[routes].to_dataarray("route"), q0[routes].to_dataarray("route"), "route", not interactive)
    total = weighted_mean(pw, w)
    share_cons = weighted_mean(q["p_worst_case_consistency_route"], w) / total if total > 0 else float("nan")
    share_other = weighted_mean(q["p_worst_case_other_route_only"], w) / total if total > 0 else float("nan")
    cd = ("chain", "draw")
    post_pw = result.quantities["p_worst_case"].transpose(*cd, "system").values
    post_pm = result.quantities["p_misaligned_pre"].transpose(*cd, "system").values
    prior_pm = result.prior_quantities["p_misaligned_pre"].transpose(*cd, "system").values
    per_system = {}
    for j, s in enumerate(result.quantities["system"].values):
        per_system[str(s)] = {
            "p_worst_case": summarize(post_pw[..., j], w).as_dict(),
            "p_misaligned": summarize(post_pm[..., j], w).as_dict(),
            "p_misaligned_prior": summarize(prior_pm[..., j], w0).as_dict(),
            "bayes_factor_worst_case": by_system[str(s)],
        }
    return {
        "system": system,
        "p_worst_case": summarize(pw, w).as_dict(),
        "p_worst_case_prior": summarize(q0["p_worst_case"], w0).as_dict(),
        "exceedance": exceedance(pw, w),
        "exceedance_prior": exceedance(q0["p_worst_case"], w0),
        "p_misaligned": summarize(q["p_misaligned_pre"], w).as_dict(),
        "p_misaligned_prior": summarize(q0["p_misaligned_pre"], w0).as_dict(),
        "p_misaligned_after_training": summarize(q["p_misaligned_post"], w).as_dict(),
        "bayes_factor_worst_case": by_system[system],
        "bayes_factor_routes": {"consistency": by_route[routes[0]], "other": by_route[routes[1]]},
        "route_shares": {"consistency": share_cons, "other_route_only": share_other},
        "assumptions": assumption_effects(result, system),
        "per_system": per_system,
        "evidence_rows": {
            "likelihood": [r.id for r in result.evidence.likelihood_rows()],
            "reference_only": {r.id: reference_reason(r) for r in result.evidence.reference_rows()},
        },
        "diagnostics": result.diagnostics.as_dict(),
        "update": result.update.as_dict() if result.update else None,
        "provenance": result.provenance,
        "citation": result.citation() if result.exact else None,
    }

"""The numbers users read from a fit, as one JSON-ready dictionary (what ``riskmodel run --json`` prints)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from riskmodel.evidence import reference_reason
from riskmodel.priors import CAPABILITIES
from riskmodel.quantities import bayes_factor, exceedance, summarize, weighted_mean, worst_case

if TYPE_CHECKING:
    from riskmodel.fit import FitResult

__all__ = ["assumption_effects", "build_report"]


def assumption_effects(result: FitResult, system: str) -> dict[str, dict[str, float]]:
    """For each assumption: its prior and posterior mean, and P(worst case) if it were certain vs as modeled."""
    post, w = result.posterior.sel(system=[system]), result.weights
    base = weighted_mean(result.quantities["p_worst_case"].sel(system=system), w)
    out: dict[str, dict[str, float]] = {}
    for cap in CAPABILITIES:
        certain = worst_case(post, result.priors, capability_override={cap: 1.0})
        out[cap] = _effect(result, cap, base, weighted_mean(certain["p_worst_case"].sel(system=system), w))
    certain = worst_case(post, result.priors, consistency_override=1.0)
    cons = result.quantities["consistency"].sel(system=system, disposition="misaligned")
    cons_prior = result.prior_quantities["consistency"].sel(system=system, disposition="misaligned")
    out["consistency"] = {
        "prior_mean": weighted_mean(cons_prior, result.prior_weights),
        "posterior_mean": weighted_mean(cons, w),
        "p_worst_case_if_certain": weighted_mean(certain["p_worst_case"].sel(system=system), w),
        "p_worst_case_as_modeled": base,
    }
    out["consistency"]["log10_ratio"] = _log10_ratio(out["consistency"]["p_worst_case_if_certain"], base)
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


def build_report(result: FitResult, system: str) -> dict[str, Any]:
    """Headline numbers for ``system``, per-system numbers, diagnostics, provenance and the citation."""
    w, w0 = result.weights, result.prior_weights
    q = result.quantities.sel(system=system)
    q0 = result.prior_quantities.sel(system=system)
    pw = q["p_worst_case"]
    bf = bayes_factor(pw, q0["p_worst_case"], w, w0)
    total = weighted_mean(pw, w)
    share_cons = weighted_mean(q["p_worst_case_consistency_route"], w) / total if total > 0 else float("nan")
    share_other = weighted_mean(q["p_worst_case_other_route_only"], w) / total if total > 0 else float("nan")
    per_system = {}
    for s in result.systems:
        qs, q0s = result.quantities.sel(system=s), result.prior_quantities.sel(system=s)
        per_system[s] = {
            "p_worst_case": summarize(qs["p_worst_case"], w).as_dict(),
            "p_misaligned": summarize(qs["p_misaligned_pre"], w).as_dict(),
            "p_misaligned_prior": summarize(q0s["p_misaligned_pre"], w0).as_dict(),
            "bayes_factor_worst_case": bayes_factor(qs["p_worst_case"], q0s["p_worst_case"], w, w0).as_dict(),
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
        "bayes_factor_worst_case": bf.as_dict(),
        "bayes_factor_routes": {
            "consistency": bayes_factor(
                q["p_worst_case_consistency_route"], q0["p_worst_case_consistency_route"]
            ).as_dict(),
            "other": bayes_factor(q["p_worst_case_other_route"], q0["p_worst_case_other_route"]).as_dict(),
        },
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

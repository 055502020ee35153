"""The numbers users read from a fit, as one JSON-ready dictionary (what ``riskmodel run --json`` prints)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from riskmodel.evidence import reference_reason
from riskmodel.priors import CAPABILITIES
from riskmodel.quantities import bayes_factor, summarize, worst_case

if TYPE_CHECKING:
    from riskmodel.fit import FitResult

__all__ = ["assumption_effects", "build_report"]


def assumption_effects(result: FitResult, system: str) -> dict[str, dict[str, float]]:
    """For each assumption: its prior and posterior mean, and P(worst case) if it were certain vs as modeled."""
    post = result.posterior
    base = float(result.quantities["p_worst_case"].sel(system=system).mean())
    out: dict[str, dict[str, float]] = {}
    for cap in CAPABILITIES:
        certain = worst_case(post, result.priors, capability_override={cap: 1.0})
        out[cap] = _effect(result, cap, base, float(certain["p_worst_case"].sel(system=system).mean()))
    certain = worst_case(post, result.priors, consistency_override=1.0)
    cons = result.quantities["consistency"].sel(system=system, disposition="misaligned")
    cons_prior = result.prior_quantities["consistency"].sel(system=system, disposition="misaligned")
    out["consistency"] = {
        "prior_mean": float(cons_prior.mean()),
        "posterior_mean": float(cons.mean()),
        "p_worst_case_if_certain": float(certain["p_worst_case"].sel(system=system).mean()),
        "p_worst_case_as_modeled": base,
    }
    out["consistency"]["log10_ratio"] = _log10_ratio(out["consistency"]["p_worst_case_if_certain"], base)
    return out


def _log10_ratio(a: float, b: float) -> float:
    return math.log10(a / b) if a > 0 and b > 0 else float("nan")


def _effect(result: FitResult, name: str, base: float, certain: float) -> dict[str, float]:
    return {
        "prior_mean": result.priors[name].mean(),
        "posterior_mean": float(result.posterior[name].mean()),
        "p_worst_case_if_certain": certain,
        "p_worst_case_as_modeled": base,
        "log10_ratio": _log10_ratio(certain, base),
    }


def _exceedance(draws: Any, levels: tuple[float, ...]) -> dict[str, float]:
    x = np.asarray(draws).ravel()
    return {f"{lvl:g}": float((x > lvl).mean()) for lvl in levels}


def build_report(result: FitResult, system: str) -> dict[str, Any]:
    """Headline numbers for ``system``, per-system numbers, diagnostics, provenance and the citation."""
    from riskmodel.quantities import EXCEEDANCE_LEVELS

    q = result.quantities.sel(system=system)
    q0 = result.prior_quantities.sel(system=system)
    pw = q["p_worst_case"]
    bf = bayes_factor(pw, q0["p_worst_case"])
    total = float(pw.mean())
    share_cons = float(q["p_worst_case_consistency_route"].mean()) / total if total > 0 else float("nan")
    share_other = float(q["p_worst_case_other_route_only"].mean()) / total if total > 0 else float("nan")
    per_system = {}
    for s in result.systems:
        qs, q0s = result.quantities.sel(system=s), result.prior_quantities.sel(system=s)
        per_system[s] = {
            "p_worst_case": summarize(qs["p_worst_case"]).as_dict(),
            "p_misaligned": summarize(qs["p_misaligned_pre"]).as_dict(),
            "p_misaligned_prior": summarize(q0s["p_misaligned_pre"]).as_dict(),
            "bayes_factor_worst_case": bayes_factor(qs["p_worst_case"], q0s["p_worst_case"]).as_dict(),
        }
    return {
        "system": system,
        "p_worst_case": summarize(pw).as_dict(),
        "p_worst_case_prior": summarize(q0["p_worst_case"]).as_dict(),
        "exceedance": _exceedance(pw, EXCEEDANCE_LEVELS),
        "exceedance_prior": _exceedance(q0["p_worst_case"], EXCEEDANCE_LEVELS),
        "p_misaligned": summarize(q["p_misaligned_pre"]).as_dict(),
        "p_misaligned_prior": summarize(q0["p_misaligned_pre"]).as_dict(),
        "p_misaligned_after_training": summarize(q["p_misaligned_post"]).as_dict(),
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
        "provenance": result.provenance,
        "citation": result.citation(),
    }

"""The evidence library at a glance, and what a change of default evidence does to the fit.

:func:`library_table` says, per released evidence file, how many published numbers it holds and what each does
(likelihood term by kind, or reference only); :func:`reference_reasons` why the others stay out;
:func:`contraction_comparison` compares two fits of the same priors on two evidence sets assumption by assumption
(prior-to-posterior contraction, and which assumptions moved from "prior only" to informed); :func:`headline_comparison`
gives the headline numbers side by side with their Monte Carlo errors. ``analyses/evidence_library.py`` writes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from riskmodel.data.evidence import EvidenceSet, evidence_store, load_evidence, reference_reason
from riskmodel.results.report import contraction

if TYPE_CHECKING:
    from riskmodel.results.result import FitResult

__all__ = ["contraction_comparison", "headline_comparison", "library_table", "reference_reasons"]


def _latest_refs() -> list[str]:
    """The newest release of every evidence set name."""
    latest: dict[str, tuple[tuple[int, int, int], str]] = {}
    for rel in evidence_store().releases():
        if rel.name not in latest or rel.key[1] > latest[rel.name][0]:
            latest[rel.name] = (rel.key[1], rel.ref)
    return [ref for _, ref in sorted(latest.values(), key=lambda x: x[1])]


def library_table(refs: list[str] | None = None) -> pd.DataFrame:
    """Per evidence file (default: the newest release of each name): its rows and what they do in the likelihood.

    Columns: rows, rows traced to a quote (format 2), rows in the likelihood by kind (reasoning counts, compliance
    rows, threshold outcomes, population rows, capability counts), systems with a likelihood row, reference-only
    rows.
    """
    out = []
    for ref in refs or _latest_refs():
        ev = load_evidence(ref)
        pairs = ev.compliance_pairs()
        compliance_rows = sum((p.training is not None) + (p.unmonitored is not None) for p in pairs)
        out.append(
            {
                "file": ev.ref,
                "format": ev.format,
                "rows": len(ev.rows),
                "traced": sum(bool(r.quote) for r in ev.rows),
                "reasoning": len(ev.reasoning_rows()),
                "compliance": compliance_rows,
                "threshold": len(ev.threshold_rows()),
                "population": len(ev.population_rows()),
                "capability": len(ev.capability_rows()),
                "in_likelihood": len(ev.likelihood_rows()),
                "systems_with_likelihood_row": len(ev.model_systems()),
                "reference_only": len(ev.reference_rows()),
            }
        )
    return pd.DataFrame(out)


def reference_reasons(evidence: EvidenceSet) -> pd.DataFrame:
    """Why the reference-only rows of ``evidence`` stay out of the likelihood: one row per reason, with a count."""
    counts: dict[str, int] = {}
    for row in evidence.reference_rows():
        reason = reference_reason(row)
        counts[reason] = counts.get(reason, 0) + 1
    df = pd.DataFrame({"reason": list(counts), "rows": list(counts.values())})
    return df.sort_values("rows", ascending=False, ignore_index=True)


def contraction_comparison(old: FitResult, new: FitResult) -> pd.DataFrame:
    """Assumption by assumption: prior sd, posterior sd and contraction under each fit, and what changed.

    The two fits should share their prior set; an assumption that exists in only one fit (say, the baseline
    compliance of a cell only one evidence set has) is listed with blanks for the other. ``change`` is "became
    informed" (prior only under ``old``, informed under ``new``), "became prior only", or empty.
    """
    a, b = contraction(old), contraction(new)
    rows = []
    for label in [*a, *(k for k in b if k not in a)]:
        x, y = a.get(label), b.get(label)
        ref = x or y
        change = ""
        if x and y and x["prior_only"] and not y["prior_only"]:
            change = "became informed"
        elif x and y and not x["prior_only"] and y["prior_only"]:
            change = "became prior only"
        rows.append(
            {
                "assumption": label,
                "group": ref["group"],
                "prior_sd": ref["prior_sd"],
                "posterior_sd_old": x["posterior_sd"] if x else None,
                "contraction_old": x["contraction"] if x else None,
                "prior_only_old": x["prior_only"] if x else None,
                "posterior_sd_new": y["posterior_sd"] if y else None,
                "contraction_new": y["contraction"] if y else None,
                "prior_only_new": y["prior_only"] if y else None,
                "change": change,
            }
        )
    return pd.DataFrame(rows)


def headline_comparison(old: FitResult, new: FitResult, system: str = "new") -> pd.DataFrame:
    """P(worst case), P(misaligned) and their Bayes factors for ``system`` under both fits, with Monte Carlo errors."""
    rows = []
    for label, res in (("old", old), ("new", new)):
        rep = res.report(system)
        rows.append(
            {
                "fit": label,
                "evidence": res.evidence.ref,
                "p_worst_case": rep["p_worst_case"]["mean"],
                "p_worst_case_mcse": rep["p_worst_case"]["mcse"],
                "p_worst_case_5%": rep["p_worst_case"]["lower"],
                "p_worst_case_95%": rep["p_worst_case"]["upper"],
                "p_worst_case_prior": rep["p_worst_case_prior"]["mean"],
                "bayes_factor_worst_case": rep["bayes_factor_worst_case"]["value"],
                "p_misaligned": rep["p_misaligned"]["mean"],
                "p_misaligned_mcse": rep["p_misaligned"]["mcse"],
                "bayes_factor_misaligned": rep["bayes_factor_misaligned"]["value"],
                "healthy": res.healthy,
                "citation": rep["citation"],
            }
        )
    return pd.DataFrame(rows)

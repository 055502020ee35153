"""Verification of a citation: refit from the cited files and check the numbers (and, where cited, bit identity)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskmodel.data.evidence import evidence_store
from riskmodel.data.priors import prior_store
from riskmodel.errors import CitationError, RiskmodelError
from riskmodel.results.citation import parse_citation
from riskmodel.results.result import fit
from riskmodel.versions import package_version, sampler_version

__all__ = ["Verification", "verify"]


@dataclass(frozen=True)
class Verification:
    """Outcome of :func:`verify`: whether the refit matches, what was checked, and what differs."""

    matches: bool
    method: str
    differences: tuple[str, ...]
    refit_line: str
    warnings: tuple[str, ...] = ()
    #: True/False when the citation carries a draws hash (bit identity of the refit's draws), None when it does not.
    bit_identical: bool | None = None
    #: Whether the refit passed its health checks.
    healthy: bool = True


def _rounding(text: str) -> float:
    """Half a unit in the last cited digit."""
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (-decimals + (int(exponent) if exponent else 0))


def verify(line: str, *, progress: bool = False) -> Verification:
    """Refit from the files a citation names and check that the numbers agree.

    The cited files must be releases whose registered hashes start with the cited hashes, and the cited sampler must
    be nutpie (another sampler is refused; another nutpie version is flagged). Numbers agree when each cited value
    lies within 3 Monte Carlo standard errors (of the mean, or of the 5%/95% quantile) plus half a unit of its last
    cited digit; that decides the match. Separately, when the citation carries a draws hash, bit identity of the
    refit's draws is checked and reported (``bit_identical``): expected with the same machine and versions, not
    required for a match.
    """
    from arviz_stats.base import array_stats

    cit = parse_citation(line)
    try:
        p_rel, e_rel = prior_store().resolve(cit.priors), evidence_store().resolve(cit.evidence)
    except RiskmodelError as exc:
        raise CitationError(f"cites an unknown release ({exc.reason})", field="citation") from None
    diffs = []
    if not p_rel.sha256.startswith(cit.priors_sha):
        diffs.append(
            f"priors {cit.priors}: cited sha256:{cit.priors_sha} but the release is "
            f"sha256:{p_rel.sha256[: len(cit.priors_sha)]}"
        )
    if not e_rel.sha256.startswith(cit.evidence_sha):
        diffs.append(
            f"evidence {cit.evidence}: cited sha256:{cit.evidence_sha} but the release is "
            f"sha256:{e_rel.sha256[: len(cit.evidence_sha)]}"
        )
    if cit.sampler != "nutpie":
        raise CitationError(f"sampler {cit.sampler!r} is not one this version can rerun (nutpie)", field="citation")
    notes = []
    installed = sampler_version()
    if not cit.sampler_version:
        notes.append(f"the citation does not name its nutpie version (this is nutpie {installed})")
    elif cit.sampler_version != installed:
        notes.append(
            f"cited with nutpie {cit.sampler_version}, refit with nutpie {installed}: different draws are expected; "
            "only agreement within Monte Carlo error can hold"
        )
    if cit.package != package_version():
        notes.append(f"cited with riskmodel {cit.package}, refit with riskmodel {package_version()}")
    if cit.unhealthy:
        notes.append("the cited fit failed its sampler health checks: its numbers were flagged when cited")
    result = fit(
        cit.priors,
        cit.evidence,
        system=cit.system,
        seed=cit.seed,
        chains=cit.chains,
        draws=cit.draws,
        progress=progress,
    )
    pw = np.asarray(result.quantities["p_worst_case"].sel(system=cit.system)).reshape(cit.chains, cit.draws)
    new = {"mean": float(pw.mean()), "lower": float(np.quantile(pw, 0.05)), "upper": float(np.quantile(pw, 0.95))}
    mcse = {
        "mean": float(array_stats.mcse(pw, chain_axis=0, draw_axis=1, method="mean")),
        "lower": float(array_stats.mcse(pw, chain_axis=0, draw_axis=1, method="quantile", prob=0.05)),
        "upper": float(array_stats.mcse(pw, chain_axis=0, draw_axis=1, method="quantile", prob=0.95)),
    }
    for key, text in (("mean", cit.mean_text), ("lower", cit.lower_text), ("upper", cit.upper_text)):
        cited = getattr(cit, key)
        tol = 3 * mcse[key] + _rounding(text)
        if abs(new[key] - cited) > tol:
            diffs.append(f"{key}: cited {text}, refit {new[key]:.4g} (tolerance {tol:.2g} = 3 MCSE + rounding)")
    bit_identical = result.draws_sha256.startswith(cit.draws_sha) if cit.draws_sha else None
    if bit_identical is None:
        bits = "bit identity not checked (the citation carries no draws hash)"
    elif bit_identical:
        bits = f"bit-identical: the refit's posterior draws hash to the cited sha256:{cit.draws_sha}"
    else:
        bits = (
            f"NOT bit-identical: the refit's draws hash to sha256:{result.draws_sha256[: len(cit.draws_sha)]}, "
            f"not the cited sha256:{cit.draws_sha} (another machine or dependency versions?)"
        )
    method = (
        "agreement within Monte Carlo error (3 MCSE + half a unit of the last cited digit) decides the match; " + bits
    )
    warnings = tuple(notes) + tuple(f"refit: {w}" for w in result.diagnostics.warnings)
    return Verification(
        not diffs, method, tuple(diffs), result.citation(), warnings, bit_identical, result.diagnostics.ok
    )

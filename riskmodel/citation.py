"""Citation lines, BibTeX entries, and verification of a citation by refitting from the cited files.

A citation line reads::

    P(worst case) = 0.031 [90%: 0.004-0.12] | riskmodel 0.1.0 | priors baseline@1.1.0 sha256:1a2b3c4d |
    evidence published-evals@1.0.0 sha256:5e6f7a8b | system new | nutpie 0.16.11 seed 1 | 4x1000 draws |
    draws sha256:c0177185

(on one line; ``| diagnostics FAILED`` is appended when the fit failed its health checks). Older lines without the
sampler version or the draws hash still parse. :func:`verify` refits and checks two things separately, and says which
held: the refit's posterior draws are **bit-identical** to the cited ones (their sha256 prefix; expected on the same
machine with the same dependency versions, see ``docs/reproducibility.md``), and the cited numbers agree with the
refit **within Monte Carlo error** (plus the rounding of the cited digits), which is what decides a match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from riskmodel.errors import CitationError, RiskmodelError
from riskmodel.evidence import evidence_store
from riskmodel.priors import prior_store

if TYPE_CHECKING:
    from riskmodel.fit import FitResult

__all__ = ["Citation", "bibtex", "citation_line", "fmt", "parse_citation", "verify"]

_SHA_SHOWN = 8
_NUM = r"[0-9.eE+-]+"
_LINE_RE = re.compile(
    rf"^P\(worst case\) = (?P<mean>{_NUM}) \[90%: (?P<lower>{_NUM})-(?P<upper>{_NUM})\]"
    r" \| riskmodel (?P<package>[^ |]+)"
    r" \| priors (?P<priors>[a-z0-9_-]+@[0-9.]+) sha256:(?P<priors_sha>[0-9a-f]{8,64})"
    r" \| evidence (?P<evidence>[a-z0-9_-]+@[0-9.]+) sha256:(?P<evidence_sha>[0-9a-f]{8,64})"
    r" \| system (?P<system>[^|]+?)"
    r" \| (?P<sampler>[a-z]+)(?: (?P<sampler_version>[0-9][0-9a-z.+-]{0,30}))? seed (?P<seed>[0-9]{1,10})"
    r" \| (?P<chains>[0-9]{1,3})x(?P<draws>[0-9]{1,7}) draws"
    r"(?: \| draws sha256:(?P<draws_sha>[0-9a-f]{8,64}))?"
    r"(?P<unhealthy> \| diagnostics FAILED)?$"
)
_UNHEALTHY = " | diagnostics FAILED"


def fmt(x: float) -> str:
    """Two significant digits, as cited."""
    return f"{x:.2g}"


def citation_line(result: FitResult) -> str:
    """The one-line citation of a fit's headline number."""
    from riskmodel.fit import package_version, sampler_version
    from riskmodel.quantities import summarize

    s = summarize(result.quantities["p_worst_case"].sel(system=result.system))
    ps, ev = result.priors, result.evidence
    return (
        f"P(worst case) = {fmt(s.mean)} [90%: {fmt(s.lower)}-{fmt(s.upper)}] | riskmodel {package_version()} | "
        f"priors {ps.ref} sha256:{ps.content_sha256[:_SHA_SHOWN]} | "
        f"evidence {ev.ref} sha256:{ev.subset_sha256[:_SHA_SHOWN]}"
        f" | system {result.system} | {result.sampler} {sampler_version()} seed {result.seed}"
        f" | {result.chains}x{result.draws} draws | draws sha256:{result.draws_sha256[:_SHA_SHOWN]}"
        + ("" if result.diagnostics.ok else _UNHEALTHY)
    )


def bibtex(result: FitResult) -> str:
    """A BibTeX-style entry for a fit, naming the exact files and settings."""
    from riskmodel.fit import package_version

    ps, ev = result.priors, result.evidence
    key = f"riskmodel_{ps.name}_{ps.version.replace('.', '_')}_{result.system}_{result.seed}"
    return (
        f"@misc{{{key},\n"
        f"  title = {{riskmodel forecast of worst-case AI scheming risk ({result.system})}},\n"
        f"  note = {{{citation_line(result)}}},\n"
        f"  howpublished = {{riskmodel {package_version()}; priors {ps.ref} sha256:{ps.content_sha256}; "
        f"evidence {ev.ref} sha256:{ev.subset_sha256}}},\n"
        f"  year = {{{ps.date[:4]}}}\n"
        f"}}"
    )


@dataclass(frozen=True)
class Citation:
    """A parsed citation line."""

    mean: float
    lower: float
    upper: float
    mean_text: str
    lower_text: str
    upper_text: str
    package: str
    priors: str
    priors_sha: str
    evidence: str
    evidence_sha: str
    system: str
    sampler: str
    seed: int
    chains: int
    draws: int
    sampler_version: str = ""
    draws_sha: str = ""
    unhealthy: bool = False


def parse_citation(line: str) -> Citation:
    """Parse a citation line or raise a one-line :class:`CitationError` saying what is malformed."""
    if not isinstance(line, str):
        raise CitationError("a citation must be text", field="citation")
    text = line.strip()
    if len(text) > 1000 or "\n" in text:
        raise CitationError("a citation is one line of at most 1000 characters", field="citation")
    m = _LINE_RE.match(text)
    if not m:
        hint = (
            "P(worst case) = M [90%: L-U] | riskmodel V | priors N@V sha256:H | evidence N@V sha256:H | "
            "system S | nutpie VERSION seed N | CxD draws | draws sha256:H"
        )
        raise CitationError(f"not a riskmodel citation line (expected: {hint})", field="citation")
    try:
        vals = {k: float(m[k]) for k in ("mean", "lower", "upper")}
    except ValueError:
        raise CitationError("the cited numbers are not numbers", field="citation") from None
    if (
        not all(np.isfinite(list(vals.values())))
        or not 0 <= vals["lower"] <= vals["upper"] <= 1
        or not 0 <= vals["mean"] <= 1
    ):
        raise CitationError("the cited interval is not a probability interval", field="citation")
    chains, draws = int(m["chains"]), int(m["draws"])
    if chains < 1 or draws < 10:
        raise CitationError("chains must be >= 1 and draws >= 10", field="citation")
    return Citation(
        vals["mean"],
        vals["lower"],
        vals["upper"],
        m["mean"],
        m["lower"],
        m["upper"],
        m["package"],
        m["priors"],
        m["priors_sha"],
        m["evidence"],
        m["evidence_sha"],
        m["system"].strip(),
        m["sampler"],
        int(m["seed"]),
        chains,
        draws,
        m["sampler_version"] or "",
        m["draws_sha"] or "",
        bool(m["unhealthy"]),
    )


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

    from riskmodel.fit import fit, package_version, sampler_version

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

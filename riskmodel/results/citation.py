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

from riskmodel.errors import CitationError
from riskmodel.model.quantities import summarize
from riskmodel.versions import package_version, sampler_version

if TYPE_CHECKING:
    from riskmodel.results.result import FitResult

__all__ = ["Citation", "bibtex", "citation_line", "fmt", "parse_citation"]

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

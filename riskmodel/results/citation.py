"""Citation lines and BibTeX entries of a fit, and their parsing.

A citation line reads (on one line)::

    P(worst case) = 0.0052 [90%: 0.00023, 0.019] | riskmodel 0.2.0 model 2 | priors baseline@2.0.0 sha256:9bab9b89 |
    evidence published-evals@2.0.0 sha256:cbc0dd0a | system new | nutpie 0.16.11 seed 1 | 4x1000 draws tune 1000 |
    draws sha256:31073dbf

``| diagnostics FAILED`` is appended when the fit failed its health checks. An evidence subset is named by what
differs from the released file, so that :func:`riskmodel.results.verify.verify` refits exactly that subset:
``evidence NAME@VERSION sha256:H without[ROW,ROW] capability[SOURCE,SOURCE]`` (rows switched off, and the sources
whose capability evidence is in the likelihood when that differs from the file; ``capability[]`` for none). Edited,
unreleased assumptions are never cited: only a released prior set has a line that can verify.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from riskmodel.errors import CitationError
from riskmodel.model.summaries import summarize
from riskmodel.versions import package_version, sampler_version

if TYPE_CHECKING:
    from riskmodel.data.evidence import EvidenceSet
    from riskmodel.results.result import FitResult

__all__ = ["Citation", "bibtex", "citation_line", "evidence_label", "fmt", "parse_citation"]

_SHA_SHOWN = 8
_NUM = r"[0-9.eE+-]+"
_ID = r"[A-Za-z0-9_.:|,@+-]+"
_LINE_RE = re.compile(
    rf"^P\(worst case\) = (?P<mean>{_NUM}) \[90%: (?P<lower>{_NUM}), (?P<upper>{_NUM})\]"
    r" \| riskmodel (?P<package>[^ |]+) model (?P<model>[0-9]{1,3})"
    r" \| priors (?P<priors>[a-z0-9_-]+@[0-9.]+) sha256:(?P<priors_sha>[0-9a-f]{8,64})"
    r" \| evidence (?P<evidence>[a-z0-9_-]+@[0-9.]+) sha256:(?P<evidence_sha>[0-9a-f]{8,64})"
    r"(?: without\[(?P<without>[^\]]*)\])?(?: capability\[(?P<capability>[A-Za-z0-9_,-]*)\])?"
    r" \| system (?P<system>[^|]+?)"
    r" \| (?P<sampler>[a-z]+) (?P<sampler_version>[0-9][0-9a-z.+-]{0,30}) seed (?P<seed>[0-9]{1,10})"
    r" \| (?P<chains>[0-9]{1,3})x(?P<draws>[0-9]{1,7}) draws tune (?P<tune>[0-9]{1,7})"
    r" \| draws sha256:(?P<draws_sha>[0-9a-f]{8,64})"
    r"(?P<unhealthy> \| diagnostics FAILED)?$"
)
#: The line of riskmodel 0.1.0 (model 1): recognized, so that verify can say which package verifies it.
_OLD_RE = re.compile(r"^P\(worst case\) = .* \| riskmodel (?P<package>[^ |]+) \| priors ")
_UNHEALTHY = " | diagnostics FAILED"


def fmt(x: float) -> str:
    """Two significant digits, as cited."""
    return f"{x:.2g}"


def evidence_label(evidence: EvidenceSet) -> str:
    """How a citation names an evidence set: the release, its hash, and the subset when it is one."""
    text = f"{evidence.ref} sha256:{evidence.sha256[:_SHA_SHOWN]}"
    if evidence.excluded:
        text += f" without[{','.join(sorted(evidence.excluded))}]"
    if evidence.capability_sources != evidence.capability_in_file:
        text += f" capability[{','.join(sorted(evidence.capability_sources))}]"
    return text


def citation_line(result: FitResult) -> str:
    """The one-line citation of a fit's headline number (only an exact fit under released files can be cited)."""
    s = summarize(result.quantities["p_worst_case"].sel(system=result.system))
    ps = result.priors
    return (
        f"P(worst case) = {fmt(s.mean)} [90%: {fmt(s.lower)}, {fmt(s.upper)}] | riskmodel {package_version()} "
        f"model {result.model_version} | priors {ps.ref} sha256:{ps.content_sha256[:_SHA_SHOWN]} | "
        f"evidence {evidence_label(result.evidence)}"
        f" | system {result.system} | {result.sampler} {sampler_version(result.sampler)} seed {result.seed}"
        f" | {result.chains}x{result.draws} draws tune {result.tune} | draws sha256:{result.draws_sha256[:_SHA_SHOWN]}"
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
        f"evidence {ev.ref} sha256:{ev.sha256}}},\n"
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
    model: int
    priors: str
    priors_sha: str
    evidence: str
    evidence_sha: str
    without: tuple[str, ...]
    capability: tuple[str, ...] | None
    system: str
    sampler: str
    sampler_version: str
    seed: int
    chains: int
    draws: int
    tune: int
    draws_sha: str
    unhealthy: bool = False


def parse_citation(line: str) -> Citation:
    """Parse a citation line or raise a one-line :class:`CitationError` saying what is malformed."""
    if not isinstance(line, str):
        raise CitationError("a citation must be text", field="citation")
    text = line.strip()
    if len(text) > 20000 or "\n" in text:
        raise CitationError("a citation is one line of at most 20000 characters", field="citation")
    m = _LINE_RE.match(text)
    if not m:
        old = _OLD_RE.match(text)
        if old:
            raise CitationError(
                f"a citation of riskmodel {old['package']} (model 1): verify it with that version of riskmodel "
                "(docs/reproducibility.md)",
                field="citation",
            )
        hint = (
            "P(worst case) = M [90%: L, U] | riskmodel V model 2 | priors N@V sha256:H | evidence N@V sha256:H "
            "[without[...]] [capability[...]] | system S | nutpie VERSION seed N | CxD draws tune T | draws sha256:H"
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
    without = tuple(x for x in (m["without"] or "").split(",") if x)
    capability = None if m["capability"] is None else tuple(x for x in m["capability"].split(",") if x)
    return Citation(
        vals["mean"],
        vals["lower"],
        vals["upper"],
        m["mean"],
        m["lower"],
        m["upper"],
        m["package"],
        int(m["model"]),
        m["priors"],
        m["priors_sha"],
        m["evidence"],
        m["evidence_sha"],
        without,
        capability,
        m["system"].strip(),
        m["sampler"],
        m["sampler_version"],
        int(m["seed"]),
        chains,
        draws,
        int(m["tune"]),
        m["draws_sha"],
        bool(m["unhealthy"]),
    )

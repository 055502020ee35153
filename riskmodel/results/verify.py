"""Verification of a citation: refit from the cited files and check everything the line claims.

Before any refit, the cited releases must exist (an unknown one is bad input) and their registered hashes must start
with the cited ones: a mismatch does not verify, at once and without refitting, naming the file. The refit uses
exactly what the line names: the prior release, the evidence release and its subset (rows switched off, capability
sources), the system, seed, chains, draws and tune. Then, separately:

- the draws: when the cited riskmodel and sampler versions are the installed ones, the refit's draws must hash to the
  cited sha256 (bit identity is expected on the same versions and machine, ``docs/reproducibility.md``); with other
  versions (or ``require_bits=False``, a citation made on another machine) only agreement within Monte Carlo error
  can hold, and the result says so;
- the numbers: when the refit's draws are bit-identical to the cited ones, the cited numbers are functions of those
  very draws, so each must be the refit's value rounded to its cited digits (half a unit of the last digit); otherwise
  each must lie within 3 Monte Carlo standard errors (of the mean, or of the 5%/95% quantile) plus half a unit of its
  last cited digit of the refit's;
- the health: a line without ``| diagnostics FAILED`` fails when the refit fails its health checks, and a line with
  it fails when the refit passes them (the suffix is part of what is cited).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskmodel.data.evidence import EvidenceSet, evidence_store, load_evidence
from riskmodel.data.priors import MODEL_VERSION, prior_store
from riskmodel.errors import CitationError, RiskmodelError
from riskmodel.model.summaries import summarize
from riskmodel.results.citation import Citation, fmt, parse_citation
from riskmodel.results.result import fit
from riskmodel.versions import SAMPLERS, package_version, sampler_version

__all__ = [
    "Verification",
    "check_cited_files",
    "check_cited_health",
    "check_cited_numbers",
    "cited_evidence",
    "cited_file_differences",
    "refit_settings",
    "verify",
    "version_notes",
]


@dataclass(frozen=True)
class Verification:
    """Outcome of :func:`verify`: whether the citation holds, what was checked, and what differs."""

    matches: bool
    method: str
    differences: tuple[str, ...]
    #: The refit's own citation line ("" when verify failed before refitting: a cited file differs).
    refit_line: str
    warnings: tuple[str, ...] = ()
    #: Whether the refit's draws hash to the cited sha256 (None: no refit).
    bit_identical: bool | None = None
    #: Whether the refit passed its health checks (None: no refit).
    healthy: bool | None = None
    #: Whether bit identity was required (same riskmodel and sampler versions as cited, and not waived).
    bits_required: bool = False
    #: The cited sampler (the refit's).
    sampler: str = "nutpie"


def _rounding(text: str) -> float:
    """Half a unit in the last cited digit."""
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (-decimals + (int(exponent) if exponent else 0))


def _check_model_and_sampler(cit: Citation) -> None:
    """Refuse a citation this version cannot rerun: another model, or another sampler."""
    if cit.model != MODEL_VERSION:
        raise CitationError(
            f"a citation of model {cit.model} (riskmodel {cit.package}): this riskmodel fits model {MODEL_VERSION}; "
            "verify it with the riskmodel version it names (docs/reproducibility.md)",
            field="citation",
        )
    if cit.sampler not in SAMPLERS:
        raise CitationError(
            f"sampler {cit.sampler!r} is not one this version can rerun ({', '.join(SAMPLERS)})", field="citation"
        )


def _file_mismatches(cit: Citation) -> list[CitationError]:
    """One error per cited release whose registered sha256 does not start with the cited prefix."""
    out = []
    for kind, store, ref, sha in (
        ("priors", prior_store(), cit.priors, cit.priors_sha),
        ("evidence", evidence_store(), cit.evidence, cit.evidence_sha),
    ):
        try:
            rel = store.resolve(ref)
        except RiskmodelError as exc:
            raise CitationError(f"cites an unknown release ({exc.reason})", field=f"citation.{kind}") from None
        if not rel.sha256.startswith(sha):
            out.append(
                CitationError(
                    f"cites sha256:{sha} but the release {ref} is sha256:{rel.sha256[: len(sha)]}",
                    file=str(store.root / rel.path),
                    field=f"citation.{kind}",
                )
            )
    return out


def cited_file_differences(cit: Citation) -> tuple[str, ...]:
    """One line per cited release whose registered hash is not the cited one, naming the file (empty: all match).

    Raises :class:`CitationError` for a citation that cannot be checked at all: another model or sampler, or a
    release that does not exist.
    """
    _check_model_and_sampler(cit)
    return tuple(e.line() for e in _file_mismatches(cit))


def check_cited_files(cit: Citation) -> None:
    """Fail at once, naming the file, when a cited release is unknown or its hash is not the cited one."""
    _check_model_and_sampler(cit)
    bad = _file_mismatches(cit)
    if bad:
        raise bad[0]


def cited_evidence(cit: Citation) -> EvidenceSet:
    """The evidence set a citation names, with its subset (rows switched off, capability sources)."""
    evidence = load_evidence(cit.evidence)
    try:
        if cit.without:
            evidence = evidence.without(set(cit.without))
        if cit.capability is not None:
            evidence = evidence.with_capability_likelihood(frozenset(cit.capability))
    except RiskmodelError as exc:
        raise CitationError(f"names an evidence subset that does not exist ({exc.reason})", field="citation") from None
    return evidence


def refit_settings(cit: Citation) -> dict[str, object]:
    """The fit settings a citation names (system, seed, chains, draws, tune, sampler): a refit uses exactly these."""
    return {
        "system": cit.system,
        "seed": cit.seed,
        "chains": cit.chains,
        "draws": cit.draws,
        "tune": cit.tune,
        "sampler": cit.sampler,
    }


def version_notes(cit: Citation, require_bits: bool | None) -> tuple[list[str], bool]:
    """What the installed versions mean for a refit of ``cit``, and whether bit-identical draws are required.

    Required (``require_bits=None``) exactly when the cited riskmodel and sampler versions are the installed ones.
    """
    installed = sampler_version(cit.sampler)
    same_versions = cit.sampler_version == installed and cit.package == package_version()
    bits_required = same_versions if require_bits is None else bool(require_bits)
    notes = []
    if cit.sampler_version != installed:
        notes.append(
            f"cited with {cit.sampler} {cit.sampler_version}, refit with {cit.sampler} {installed}: different draws "
            "are expected; only agreement within Monte Carlo error can hold"
        )
    if cit.package != package_version():
        notes.append(
            f"cited with riskmodel {cit.package}, refit with riskmodel {package_version()}: bit identity of the "
            "draws is not required, only agreement within Monte Carlo error"
        )
    if same_versions and not bits_required:
        notes.append(
            "bit identity not required (a citation made on another machine): only agreement within Monte Carlo "
            "error is checked"
        )
    return notes, bits_required


def check_cited_numbers(
    cit: Citation, new: dict[str, float], draws: np.ndarray, bit_identical: bool, what: str
) -> tuple[list[str], str]:
    """Compare the cited mean and 90% interval with a refit's (``new``; ``draws`` its (chain, draw) values).

    With bit-identical draws the cited numbers are functions of those very draws, so each must be the refit's value
    rounded to its cited digits; otherwise each must lie within 3 Monte Carlo standard errors (of the mean, or of the
    5%/95% quantile) plus half a unit of its last cited digit. Returns the differences and what was checked.
    """
    from arviz_stats.base import array_stats

    diffs = []
    texts = (("mean", cit.mean_text), ("lower", cit.lower_text), ("upper", cit.upper_text))
    if bit_identical:
        for key, text in texts:
            if not abs(new[key] - getattr(cit, key)) <= _rounding(text) * (1 + 1e-9):
                diffs.append(
                    f"{key}: cited {text}, but {what}'s draws are the cited ones and give {new[key]:.6g} "
                    f"(cited as {fmt(new[key])})"
                )
        return diffs, f"numbers are {what}'s, rounded (its draws are the cited ones)"
    mcse = {
        "mean": float(array_stats.mcse(draws, chain_axis=0, draw_axis=1, method="mean")),
        "lower": float(array_stats.mcse(draws, chain_axis=0, draw_axis=1, method="quantile", prob=0.05)),
        "upper": float(array_stats.mcse(draws, chain_axis=0, draw_axis=1, method="quantile", prob=0.95)),
    }
    for key, text in texts:
        tol = 3 * (mcse[key] if np.isfinite(mcse[key]) else 0.0) + _rounding(text)
        if not abs(new[key] - getattr(cit, key)) <= tol:
            diffs.append(f"{key}: cited {text}, refit {new[key]:.4g} (tolerance {tol:.2g} = 3 MCSE + rounding)")
    return diffs, "numbers within 3 MCSE + half a unit of the last cited digit"


def check_cited_health(cit: Citation, healthy: bool, *, pool: bool = False) -> list[str]:
    """The health a line states (``| diagnostics FAILED`` or not) against the refit's; the suffix is cited too."""
    if cit.unhealthy and healthy:
        return [
            "the line says a member failed its health checks, but every refit passes them"
            if pool
            else "the line says the fit failed its health checks, but the refit passes them"
        ]
    if not cit.unhealthy and not healthy:
        return [
            "a member's refit fails its health checks, but the line does not say 'diagnostics FAILED'"
            if pool
            else "the refit fails its health checks, but the line does not say 'diagnostics FAILED'"
        ]
    return []


def verify(line: str, *, progress: bool = False, require_bits: bool | None = None) -> Verification:
    """Refit from the files a citation names and check that everything it claims holds (module docstring).

    Parameters
    ----------
    line
        The citation line.
    progress
        Say on stderr what the refit is doing.
    require_bits
        Whether the refit's draws must hash to the cited sha256. ``None`` (the default): required exactly when the
        cited riskmodel and sampler versions are the installed ones. ``False``: the citation was made on another
        machine (or with other versions of pymc, pytensor, numba or numpy, which the line does not name), so only
        agreement within Monte Carlo error is checked; the result says so.
    """
    from riskmodel.forecast.pool import is_pool_citation, verify_pool

    if is_pool_citation(line):  # a linear pool of several fits: riskmodel.forecast.pool verifies it
        return verify_pool(line, progress=progress, require_bits=require_bits)

    cit = parse_citation(line)
    file_diffs = cited_file_differences(cit)
    if file_diffs:
        return Verification(
            False,
            "files checked against their registered hashes before any refit: a cited file differs, so nothing "
            "was refitted",
            file_diffs,
            "",
        )
    evidence = cited_evidence(cit)
    notes, bits_required = version_notes(cit, require_bits)
    result = fit(
        cit.priors,
        evidence,
        **refit_settings(cit),
        progress=progress,
        cache=False,  # verify never trusts the fit store: refitting is its point
    )
    diffs = []
    bit_identical = result.draws_sha256.startswith(cit.draws_sha)
    if bit_identical:
        bits = f"bit-identical: the refit's posterior draws hash to the cited sha256:{cit.draws_sha}"
    elif bits_required:
        bits = (
            f"NOT bit-identical with the cited riskmodel and {cit.sampler} versions: the refit's draws hash to "
            f"sha256:{result.draws_sha256[: len(cit.draws_sha)]}, not the cited sha256:{cit.draws_sha} (an edited "
            "seed, draws, chains, tune or draws hash, or a citation made on another machine: see "
            "docs/reproducibility.md)"
        )
        diffs.append(bits)
    else:
        bits = (
            f"not bit-identical (sha256:{result.draws_sha256[: len(cit.draws_sha)]} vs the cited "
            f"sha256:{cit.draws_sha}): expected with other versions or another machine"
        )
    pw_da = result.quantities["p_worst_case"].sel(system=cit.system)
    s = summarize(pw_da)
    new = {"mean": s.mean, "lower": s.lower, "upper": s.upper}
    pw = np.asarray(pw_da.transpose("chain", "draw"))
    number_diffs, numbers = check_cited_numbers(cit, new, pw, bit_identical, "the refit")
    diffs += number_diffs
    healthy = result.healthy
    diffs += check_cited_health(cit, healthy)
    method = (
        f"files checked against their registered hashes; {numbers}; health as cited; "
        + (f"draws bit-identical required (same riskmodel and {cit.sampler} versions); " if bits_required else "")
        + bits
    )
    warnings = tuple(notes) + tuple(f"refit: {w}" for w in result.diagnostics.warnings)
    return Verification(
        not diffs, method, tuple(diffs), result.citation(), warnings, bit_identical, healthy, bits_required, cit.sampler
    )

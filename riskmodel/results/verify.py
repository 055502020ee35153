"""Verification of a citation: refit from the cited files and check everything the line claims.

Before any refit, the cited releases must exist and their registered hashes must start with the cited ones (a
mismatch fails at once, naming the file). The refit uses exactly what the line names: the prior release, the
evidence release and its subset (rows switched off, capability sources), the system, seed, chains, draws and tune.
Then, separately:

- the numbers: each cited value must lie within 3 Monte Carlo standard errors (of the mean, or of the 5%/95%
  quantile) plus half a unit of its last cited digit of the refit's;
- the health: a line without ``| diagnostics FAILED`` fails when the refit fails its health checks, and a line with
  it fails when the refit passes them (the suffix is part of what is cited);
- the draws: when the cited riskmodel and sampler versions are the installed ones, the refit's draws must hash to the
  cited sha256 (bit identity is expected on the same versions, ``docs/reproducibility.md``); with other versions only
  agreement within Monte Carlo error can hold, and the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskmodel.data.evidence import evidence_store, load_evidence
from riskmodel.data.priors import MODEL_VERSION, prior_store
from riskmodel.errors import CitationError, RiskmodelError
from riskmodel.results.citation import Citation, parse_citation
from riskmodel.results.result import fit
from riskmodel.versions import package_version, sampler_version

__all__ = ["Verification", "check_cited_files", "verify"]


@dataclass(frozen=True)
class Verification:
    """Outcome of :func:`verify`: whether the refit matches, what was checked, and what differs."""

    matches: bool
    method: str
    differences: tuple[str, ...]
    refit_line: str
    warnings: tuple[str, ...] = ()
    #: Whether the refit's draws hash to the cited sha256.
    bit_identical: bool | None = None
    #: Whether the refit passed its health checks.
    healthy: bool = True
    #: Whether bit identity was required (same riskmodel and sampler versions as cited).
    bits_required: bool = False


def _rounding(text: str) -> float:
    """Half a unit in the last cited digit."""
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (-decimals + (int(exponent) if exponent else 0))


def check_cited_files(cit: Citation) -> None:
    """Fail at once, naming the file, when a cited release is unknown or its hash is not the cited one."""
    if cit.model != MODEL_VERSION:
        raise CitationError(
            f"a citation of model {cit.model} (riskmodel {cit.package}): this riskmodel fits model {MODEL_VERSION}; "
            "verify it with the riskmodel version it names (docs/reproducibility.md)",
            field="citation",
        )
    if cit.sampler != "nutpie":
        raise CitationError(f"sampler {cit.sampler!r} is not one this version can rerun (nutpie)", field="citation")
    for kind, store, ref, sha in (
        ("priors", prior_store(), cit.priors, cit.priors_sha),
        ("evidence", evidence_store(), cit.evidence, cit.evidence_sha),
    ):
        try:
            rel = store.resolve(ref)
        except RiskmodelError as exc:
            raise CitationError(f"cites an unknown release ({exc.reason})", field=f"citation.{kind}") from None
        if not rel.sha256.startswith(sha):
            raise CitationError(
                f"cites sha256:{sha} but the release {ref} is sha256:{rel.sha256[: len(sha)]}",
                file=str(store.root / rel.path),
                field=f"citation.{kind}",
            )


def verify(line: str, *, progress: bool = False) -> Verification:
    """Refit from the files a citation names and check that everything it claims holds (module docstring)."""
    from arviz_stats.base import array_stats

    cit = parse_citation(line)
    check_cited_files(cit)
    evidence = load_evidence(cit.evidence)
    try:
        if cit.without:
            evidence = evidence.without(set(cit.without))
        if cit.capability is not None:
            evidence = evidence.with_capability_likelihood(frozenset(cit.capability))
    except RiskmodelError as exc:
        raise CitationError(f"names an evidence subset that does not exist ({exc.reason})", field="citation") from None
    notes = []
    same_versions = cit.sampler_version == sampler_version() and cit.package == package_version()
    if cit.sampler_version != sampler_version():
        notes.append(
            f"cited with nutpie {cit.sampler_version}, refit with nutpie {sampler_version()}: different draws are "
            "expected; only agreement within Monte Carlo error can hold"
        )
    if cit.package != package_version():
        notes.append(f"cited with riskmodel {cit.package}, refit with riskmodel {package_version()}")
    result = fit(
        cit.priors,
        evidence,
        system=cit.system,
        seed=cit.seed,
        chains=cit.chains,
        draws=cit.draws,
        tune=cit.tune,
        progress=progress,
        cache=False,  # verify never trusts the fit store: refitting is its point
    )
    diffs = []
    pw = np.asarray(result.quantities["p_worst_case"].sel(system=cit.system)).reshape(cit.chains, cit.draws)
    new = {"mean": float(pw.mean()), "lower": float(np.quantile(pw, 0.05)), "upper": float(np.quantile(pw, 0.95))}
    mcse = {
        "mean": float(array_stats.mcse(pw, chain_axis=0, draw_axis=1, method="mean")),
        "lower": float(array_stats.mcse(pw, chain_axis=0, draw_axis=1, method="quantile", prob=0.05)),
        "upper": float(array_stats.mcse(pw, chain_axis=0, draw_axis=1, method="quantile", prob=0.95)),
    }
    for key, text in (("mean", cit.mean_text), ("lower", cit.lower_text), ("upper", cit.upper_text)):
        cited = getattr(cit, key)
        tol = 3 * (mcse[key] if np.isfinite(mcse[key]) else 0.0) + _rounding(text)
        if not abs(new[key] - cited) <= tol:
            diffs.append(f"{key}: cited {text}, refit {new[key]:.4g} (tolerance {tol:.2g} = 3 MCSE + rounding)")
    healthy = result.diagnostics.ok
    if cit.unhealthy and healthy:
        diffs.append("the line says the fit failed its health checks, but the refit passes them")
    if not cit.unhealthy and not healthy:
        diffs.append("the refit fails its health checks, but the line does not say 'diagnostics FAILED'")
    bit_identical = result.draws_sha256.startswith(cit.draws_sha)
    if bit_identical:
        bits = f"bit-identical: the refit's posterior draws hash to the cited sha256:{cit.draws_sha}"
    elif same_versions:
        bits = (
            f"NOT bit-identical with the cited riskmodel and nutpie versions: the refit's draws hash to "
            f"sha256:{result.draws_sha256[: len(cit.draws_sha)]}, not the cited sha256:{cit.draws_sha}"
        )
        diffs.append(bits)
    else:
        bits = (
            f"not bit-identical (sha256:{result.draws_sha256[: len(cit.draws_sha)]} vs the cited "
            f"sha256:{cit.draws_sha}): expected with other versions"
        )
    method = (
        "files checked against their registered hashes; numbers within 3 MCSE + half a unit of the last cited digit; "
        "health as cited; " + ("draws bit-identical (same versions); " if same_versions else "") + bits
    )
    warnings = tuple(notes) + tuple(f"refit: {w}" for w in result.diagnostics.warnings)
    return Verification(
        not diffs, method, tuple(diffs), result.citation(), warnings, bit_identical, healthy, same_versions
    )

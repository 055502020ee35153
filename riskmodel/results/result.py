"""Fitting: sample the model and stamp the result with its provenance.

:func:`fit` returns a :class:`FitResult` holding the posterior as an ``xarray.DataTree`` (groups ``posterior``,
``sample_stats``, ``prior``, ``worst_case`` and ``worst_case_prior``), the diagnostics, and provenance in its attrs.
The report and the citation are functions of a result (:mod:`riskmodel.results.report`,
:mod:`riskmodel.results.citation`); the methods here only call them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import xarray as xr

from riskmodel.data.evidence import EvidenceSet, load_evidence
from riskmodel.data.priors import MODEL_VERSION, PriorSet, load_priors
from riskmodel.data.registry import DEFAULT_EVIDENCE, DEFAULT_PRIORS
from riskmodel.errors import InputError
from riskmodel.model.diagnostics import Diagnostics, diagnose, with_headlines
from riskmodel.model.prior import check_prior_mass, draw_prior, generated
from riskmodel.model.quantities import worst_case
from riskmodel.model.spec import NEW_SYSTEM, ModelData, PatternLayout, model_data
from riskmodel.model.summaries import mcse_of_means
from riskmodel.results.citation import citation_line
from riskmodel.results.report import build_report
from riskmodel.versions import (
    SAMPLER,
    check_sampler,
    dependency_versions,
    package_version,
    sampler_libraries,
    sampler_version,
)

__all__ = ["FitResult", "draws_sha256", "fit"]

TARGET_ACCEPT = 0.9
#: nutpie's mass-matrix adaptation: low rank plus diagonal, which follows the correlations between a system's
#: intercept and its value-conflict effect that a diagonal mass matrix handles badly (min ESS 265 -> 1265).
ADAPTATION = "diag"


def draws_sha256(posterior: xr.Dataset) -> str:
    """sha256 of every posterior draw (variables in name order, with names, shapes and dtypes).

    Two fits whose hashes agree produced bit-identical draws; see ``docs/reproducibility.md`` for when to expect that.
    """
    h = hashlib.sha256()
    for name in sorted(posterior.data_vars):
        a = np.ascontiguousarray(posterior[name].values)
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


@dataclass
class FitResult:
    """A fitted model: posterior and prior draws, diagnostics, the files and settings that produced them."""

    trace: xr.DataTree
    posterior_draws: xr.Dataset
    prior_draws: xr.Dataset
    priors: PriorSet
    evidence: EvidenceSet
    data: ModelData
    system: str
    seed: int
    chains: int
    draws: int
    tune: int
    diagnostics: Diagnostics
    sampler: str = SAMPLER
    target_accept: float = TARGET_ACCEPT
    #: Normalized importance weights of the posterior / prior draws (None: equal weights, an exact fit).
    weights: np.ndarray | None = None
    prior_weights: np.ndarray | None = None
    #: For a fast update (riskmodel.interactive.update): the exact fit it came from, and how it was obtained.
    base: FitResult | None = field(default=None, repr=False)
    update: Any = None
    #: Where the fit store keeps this fit (its key and folder), when it does.
    store_key: str | None = None
    cache_dir: str | None = None

    @property
    def healthy(self) -> bool:
        """Whether the sampler passed every health check (a fit that did not is flagged wherever it is shown).

        A fast update whose importance weights are unreliable (``reweighted-unreliable``, a Pareto k above the limit
        or NaN) is never healthy, whatever its base fit's diagnostics say.
        """
        if self.update is not None and getattr(self.update, "method", "") == "reweighted-unreliable":
            return False
        return self.diagnostics.ok

    @cached_property
    def draws_sha256(self) -> str:
        """sha256 of the posterior draws (bit identity of two fits)."""
        return draws_sha256(self.posterior_draws)

    @property
    def posterior(self) -> xr.Dataset:
        """Posterior draws of every model variable."""
        return self.posterior_draws

    @property
    def exact(self) -> bool:
        """Whether these numbers come from a full fit under these exact priors (only then are they citable)."""
        return self.base is None

    @cached_property
    def quantities(self) -> xr.Dataset:
        """Worst-case quantities per (chain, draw, system) on the posterior."""
        return worst_case(self.posterior, self.priors, self.data.layout)

    @cached_property
    def prior_quantities(self) -> xr.Dataset:
        """Worst-case quantities per (chain, draw, system) on the prior (model without likelihood).

        A priori every system is a system drawn from the population: one computation stands for all of them.
        """
        q = worst_case(self.prior_draws, self.priors, PatternLayout((NEW_SYSTEM,)))
        return q.isel(system=0, drop=True).expand_dims(system=self.systems).transpose("chain", "draw", "system", ...)

    @property
    def systems(self) -> list[str]:
        """Systems in the model (those in the evidence plus ``new``)."""
        return list(self.data.coords["system"])

    @property
    def provenance(self) -> dict[str, Any]:
        """What produced these numbers: package and dependency versions, files with hashes, sampler settings."""
        return {
            "package_version": package_version(),
            "model": MODEL_VERSION,
            "priors": {
                "name": self.priors.name,
                "version": self.priors.version,
                "sha256": self.priors.content_sha256,
                "released": self.priors.released,
            },
            "evidence": {
                "name": self.evidence.name,
                "version": self.evidence.version,
                "sha256": self.evidence.subset_sha256,
                "file_sha256": self.evidence.sha256,
                "released": self.evidence.released,
                "excluded_rows": sorted(self.evidence.excluded),
            },
            "seed": self.seed,
            "chains": self.chains,
            "draws": self.draws,
            "tune": self.tune,
            "sampler": self.sampler,
            "sampler_version": sampler_version(self.sampler),
            "target_accept": self.target_accept,
            "draws_sha256": self.draws_sha256 if self.exact else None,
            "healthy": self.healthy,
            "diagnostics": self.diagnostics.as_dict(),
            "system": self.system,
            "dependencies": dict(dependency_versions()),
        }

    def to_datatree(self) -> xr.DataTree:
        """Everything in one DataTree, ready for ``to_netcdf``.

        Groups: posterior, sample_stats, prior, worst_case, worst_case_prior; provenance and citation in attrs.
        """
        tree = self.trace.copy()
        tree["posterior"] = xr.DataTree(self.posterior_draws)
        tree["prior"] = xr.DataTree(self.prior_draws)
        tree["worst_case"] = xr.DataTree(self.quantities)
        tree["worst_case_prior"] = xr.DataTree(self.prior_quantities)
        citation = self.citation() if not self.not_citable() else f"not citable: {self.not_citable()}"
        tree.attrs.update(
            {
                "provenance": json.dumps(self.provenance),
                "citation": citation,
                # netCDF attributes cannot be booleans: "yes"/"no", with the failed checks spelled out
                "healthy": "yes" if self.healthy else "no",
                "diagnostics_warnings": " | ".join(self.diagnostics.warnings) or "none",
            }
        )
        return tree

    @property
    def model_version(self) -> int:
        """The model version that produced these draws."""
        return MODEL_VERSION

    def not_citable(self) -> str:
        """Why these numbers cannot be cited (empty when they can): a fast update, or files that are not released."""
        if not self.exact:
            return "these numbers come from a fast update of a cached fit: fit exactly to cite them"
        got = int(self.posterior_draws.sizes.get("draw", 0))
        if got != self.draws:
            return f"the fit is incomplete ({got} of {self.draws} draws per chain; stopped early): fit it to the end"
        if not self.priors.released:
            return "the prior set is not a release: release it (riskmodel priors release FILE) to cite it"
        if not self.evidence.released:
            return "the evidence set is not a release (or holds hypothetical rows): only released evidence is cited"
        return ""

    def citation(self) -> str:
        """The one-line citation of this result (an exact fit under released files).

        A fit that failed its health checks is still citable, but its line ends in ``| diagnostics FAILED``.
        """
        why = self.not_citable()
        if why:
            raise InputError(why, field="citation")
        return citation_line(self)

    def refit(
        self, priors: PriorSet | None = None, evidence: EvidenceSet | None = None, *, progress: bool = False
    ) -> FitResult:
        """An exact fit with this result's sampler settings, seed and target system, under new priors or evidence."""
        return fit(
            self.priors if priors is None else priors,
            self.evidence if evidence is None else evidence,
            system=self.system,
            seed=self.seed,
            chains=self.chains,
            draws=self.draws,
            tune=self.tune,
            sampler=self.sampler,
            progress=progress,
        )

    def report(self, system: str | None = None, *, interactive: bool = False) -> dict[str, Any]:
        """The numbers users read, for one system (default: the fitted target system), JSON-ready.

        ``interactive`` skips standard errors an interactive view does not show (see :func:`build_report`).
        """
        system = system or self.system
        cached = self.exact and self.store_key is not None and not interactive
        if cached:
            from riskmodel.results import store

            name = f"report-{hashlib.sha256(system.encode()).hexdigest()[:16]}"
            rep = store.read_report(self.store_key, name, self.cache_dir)
            if rep is not None:  # provenance back in its place (key order is part of the --json bytes)
                return {k: self.provenance if k == "provenance" else v for k, v in rep.items()} | {
                    "provenance": self.provenance
                }
        rep = build_report(self, system, interactive=interactive)
        if cached:
            from riskmodel.results.outputs import json_ready

            # provenance (this process's versions) is filled in when read; its key keeps its place
            kept = {k: None if k == "provenance" else v for k, v in rep.items()}
            store.write_report(self.store_key, name, json_ready(kept), self.cache_dir)
        return rep


#: Largest number of draws x chains a fit accepts (the memory of the generated copies grows with it).
MAX_SAMPLES = 200_000
#: Bytes a fit holds per (chain, draw) and per system of the model: the posterior, the generated copies and the
#: worst-case quantities with their intermediates. Measured: the peak resident memory of a fit of the default priors
#: and evidence (33 systems) with its report grew from 832 MiB (2 x 500 draws) to 992 MiB (2 x 4000 draws), 24 KB per
#: sample or 720 bytes per sample and system; twice that, for safety.
BYTES_PER_SAMPLE_SYSTEM = 1_500
#: Memory besides the draws: the interpreter, PyMC, the compiled model and the prior draws (about 810 MiB measured).
BASE_BYTES = 2**30


def memory_limit() -> int:
    """Bytes a fit may use: ``RISKMODEL_MAX_MEMORY`` (bytes) when set, else 80% of the memory available now."""
    env = os.environ.get("RISKMODEL_MAX_MEMORY", "").strip()
    if env:
        try:
            value = int(float(env))
        except ValueError:
            raise InputError(f"must be a number of bytes, got {env!r}", field="RISKMODEL_MAX_MEMORY") from None
        if value <= 0:
            raise InputError(f"must be a positive number of bytes, got {env!r}", field="RISKMODEL_MAX_MEMORY")
        return value
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(0.8 * int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    return 8 * 2**30  # unknown: assume a small machine


def memory_estimate(chains: int, draws: int, systems: int) -> int:
    """Estimated peak bytes of a fit of ``chains`` x ``draws`` with ``systems`` systems (see the constants)."""
    return BASE_BYTES + chains * draws * max(systems, 1) * BYTES_PER_SAMPLE_SYSTEM


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_memory(chains: int, draws: int, systems: int) -> None:
    """Refuse, before sampling, a fit whose estimated memory exceeds :func:`memory_limit` (one line, both numbers)."""
    need, limit = memory_estimate(chains, draws, systems), memory_limit()
    if need > limit:
        raise InputError(
            f"a fit of {chains} chains x {draws} draws with {systems} systems needs about {_gib(need)}, more than the "
            f"{_gib(limit)} available (RISKMODEL_MAX_MEMORY or 80% of free memory); use fewer draws or chains",
            field="draws",
        )


def _check_settings(seed: int, chains: int, draws: int, tune: int, max_seconds: float | None = None) -> None:
    limits = (("seed", seed, 0, 2**32 - 1), ("chains", chains, 1, 64), ("draws", draws, 10, 10**6))
    for name, value, lo, hi in (*limits, ("tune", tune, 0, 10**6)):
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise InputError(f"must be a whole number from {lo} to {hi}, got {value!r}", field=name)
    if chains * draws > MAX_SAMPLES:
        raise InputError(
            f"chains x draws = {chains * draws} exceeds {MAX_SAMPLES} (with the default evidence the draws would need "
            f"about {_gib(memory_estimate(chains, draws, 33))}); use fewer draws",
            field="draws",
        )
    if max_seconds is not None and (
        isinstance(max_seconds, bool)
        or not isinstance(max_seconds, int | float)
        or not math.isfinite(max_seconds)
        or not 0 < max_seconds <= 10**6
    ):
        raise InputError(f"must be a number of seconds in (0, 1e6], got {max_seconds!r}", field="max-seconds")


def fit_settings(
    ps: PriorSet, ev: EvidenceSet, seed: int, chains: int, draws: int, tune: int, sampler: str = SAMPLER
) -> dict[str, Any]:
    """Everything that determines a fit's draws (the fit store's key; riskmodel.results.store)."""
    from riskmodel.model.prior import PRIOR_DRAWS
    from riskmodel.model.spec import GENERATED_COPIES

    return {
        "model": MODEL_VERSION,
        "package": package_version(),
        "priors_sha256": ps.content_sha256,
        "evidence_sha256": ev.sha256,
        "evidence_excluded": sorted(ev.excluded),
        "evidence_capability": sorted(ev.capability_sources),
        "seed": seed,
        "chains": chains,
        "draws": draws,
        "tune": tune,
        "sampler": sampler,
        "sampler_version": sampler_version(sampler),
        "sampler_libraries": sampler_libraries(sampler),
        "target_accept": TARGET_ACCEPT,
        "adaptation": ADAPTATION,
        "generated_copies": GENERATED_COPIES,
        "prior_draws": PRIOR_DRAWS,
    }


def _stage(progress: bool, text: str) -> None:
    """Say what a long fit is doing, on stderr (so that ``--json`` output stays clean)."""
    if progress:
        print(f"riskmodel: {text}", file=sys.stderr, flush=True)


def fit(
    priors: str | PriorSet = DEFAULT_PRIORS,
    evidence: str | EvidenceSet = DEFAULT_EVIDENCE,
    *,
    system: str = NEW_SYSTEM,
    seed: int = 1,
    chains: int = 4,
    draws: int = 1000,
    tune: int = 1000,
    sampler: str = SAMPLER,
    progress: bool = False,
    cores: int | None = None,
    cache: bool = True,
    cache_dir: str | None = None,
    max_seconds: float | None = None,
    check_priors: bool = True,
) -> FitResult:
    """Fit the model to an evidence set under a prior set and return the result with diagnostics and provenance.

    Parameters
    ----------
    priors, evidence
        ``NAME@VERSION`` (hash-checked release), ``NAME`` (latest release), a file path, or a loaded set.
    system
        The target system of the headline numbers: one named in the evidence, or ``"new"`` (a system drawn from
        the population, with no evidence of its own).
    seed
        Seeds both the sampler and the generated draws: the same priors + evidence + seed give the same numbers.
    sampler
        ``"nutpie"`` (the default), ``"numpyro"`` or ``"pymc"`` (:mod:`riskmodel.model.sampling`): named in the
        citation and part of the fit store's key; different samplers give different draws of the same posterior.
    progress
        Say on stderr what the fit is doing (compiling, sampling with a progress bar, checking).
    cache, cache_dir
        Read the fit from the fit store when it holds this key, and store it after fitting
        (:mod:`riskmodel.results.store`); ``cache=False`` always samples.
    max_seconds
        Stop sampling after this many seconds (compiling not included): the result then holds the draws made so far,
        is flagged (never healthy, never stored); stopped during tuning, the fit is a :class:`FitError`.
    check_priors
        Refuse, before any MCMC, a prior set that puts most of a parameter's mass on degenerate values
        (:func:`riskmodel.model.prior.check_prior_mass`).

    Every input is checked before sampling: settings, files, the prior predictive check and the memory the draws
    would need (:func:`check_memory`). Ctrl-C stops the sampler and raises ``KeyboardInterrupt``; nothing is written.
    """
    _check_settings(seed, chains, draws, tune, max_seconds)
    check_sampler(sampler, max_seconds)
    ps = load_priors(priors)
    ev = load_evidence(evidence)
    data = model_data(ps, ev)
    if system not in data.coords["system"]:
        raise InputError(f"unknown system {system!r} (known: {', '.join(data.coords['system'])})", field="system")
    if check_priors:
        check_prior_mass(ps, data)
    check_memory(chains, draws, len(data.coords["system"]))
    settings = fit_settings(ps, ev, seed, chains, draws, tune, sampler)
    if cache:
        from riskmodel.results import store

        key = store.fit_key(settings)
        got = store.read(key, None, cache_dir)
        if got is not None:
            tree, meta = got
            result = _assemble(tree, Diagnostics.from_dict(meta["diagnostics"]), ps, ev, data, system, settings)
            if result.draws_sha256 == meta["draws_sha256"]:
                _stage(progress, "read the fit from the fit store")
                return replace(result, store_key=key, cache_dir=cache_dir)
            store.discard(key, "its draws do not hash to the recorded sha256 (corrupt or truncated)", cache_dir)
    trace, stopped = _sample(data, seed, chains, draws, tune, progress, cores, max_seconds, sampler)
    _stage(progress, "checking sampler health")
    # the sampled variables: every deterministic is a function of them (and constant ones have no r_hat)
    sampled = [v for v in trace["posterior"].data_vars if v.endswith("_block") or v in ("pattern_raw", "competence")]
    diagnostics = diagnose(trace, sampled, expected_draws=draws)
    if stopped:
        diagnostics = replace(
            diagnostics,
            warnings=(f"stopped after --max-seconds {max_seconds:g}: the fit is incomplete.", *diagnostics.warnings),
        )
    result = _assemble(trace, diagnostics, ps, ev, data, system, settings)
    result.diagnostics = with_headlines(diagnostics, headline_errors(result), nonfinite_quantities(result))
    complete = not stopped and int(trace["posterior"].sizes.get("draw", 0)) == draws
    if cache and complete:  # an incomplete fit is never stored: the next fit samples again
        kept = xr.DataTree.from_dict(
            {"posterior": trace["posterior"].to_dataset(), "sample_stats": trace["sample_stats"].to_dataset()}
        )
        meta = {
            "settings": settings,
            "diagnostics": result.diagnostics.as_record(),
            "draws_sha256": result.draws_sha256,
        }
        store.write(key, kept, meta, f"{ps.ref} | {ev.ref} | {sampler} seed {seed} | {chains}x{draws}", cache_dir)
        result = replace(result, store_key=key, cache_dir=cache_dir)
    return result


def _sample(
    data: ModelData,
    seed: int,
    chains: int,
    draws: int,
    tune: int,
    progress: bool,
    cores: int | None,
    max_seconds: float | None = None,
    sampler: str = SAMPLER,
) -> tuple[Any, bool]:
    """Run NUTS with ``sampler``; returns the trace and whether ``max_seconds`` stopped it.

    See :func:`riskmodel.model.sampling.sample`: Ctrl-C raises ``KeyboardInterrupt``, a failure is one FitError line.
    """
    from riskmodel.model import sampling

    return sampling.sample(
        data,
        sampler=sampler,
        seed=seed,
        chains=chains,
        draws=draws,
        tune=tune,
        target_accept=TARGET_ACCEPT,
        adaptation=ADAPTATION,
        progress=progress,
        cores=cores,
        max_seconds=max_seconds,
        stage=lambda text: _stage(progress, text),
    )


def _assemble(
    trace: Any,
    diagnostics: Diagnostics,
    ps: PriorSet,
    ev: EvidenceSet,
    data: ModelData,
    system: str,
    settings: dict[str, Any],
) -> FitResult:
    """A result from the sampler's output: named parameters, generated copies and prior draws added (seeded)."""
    seed, chains, draws, tune, sampler = (settings[k] for k in ("seed", "chains", "draws", "tune", "sampler"))
    post = trace["posterior"].to_dataset()
    n_chains, n_draws = post.sizes.get("chain", 0), post.sizes.get("draw", 0)
    posterior = data.split_blocks(post).merge(generated(data, n_chains, n_draws, seed))
    prior = draw_prior(data, seed=seed)
    return FitResult(
        trace, posterior, prior, ps, ev, data, system, seed, chains, draws, tune, diagnostics, sampler=sampler
    )


def nonfinite_quantities(result: FitResult) -> list[str]:
    """The worst-case quantities (posterior, then prior) that hold a NaN or infinite value in any draw."""
    out = []
    for label, ds in (("posterior", result.quantities), ("prior", result.prior_quantities)):
        out += [f"{v} ({label})" for v in ds.data_vars if not np.all(np.isfinite(ds[v].values))]
    return out


def headline_errors(result: FitResult) -> dict[str, tuple[float, float, float]]:
    """(value, MCSE, ESS of the mean) of every headline number of a fit.

    Per system: P(worst case), P(misaligned) (systems with evidence of their own) and the Bayes factor of the worst
    case (its MCSE by the delta method from both sides; the prior draws are independent).
    """
    from riskmodel.model.summaries import bayes_factors

    cd = ("chain", "draw")
    q = result.quantities
    systems = [str(s) for s in q["system"].values]
    cols = [q["p_worst_case"].transpose(*cd, "system").values, q["p_misaligned_pre"].transpose(*cd, "system").values]
    x = np.concatenate(cols, axis=-1)
    mcse, ess = mcse_of_means(x, return_ess=True)
    means = x.mean(axis=(0, 1))
    own = set(result.data.coords["competent_system"]) | {
        result.data.coords["system"][i] for i in result.data.layout.free_system
    }
    out: dict[str, tuple[float, float, float]] = {}
    n = len(systems)
    for j, s in enumerate(systems):
        out[f"P(worst case | {s})"] = (float(means[j]), float(mcse[j]), float(ess[j]))
        if s in own:
            out[f"P(misaligned | {s})"] = (float(means[n + j]), float(mcse[n + j]), float(ess[n + j]))
    bfs = bayes_factors(q["p_worst_case"], result.prior_quantities["p_worst_case"], "system", prior_independent=True)
    for s, bf in bfs.items():
        out[f"Bayes factor of the worst case ({s})"] = (bf.value, bf.value * bf.log_mcse, float("nan"))
    return out

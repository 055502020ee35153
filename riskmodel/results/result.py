"""Fitting: sample the model and stamp the result with its provenance.

:func:`fit` returns a :class:`FitResult` holding the posterior as an ``xarray.DataTree`` (groups ``posterior``,
``sample_stats``, ``prior``, ``worst_case`` and ``worst_case_prior``), the diagnostics, and provenance in its attrs.
The report and the citation are functions of a result (:mod:`riskmodel.results.report`,
:mod:`riskmodel.results.citation`); the methods here only call them.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from riskmodel.data.evidence import EvidenceSet, load_evidence
from riskmodel.data.priors import PriorSet, load_priors
from riskmodel.errors import FitError, InputError
from riskmodel.model.prior import draw_prior
from riskmodel.model.quantities import capability_detail, worst_case
from riskmodel.model.spec import NEW_SYSTEM, ModelData, model_data
from riskmodel.results.citation import citation_line
from riskmodel.results.report import build_report
from riskmodel.versions import SAMPLER, dependency_versions, package_version, sampler_version

if TYPE_CHECKING:
    from riskmodel.model.sampling import Diagnostics

__all__ = ["FitResult", "draws_sha256", "fit"]

TARGET_ACCEPT = 0.9


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


def _first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, or its type when the message is empty."""
    lines = [x.strip() for x in str(exc).splitlines() if x.strip()]
    return lines[0][:300] if lines else type(exc).__name__


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

    @property
    def healthy(self) -> bool:
        """Whether the sampler passed every health check (a fit that did not is flagged wherever it is shown)."""
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
        return worst_case(self.posterior, self.priors)

    @cached_property
    def capability_detail(self) -> xr.Dataset:
        """Per (chain, draw, capability) on the posterior: P(all capabilities) with that one certain, and cumulated."""
        return capability_detail(self.posterior)

    @cached_property
    def prior_quantities(self) -> xr.Dataset:
        """Worst-case quantities per (chain, draw, system) on the prior (model without likelihood)."""
        return worst_case(self.prior_draws, self.priors)

    @property
    def systems(self) -> list[str]:
        """Systems in the model (those in the evidence plus ``new``)."""
        return list(self.data.coords["system"])

    @property
    def provenance(self) -> dict[str, Any]:
        """What produced these numbers: package and dependency versions, files with hashes, sampler settings."""
        return {
            "package_version": package_version(),
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
            "sampler_version": sampler_version(),
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
        citation = self.citation() if self.exact else "not citable: fast update of a cached fit"
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

    def citation(self) -> str:
        """The one-line citation of this result (only an exact fit can be cited).

        A fit that failed its health checks is still citable, but its line ends in ``| diagnostics FAILED``.
        """
        if not self.exact:
            raise InputError(
                "these numbers come from a fast update of a cached fit: fit exactly to cite them", field="citation"
            )
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
            progress=progress,
        )

    def report(self, system: str | None = None, *, interactive: bool = False) -> dict[str, Any]:
        """The numbers users read, for one system (default: the fitted target system), JSON-ready.

        ``interactive`` skips standard errors an interactive view does not show (see :func:`build_report`).
        """
        return build_report(self, system or self.system, interactive=interactive)


def fit(
    priors: str | PriorSet = "baseline",
    evidence: str | EvidenceSet = "published-evals",
    *,
    system: str = NEW_SYSTEM,
    seed: int = 1,
    chains: int = 4,
    draws: int = 1000,
    tune: int = 1000,
    progress: bool = False,
    cores: int | None = None,
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
        Seeds both the sampler and the prior draws: the same priors + evidence + seed give the same numbers.
    """
    limits = (("seed", seed, 0, 2**32 - 1), ("chains", chains, 1, 10**7), ("draws", draws, 10, 10**7))
    for name, value, lo, hi in (*limits, ("tune", tune, 0, 10**7)):
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise InputError(f"must be a whole number from {lo} to {hi}, got {value!r}", field=name)
    ps = load_priors(priors)
    ev = load_evidence(evidence)
    data = model_data(ps, ev)
    if system not in data.coords["system"]:
        raise InputError(f"unknown system {system!r} (known: {', '.join(data.coords['system'])})", field="system")
    import nutpie

    from riskmodel.model.sampling import compiled_model, diagnose

    try:
        compiled = compiled_model(data)
        trace = nutpie.sample(
            compiled,
            draws=draws,
            tune=tune,
            chains=chains,
            cores=cores or min(chains, os.cpu_count() or 1),
            seed=seed,
            progress_bar=progress,
            target_accept=TARGET_ACCEPT,
        )
    except Exception as exc:
        raise FitError(f"the sampler failed: {_first_line(exc)}", field="sampler") from exc
    named = [v for v in trace["posterior"].data_vars if not v.endswith("_block") and v != "system_offset_z"]
    diagnostics = diagnose(trace, named)
    prior = draw_prior(data, chains * draws, seed)
    return FitResult(
        trace, trace["posterior"].to_dataset(), prior, ps, ev, data, system, seed, chains, draws, tune, diagnostics
    )

"""riskmodel: worst-case AI scheming risk, conditional on observed training-gaming plus explicit capability assumptions.

The public API: load versioned prior and evidence sets, fit the model, read the numbers, cite and verify them.
Names are imported on first use (PEP 562), so ``import riskmodel`` and ``riskmodel --help`` stay fast and a cached
answer never imports what it does not need.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

# Numba's LLVM optimisation level 1 compiles model 2's sampler in 65 s cold / 16 s with warm caches instead of
# 89 s / 25 s at the default level 3, and samples as fast (2.8 s vs 2.7 s for 4 x 2000 iterations); level 0 compiles
# fastest but samples 10x slower (benchmarks/fit_speed.py). A user's own setting wins.
os.environ.setdefault("NUMBA_OPT", "1")

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "EvidenceSet": "riskmodel.data.evidence",
    "load_evidence": "riskmodel.data.evidence",
    "PriorSet": "riskmodel.data.priors",
    "load_priors": "riskmodel.data.priors",
    "RiskmodelError": "riskmodel.errors",
    "update": "riskmodel.interactive.update",
    "worst_case": "riskmodel.model.quantities",
    "bibtex": "riskmodel.results.citation",
    "citation_line": "riskmodel.results.citation",
    "parse_citation": "riskmodel.results.citation",
    "FitResult": "riskmodel.results.result",
    "fit": "riskmodel.results.result",
    "verify": "riskmodel.results.verify",
}

__all__ = [
    "EvidenceSet",
    "FitResult",
    "PriorSet",
    "RiskmodelError",
    "__version__",
    "bibtex",
    "citation_line",
    "fit",
    "load_evidence",
    "load_priors",
    "parse_citation",
    "update",
    "verify",
    "worst_case",
]

if TYPE_CHECKING:  # what type checkers and IDEs see: the same names, imported eagerly
    from riskmodel.data.evidence import EvidenceSet, load_evidence
    from riskmodel.data.priors import PriorSet, load_priors
    from riskmodel.errors import RiskmodelError
    from riskmodel.interactive.update import update
    from riskmodel.model.quantities import worst_case
    from riskmodel.results.citation import bibtex, citation_line, parse_citation
    from riskmodel.results.result import FitResult, fit
    from riskmodel.results.verify import verify

    __version__: str


def __getattr__(name: str) -> Any:
    """Import a public name on first use and keep it."""
    if name == "__version__":
        from riskmodel.versions import package_version

        value: Any = package_version()
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module 'riskmodel' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

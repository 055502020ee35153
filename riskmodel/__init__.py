"""riskmodel: worst-case AI scheming risk, conditional on observed training-gaming plus explicit capability assumptions.

The public API: load versioned prior and evidence sets, fit the model, read the numbers, cite and verify them.
"""

import os

# Numba's LLVM optimisation level 1 compiles model 2's sampler in 65 s cold / 16 s with warm caches instead of
# 89 s / 25 s at the default level 3, and samples as fast (2.8 s vs 2.7 s for 4 x 2000 iterations); level 0 compiles
# fastest but samples 10x slower (benchmarks/fit_speed.py). A user's own setting wins.
os.environ.setdefault("NUMBA_OPT", "1")

from riskmodel.data.evidence import EvidenceSet, load_evidence
from riskmodel.data.priors import PriorSet, load_priors
from riskmodel.errors import RiskmodelError
from riskmodel.interactive.update import update
from riskmodel.model.quantities import worst_case
from riskmodel.results.citation import bibtex, citation_line, parse_citation
from riskmodel.results.result import FitResult, fit
from riskmodel.results.verify import verify
from riskmodel.versions import package_version

__version__ = package_version()

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

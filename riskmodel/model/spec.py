"""What the model needs from a prior set and an evidence set: coordinates, graph structure and data.

No PyMC here: a cached answer can be read without importing the sampler stack.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from riskmodel.data.evidence import CAPABILITY_EVIDENCE, EvidenceSet
from riskmodel.data.features import DESIGN_COLUMNS, design_matrix
from riskmodel.data.priors import CAPABILITIES, PARAMETERS, PriorSet
from riskmodel.errors import EvidenceError

__all__ = ["DISPOSITIONS", "FAMILY_ARGS", "NEW_SYSTEM", "PARAMETER_DIMS", "ModelData", "model_data"]

DISPOSITIONS: tuple[str, ...] = ("aligned", "misaligned")
#: Name of the system drawn fresh from the population (no evidence of its own).
NEW_SYSTEM = "new"


#: Parameters that take one value per coordinate of a dim (all others are scalars).
PARAMETER_DIMS: dict[str, str] = {"setting_effect": "setting", "baseline_compliance": "pair"}


@dataclass(frozen=True)
class ModelData:
    """Everything the model needs from a prior set and an evidence set, split into graph structure and data.

    Structure (coords, prior families, design matrices, indices) decides the graph; data (counts and every prior
    hyperparameter, packed into the ``pm.Data`` vectors ``prior_hyper``, ``counts_reasoning`` and ``counts_pair``)
    can change without recompiling.
    """

    coords: dict[str, list[str]]
    families: dict[str, str]
    x_reasoning: np.ndarray
    sys_reasoning: np.ndarray
    set_reasoning: np.ndarray
    x_pair: np.ndarray
    sys_pair: np.ndarray
    set_pair: np.ndarray
    offset_mask: np.ndarray  # 0 for the one system anchoring the intercept, else 1
    hyper_index: dict[str, int]  # "param.arg" -> position in prior_hyper
    prior_hyper: np.ndarray
    counts_reasoning: np.ndarray  # (2, reasoning_obs): k, n
    counts_pair: np.ndarray  # (4, pair): k_train, n_train, k_unmonitored, n_unmonitored (0 of 0 when absent)
    # Optional capability likelihood, one group per (capability, system) with switched-on capability evidence:
    cap_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # capability of each group
    cap_system: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # system of each group
    #: (2, capability_obs): log P(counts | has the capability) = -sum log(n + 1), and P(counts | lacks it) (1 or 0)
    capability_evidence: np.ndarray = field(default_factory=lambda: np.zeros((2, 0)))

    def structure_key(self, likelihood: bool) -> str:
        """Hash of everything that changes the graph (not the data): same key, same compiled sampler."""
        doc = {
            "coords": self.coords,
            "families": self.families,
            "likelihood": likelihood,
            "hyper_index": self.hyper_index,
            "arrays": [
                a.tolist()
                for a in (
                    self.offset_mask,
                    self.x_reasoning,
                    self.sys_reasoning,
                    self.set_reasoning,
                    self.x_pair,
                    self.sys_pair,
                    self.set_pair,
                )
            ],
        }
        if self.cap_index.size:  # absent otherwise, so the key of a model without capability terms is unchanged
            doc["capability"] = [self.cap_index.tolist(), self.cap_system.tolist()]
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()

    def data_values(self, likelihood: bool) -> dict[str, np.ndarray]:
        """Values of every ``pm.Data`` container of the model built with or without likelihood."""
        out = {"prior_hyper": self.prior_hyper}
        if likelihood and self.counts_reasoning.shape[1]:
            out["counts_reasoning"] = self.counts_reasoning
        if likelihood and self.counts_pair.shape[1]:
            out["counts_pair"] = self.counts_pair
        if likelihood and self.cap_index.size:
            out["capability_evidence"] = self.capability_evidence
        return out

    def size(self, param: str) -> int:
        """Number of values of a parameter (1 for scalars)."""
        dim = PARAMETER_DIMS.get(param)
        return len(self.coords[dim]) if dim else 1


def model_data(priors: PriorSet, evidence: EvidenceSet) -> ModelData:
    """Split a prior set and an evidence set into model coordinates, structure and data."""
    systems = evidence.systems()
    if NEW_SYSTEM in systems:
        raise EvidenceError(
            f"system name {NEW_SYSTEM!r} is reserved for a system drawn from the population",
            file=evidence.path,
            field="row.system",
        )
    systems = [*systems, NEW_SYSTEM]
    reasoning = evidence.reasoning_rows()
    pairs = evidence.compliance_pairs()
    used_settings = [r.setting for r in reasoning] + [p.row.setting for p in pairs]
    settings = [s for s in dict.fromkeys(used_settings) if s != priors.reference_setting]
    sys_idx = {s: i for i, s in enumerate(systems)}
    set_idx = {s: i for i, s in enumerate(settings)}
    ref = len(settings)  # index of the zero effect appended for the reference setting

    def sidx(setting: str) -> int:
        return set_idx.get(setting, ref)

    coords = {
        "system": systems,
        "disposition": list(DISPOSITIONS),
        "setting": settings,
        "feature": list(DESIGN_COLUMNS),
        "capability": list(CAPABILITIES),
        "reasoning_obs": [r.id for r in reasoning],
        "pair": [p.cell for p in pairs],
    }
    # With a single system in the likelihood its offset and the intercept are the same thing (a ridge that causes
    # divergences): that system anchors the intercepts and the others, the new one included, differ by offsets.
    with_data = {r.system for r in reasoning} | {p.row.system for p in pairs if p.training}
    offset_mask = np.array([0.0 if len(with_data) == 1 and s in with_data else 1.0 for s in systems])
    # capability evidence: one group per (capability, system); see docs/evidence.md for the measurement model
    groups: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for r in evidence.capability_rows():
        groups.setdefault((CAPABILITY_EVIDENCE[r.quantity], r.system), []).append((r.k, r.n))  # type: ignore[arg-type]
    if groups:
        coords["capability_obs"] = [f"{cap}|{s}" for cap, s in groups]
    cap_ev = np.array(
        [
            [-sum(np.log(n + 1.0) for _, n in kn) for kn in groups.values()],
            [float(all(k == 0 for k, _ in kn)) for kn in groups.values()],
        ]
    ).reshape(2, -1)
    hyper_index: dict[str, int] = {}
    values: list[float] = []
    for name in PARAMETERS:
        for arg, value in priors.parameters[name].params.items():
            hyper_index[f"{name}.{arg}"] = len(values)
            values.append(value)
    return ModelData(
        coords=coords,
        families={name: priors.parameters[name].distribution for name in PARAMETERS},
        x_reasoning=design_matrix([r.context for r in reasoning]),
        sys_reasoning=np.array([sys_idx[r.system] for r in reasoning], dtype=np.int64),
        set_reasoning=np.array([sidx(r.setting) for r in reasoning], dtype=np.int64),
        x_pair=design_matrix([p.row.context for p in pairs]),
        sys_pair=np.array([sys_idx[p.row.system] for p in pairs], dtype=np.int64),
        set_pair=np.array([sidx(p.row.setting) for p in pairs], dtype=np.int64),
        offset_mask=offset_mask,
        hyper_index=hyper_index,
        prior_hyper=np.array(values, dtype=float),
        counts_reasoning=np.array([[r.k for r in reasoning], [r.n for r in reasoning]], dtype=np.int64).reshape(2, -1),
        counts_pair=np.array([p.counts() for p in pairs], dtype=np.int64).reshape(-1, 4).T,
        cap_index=np.array([CAPABILITIES.index(cap) for cap, _ in groups], dtype=np.int64),
        cap_system=np.array([sys_idx[s] for _, s in groups], dtype=np.int64),
        capability_evidence=cap_ev,
    )


FAMILY_ARGS = {
    "Beta": ("alpha", "beta"),
    "Normal": ("mu", "sigma"),
    "HalfNormal": ("sigma",),
    "LogNormal": ("mu", "sigma"),
    "Gamma": ("alpha", "beta"),
}

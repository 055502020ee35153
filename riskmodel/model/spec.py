"""What the model needs from a prior set and an evidence set: coordinates, graph structure and data.

No PyMC here: a cached answer can be read without importing the sampler stack. :class:`ModelData` splits everything
into *structure* (coordinates, prior families, design matrices, which pattern coordinates each system's rows inform)
and *data* (counts and every prior hyperparameter): structure decides the compiled graph, data can change without
recompiling.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

import numpy as np
import xarray as xr

from riskmodel.data.evidence import CAPABILITY_EVIDENCE, EvidenceSet
from riskmodel.data.features import COORDINATES, SHARED_COLUMNS, Context
from riskmodel.data.priors import CAPABILITIES, PARAMETERS, PriorSet
from riskmodel.errors import EvidenceError

__all__ = [
    "DISPOSITIONS",
    "FAMILY_ARGS",
    "GENERATED_COPIES",
    "NEW_SYSTEM",
    "PARAMETER_DIMS",
    "POPULATION_DRAWS",
    "ModelData",
    "PatternLayout",
    "check_systems",
    "model_data",
]

DISPOSITIONS: tuple[str, ...] = ("aligned", "misaligned")
#: Name of the system drawn fresh from the population (no evidence of its own).
NEW_SYSTEM = "new"
#: Parameters that take one value per coordinate of a dim (all others are scalars).
PARAMETER_DIMS: dict[str, str] = {"setting_effect": "setting", "baseline_compliance": "cell"}
#: Generated pattern draws per posterior draw for the coordinates no row of a system informs.
GENERATED_COPIES = 8
#: Fixed standardized draws of a population row's integral over the population of patterns.
POPULATION_DRAWS = 256

FAMILY_ARGS = {
    "Beta": ("alpha", "beta"),
    "Normal": ("mu", "sigma"),
    "HalfNormal": ("sigma",),
    "LogNormal": ("mu", "sigma"),
    "Gamma": ("alpha", "beta"),
}


@dataclass(frozen=True)
class PatternLayout:
    """Which pattern coordinates and competences of which systems are sampled (the rest are generated).

    ``free_system[i], free_coord[i]`` name the i-th sampled standardized coordinate (``pattern_z``), ``competent``
    the systems whose competence is sampled (``competence``), in system order. A coordinate that counts of the
    system inform (reasoning or compliance rows) is ``centred``: sampled as log-odds, where the counts pin it down;
    one informed only by threshold outcomes is sampled standardized, where its prior dominates (the usual choice
    between centred and non-centred parameterizations, made per coordinate). A system's centred coordinates are
    sampled as the log-odds of the contexts its counts come from, ``pattern = basis @ raw`` (a linear map with a
    constant Jacobian): the data pin those down, while intercept and effects separately would form a ridge.
    """

    systems: tuple[str, ...]
    free_system: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    free_coord: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    competent: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: Per sampled coordinate: sampled as log-odds (True, counts pin it down) or standardized (False).
    centred: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: (free, free) map from what NUTS samples to the centred coordinates: per system, the log-odds of the contexts
    #: its counts were observed in (the combinations the data pin down, so no ridge between intercept and effects).
    basis: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    @property
    def mask(self) -> np.ndarray:
        """(system, coordinate) True where the coordinate is sampled."""
        m = np.zeros((len(self.systems), len(COORDINATES)), dtype=bool)
        m[self.free_system, self.free_coord] = True
        return m

    @property
    def competence_mask(self) -> np.ndarray:
        """(system,) True where the competence is sampled."""
        m = np.zeros(len(self.systems), dtype=bool)
        m[self.competent] = True
        return m

    def empty(self) -> PatternLayout:
        """The same systems with nothing sampled (the prior side: every coordinate generated)."""
        return PatternLayout(self.systems)


@dataclass(frozen=True)
class ModelData:
    """Everything the model needs from a prior set and an evidence set, split into graph structure and data."""

    coords: dict[str, list[str]]
    families: dict[str, str]
    hyper_index: dict[str, int]  # "param.arg" (and "model.tail_df") -> position in prior_hyper
    prior_hyper: np.ndarray
    layout: PatternLayout
    consistency: str
    x_reasoning: np.ndarray
    xs_reasoning: np.ndarray
    sys_reasoning: np.ndarray
    set_reasoning: np.ndarray
    counts_reasoning: np.ndarray  # (2, reasoning_obs): k, n
    x_pair: np.ndarray
    xs_pair: np.ndarray
    sys_pair: np.ndarray
    set_pair: np.ndarray
    cell_pair: np.ndarray
    counts_pair: np.ndarray  # (4, compliance_obs): k, n in training; k, n unmonitored (0 of 0 when absent)
    x_threshold: np.ndarray
    xs_threshold: np.ndarray
    sys_threshold: np.ndarray
    set_threshold: np.ndarray
    cell_threshold: np.ndarray
    threshold_rows: np.ndarray  # (4, threshold_obs): threshold, n per tier, outcome (1 above), kind (0 gap, 1 rate)
    x_population: np.ndarray
    xs_population: np.ndarray
    set_population: np.ndarray
    cell_population: np.ndarray
    population_rows: np.ndarray  # (5, population_obs): threshold, n per tier, k systems, N systems, kind
    population_draws: np.ndarray  # (POPULATION_DRAWS, coordinate + 1): Student-t coordinates, normal competence
    #: The prior-file parameters some likelihood term depends on: the only ones NUTS samples (the others are drawn
    #: exactly from their priors, ``GENERATED_COPIES`` per draw; riskmodel.model.informed).
    sampled: frozenset[str] = frozenset()
    cap_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cap_system: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: (2, capability_obs): log P(counts | has the capability) = -sum log(n + 1), and P(counts | lacks it) (1 or 0)
    capability_evidence: np.ndarray = field(default_factory=lambda: np.zeros((2, 0)))

    @property
    def informed_coordinates(self) -> np.ndarray:
        """(coordinate,) 1.0 where some likelihood term depends on the coordinate's population parameters."""
        return np.array([float(f"{c}_spread" in self.sampled) for c in COORDINATES])

    @property
    def tail_df(self) -> float:
        """Degrees of freedom of the Student-t between-system distribution."""
        return float(self.prior_hyper[self.hyper_index["model.tail_df"]])

    def structure_key(self, likelihood: bool) -> str:
        """Hash of everything that changes the graph (not the data): same key, same compiled sampler."""
        arrays = [
            self.layout.free_system,
            self.layout.free_coord,
            self.layout.competent,
            self.layout.centred,
            self.layout.basis,
            self.x_reasoning,
            self.xs_reasoning,
            self.sys_reasoning,
            self.set_reasoning,
            self.x_pair,
            self.xs_pair,
            self.sys_pair,
            self.set_pair,
            self.cell_pair,
            self.x_threshold,
            self.xs_threshold,
            self.sys_threshold,
            self.set_threshold,
            self.cell_threshold,
            self.x_population,
            self.xs_population,
            self.set_population,
            self.cell_population,
            self.cap_index,
            self.cap_system,
        ]
        doc = {
            "model": 2,
            "coords": self.coords,
            "families": self.families,
            "likelihood": likelihood,
            "hyper_index": self.hyper_index,
            "sampled": sorted(self.sampled),
            "arrays": [np.asarray(a).tolist() for a in arrays],
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()

    def data_values(self, likelihood: bool) -> dict[str, np.ndarray]:
        """Values of every ``pm.Data`` container of the model built with or without likelihood."""
        out = {"prior_hyper": self.prior_hyper}
        if not likelihood:
            return out
        if self.counts_reasoning.shape[1]:
            out["counts_reasoning"] = self.counts_reasoning
        if self.counts_pair.shape[1]:
            out["counts_pair"] = self.counts_pair
        if self.threshold_rows.shape[1]:
            out["threshold_rows"] = self.threshold_rows
        if self.population_rows.shape[1]:
            out["population_rows"] = self.population_rows
            out["population_draws"] = self.population_draws
        if self.cap_index.size:
            out["capability_evidence"] = self.capability_evidence
        return out

    def blocks(self) -> list[tuple[str, list[str], list[str]]]:
        """(family, sampled parameter names, element labels) of each family block of the graph, in a fixed order."""
        out = []
        for family in sorted({self.families[p] for p in self.sampled}):
            names = [p for p in PARAMETERS if p in self.sampled and self.families[p] == family and self.size(p) > 0]
            labels: list[str] = []
            for p in names:
                dim = PARAMETER_DIMS.get(p)
                labels += [f"{p}[{c}]" for c in self.coords[dim]] if dim else [p]
            out.append((family, names, labels))
        return out

    def split_blocks(self, posterior: xr.Dataset) -> xr.Dataset:
        """The posterior with every prior-file parameter as a named variable (with its dims), read off the blocks."""
        out = {}
        for family, names, _ in self.blocks():
            block = posterior[f"{family.lower()}_block"]
            start = 0
            for p in names:
                size, dim = self.size(p), PARAMETER_DIMS.get(p)
                part = block.isel({f"{family.lower()}_element": slice(start, start + size)})
                if dim:
                    out[p] = part.rename({f"{family.lower()}_element": dim}).assign_coords({dim: self.coords[dim]})
                else:
                    out[p] = part.isel({f"{family.lower()}_element": 0}, drop=True)
                start += size
        return posterior.assign(out)

    def size(self, param: str) -> int:
        """Number of values of a parameter (1 for scalars)."""
        dim = PARAMETER_DIMS.get(param)
        return len(self.coords[dim]) if dim else 1


def _rows_matrix(contexts: list[Context]) -> tuple[np.ndarray, np.ndarray]:
    if not contexts:
        return np.zeros((0, len(COORDINATES))), np.zeros((0, len(SHARED_COLUMNS)))
    return np.stack([c.pattern_row() for c in contexts]), np.stack([c.shared_row() for c in contexts])


def _basis(
    free_system: np.ndarray, free_coord: np.ndarray, centred: np.ndarray, rows: dict[int, list[np.ndarray]]
) -> np.ndarray:
    """The map from sampled values to centred pattern coordinates (see :class:`PatternLayout`).

    For each system: its observed contexts' indicator rows over its centred coordinates, chosen greedily (in the order
    of the evidence) while they stay linearly independent, completed by unit vectors; the map is the inverse of that
    square matrix (entries 0 and +-1, so the Jacobian is constant).
    """
    n = free_system.size
    basis = np.eye(n)
    for s in np.unique(free_system):
        idx = np.flatnonzero((free_system == s) & centred)
        if idx.size == 0:
            continue
        coords = free_coord[idx]
        chosen: list[np.ndarray] = []
        for row in [*rows.get(int(s), []), *np.eye(len(COORDINATES), dtype=bool)[coords]]:
            v = row[coords].astype(float)
            if v.any() and np.linalg.matrix_rank(np.array([*chosen, v])) > len(chosen):
                chosen.append(v)
            if len(chosen) == idx.size:
                break
        basis[np.ix_(idx, idx)] = np.linalg.inv(np.array(chosen))
    return basis


def population_draws(tail_df: float, seed: int = 20261201) -> np.ndarray:
    """Fixed standardized draws for the population integral: Student-t(``tail_df``) coordinates, normal competence."""
    rng = np.random.default_rng(seed)
    t = rng.standard_t(tail_df, size=(POPULATION_DRAWS, len(COORDINATES)))
    return np.concatenate([t, rng.standard_normal((POPULATION_DRAWS, 1))], axis=1)


def check_systems(evidence: EvidenceSet) -> None:
    """Refuse an evidence set that names a reserved system (``new``: the system drawn from the population)."""
    for r in evidence.rows:
        if r.system == NEW_SYSTEM:
            raise EvidenceError(
                f"system name {NEW_SYSTEM!r} is reserved for a system drawn from the population",
                file=evidence.path,
                field=f"row[{r.id}].system",
            )


def model_data(priors: PriorSet, evidence: EvidenceSet) -> ModelData:
    """Split a prior set and an evidence set into model coordinates, structure and data."""
    check_systems(evidence)
    systems = [*evidence.model_systems(), NEW_SYSTEM]
    reasoning = evidence.reasoning_rows()
    pairs = evidence.compliance_pairs()
    thresholds = evidence.threshold_rows()
    population = evidence.population_rows()
    used = [r.setting for r in reasoning] + [p.row.setting for p in pairs]
    used += [r.setting for r in thresholds] + [r.setting for r in population]
    settings = [s for s in dict.fromkeys(used) if s != priors.reference_setting]
    sys_idx = {s: i for i, s in enumerate(systems)}
    set_idx = {s: i for i, s in enumerate(settings)}

    def sidx(setting: str) -> int:
        return set_idx.get(setting, len(settings))  # the appended zero effect of the reference setting

    gap_thresholds = [r for r in thresholds if r.quantity == "compliance_gap"]
    gap_population = [r for r in population if r.quantity == "compliance_gap"]
    cells = [p.cell for p in pairs] + [f"{r.id}" for r in gap_thresholds] + [f"{r.id}" for r in gap_population]
    cell_of = {r.id: len(pairs) + i for i, r in enumerate([*gap_thresholds, *gap_population])}

    x_r, xs_r = _rows_matrix([r.context for r in reasoning])
    x_p, xs_p = _rows_matrix([p.row.context for p in pairs])
    x_t, xs_t = _rows_matrix([r.context for r in thresholds])
    x_pop, xs_pop = _rows_matrix([r.context for r in population])
    mask = np.zeros((len(systems), len(COORDINATES)), dtype=bool)
    counted = np.zeros_like(mask)
    counted_rows: dict[int, list[np.ndarray]] = {}
    trained = [p.training is not None for p in pairs]
    for x, sys, by_counts in (
        (x_r, [r.system for r in reasoning], True),
        (x_p[trained], [p.row.system for p in pairs if p.training], True),
        (x_t, [r.system for r in thresholds], False),
    ):
        for row, s in zip(x, sys, strict=True):
            mask[sys_idx[s]] |= row > 0
            if by_counts:
                counted[sys_idx[s]] |= row > 0
                counted_rows.setdefault(sys_idx[s], []).append(row > 0)
    free_system, free_coord = np.nonzero(mask)
    groups: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for r in evidence.capability_rows():
        groups.setdefault((CAPABILITY_EVIDENCE[r.quantity], r.system), []).append((r.k, r.n))  # type: ignore[arg-type]
    competent = sorted(set(np.flatnonzero(mask[:, 0])) | {sys_idx[s] for _, s in groups})
    layout = PatternLayout(
        tuple(systems),
        free_system.astype(np.int64),
        free_coord.astype(np.int64),
        np.array(competent, dtype=np.int64),
        counted[free_system, free_coord],
        _basis(free_system, free_coord, counted[free_system, free_coord], counted_rows),
    )

    coords = {
        "system": systems,
        "disposition": list(DISPOSITIONS),
        "coordinate": list(COORDINATES),
        "setting": settings,
        "capability": list(CAPABILITIES),
        "free": [f"{systems[s]}|{COORDINATES[k]}" for s, k in zip(free_system, free_coord, strict=True)],
        "competent_system": [systems[i] for i in competent],
        "reasoning_obs": [r.id for r in reasoning],
        "compliance_obs": [p.cell for p in pairs],
        "threshold_obs": [r.id for r in thresholds],
        "population_obs": [r.id for r in population],
        "cell": cells,
    }
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
    hyper_index["model.tail_df"] = len(values)
    values.append(priors.tail_df)
    data = ModelData(
        coords=coords,
        families={name: priors.parameters[name].distribution for name in PARAMETERS},
        hyper_index=hyper_index,
        prior_hyper=np.array(values, dtype=float),
        layout=layout,
        consistency=priors.consistency,
        x_reasoning=x_r,
        xs_reasoning=xs_r,
        sys_reasoning=np.array([sys_idx[r.system] for r in reasoning], dtype=np.int64),
        set_reasoning=np.array([sidx(r.setting) for r in reasoning], dtype=np.int64),
        counts_reasoning=np.array([[r.k for r in reasoning], [r.n for r in reasoning]], dtype=np.int64).reshape(2, -1),
        x_pair=x_p,
        xs_pair=xs_p,
        sys_pair=np.array([sys_idx[p.row.system] for p in pairs], dtype=np.int64),
        set_pair=np.array([sidx(p.row.setting) for p in pairs], dtype=np.int64),
        cell_pair=np.arange(len(pairs), dtype=np.int64),
        counts_pair=np.array([p.counts() for p in pairs], dtype=np.int64).reshape(-1, 4).T,
        x_threshold=x_t,
        xs_threshold=xs_t,
        sys_threshold=np.array([sys_idx[r.system] for r in thresholds], dtype=np.int64),
        set_threshold=np.array([sidx(r.setting) for r in thresholds], dtype=np.int64),
        cell_threshold=np.array([cell_of.get(r.id, 0) for r in thresholds], dtype=np.int64),
        threshold_rows=np.array(
            [
                [r.threshold for r in thresholds],
                [r.n for r in thresholds],
                [1.0 if r.outcome == "above" else 0.0 for r in thresholds],
                [0.0 if r.quantity == "compliance_gap" else 1.0 for r in thresholds],
            ],
            dtype=float,
        ).reshape(4, -1),
        x_population=x_pop,
        xs_population=xs_pop,
        set_population=np.array([sidx(r.setting) for r in population], dtype=np.int64),
        cell_population=np.array([cell_of.get(r.id, 0) for r in population], dtype=np.int64),
        population_rows=np.array(
            [
                [r.threshold for r in population],
                [r.n_per_system for r in population],
                [r.k for r in population],
                [r.n for r in population],
                [0.0 if r.quantity == "compliance_gap" else 1.0 for r in population],
            ],
            dtype=float,
        ).reshape(5, -1),
        population_draws=population_draws(priors.tail_df),
        cap_index=np.array([CAPABILITIES.index(cap) for cap, _ in groups], dtype=np.int64),
        cap_system=np.array([sys_idx[s] for _, s in groups], dtype=np.int64),
        capability_evidence=cap_ev,
    )
    from riskmodel.model.informed import informed_parameters

    return replace(data, sampled=informed_parameters(data))

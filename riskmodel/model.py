"""The PyMC model: context layer, measurement, marginalized disposition, and the assumption parameters.

Only this module builds PyMC graphs. Its equations are written out in ``docs/model.md``. Evidence counts and every
prior hyperparameter live in ``pm.Data`` containers, so a new prior value or a new count changes data, not the graph,
and a compiled sampler can be reused (see :mod:`riskmodel.fit`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from riskmodel.errors import EvidenceError
from riskmodel.evidence import CAPABILITY_EVIDENCE, EvidenceSet
from riskmodel.features import DESIGN_COLUMNS, SHARED_EFFECTS, design_matrix
from riskmodel.priors import CAPABILITIES, PARAMETERS, PriorSet

__all__ = ["DISPOSITIONS", "NEW_SYSTEM", "PARAMETER_DIMS", "ModelData", "build_model", "draw_prior", "model_data"]

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


_FAMILY_ARGS = {
    "Beta": ("alpha", "beta"),
    "Normal": ("mu", "sigma"),
    "HalfNormal": ("sigma",),
    "LogNormal": ("mu", "sigma"),
    "Gamma": ("alpha", "beta"),
}


#: Sampled on their own (see build_model) rather than in their family's block.
_SAMPLED_SEPARATELY = frozenset({"value_conflict_effect_aligned"})


def _family_blocks(data: ModelData, hyper: pt.TensorVariable) -> dict[str, pt.TensorVariable]:
    """Create one vector random variable per prior family and return each named parameter as a Deterministic.

    Grouping the parameters by family keeps the graph small (compile time grows with the number of random
    variables); every parameter is still a named variable with its own dims.
    """
    out: dict[str, pt.TensorVariable] = {}
    for family in sorted(set(data.families.values())):
        names = [
            p for p in PARAMETERS if data.families[p] == family and data.size(p) > 0 and p not in _SAMPLED_SEPARATELY
        ]
        labels, idx = [], {arg: [] for arg in _FAMILY_ARGS[family]}
        for p in names:
            dim = PARAMETER_DIMS.get(p)
            labels += [f"{p}[{c}]" for c in data.coords[dim]] if dim else [p]
            for arg in idx:
                idx[arg] += [data.hyper_index[f"{p}.{arg}"]] * data.size(p)
        block_dim = f"{family.lower()}_element"
        pm.modelcontext(None).add_coord(block_dim, labels)
        h = {arg: hyper[np.array(ix, dtype=np.int64)] for arg, ix in idx.items()}
        name = f"{family.lower()}_block"
        if family == "Beta":
            block = pm.Beta(name, alpha=h["alpha"], beta=h["beta"], dims=block_dim)
        elif family == "Normal":
            block = pm.Normal(name, mu=h["mu"], sigma=h["sigma"], dims=block_dim)
        elif family == "HalfNormal":
            block = pm.HalfNormal(name, sigma=h["sigma"], dims=block_dim)
        elif family == "LogNormal":
            block = pm.LogNormal(name, mu=h["mu"], sigma=h["sigma"], dims=block_dim)
        elif family == "Gamma":
            block = pm.Gamma(name, alpha=h["alpha"], beta=h["beta"], dims=block_dim)
        else:  # pragma: no cover - the allow-list is checked when the prior file is parsed
            raise KeyError(family)
        start = 0
        for p in names:
            size, dim = data.size(p), PARAMETER_DIMS.get(p)
            if dim:
                out[p] = pm.Deterministic(p, block[start : start + size], dims=dim)
            else:
                out[p] = pm.Deterministic(p, block[start])
            start += size
    return out


def _binomial_logp(k: pt.TensorVariable, n: pt.TensorVariable, p: pt.TensorVariable) -> pt.TensorVariable:
    return pm.logp(pm.Binomial.dist(n=n, p=p), k)


def build_model(data: ModelData, *, likelihood: bool = True) -> pm.Model:
    """Build the PyMC model; ``likelihood=False`` gives the same model without its likelihood terms (the prior side).

    Every prior-file parameter is a named variable (with dims where it has them). Further variables users read, all
    ``pm.Deterministic`` with named dims: ``tg_intercept`` and ``context_effect`` per disposition, ``system_offset``
    per system, ``tg_rate_reasoning`` per disposition and observation, ``p_misaligned_system`` per system (posterior,
    i.e. conditioned on that system's evidence, in the full model) and ``capabilities`` per capability assumption.
    """
    n_sys = len(data.coords["system"])
    with pm.Model(coords=data.coords) as model:
        hyper = pm.Data("prior_hyper", data.prior_hyper)
        prm = _family_blocks(data, hyper)
        pm.Deterministic("capabilities", pt.stack([prm[c] for c in CAPABILITIES]), dims="capability")

        # ---- context layer: the ordering constraint keeps the two dispositions apart
        a_al = prm["tg_intercept_aligned"]
        # The data pin down the aligned log-odds under value conflict (intercept + effect) far better than either
        # part, a ridge a diagonal mass matrix handles badly. Sample that sum and derive the effect: with a Normal
        # effect prior (the only family with real support) this is the same prior, with a unit Jacobian.
        conflict_logit = pm.Normal(
            "tg_conflict_logit_aligned",
            mu=a_al + hyper[data.hyper_index["value_conflict_effect_aligned.mu"]],
            sigma=hyper[data.hyper_index["value_conflict_effect_aligned.sigma"]],
        )
        vc_al = pm.Deterministic("value_conflict_effect_aligned", conflict_logit - a_al)
        intercept = pm.Deterministic(
            "tg_intercept", pt.stack([a_al, a_al + prm["tg_intercept_gap"]]), dims="disposition"
        )
        shared = [prm[SHARED_EFFECTS[c]] for c in DESIGN_COLUMNS[1:]]
        effect = pm.Deterministic(
            "context_effect",
            pt.stack([pt.stack([vc_al, *shared]), pt.stack([vc_al - prm["value_conflict_effect_gap"], *shared])]),
            dims=("disposition", "feature"),
        )
        setting = prm.get("setting_effect", pt.zeros((0,)))
        setting_padded = pt.concatenate([setting, pt.zeros((1,))])
        z_sys = pm.Normal("system_offset_z", 0.0, 1.0, dims="system")
        offset = pm.Deterministic("system_offset", prm["system_offset_scale"] * z_sys * data.offset_mask, dims="system")

        def tg_logit(x: np.ndarray, sys: np.ndarray, sett: np.ndarray) -> pt.TensorVariable:
            """(disposition, observation) log-odds of training-gaming."""
            return intercept[:, None] + pt.dot(effect, x.T) + (setting_padded[sett] + offset[sys])[None, :]

        # ---- likelihood, marginalized over each system's disposition
        p_mis = prm["p_misaligned"]
        log_w = pt.stack([pt.log1p(-p_mis), pt.log(p_mis)])
        ll_system = pt.zeros((n_sys, 2))
        if likelihood and len(data.coords["reasoning_obs"]):
            p_r = pm.Deterministic(
                "tg_rate_reasoning",
                pm.math.sigmoid(tg_logit(data.x_reasoning, data.sys_reasoning, data.set_reasoning)),
                dims=("disposition", "reasoning_obs"),
            )
            counts = pm.Data("counts_reasoning", data.counts_reasoning)
            q = p_r * prm["reasoning_sensitivity"] + (1.0 - p_r) * prm["reasoning_false_positive"]
            ll = _binomial_logp(counts[0][None, :], counts[1][None, :], q)  # (disposition, obs)
            onehot = np.eye(n_sys)[data.sys_reasoning]  # (obs, system)
            ll_system = ll_system + pt.dot(onehot.T, ll.T)
        if likelihood and len(data.coords["pair"]):
            c = prm["baseline_compliance"]
            p_c = pm.math.sigmoid(tg_logit(data.x_pair, data.sys_pair, data.set_pair))
            counts = pm.Data("counts_pair", data.counts_pair)
            comply_train = c[None, :] + (1.0 - c[None, :]) * prm["behaviour_share"] * p_c
            ll_t = _binomial_logp(counts[0][None, :], counts[1][None, :], comply_train)
            onehot = np.eye(n_sys)[data.sys_pair]
            ll_system = ll_system + pt.dot(onehot.T, ll_t.T)
            pm.Potential("complied_unmonitored", _binomial_logp(counts[2], counts[3], c).sum())
        if likelihood and data.cap_index.size:
            # Optional capability likelihood: each (capability, system) group is a latent "has the capability"
            # indicator with P = q_a, marginalized. With it, the per-episode rate is Uniform(0, 1) (so the counts
            # have probability prod 1/(n+1)); without it the behaviour never occurs (probability 1 if every k is 0).
            ev = pm.Data("capability_evidence", data.capability_evidence)
            q = pt.stack([prm[c] for c in CAPABILITIES])[data.cap_index]
            has = pt.log(q) + ev[0]
            lacks = pt.log1p(-q) + pt.log(pt.maximum(ev[1], 1e-300))
            ll_cap = pt.switch(ev[1] > 0, pt.logaddexp(has, lacks), has)
            pm.Potential("capability_evidence_loglik", ll_cap.sum())
            pm.Deterministic("p_capability_group", pt.exp(has - ll_cap), dims="capability_obs")
        joint = log_w[None, :] + ll_system  # (system, disposition)
        log_marginal = pt.logsumexp(joint, axis=1)  # (system,)
        if likelihood:
            pm.Potential("disposition_marginal", log_marginal.sum())
        pm.Deterministic("p_misaligned_system", pt.exp(joint[:, 1] - log_marginal), dims="system")
    return model


def draw_prior(data: ModelData, draws: int, seed: int) -> xr.Dataset:
    """Ancestral draws of the model without its likelihood terms, in numpy (dims ``(chain=1, draw, ...)``).

    The same random variables and transforms as :func:`build_model` with ``likelihood=False`` (a test checks the two
    agree in distribution); numpy because compiling PyMC's prior-predictive function costs seconds on every new
    prior set, which the explorer and refits would pay again and again.
    """
    from riskmodel.distributions import frozen

    rng = np.random.default_rng([seed, 0x5EED])
    out: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    cd = ("chain", "draw")
    for name in PARAMETERS:
        size = data.size(name)
        if size == 0:
            continue
        family = data.families[name]
        params = {arg: float(data.prior_hyper[data.hyper_index[f"{name}.{arg}"]]) for arg in _FAMILY_ARGS[family]}
        dim = PARAMETER_DIMS.get(name)
        shape = (1, draws, size) if dim else (1, draws)
        out[name] = ((*cd, dim) if dim else cd, np.asarray(frozen(family, params).rvs(size=shape, random_state=rng)))
    v = {k: a for k, (_, a) in out.items()}
    a_al = v["tg_intercept_aligned"]
    vc_al = v["value_conflict_effect_aligned"]
    shared = [v[SHARED_EFFECTS[c]] for c in DESIGN_COLUMNS[1:]]
    out["tg_intercept"] = ((*cd, "disposition"), np.stack([a_al, a_al + v["tg_intercept_gap"]], axis=-1))
    aligned = np.stack([vc_al, *shared], axis=-1)
    misaligned = np.stack([vc_al - v["value_conflict_effect_gap"], *shared], axis=-1)
    out["context_effect"] = ((*cd, "disposition", "feature"), np.stack([aligned, misaligned], axis=-2))
    n_sys = len(data.coords["system"])
    z = rng.standard_normal((1, draws, n_sys))
    out["system_offset"] = ((*cd, "system"), v["system_offset_scale"][..., None] * z * data.offset_mask)
    out["p_misaligned_system"] = ((*cd, "system"), np.repeat(v["p_misaligned"][..., None], n_sys, axis=-1))
    out["capabilities"] = ((*cd, "capability"), np.stack([v[c] for c in CAPABILITIES], axis=-1))
    coords = {k: data.coords[k] for k in ("system", "disposition", "feature", "capability", "setting", "pair")}
    return xr.Dataset(out, coords={**coords, "chain": [0], "draw": np.arange(draws)})

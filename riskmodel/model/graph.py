"""The PyMC model: context layer, measurement, marginalized disposition, and the assumption parameters.

Only this module builds PyMC graphs. Its equations are written out in ``docs/model.md``. Evidence counts and every
prior hyperparameter live in ``pm.Data`` containers, so a new prior value or a new count changes data, not the graph,
and a compiled sampler can be reused (see :mod:`riskmodel.model.sampling`).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from riskmodel.data.features import DESIGN_COLUMNS, SHARED_EFFECTS
from riskmodel.data.priors import CAPABILITIES, PARAMETERS
from riskmodel.model.spec import FAMILY_ARGS, PARAMETER_DIMS, ModelData

__all__ = ["build_model"]

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
        labels, idx = [], {arg: [] for arg in FAMILY_ARGS[family]}
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

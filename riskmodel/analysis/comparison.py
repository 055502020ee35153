"""Model comparison on the counted rows: one rate per system, model 1's shared context layer, or model 2's patterns.

Three models of the same counted rows of an evidence set (training-gaming reasoning counts, compliance cells,
per-system threshold outcomes), all built from the same model-2 prior set and the same measurement layer
(reasoning sensitivity and false positives, the behaviour share, one baseline compliance per cell, the normal
approximation of a threshold outcome; :mod:`riskmodel.model.graph`):

- ``monolithic`` (a): one context-independent training-gaming rate per system state,
  ``logit p_s = m + intercept_spread * z_s`` (``z_s ~ N(0, 1)``), plus the shared after-RL shift
  (``after_rl_effect``) for a system after extra RL: a later state of the system, not a context. ``m`` has the prior
  the model-2 prior set gives the elicitation context (value conflict, otherwise reference):
  ``Normal(mu_intercept + mu_value_conflict, sqrt(sigma_intercept^2 + sigma_value_conflict^2))`` of
  ``intercept_aligned`` and ``value_conflict_aligned`` (both must be Normal). No setting effects (a setting is a
  context).
- ``model1`` (b): model 1's structure as a comparator. Context effects shared by every system (``{coordinate}_aligned``
  of the model-2 prior set, for the coordinates the rows inform), plus ``setting_effect`` and ``after_rl_effect``;
  systems differ by an intercept offset ``intercept_spread * z_s`` (``z_s ~ N(0, 1)``); a misaligned system shifts its
  intercept by ``intercept_separation`` and its value-conflict effect by ``value_conflict_separation``; the disposition
  ``d_s ~ Bernoulli(p_misaligned)`` is one per system, mixed over all of that system's rows (marginalized in the
  likelihood, as model 1 did).
- ``model2`` (c): the package model, :func:`riskmodel.model.graph.build_model` (per-system patterns drawn from the
  disposition mixture of Student-t populations, competences, the capability rows where the evidence switches them
  on). Its pointwise terms come from :func:`riskmodel.model.likelihood.pointwise_log_likelihood`.

**The unit of leave-one-out** is one counted row: a reasoning count (k of n), a compliance cell (its training and
unmonitored counts together: they share the cell's baseline compliance) or a threshold outcome. Population and
capability rows are not compared (only model 2 has terms for them; model 2 keeps them in its likelihood, so its
leave-one-row-out posteriors condition on them too).

**Pointwise terms.** PSIS-LOO needs, per draw, ``log p(y_i | theta, y_-i)``: the full posterior is the posterior
without row i times that term (up to a constant), so importance ratios ``1 / p(y_i | theta, y_-i)`` turn posterior
draws into leave-row-out draws, and ``p(y_i | y_-i) = E[p(y_i | theta, y_-i) | y_-i]``.

- In (a) the rows are independent given the parameters: the term is the row's own log-probability.
- In (b) the disposition is shared by every row of a system and marginalized, so rows of one system are dependent
  given the parameters; the term is the row conditional on the other rows of its system,
  ``log L_s(all rows) - log L_s(all rows but i)`` with ``L_s = sum_d P(d) prod_rows p(y | theta, d)``.
- In (c) the row's own log-likelihood is the right term. Claim: given everything the sampler samples (the system's
  sampled pattern coordinates, its competence, the shared, setting and measurement parameters, the cell's baseline
  compliance) the rows of one system are conditionally independent. Check against the graph: every likelihood term
  of :func:`~riskmodel.model.graph.build_model` is a function of ``theta`` (the sampled coordinates placed into the
  (system, coordinate) matrix), ``setting_effect``, ``after_rl_effect``, the measurement parameters and the cell's
  ``baseline_compliance``; the disposition appears only in the ``pattern_mixture`` potential, the *prior* of the
  sampled coordinates (marginalized there), never in a likelihood term. So ``p(y | theta) = prod_i p(y_i | theta)``
  and ``p(y_i | theta, y_-i) = p(y_i | theta)``. Leaving row i out keeps the graph (its counts become 0 of 0), so a
  coordinate only that row informed is still sampled, now from its prior: the leave-row-out posterior is exact.
  (``test_model2_rows_are_conditionally_independent`` checks the claim numerically.)

Rows whose Pareto k exceeds :data:`K_THRESHOLD` are refitted exactly without the row: its counts set to 0 of 0
(reasoning, compliance) or, for a threshold outcome, a threshold of -2 with an essentially infinite ``n`` and outcome
"above" (probability 1 for every parameter value: the term is a constant). Each keeps the graph, so every refit
reuses the model compiled once per structure. "Prefers" means an elpd difference larger than :data:`PREFER_SE`
standard errors of the difference; anything smaller is "no preference".

For every counted row, each model's leave-one-row-out 90% predictive interval (the PSIS-weighted draws, or the
refit's draws) of the observed quantity: the rate ``k / n`` of a reasoning count, the compliance gap
``k_t / n_t - k_u / n_u`` of a cell (its one rate when only one side was counted), the outcome (1 above, 0 below) of
a threshold row (the central interval of a Bernoulli: it excludes the observed outcome when that outcome had
leave-row-out predictive probability below 5%). Coverage is the share of rows whose observed value lies in the
interval.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit, logsumexp

from riskmodel.data.evidence import EvidenceRow, EvidenceSet, load_evidence
from riskmodel.data.features import COORDINATES
from riskmodel.data.priors import PriorSet, load_priors
from riskmodel.data.registry import DEFAULT_EVIDENCE, DEFAULT_PRIORS
from riskmodel.errors import InputError
from riskmodel.model.spec import DISPOSITIONS, ModelData, model_data

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from riskmodel.results.result import FitResult

__all__ = [
    "COVERAGE_TARGET",
    "K_THRESHOLD",
    "MODELS",
    "MODEL_LABELS",
    "PREDICTIVE_PROB",
    "PREFER_SE",
    "Comparison",
    "CountedRow",
    "ModelFit",
    "build_comparator",
    "comparator_data",
    "compare_models",
    "contraction_table",
    "counted_rows",
    "fit_model",
    "plot_predictive",
    "pointwise_loglik",
    "predictive",
    "preference",
    "row_loglik",
    "simulated_evidence",
    "unobserved_context_effects",
    "without_row",
]

MODELS: tuple[str, ...] = ("monolithic", "model1", "model2")
MODEL_LABELS: dict[str, str] = {
    "monolithic": "(a) monolithic: one rate per system state",
    "model1": "(b) model 1: shared context effects, intercept offsets, disposition per system",
    "model2": "(c) model 2: per-system patterns (the package model)",
}
#: Pareto k above which a row is refitted exactly.
K_THRESHOLD = 0.7
#: A model is preferred when its elpd is higher by more than this many standard errors of the difference.
PREFER_SE = 2.0
#: Probability of the leave-one-row-out predictive intervals.
PREDICTIVE_PROB = 0.9
#: Share of counted rows the package model's leave-one-row-out 90% intervals should cover.
COVERAGE_TARGET = 0.8
#: Replicated counts per posterior draw when a predictive interval is simulated.
REPLICATES = 8
KINDS: tuple[str, ...] = ("reasoning", "compliance", "threshold")

_compiled: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


# ------------------------------------------------------------------------------------------------- counted rows
@dataclass(frozen=True)
class CountedRow:
    """One unit of leave-one-out: a reasoning count, a compliance cell or a threshold outcome.

    ``column`` is its column in ``counts_reasoning``, ``counts_pair`` or ``threshold_rows`` of the model data;
    ``system`` its system's index in the model's ``system`` coordinate; ``observed`` the value its predictive
    interval is checked against (rate, compliance gap, or outcome 1 above / 0 below).
    """

    id: str
    kind: str
    column: int
    system: int
    system_name: str
    label: str
    observed: float
    evidence_ids: tuple[str, ...]


def _label(r: EvidenceRow, what: str) -> str:
    stage = " after RL" if r.stage == "after-rl" else ""
    return f"{r.source} {r.system} {r.setting}{stage} [{r.context.label()}]: {what}"


def counted_rows(evidence: EvidenceSet, data: ModelData) -> list[CountedRow]:
    """The counted rows of ``evidence`` in the order of ``data``: reasoning counts, compliance cells, thresholds."""
    sys_idx = {s: i for i, s in enumerate(data.coords["system"])}
    out = []
    for j, r in enumerate(evidence.reasoning_rows()):
        out.append(
            CountedRow(r.id, "reasoning", j, sys_idx[r.system], r.system, _label(r, "TG reasoning"), r.k / r.n, (r.id,))  # type: ignore[operator]
        )
    for j, pair in enumerate(evidence.compliance_pairs()):
        kt, nt, ku, nu = pair.counts()
        if nt and nu:
            obs, what = kt / nt - ku / nu, "compliance gap"
        elif nt:
            obs, what = kt / nt, "complied (training)"
        else:
            obs, what = ku / nu, "complied (unmonitored)"
        ids = tuple(x.id for x in (pair.training, pair.unmonitored) if x is not None)
        r = pair.row
        out.append(CountedRow(pair.cell, "compliance", j, sys_idx[r.system], r.system, _label(r, what), obs, ids))
    for j, r in enumerate(evidence.threshold_rows()):
        what = f"{'gap' if r.quantity == 'compliance_gap' else 'TG rate'} {r.outcome} {r.threshold:g}"
        obs = 1.0 if r.outcome == "above" else 0.0
        out.append(CountedRow(r.id, "threshold", j, sys_idx[r.system], r.system, _label(r, what), obs, (r.id,)))
    return out


#: A threshold row is removed by a threshold no gap or rate can fall below, measured with this many episodes.
_REMOVED_THRESHOLD, _REMOVED_N = -2.0, 1e9


def without_row(data: ModelData, row: CountedRow) -> ModelData:
    """The same model data without one counted row, keeping the graph (and so the compiled model).

    Counts become 0 of 0 (a reasoning row; both sides of a compliance cell); a threshold outcome becomes "above a
    threshold of -2" measured with 1e9 episodes per tier, whose probability is 1 for every parameter value.
    """
    if row.kind == "reasoning":
        counts = data.counts_reasoning.copy()
        counts[:, row.column] = 0
        return replace(data, counts_reasoning=counts)
    if row.kind == "compliance":
        counts = data.counts_pair.copy()
        counts[:, row.column] = 0
        return replace(data, counts_pair=counts)
    th = data.threshold_rows.copy()
    th[0, row.column], th[1, row.column], th[2, row.column] = _REMOVED_THRESHOLD, _REMOVED_N, 1.0
    return replace(data, threshold_rows=th)


# ------------------------------------------------------------------------------------------- comparator graphs
def _counted_systems(data: ModelData) -> np.ndarray:
    """Indices of the systems with counted rows (the systems the comparators give an offset)."""
    sys = np.concatenate([data.sys_reasoning, data.sys_pair, data.sys_threshold]).astype(np.int64)
    return np.unique(sys)


def comparator_data(data: ModelData, kind: str) -> ModelData:
    """``data`` with ``sampled`` set to the prior-file parameters comparator ``kind`` samples.

    (a): ``intercept_spread``, ``after_rl_effect`` and the measurement parameters (the elicitation log-odds is its
    own variable); (b): also ``{coordinate}_aligned`` of the informed coordinates, ``intercept_separation``,
    ``value_conflict_separation``, ``p_misaligned`` and ``setting_effect``. Only parameters model 2 samples for these
    rows are used (a parameter no row depends on is not sampled).
    """
    if kind not in ("monolithic", "model1"):
        raise InputError(f"unknown comparator {kind!r} (known: monolithic, model1)", field="model")
    measurement = {"reasoning_sensitivity", "reasoning_false_positive", "behaviour_share", "baseline_compliance"}
    names = {"intercept_spread", "after_rl_effect"} | measurement
    if kind == "model1":
        names |= {f"{c}_aligned" for c in COORDINATES}
        names |= {"intercept_separation", "value_conflict_separation", "p_misaligned", "setting_effect"}
    return replace(data, sampled=frozenset(names & data.sampled) | {"intercept_spread"})


def build_comparator(data: ModelData, kind: str) -> Any:
    """The PyMC model of comparator (a) ``monolithic`` or (b) ``model1`` on the counted rows of ``data``.

    Hyperparameters and counts are ``pm.Data`` (refits and new priors reuse the compiled model). Exposes the
    training-gaming probability of every row per mixture component as ``tg_rate_reasoning``,
    ``tg_rate_compliance`` and ``tg_rate_threshold`` (dims ``component``, obs): one component (``single``) in (a),
    the two dispositions in (b).
    """
    import pymc as pm
    import pytensor.tensor as pt

    from riskmodel.model.graph import _above, _binomial_logp, _family_blocks

    cd = comparator_data(data, kind)
    hi = data.hyper_index
    n_sys = len(data.coords["system"])
    counted = _counted_systems(data)
    components = ["single"] if kind == "monolithic" else list(DISPOSITIONS)
    coords = {
        **data.coords,
        "counted_system": [data.coords["system"][i] for i in counted],
        "component": components,
    }
    with pm.Model(coords=coords, check_bounds=False) as model:
        hyper = pm.Data("prior_hyper", data.prior_hyper)
        prm = _family_blocks(cd, hyper)
        z = pm.Normal("offset_z", 0.0, 1.0, dims="counted_system")
        offset = pt.set_subtensor(pt.zeros((n_sys,))[counted], prm["intercept_spread"] * z)
        after = prm["after_rl_effect"] if "after_rl_effect" in prm else 0.0
        if kind == "monolithic":
            if data.families["intercept_aligned"] != "Normal" or data.families["value_conflict_aligned"] != "Normal":
                raise InputError(
                    "the monolithic comparator needs Normal intercept_aligned and value_conflict_aligned priors",
                    field="priors",
                )
            mu = hyper[hi["intercept_aligned.mu"]] + hyper[hi["value_conflict_aligned.mu"]]
            sd = pt.sqrt(hyper[hi["intercept_aligned.sigma"]] ** 2 + hyper[hi["value_conflict_aligned.sigma"]] ** 2)
            m = pm.Normal("elicitation_log_odds", mu=mu, sigma=sd)

            def logit(x: np.ndarray, xs: np.ndarray, sys: np.ndarray, sett: np.ndarray) -> Any:
                return (m + offset[sys] + after * xs[:, 0])[None, :]

        else:
            effects = prm.coordinates("aligned")
            shift = pt.zeros((len(COORDINATES),))
            for k, name in ((0, "intercept_separation"), (1, "value_conflict_separation")):
                if name in prm:
                    shift = pt.set_subtensor(shift[k], prm[name])
            setting = prm["setting_effect"] if "setting_effect" in prm else pt.zeros((0,))
            setting = pt.concatenate([setting, pt.zeros((1,))])

            def logit(x: np.ndarray, xs: np.ndarray, sys: np.ndarray, sett: np.ndarray) -> Any:
                base = pt.dot(x, effects) + offset[sys] + after * xs[:, 0] + setting[sett]
                return pt.stack([base, base + pt.dot(x, shift)])

        sens = prm["reasoning_sensitivity"] if "reasoning_sensitivity" in prm else None
        fpos = prm["reasoning_false_positive"] if "reasoning_false_positive" in prm else None
        g = prm["behaviour_share"] if "behaviour_share" in prm else None
        c = prm["baseline_compliance"] if "baseline_compliance" in prm else None
        terms, systems = [], []
        if len(data.coords["reasoning_obs"]):
            p = pm.Deterministic(
                "tg_rate_reasoning",
                pm.math.sigmoid(logit(data.x_reasoning, data.xs_reasoning, data.sys_reasoning, data.set_reasoning)),
                dims=("component", "reasoning_obs"),
            )
            counts = pm.Data("counts_reasoning", data.counts_reasoning)
            terms.append(_binomial_logp(counts[0], counts[1], p * sens + (1.0 - p) * fpos))
            systems.append(data.sys_reasoning)
        if len(data.coords["compliance_obs"]):
            p = pm.Deterministic(
                "tg_rate_compliance",
                pm.math.sigmoid(logit(data.x_pair, data.xs_pair, data.sys_pair, data.set_pair)),
                dims=("component", "compliance_obs"),
            )
            counts = pm.Data("counts_pair", data.counts_pair)
            cc = c[data.cell_pair]
            gg = g if g is not None else 0.0
            ll = _binomial_logp(counts[0], counts[1], cc + (1.0 - cc) * gg * p)
            terms.append(ll + _binomial_logp(counts[2], counts[3], cc)[None, :])
            systems.append(data.sys_pair)
        if len(data.coords["threshold_obs"]):
            p = pm.Deterministic(
                "tg_rate_threshold",
                pm.math.sigmoid(logit(data.x_threshold, data.xs_threshold, data.sys_threshold, data.set_threshold)),
                dims=("component", "threshold_obs"),
            )
            th = pm.Data("threshold_rows", data.threshold_rows)
            above = _above(data.threshold_rows[3], p, c, data.cell_threshold, g, sens, fpos, th[1], th[0])
            terms.append(th[2] * pt.log(above) + (1.0 - th[2]) * pt.log1p(-above))
            systems.append(data.sys_threshold)
        if not terms:
            raise InputError("the evidence has no counted rows to compare models on", field="evidence")
        ll = pt.concatenate(terms, axis=1)  # (component, row)
        onehot = (np.concatenate(systems)[:, None] == counted[None, :]).astype(float)  # (row, counted system)
        per_system = pt.dot(ll, onehot)  # (component, counted system)
        if kind == "monolithic":
            pm.Potential("rows", per_system.sum())
        else:
            pi = prm["p_misaligned"]
            log_w = pt.stack([pt.log1p(-pi), pt.log(pi)])
            pm.Potential("rows", pt.logsumexp(log_w[:, None] + per_system, axis=0).sum())
    return model


def _compiled_for(kind: str, data: ModelData) -> Any:
    """The nutpie-compiled model of ``kind`` with ``data``'s values (compiled once per graph structure)."""
    from riskmodel.model.sampling import compile_nutpie, compiled_model

    if kind == "model2":
        return compiled_model(data)
    key = (kind, comparator_data(data, kind).structure_key(likelihood=True))
    with _lock:
        if key not in _compiled:
            _compiled[key] = compile_nutpie(build_comparator(data, kind))
        values = {k: v for k, v in data.data_values(likelihood=True).items() if k in _COMPARATOR_DATA}
        return _compiled[key].with_data(**values)


_COMPARATOR_DATA = ("prior_hyper", "counts_reasoning", "counts_pair", "threshold_rows")


def _sample(kind: str, data: ModelData, *, seed: int, chains: int, draws: int, tune: int) -> xr.Dataset:
    """Posterior draws of ``kind`` with every prior-file parameter named (``divergences`` in the attrs)."""
    import nutpie

    from riskmodel.results.result import ADAPTATION, TARGET_ACCEPT

    trace = nutpie.sample(
        _compiled_for(kind, data),
        draws=draws,
        tune=tune,
        chains=chains,
        cores=min(chains, os.cpu_count() or 1),
        seed=seed,
        progress_bar=False,
        target_accept=TARGET_ACCEPT,
        adaptation=ADAPTATION,
    )
    post = trace["posterior"].to_dataset()
    named = data if kind == "model2" else comparator_data(data, kind)
    post = named.split_blocks(post)
    post.attrs["divergences"] = int(trace["sample_stats"]["diverging"].sum())
    return post


# ------------------------------------------------------------------------------------------ pointwise likelihood
def _flat(post: xr.Dataset, name: str) -> np.ndarray:
    """(sample, ...) draws of ``name`` (chain and draw flattened)."""
    x = post[name].transpose("chain", "draw", ...).values
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def _rates(kind: str, post: xr.Dataset, data: ModelData) -> dict[str, np.ndarray]:
    """(sample, component, obs) training-gaming probability of every counted row, per kind of row."""
    out: dict[str, np.ndarray] = {}
    design = {
        "reasoning": (data.x_reasoning, data.xs_reasoning, data.sys_reasoning, data.set_reasoning),
        "compliance": (data.x_pair, data.xs_pair, data.sys_pair, data.set_pair),
        "threshold": (data.x_threshold, data.xs_threshold, data.sys_threshold, data.set_threshold),
    }
    for k, (x, xs, sys, sett) in design.items():
        if not x.shape[0]:
            continue
        if kind == "model2":
            from riskmodel.model.likelihood import _logits

            out[k] = expit(_logits(post, data, x, xs, sys, sett))[:, None, :]
        else:
            out[k] = _flat(post, f"tg_rate_{k}")
    return out


def _probabilities(kind: str, post: xr.Dataset, data: ModelData) -> dict[str, Any]:
    """Per kind of row, (sample, component, obs) probabilities of what was counted.

    ``reasoning``: the flagged share ``p sens + (1 - p) fp``; ``compliance``: ``(q_train, c)`` with
    ``q_train = c + (1 - c) g p``; ``threshold``: P(observed gap or rate > threshold) (normal approximation).
    """
    from riskmodel.model.likelihood import _gap_above, _rate_above

    s = data.sampled if kind == "model2" else comparator_data(data, kind).sampled
    rates = _rates(kind, post, data)
    sens = _flat(post, "reasoning_sensitivity")[:, None, None] if "reasoning_sensitivity" in s else None
    fpos = _flat(post, "reasoning_false_positive")[:, None, None] if "reasoning_false_positive" in s else None
    g = _flat(post, "behaviour_share")[:, None, None] if "behaviour_share" in s else 0.0
    c = _flat(post, "baseline_compliance")[:, None, :] if "baseline_compliance" in s else None
    out: dict[str, Any] = {}
    if "reasoning" in rates:
        p = rates["reasoning"]
        out["reasoning"] = p * sens + (1.0 - p) * fpos
    if "compliance" in rates:
        p = rates["compliance"]
        cc = c[..., data.cell_pair]  # type: ignore[index]
        out["compliance"] = (cc + (1.0 - cc) * g * p, np.broadcast_to(cc, p.shape))
    if "threshold" in rates:
        p = rates["threshold"]
        t, n, _, kinds = data.threshold_rows
        gap = _gap_above(p, c[..., data.cell_threshold], g, n, t) if (kinds == 0).any() else 0.0  # type: ignore[index]
        rate = _rate_above(p, sens, fpos, n, t) if (kinds == 1).any() else 0.0
        out["threshold"] = np.where(kinds == 0, gap, rate)
    return out


def row_loglik(kind: str, post: xr.Dataset, data: ModelData) -> np.ndarray:
    """(sample, component, row) log-probability of every counted row given the parameters (and the component).

    With every normalizing constant (binomial coefficients), in the order of :func:`counted_rows`. For model 2 the
    single component's terms are :func:`riskmodel.model.likelihood.pointwise_log_likelihood`'s.
    """
    if kind == "model2":
        from riskmodel.model.likelihood import pointwise_log_likelihood

        terms = pointwise_log_likelihood(post, data)
        return np.concatenate([terms[k] for k in KINDS if k in terms], axis=1)[:, None, :]
    from riskmodel.model.likelihood import _binom

    prob = _probabilities(kind, post, data)
    cols = []
    if "reasoning" in prob:
        k, n = data.counts_reasoning
        cols.append(_binom(k, n, prob["reasoning"]))
    if "compliance" in prob:
        q_t, c = prob["compliance"]
        kt, nt, ku, nu = data.counts_pair
        cols.append(_binom(kt, nt, q_t) + _binom(ku, nu, c))
    if "threshold" in prob:
        above = prob["threshold"]
        outcome = data.threshold_rows[2]
        cols.append(outcome * np.log(above) + (1.0 - outcome) * np.log1p(-above))
    return np.concatenate(cols, axis=-1)


def _component_weights(kind: str, post: xr.Dataset) -> np.ndarray | None:
    """(sample, component) log prior weights of the dispositions in (b); None in the single-component models."""
    if kind != "model1":
        return None
    pi = _flat(post, "p_misaligned")
    return np.stack([np.log1p(-pi), np.log(pi)], axis=-1)


def _loo_terms(kind: str, ll: np.ndarray, log_w: np.ndarray | None, rows: list[CountedRow]) -> tuple[Any, Any]:
    """Pointwise terms (sample, row) and log P(component | theta, y_-i) (sample, component, row).

    Single-component models: the row's own term, the component's probability 1. Model 1: the row given the other
    rows of its system (see the module docstring) and the disposition's probability given those other rows.
    """
    if log_w is None:
        return ll[:, 0, :], np.zeros((ll.shape[0], 1, ll.shape[2]))
    sys = np.array([r.system for r in rows])
    out = np.empty((ll.shape[0], ll.shape[2]))
    log_post = np.empty_like(ll)
    for s in np.unique(sys):
        members = np.flatnonzero(sys == s)
        total = ll[..., members].sum(axis=-1)  # (sample, component)
        joint = logsumexp(log_w + total, axis=-1)
        for i in members:
            rest = log_w + total - ll[..., i]
            norm = logsumexp(rest, axis=-1)
            out[:, i] = joint - norm
            log_post[:, :, i] = rest - norm[:, None]
    return out, log_post


def pointwise_loglik(kind: str, post: xr.Dataset, data: ModelData, rows: list[CountedRow]) -> xr.DataArray:
    """(chain, draw, row) pointwise term ``log p(y_i | theta, y_-i)`` of leave-one-row-out for model ``kind``."""
    ll = row_loglik(kind, post, data)
    out, _ = _loo_terms(kind, ll, _component_weights(kind, post), rows)
    shape = (post.sizes["chain"], post.sizes["draw"], len(rows))
    return xr.DataArray(out.reshape(shape), dims=("chain", "draw", "row"), coords={"row": [r.id for r in rows]})


# ------------------------------------------------------------------------------------------ predictive intervals
def _interval(values: np.ndarray, weights: np.ndarray, prob: float) -> tuple[float, float]:
    """Central ``prob`` interval of a weighted discrete distribution (inverse-CDF quantiles)."""
    order = np.argsort(values, kind="stable")
    v, cw = values[order], np.cumsum(weights[order])
    cw /= cw[-1]
    at = np.searchsorted(cw, [(1.0 - prob) / 2.0, (1.0 + prob) / 2.0]).clip(0, v.size - 1)
    return float(v[at[0]]), float(v[at[1]])


def _row_predictive(
    row: CountedRow,
    i: int,
    prob: dict[str, Any],
    comp: np.ndarray,
    weights: np.ndarray,
    data: ModelData,
    rng: np.random.Generator,
    level: float,
) -> dict[str, float]:
    """Predictive mean and central interval of row ``i``'s observed quantity; ``comp`` (sample, component) probs."""
    n_s = weights.size
    if row.kind == "threshold":
        above = (prob["threshold"][..., row.column] * comp).sum(axis=1)
        pi = float((weights * above).sum() / weights.sum())
        lo = 1.0 if pi > (1.0 + level) / 2.0 else 0.0
        hi = 0.0 if pi < (1.0 - level) / 2.0 else 1.0
        p_obs = pi if row.observed == 1.0 else 1.0 - pi
        return {"mean": pi, "lower": lo, "upper": hi, "p_observed": p_obs}
    # the component of each replicate, then its counts
    cum = np.cumsum(comp, axis=1)
    pick = (rng.random((n_s, REPLICATES, 1)) > cum[:, None, :]).sum(axis=-1).clip(0, comp.shape[1] - 1)
    idx = np.arange(n_s)[:, None]
    if row.kind == "reasoning":
        q = prob["reasoning"][..., row.column][idx, pick]
        n = int(data.counts_reasoning[1, row.column])
        stat = rng.binomial(n, q) / n
    else:
        q_t, c = (x[..., row.column][idx, pick] for x in prob["compliance"])
        _, nt, _, nu = (int(v) for v in data.counts_pair[:, row.column])
        rate_t = rng.binomial(nt, q_t) / nt if nt else 0.0
        rate_u = rng.binomial(nu, c) / nu if nu else 0.0
        stat = rate_t - rate_u if nt and nu else (rate_t if nt else rate_u)
        stat = np.broadcast_to(stat, q_t.shape)
    w = np.repeat(weights / weights.sum(), REPLICATES) / REPLICATES
    lo, hi = _interval(stat.ravel(), w, level)
    return {"mean": float((stat.ravel() * w).sum()), "lower": lo, "upper": hi, "p_observed": float("nan")}


#: Grid points of the integral over a left-out cell's baseline compliance.
CELL_GRID = 4000


def _cell_integrated(kind: str, post: xr.Dataset, data: ModelData, row: CountedRow) -> np.ndarray | None:
    """(sample, component) log-probability of a left-out row with its cell's baseline compliance integrated out.

    A compliance cell (and a compliance-gap threshold row) has its own baseline compliance ``c``, which no other row
    informs: without the row its posterior is its prior, whatever the other parameters. So the row's leave-one-out
    predictive density given the other parameters is ``int p(y | theta, c) prior(c) dc`` exactly, computed on a
    grid instead of averaged over the refit's prior draws of ``c`` (whose Monte Carlo error would dominate the
    row's elpd). None for rows without their own cell.
    """
    from riskmodel.data.distributions import frozen
    from riskmodel.model.likelihood import _binom, _gap_above

    if row.kind == "reasoning" or "baseline_compliance" not in data.sampled:
        return None
    if row.kind == "threshold" and data.threshold_rows[3, row.column] != 0:
        return None
    cell = data.cell_pair[row.column] if row.kind == "compliance" else data.cell_threshold[row.column]
    gap_cells = data.cell_threshold[data.threshold_rows[3] == 0]
    if int((data.cell_pair == cell).sum() + (gap_cells == cell).sum()) != 1:
        return None  # the cell is shared with another row: its compliance is not a prior draw
    family = data.families["baseline_compliance"]
    names = {"Beta": ("alpha", "beta")}.get(family)
    if names is None:
        return None
    args = {a: float(data.prior_hyper[data.hyper_index[f"baseline_compliance.{a}"]]) for a in names}
    # a grid uniform in log-odds resolves counts near 0 or 1 as finely as those in between
    u = np.linspace(-30.0, 30.0, CELL_GRID)
    grid = expit(u)
    log_w = frozen(family, args).logpdf(grid) + np.log(grid) + np.log1p(-grid)  # density of u
    log_w = log_w - logsumexp(log_w)
    p_all = _rates(kind, post, data)[row.kind][..., row.column]  # (sample, component)
    s = data.sampled if kind == "model2" else comparator_data(data, kind).sampled
    g_all = _flat(post, "behaviour_share") if "behaviour_share" in s else np.zeros(p_all.shape[0])
    c = grid[None, None, :]
    out = np.empty(p_all.shape)
    for start in range(0, p_all.shape[0], 256):  # chunks of draws: (chunk, component, grid) stays small
        p = p_all[start : start + 256, :, None]
        g = g_all[start : start + 256, None, None]
        if row.kind == "compliance":
            kt, nt, ku, nu = data.counts_pair[:, row.column]
            ll = _binom(kt, nt, c + (1.0 - c) * g * p) + _binom(ku, nu, c)
        else:
            t, n, outcome, _ = data.threshold_rows[:, row.column]
            above = _gap_above(p, c, g, n, t)
            ll = np.log(above) if outcome == 1.0 else np.log1p(-above)
        out[start : start + 256] = logsumexp(ll + log_w, axis=-1)
    return out


# --------------------------------------------------------------------------------------------------- LOO fits
@dataclass
class ModelFit:
    """One model fitted to the counted rows, its leave-one-row-out elpd and predictive intervals."""

    kind: str
    data: ModelData
    rows: list[CountedRow]
    posterior: xr.Dataset
    loglik: xr.DataArray  # (chain, draw, row) pointwise terms
    elpd_i: np.ndarray  # after exact refits
    elpd_psis: np.ndarray  # PSIS estimate before refits
    pareto_k: np.ndarray  # Pareto k of PSIS before any refit
    refitted: tuple[str, ...]
    loo_predictive: pd.DataFrame
    divergences: dict[str, int] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def elpd(self) -> float:
        """Leave-one-row-out elpd (sum over rows)."""
        return float(self.elpd_i.sum())

    @property
    def se(self) -> float:
        """Standard error of the elpd."""
        n = self.elpd_i.size
        return float(np.sqrt(n * np.var(self.elpd_i, ddof=1))) if n > 1 else float("nan")

    @property
    def coverage(self) -> float:
        """Share of counted rows whose observed value lies in the leave-one-row-out 90% predictive interval."""
        return float(self.loo_predictive["covered"].mean())


def _reff(kind: str, post: xr.Dataset, data: ModelData) -> float:
    """Relative efficiency of the draws: mean ESS of the sampled variables over the number of draws."""
    import arviz_stats as azs

    if post.sizes["chain"] == 1:
        return 1.0
    if kind == "model2":
        names = [*sorted(data.sampled), "pattern", "competence"]
    else:
        names = [*sorted(comparator_data(data, kind).sampled), "offset_z", "elicitation_log_odds"]
    sub = post[[n for n in names if n in post]]
    ess = azs.ess(sub, method="mean")
    values = np.concatenate([np.atleast_1d(ess[v].values).ravel() for v in ess.data_vars])
    return float(np.clip(np.nanmean(values) / (post.sizes["chain"] * post.sizes["draw"]), 0.01, 1.0))


def fit_model(
    kind: str,
    priors: str | PriorSet = DEFAULT_PRIORS,
    evidence: str | EvidenceSet = DEFAULT_EVIDENCE,
    *,
    seed: int = 1,
    chains: int = 4,
    draws: int = 1000,
    tune: int = 1000,
    posterior: xr.Dataset | None = None,
    k_threshold: float = K_THRESHOLD,
    refit: dict[str, int] | None = None,
    prob: float = PREDICTIVE_PROB,
) -> ModelFit:
    """Fit model ``kind`` (or take its ``posterior``), run PSIS-LOO over the counted rows, refit the rows with k > 0.7.

    Parameters
    ----------
    posterior
        Posterior draws of ``kind`` on this evidence (e.g. the default fit's for ``model2``): not sampled again.
    refit
        ``chains``/``draws``/``tune`` of the exact refits (default: those of the fit).
    prob
        Probability of the leave-one-row-out predictive intervals.
    """
    import arviz_stats as azs

    if kind not in MODELS:
        raise InputError(f"unknown model {kind!r} (known: {', '.join(MODELS)})", field="model")
    ps, ev = load_priors(priors), load_evidence(evidence)
    data = model_data(ps, ev)
    rows = counted_rows(ev, data)
    if not rows:
        raise InputError("the evidence has no counted rows to compare models on", field="evidence")
    settings = {"seed": seed, "chains": chains, "draws": draws, "tune": tune}
    refit_settings = {**settings, **(refit or {})}
    post = posterior if posterior is not None else _sample(kind, data, **settings)
    divergences = {"fit": int(post.attrs.get("divergences", 0))}
    ll_all = row_loglik(kind, post, data)
    log_w = _component_weights(kind, post)
    terms, log_comp = _loo_terms(kind, ll_all, log_w, rows)
    shape = (post.sizes["chain"], post.sizes["draw"], len(rows))
    loglik = xr.DataArray(terms.reshape(shape), dims=("chain", "draw", "row"), coords={"row": [r.id for r in rows]})
    tree = xr.DataTree.from_dict({"posterior": xr.Dataset(), "log_likelihood": xr.Dataset({"y": loglik})})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Pp]areto.*")
        psis = azs.loo(tree, pointwise=True, var_name="y", reff=_reff(kind, post, data))
    pareto_k = np.asarray(psis.pareto_k.values, dtype=float)
    elpd_psis = np.asarray(psis.elpd_i.values, dtype=float)
    log_weights = np.asarray(psis.log_weights.transpose("chain", "draw", "row").values).reshape(-1, len(rows))
    prob_all = _probabilities(kind, post, data)
    rng = np.random.default_rng([seed, 0x100])
    elpd_i = elpd_psis.copy()
    refitted: list[str] = []
    table = []
    for i, row in enumerate(rows):
        bad = not np.isfinite(pareto_k[i]) or pareto_k[i] > k_threshold
        if bad:
            sub = _sample(kind, without_row(data, row), **{**refit_settings, "seed": seed + 1000 + i})
            divergences[row.id] = int(sub.attrs.get("divergences", 0))
            ll_sub = row_loglik(kind, sub, data)
            t_sub, c_sub = _loo_terms(kind, ll_sub, _component_weights(kind, sub), rows)
            own = _cell_integrated(kind, sub, data, row)
            term = t_sub[:, i] if own is None else logsumexp(c_sub[:, :, i] + own, axis=1)
            elpd_i[i] = float(logsumexp(term) - np.log(term.size))
            pred = _row_predictive(
                row,
                i,
                _probabilities(kind, sub, data),
                np.exp(c_sub[:, :, i]),
                np.ones(t_sub.shape[0]),
                data,
                rng,
                prob,
            )
            refitted.append(row.id)
        else:
            w = np.exp(log_weights[:, i] - log_weights[:, i].max())
            pred = _row_predictive(row, i, prob_all, np.exp(log_comp[:, :, i]), w, data, rng, prob)
        covered = pred["lower"] <= row.observed + 1e-12 and row.observed <= pred["upper"] + 1e-12
        table.append(
            {
                "row": row.id,
                "kind": row.kind,
                "system": row.system_name,
                "label": row.label,
                "observed": row.observed,
                "predicted_mean": pred["mean"],
                "lower": pred["lower"],
                "upper": pred["upper"],
                "p_observed": pred["p_observed"],
                "covered": bool(covered),
                "elpd_i": elpd_i[i],
                "pareto_k": pareto_k[i],
                "refitted": bad,
            }
        )
    loo_pred = pd.DataFrame(table).set_index("row")
    return ModelFit(
        kind,
        data,
        rows,
        post,
        loglik,
        elpd_i,
        elpd_psis,
        pareto_k,
        tuple(refitted),
        loo_pred,
        divergences,
        {**settings, "refit": refit_settings, "k_threshold": k_threshold, "prob": prob},
    )


def predictive(fit: ModelFit, *, seed: int = 1, prob: float = PREDICTIVE_PROB) -> pd.DataFrame:
    """In-sample posterior predictive check: every counted row's central ``prob`` interval under the full posterior.

    In model 1 each replicate first draws the system's disposition from its posterior given all of the system's rows.
    """
    data, rows, post = fit.data, fit.rows, fit.posterior
    ll = row_loglik(fit.kind, post, data)
    log_w = _component_weights(fit.kind, post)
    if log_w is None:
        comp_all = np.ones((ll.shape[0], 1))
    else:
        sys = np.array([r.system for r in rows])
        comp_all = None
    prob_all = _probabilities(fit.kind, post, data)
    rng = np.random.default_rng([seed, 0x200])
    out = []
    for i, row in enumerate(rows):
        if comp_all is None:
            joint = log_w + ll[..., sys == row.system].sum(axis=-1)  # type: ignore[operator]
            comp = np.exp(joint - logsumexp(joint, axis=-1, keepdims=True))
        else:
            comp = comp_all
        pred = _row_predictive(row, i, prob_all, comp, np.ones(ll.shape[0]), data, rng, prob)
        covered = pred["lower"] <= row.observed + 1e-12 and row.observed <= pred["upper"] + 1e-12
        out.append(
            {
                "row": row.id,
                "kind": row.kind,
                "label": row.label,
                "observed": row.observed,
                **pred,
                "covered": bool(covered),
            }
        )
    return pd.DataFrame(out).set_index("row")


# ------------------------------------------------------------------------------------------------- comparison
def preference(a: ModelFit, b: ModelFit) -> dict[str, Any]:
    """How much better ``b`` predicts the counted rows than ``a``: elpd(b) - elpd(a), its SE, and the verdict."""
    diff = b.elpd_i - a.elpd_i
    n = diff.size
    se = float(np.sqrt(n * np.var(diff, ddof=1))) if n > 1 else float("nan")
    d = float(diff.sum())
    if np.isfinite(se) and d > PREFER_SE * se:
        verdict = f"prefers {b.kind}"
    elif np.isfinite(se) and -d > PREFER_SE * se:
        verdict = f"prefers {a.kind}"
    else:
        verdict = "no preference"
    return {"a": a.kind, "b": b.kind, "elpd_diff": d, "se": se, "verdict": verdict, "n_rows": n}


@dataclass
class Comparison:
    """Every model's fit, the comparison table, the pairwise verdicts and the per-row predictive intervals."""

    fits: dict[str, ModelFit]
    table: pd.DataFrame
    pairs: pd.DataFrame

    @property
    def best(self) -> str:
        """The model with the highest elpd."""
        return str(self.table.index[0])

    def pointwise(self) -> pd.DataFrame:
        """Per counted row and model: leave-one-row-out interval, observed value, covered, elpd_i, Pareto k."""
        return pd.concat({m: f.loo_predictive for m, f in self.fits.items()}, names=["model"]).reset_index()

    def coverage(self) -> pd.DataFrame:
        """Per model and kind of row (and overall): rows, rows covered and coverage of the 90% LOO intervals."""
        out = []
        for m, f in self.fits.items():
            df = f.loo_predictive
            for kind, sub in [("all", df), *df.groupby("kind", sort=False)]:
                out.append(
                    {
                        "model": m,
                        "kind": kind,
                        "rows": len(sub),
                        "covered": int(sub["covered"].sum()),
                        "coverage": float(sub["covered"].mean()),
                    }
                )
        return pd.DataFrame(out)


def compare_models(
    priors: str | PriorSet = DEFAULT_PRIORS,
    evidence: str | EvidenceSet = DEFAULT_EVIDENCE,
    *,
    models: tuple[str, ...] = MODELS,
    seed: int = 1,
    chains: int = 4,
    draws: int = 1000,
    tune: int = 1000,
    posteriors: dict[str, xr.Dataset] | None = None,
    refit: dict[str, int] | None = None,
) -> Comparison:
    """Fit ``models`` to the same counted rows and compare them by leave-one-row-out elpd.

    ``posteriors`` may hold already sampled posteriors (e.g. the default fit's for ``model2``). The table has per
    model: elpd and its SE, the difference to the best model and its SE, the largest Pareto k before refits, the rows
    refitted, the coverage of the 90% leave-one-row-out intervals and the verdict against the best model.
    """
    fits = {
        m: fit_model(
            m,
            priors,
            evidence,
            seed=seed,
            chains=chains,
            draws=draws,
            tune=tune,
            posterior=(posteriors or {}).get(m),
            refit=refit,
        )
        for m in models
    }
    order = sorted(fits, key=lambda m: -fits[m].elpd)
    best = fits[order[0]]
    rows = []
    for m in order:
        f = fits[m]
        pref = preference(f, best) if m != best.kind else None
        rows.append(
            {
                "model": m,
                "label": MODEL_LABELS[m],
                "elpd": f.elpd,
                "se": f.se,
                "elpd_diff": 0.0 if pref is None else -pref["elpd_diff"],
                "dse": 0.0 if pref is None else pref["se"],
                "max_pareto_k": float(np.nanmax(f.pareto_k)),
                "rows_k_above_0.7": int((~(f.pareto_k <= K_THRESHOLD)).sum()),
                "rows_refitted": len(f.refitted),
                "coverage": f.coverage,
                "divergences": int(sum(f.divergences.values())),
                "verdict_vs_best": "best"
                if pref is None
                else ("worse" if pref["verdict"] == f"prefers {best.kind}" else pref["verdict"]),
            }
        )
    table = pd.DataFrame(rows).set_index("model")
    pairs = pd.DataFrame(
        [preference(fits[a], fits[b]) for i, a in enumerate(models) for b in models[i + 1 :]]
    ).set_index(["a", "b"])
    return Comparison(fits, table, pairs)


# ----------------------------------------------------------------------------------------------------- figures
def plot_predictive(cmp: Comparison) -> Figure:
    """One column per model: the leave-one-row-out 90% interval of every counted row against the observed value.

    Top: reasoning rates and compliance gaps (red dots: outside the interval); bottom: the leave-one-row-out
    probability of each threshold row's observed outcome (red below 5%: outside the central 90% interval).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fits = list(cmp.fits.values())
    first = fits[0].loo_predictive
    counts = first[first["kind"] != "threshold"]
    thresholds = first[first["kind"] == "threshold"]
    heights = [max(len(counts), 1), max(len(thresholds), 1)]
    fig, axes = plt.subplots(
        2,
        len(fits),
        figsize=(3.6 * len(fits) + 6.0, 0.2 * sum(heights) + 2.4),
        gridspec_kw={"height_ratios": heights},
        sharey="row",
        squeeze=False,
    )
    for j, f in enumerate(fits):
        df = f.loo_predictive
        top, bottom = axes[0, j], axes[1, j]
        c = df[df["kind"] != "threshold"]
        y = np.arange(len(c))[::-1]
        top.hlines(y, c["lower"], c["upper"], color="tab:blue", lw=3, alpha=0.5, label="90% LOO interval")
        top.plot(c["predicted_mean"], y, "|", color="tab:blue", ms=8)
        top.scatter(c["observed"], y, c=np.where(c["covered"], "black", "tab:red"), s=14, zorder=3, label="observed")
        top.set_title(f"{MODEL_LABELS[f.kind]}\ncoverage {f.coverage:.0%}", fontsize=8)
        top.set_xlim(-0.45, 1.0)
        top.axvline(0, color="0.7", lw=0.6)
        top.set_xlabel("rate (reasoning) or gap (compliance)", fontsize=7)
        t = df[df["kind"] == "threshold"]
        yt = np.arange(len(t))[::-1]
        colors = np.where(t["covered"], "tab:blue", "tab:red")
        bottom.barh(yt, t["p_observed"], color=colors, height=0.7)
        bottom.axvline((1 - PREDICTIVE_PROB) / 2, color="k", ls="--", lw=0.8)
        bottom.set_xlim(0, 1)
        bottom.set_xlabel("LOO P(observed threshold outcome)", fontsize=7)
        if j == 0:
            top.set_yticks(y, list(counts["label"]), fontsize=5)
            bottom.set_yticks(yt, list(thresholds["label"]), fontsize=5)
    axes[0, -1].legend(fontsize=6, loc="lower right")
    fig.subplots_adjust(left=0.3, right=0.98, bottom=0.07, top=0.95, wspace=0.08, hspace=0.12)
    return fig


# ------------------------------------------------------------------------------------------ contraction, honesty
def contraction_table(result: FitResult) -> pd.DataFrame:
    """Prior vs posterior sd of every assumption of a model-2 fit (:func:`riskmodel.results.report.contraction`)."""
    from riskmodel.results.report import contraction

    rows = [{"assumption": k, **v} for k, v in contraction(result).items()]
    return pd.DataFrame(rows)


def unobserved_context_effects(
    result: FitResult, coordinate: str = "no_scratchpad", *, prob: float = PREDICTIVE_PROB
) -> pd.DataFrame:
    """Observed per-system effects of one pattern coordinate against the predictions for systems never observed there.

    For every system whose counts inform ``coordinate`` (it is sampled centred): its posterior mean and ``prob``
    interval. For every other system (``new`` included): the posterior predictive ``prob`` interval of its effect,
    drawn from the population given the posterior (its generated copies, mixed over its disposition with
    ``p_misaligned_system``); the system's behaviour in such a context is its log-odds in an observed context plus
    this effect, so the interval is what the model predicts for the behaviour change. ``covers_largest``: the
    interval contains the observed effect largest in magnitude; ``covers_range``: it contains every observed mean.
    """
    from riskmodel.model.quantities import patterns
    from riskmodel.model.summaries import weighted_quantile

    if coordinate not in COORDINATES:
        raise InputError(f"unknown coordinate {coordinate!r} (known: {', '.join(COORDINATES)})", field="coordinate")
    k = COORDINATES.index(coordinate)
    lay = result.data.layout
    post = result.posterior
    systems = list(result.data.coords["system"])
    observed = {}
    at = np.flatnonzero((lay.free_coord == k) & lay.centred)
    for i in at:
        x = post["pattern"].isel(free=int(i)).values.ravel()
        observed[systems[lay.free_system[i]]] = x
    pat = patterns(post, lay)
    lo_q, hi_q = (1 - prob) / 2, (1 + prob) / 2
    rows = []
    for s, x in observed.items():
        lo, hi = np.quantile(x, [lo_q, hi_q])
        rows.append({"system": s, "observed": True, "mean": float(x.mean()), "lower": lo, "upper": hi})
    informed = set(zip(lay.free_system.tolist(), lay.free_coord.tolist(), strict=True))
    for j, s in enumerate(systems):
        if (j, k) in informed:
            continue
        al, mis, _ = pat.system(j)
        p = pat.p_misaligned[..., j]
        values = np.concatenate([al[..., k].ravel(), mis[..., k].ravel()])
        w = np.concatenate([(1 - p).ravel(), p.ravel()])
        w = w / w.sum()
        lo, hi = weighted_quantile(values, [lo_q, hi_q], w)
        rows.append({"system": s, "observed": False, "mean": float((values * w).sum()), "lower": lo, "upper": hi})
    df = pd.DataFrame(rows)
    means = df.loc[df["observed"], "mean"]
    if len(means):
        largest = float(means.iloc[int(np.argmax(np.abs(means.to_numpy())))])
        df["covers_largest"] = (df["lower"] <= largest) & (largest <= df["upper"])
        df["covers_range"] = (df["lower"] <= means.min()) & (means.max() <= df["upper"])
        df.attrs["largest_observed"] = largest
    df.attrs["coordinate"] = coordinate
    return df


# ------------------------------------------------------------------------------------------------ simulated data
SIMULATED_SYSTEMS: dict[str, tuple[float, float, float]] = {
    # intercept, value-conflict effect, no-scratchpad effect (log-odds) of each system under truth "model2"
    "sim-a": (-4.0, 3.0, -2.0),
    "sim-b": (-3.5, 2.5, 1.5),
    "sim-c": (-5.0, 4.0, 0.0),
    "sim-d": (-3.0, 1.5, -1.0),
    "sim-e": (-4.5, 3.5, 0.0),
    "sim-f": (-3.0, 2.0, 0.0),
    "sim-g": (-3.5, 3.0, -1.5),
    "sim-h": (-4.0, 3.0, 1.0),
    "sim-i": (-4.0, 2.5, 0.0),
    "sim-j": (-3.5, 4.0, 0.0),
}
#: Training-gaming rate of each system in every context under truth "monolithic".
SIMULATED_RATES: dict[str, float] = {
    "sim-a": 0.10,
    "sim-b": 0.20,
    "sim-c": 0.05,
    "sim-d": 0.15,
    "sim-e": 0.08,
    "sim-f": 0.12,
    "sim-g": 0.18,
    "sim-h": 0.06,
    "sim-i": 0.10,
    "sim-j": 0.16,
}
#: Contexts (value conflict, scratchpad) of each simulated system's reasoning counts, and whether it has a
#: compliance cell (value conflict, scratchpad).
SIMULATED_DESIGN: dict[str, tuple[tuple[tuple[str, str], ...], bool]] = {
    **{s: ((("yes", "yes"), ("yes", "no"), ("no", "yes"), ("no", "no")), True) for s in ("sim-a", "sim-b")},
    **{s: ((("yes", "yes"), ("yes", "no"), ("no", "yes"), ("no", "no")), True) for s in ("sim-c", "sim-d")},
    **{s: ((("yes", "yes"), ("no", "yes")), False) for s in ("sim-e", "sim-f", "sim-i", "sim-j")},
    **{s: ((("yes", "yes"), ("yes", "no")), False) for s in ("sim-g", "sim-h")},
}


def simulated_evidence(truth: str, *, seed: int = 0, n: int = 400) -> EvidenceSet:
    """Counts simulated from a known truth, for checking that the comparison recovers it.

    Ten systems (:data:`SIMULATED_DESIGN`): four with reasoning counts in the four contexts value conflict x
    scratchpad and a compliance cell (value conflict, scratchpad), four with and without value conflict, two with and
    without a scratchpad; ``n`` episodes per count, sensitivity 0.8, false-positive rate 0.01, baseline compliance
    0.1, behaviour share 0.7. ``truth = "model2"``: per-system patterns (:data:`SIMULATED_SYSTEMS`: the
    no-scratchpad effect differs in sign between systems); ``truth = "monolithic"``: one rate per system
    (:data:`SIMULATED_RATES`). Both truths give the same rows (same ids): the same graph, so one compiled model
    serves both.
    """
    if truth not in ("model2", "monolithic"):
        raise InputError(f"unknown truth {truth!r} (known: model2, monolithic)", field="truth")
    rng = np.random.default_rng([seed, 7])
    rows = []

    def row(rid: str, system: str, condition: str, vc: str, sp: str, quantity: str, k: int) -> EvidenceRow:
        return EvidenceRow(
            id=rid,
            source="SIM",
            system=system,
            setting="helpful-only",
            stage="pre-rl",
            condition=condition,
            training_info="prompted",
            scratchpad=sp,
            value_conflict=vc,
            quantity=quantity,
            k=k,
            n=n,
            rate=k / n,
            k_is_derived=False,
            where_read=f"simulated ({truth}, seed {seed})",
        )

    for s, (contexts, cell) in SIMULATED_DESIGN.items():
        a, vc_eff, ns_eff = SIMULATED_SYSTEMS[s]
        for vc, sp in contexts:
            if truth == "model2":
                p = float(expit(a + vc_eff * (vc == "yes") + ns_eff * (sp == "no")))
            else:
                p = SIMULATED_RATES[s]
            k = int(rng.binomial(n, p * 0.8 + (1 - p) * 0.01))
            rows.append(row(f"{s}-vc-{vc}-sp-{sp}-tgr", s, "training", vc, sp, "training_gaming_reasoning", k))
        if cell:
            p = float(expit(a + vc_eff)) if truth == "model2" else SIMULATED_RATES[s]
            k_t, k_u = int(rng.binomial(n, 0.1 + 0.63 * p)), int(rng.binomial(n, 0.1))
            rows.append(row(f"{s}-comp-train", s, "training", "yes", "yes", "complied", k_t))
            rows.append(row(f"{s}-comp-unmon", s, "unmonitored", "yes", "yes", "complied", k_u))
    return EvidenceSet(
        name=f"simulated-{truth}",
        version=f"0.0.{seed}",
        date="2026-12-01",
        summary=f"Simulated from the {truth} truth (riskmodel.analysis.comparison.simulated_evidence)",
        changelog="simulated",
        sources={"SIM": "simulated data"},
        rows=tuple(rows),
        path=f"<simulated-{truth}>",
    )

"""The model's log-likelihood and log prior in numpy, per draw: a transcription of :mod:`riskmodel.model.graph`.

Used where a density of given parameter values is needed outside the sampler: power-scaling sensitivity (log prior and
log likelihood of every posterior draw), leave-one-row-out cross-validation (pointwise terms), the exact
importance-sampling check of the fit (tests), and the check that :mod:`riskmodel.model.informed` names exactly the
parameters the likelihood depends on. A test checks it against the compiled model's own log density.

Unlike the graph it keeps every normalizing constant (binomial coefficients, the Student-t constant), so its terms are
proper log-probabilities of the published counts.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import stats
from scipy.special import expit, gammaln, logsumexp, ndtr, ndtri, xlog1py, xlogy

from riskmodel.data.features import COORDINATES
from riskmodel.data.priors import CAPABILITIES, PriorSet
from riskmodel.model.spec import ModelData

__all__ = ["log_likelihood", "log_prior", "pattern_prior_terms", "pointwise_log_likelihood"]


def _v(params: xr.Dataset | dict[str, np.ndarray], name: str) -> np.ndarray:
    """(sample, ...) values of a variable (chain and draw flattened)."""
    if isinstance(params, dict):
        return np.asarray(params[name])
    da = params[name]
    x = da.transpose("chain", "draw", ...).values
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def _binom(k: np.ndarray, n: np.ndarray, q: np.ndarray) -> np.ndarray:
    q = np.clip(q, 1e-12, 1.0 - 1e-12)
    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1) + xlogy(k, q) + xlog1py(n - k, -q)


def _t_logpdf(z: np.ndarray, nu: float) -> np.ndarray:
    return stats.t.logpdf(z, nu)


def _coordinates(params: xr.Dataset | dict, data: ModelData, suffix: str, fill: float) -> np.ndarray:
    """(sample, coordinate) values of ``{coordinate}_{suffix}``, ``fill`` where the coordinate is not sampled."""
    cols = []
    n = None
    for c in COORDINATES:
        name = f"{c}_{suffix}"
        if name in data.sampled:
            x = _v(params, name)
            n = x.shape[0]
            cols.append(x)
        else:
            cols.append(None)
    n = n or 1
    return np.stack([np.full(n, fill) if x is None else x for x in cols], axis=1)


def pattern_prior_terms(params: xr.Dataset | dict, data: ModelData) -> tuple[np.ndarray, np.ndarray]:
    """Per (sample, system): the log density of the system's sampled coordinates given each disposition.

    Returns ``(joint, has)``: ``joint[..., d] = log w_d + sum log density``; ``has`` marks systems with sampled
    coordinates. P(misaligned | pattern) is ``exp(joint[..., 1] - logsumexp(joint, -1))``.
    """
    lay = data.layout
    n_sys = len(data.coords["system"])
    if not lay.free_system.size:
        return np.zeros((1, n_sys, 2)), np.zeros(n_sys, dtype=bool)
    nu = data.tail_df
    a = _coordinates(params, data, "aligned", 0.0)
    sep = _coordinates(params, data, "separation", 0.0)
    tau = _coordinates(params, data, "spread", 1.0)
    pattern = _v(params, "pattern")
    kappa = np.zeros((pattern.shape[0], n_sys))
    if lay.competent.size:
        kappa[:, lay.competent] = _v(params, "competence")
    loading = _v(params, "competence_loading") if "competence_loading" in data.sampled else np.zeros(pattern.shape[0])
    fs, fc = lay.free_system, lay.free_coord
    centre = a[:, fc] + np.where(fc == 0, loading[:, None] * kappa[:, fs], 0.0)
    z = (pattern - centre) / tau[:, fc]
    log_tau = np.log(tau[:, fc])
    shift = sep[:, fc] / tau[:, fc]
    lt = np.stack([_t_logpdf(z, nu) - log_tau, _t_logpdf(z - shift, nu) - log_tau], axis=-1)  # (sample, free, d)
    ll_d = np.einsum("nfd,fs->nsd", lt, np.eye(n_sys)[fs])
    pi = _v(params, "p_misaligned")[:, None]
    joint = ll_d + np.stack([np.log1p(-pi), np.log(pi)], axis=-1)
    has = np.zeros(n_sys, dtype=bool)
    has[fs] = True
    return joint, has


def _logits(
    params: xr.Dataset | dict, data: ModelData, x: np.ndarray, xs: np.ndarray, sys: np.ndarray, sett: np.ndarray
):
    lay = data.layout
    pattern = _v(params, "pattern")
    n = pattern.shape[0]
    theta = np.zeros((n, len(data.coords["system"]), len(COORDINATES)))
    theta[:, lay.free_system, lay.free_coord] = pattern
    out = np.einsum("nok,ok->no", theta[:, sys], x)
    if "after_rl_effect" in data.sampled:
        out = out + _v(params, "after_rl_effect")[:, None] * xs[:, 0][None, :]
    if data.coords["setting"]:
        setting = np.concatenate([_v(params, "setting_effect"), np.zeros((n, 1))], axis=1)
        out = out + setting[:, sett]
    return out


def _gap_above(p: np.ndarray, c: np.ndarray, g: np.ndarray, n: np.ndarray, t: np.ndarray) -> np.ndarray:
    qt = c + (1 - c) * g * p
    sd = np.sqrt((qt * (1 - qt) + c * (1 - c)) / n + 1e-12)
    return np.clip(ndtr((qt - c - t) / sd), 1e-12, 1 - 1e-12)


def _rate_above(p: np.ndarray, sens: np.ndarray, fpos: np.ndarray, n: np.ndarray, t: np.ndarray) -> np.ndarray:
    q = p * sens + (1 - p) * fpos
    sd = np.sqrt(q * (1 - q) / n + 1e-12)
    return np.clip(ndtr((q - t) / sd), 1e-12, 1 - 1e-12)


def pointwise_log_likelihood(params: xr.Dataset | dict, data: ModelData) -> dict[str, np.ndarray]:
    """Per (sample, observation) log-likelihood of each kind of likelihood term, with its normalizing constants.

    Keys: ``reasoning``, ``compliance`` (training and unmonitored counts of a cell together), ``threshold``,
    ``population``, ``capability`` (per (capability, system) group); present where the data have such terms.
    """
    out: dict[str, np.ndarray] = {}
    s = data.sampled
    sens = _v(params, "reasoning_sensitivity")[:, None] if "reasoning_sensitivity" in s else None
    fpos = _v(params, "reasoning_false_positive")[:, None] if "reasoning_false_positive" in s else None
    g = _v(params, "behaviour_share")[:, None] if "behaviour_share" in s else None
    c = _v(params, "baseline_compliance") if "baseline_compliance" in s else None
    if data.counts_reasoning.shape[1]:
        p = expit(_logits(params, data, data.x_reasoning, data.xs_reasoning, data.sys_reasoning, data.set_reasoning))
        k, n = data.counts_reasoning
        out["reasoning"] = _binom(k, n, p * sens + (1 - p) * fpos)
    if data.counts_pair.shape[1]:
        p = expit(_logits(params, data, data.x_pair, data.xs_pair, data.sys_pair, data.set_pair))
        cc = c[:, data.cell_pair]
        kt, nt, ku, nu = data.counts_pair
        gg = g if g is not None else 0.0
        out["compliance"] = _binom(kt, nt, cc + (1 - cc) * gg * p) + _binom(ku, nu, cc)
    if data.threshold_rows.shape[1]:
        p = expit(_logits(params, data, data.x_threshold, data.xs_threshold, data.sys_threshold, data.set_threshold))
        t, n, outcome, kind = data.threshold_rows
        gap = _gap_above(p, c[:, data.cell_threshold], g, n, t) if (kind == 0).any() else 0.0
        rate = _rate_above(p, sens, fpos, n, t) if (kind == 1).any() else 0.0
        above = np.where(kind == 0, gap, rate)
        out["threshold"] = outcome * np.log(above) + (1 - outcome) * np.log1p(-above)
    if data.population_rows.shape[1]:
        out["population"] = _population(params, data, c, g, sens, fpos)
    if data.cap_index.size:
        n_sys = len(data.coords["system"])
        lay = data.layout
        kappa = np.zeros((_v(params, "competence").shape[0], n_sys))
        kappa[:, lay.competent] = _v(params, "competence")
        q = np.stack([_v(params, CAPABILITIES[i]) for i in data.cap_index], axis=1)
        lam = np.clip(_v(params, "competence_correlation"), 0.0, 1.0 - 1e-9)[:, None]
        q_sys = np.clip(
            ndtr((ndtri(q) + np.sqrt(lam) * kappa[:, data.cap_system]) / np.sqrt(1 - lam)), 1e-12, 1 - 1e-12
        )
        ev = data.capability_evidence
        has = np.log(q_sys) + ev[0]
        with np.errstate(divide="ignore"):
            lacks = np.log1p(-q_sys) + np.log(np.maximum(ev[1], 1e-300))
        out["capability"] = np.where(ev[1] > 0, np.logaddexp(has, lacks), has)
    return out


def _population(params, data: ModelData, c, g, sens, fpos) -> np.ndarray:
    a = _coordinates(params, data, "aligned", 0.0)
    sep = _coordinates(params, data, "separation", 0.0)
    tau = _coordinates(params, data, "spread", 1.0)
    n = a.shape[0]
    loading = _v(params, "competence_loading") if "competence_loading" in data.sampled else np.zeros(n)
    pi = _v(params, "p_misaligned")
    draws = data.population_draws
    kc = len(COORDINATES)
    setting = (
        np.concatenate([_v(params, "setting_effect"), np.zeros((n, 1))], axis=1)
        if data.coords["setting"]
        else np.zeros((n, 1))
    )
    after = _v(params, "after_rl_effect") if "after_rl_effect" in data.sampled else np.zeros(n)
    out = []
    for i in range(data.population_rows.shape[1]):
        t, n_tier, k, big_n, kind = data.population_rows[:, i]
        x, xs, sett = data.x_population[i], data.xs_population[i], data.set_population[i]
        by_d = []
        for d in (0.0, 1.0):
            th = a[:, None, :] + tau[:, None, :] * draws[None, :, :kc] + d * sep[:, None, :]
            th[..., 0] += loading[:, None] * draws[None, :, kc]
            p = expit((th * x).sum(axis=-1) + (after * xs[0] + setting[:, sett])[:, None])
            if kind == 0:
                above = _gap_above(p, c[:, data.cell_population[i]][:, None], g, n_tier, t)
            else:
                above = _rate_above(p, sens, fpos, n_tier, t)
            by_d.append(above.mean(axis=1))
        p_pop = (1 - pi) * by_d[0] + pi * by_d[1]
        out.append(_binom(k, big_n, p_pop))
    return np.stack(out, axis=1)


def log_likelihood(params: xr.Dataset | dict, data: ModelData) -> np.ndarray:
    """Total log-likelihood of the selected evidence per sample (chain and draw flattened)."""
    terms = pointwise_log_likelihood(params, data)
    n = next((v.shape[0] for v in terms.values()), 1)
    return sum((v.sum(axis=1) for v in terms.values()), np.zeros(n))


def log_prior(params: xr.Dataset | dict, data: ModelData, priors: PriorSet) -> np.ndarray:
    """Log prior density per sample of everything the sampler samples.

    The sampled prior-file parameters' densities, the per-system pattern mixture (marginalized over the disposition)
    and the standard-normal competences.
    """
    first = next(iter(sorted(data.sampled)))
    n = _v(params, first).shape[0]
    total = np.zeros(n)
    for name in sorted(data.sampled):
        x = _v(params, name).reshape(n, -1)
        total += priors[name].logpdf(x).sum(axis=1)
    joint, has = pattern_prior_terms(params, data)
    if has.any():
        total += logsumexp(joint, axis=-1)[:, has].sum(axis=1)
    if data.layout.competent.size:
        total += stats.norm.logpdf(_v(params, "competence")).reshape(n, -1).sum(axis=1)
    return total

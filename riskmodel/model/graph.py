"""The PyMC model: per-system training-gaming patterns, measurement, the marginalized disposition, competence.

Only this module builds PyMC graphs; the equations are in ``docs/model.md``. Evidence counts and every prior
hyperparameter live in ``pm.Data`` containers, so a new prior value or a new count changes data, not the graph, and a
compiled sampler can be reused (:mod:`riskmodel.model.sampling`).

Shape of the graph:

- hyperparameters, one vector random variable per prior family (compile time grows with the number of random
  variables), each parameter a named ``pm.Deterministic`` with its dims;
- ``pattern``: the pattern coordinates (log-odds) that some row of a system informs (``free`` dim), with the
  disposition mixture of Student-t densities as their prior, marginalized per system (a ``pm.Potential``);
  coordinates no row of a system informs are not NUTS dimensions (they are generated after sampling);
- ``competence``: one standard-normal strategic competence per system with likelihood rows;
- the likelihood terms of the selected rows.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from riskmodel.data.features import COORDINATES
from riskmodel.data.priors import CAPABILITIES
from riskmodel.model.spec import FAMILY_ARGS, PARAMETER_DIMS, ModelData

__all__ = ["build_model", "student_t_logpdf"]

_SQRT2 = float(np.sqrt(2.0))


class _Parameters:
    """Every prior-file parameter as a position in one vector of all family blocks (gathers, not many scalars)."""

    def __init__(self, values: pt.TensorVariable, position: dict[str, int | slice]) -> None:
        self.values = values
        self.position = position

    def __getitem__(self, name: str) -> pt.TensorVariable:
        return self.values[self.position[name]]

    def __contains__(self, name: str) -> bool:
        return name in self.position

    def coordinates(self, suffix: str) -> pt.TensorVariable:
        """``{coordinate}_{suffix}`` for every pattern coordinate, 0 for those no row informs (never used)."""
        have = [k for k, c in enumerate(COORDINATES) if f"{c}_{suffix}" in self.position]
        if not have:
            return pt.zeros((len(COORDINATES),))
        values = self.vec([f"{COORDINATES[k]}_{suffix}" for k in have])
        return pt.set_subtensor(pt.zeros((len(COORDINATES),))[np.array(have, dtype=np.int64)], values)

    def vec(self, names: list[str]) -> pt.TensorVariable:
        """The scalar parameters ``names`` as one vector (a single gather)."""
        return self.values[np.array([self.position[n] for n in names], dtype=np.int64)]


def _family_blocks(data: ModelData, hyper: pt.TensorVariable) -> _Parameters:
    """One vector random variable per prior family (compile time grows with the number of random variables).

    The named parameters are read off the blocks after sampling (:func:`riskmodel.model.spec.split_blocks`), which
    keeps the compiled graph small; the blocks' element labels name every parameter.
    """
    blocks, position, offset = [], {}, 0
    for family, names, labels in data.blocks():
        idx = {arg: [] for arg in FAMILY_ARGS[family]}
        for p in names:
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
        blocks.append(block)
        for p in names:
            size = data.size(p)
            position[p] = slice(offset, offset + size) if PARAMETER_DIMS.get(p) else offset
            offset += size
    return _Parameters(pt.concatenate(blocks), position)


def student_t_logpdf(x: pt.TensorVariable, nu: pt.TensorVariable) -> pt.TensorVariable:
    """Log density of the standard Student-t distribution with ``nu`` degrees of freedom, up to a constant.

    ``nu`` is data, not a parameter, so the normalizing constant drops out of the sampler and of every ratio of
    the two dispositions' densities (the numpy transcription in :mod:`riskmodel.model.likelihood` keeps it).
    """
    return -(nu + 1.0) / 2.0 * pt.log1p(x**2 / nu)


def _binomial_logp(k: pt.TensorVariable, n: pt.TensorVariable, p: pt.TensorVariable) -> pt.TensorVariable:
    """Binomial log-probability of ``k`` of ``n`` up to the binomial coefficient (the counts are data)."""
    p = pt.clip(p, 1e-12, 1.0 - 1e-12)
    return k * pt.log(p) + (n - k) * pt.log1p(-p)


def _norm_cdf(x: pt.TensorVariable) -> pt.TensorVariable:
    return 0.5 * pt.erfc(-x / _SQRT2)


def _norm_ppf(q: pt.TensorVariable) -> pt.TensorVariable:
    return _SQRT2 * pt.erfinv(2.0 * q - 1.0)


def _gap_above(
    p: pt.TensorVariable, c: pt.TensorVariable, g: pt.TensorVariable, n: pt.TensorVariable, t: pt.TensorVariable
) -> pt.TensorVariable:
    """P(observed compliance gap > t) with n episodes per tier (normal approximation of the difference of counts)."""
    q_train = c + (1.0 - c) * g * p
    sd = pt.sqrt((q_train * (1.0 - q_train) + c * (1.0 - c)) / n + 1e-12)
    return pt.clip(_norm_cdf((q_train - c - t) / sd), 1e-12, 1.0 - 1e-12)


def _rate_above(
    p: pt.TensorVariable, sens: pt.TensorVariable, fpos: pt.TensorVariable, n: pt.TensorVariable, t: pt.TensorVariable
) -> pt.TensorVariable:
    """P(observed flagged-reasoning rate > t) with n episodes (normal approximation of the count)."""
    q = p * sens + (1.0 - p) * fpos
    sd = pt.sqrt(q * (1.0 - q) / n + 1e-12)
    return pt.clip(_norm_cdf((q - t) / sd), 1e-12, 1.0 - 1e-12)


def _above(
    kind: np.ndarray,
    p: pt.TensorVariable,
    c: pt.TensorVariable | None,
    cells: np.ndarray,
    g: pt.TensorVariable | None,
    sens: pt.TensorVariable | None,
    fpos: pt.TensorVariable | None,
    n: pt.TensorVariable,
    t: pt.TensorVariable,
) -> pt.TensorVariable:
    """P(observed quantity > threshold): a compliance gap (kind 0) or a flagged-reasoning rate (kind 1)."""
    gap = _gap_above(p, c[cells], g, n, t) if (kind == 0).any() else None
    rate = _rate_above(p, sens, fpos, n, t) if (kind == 1).any() else None
    if gap is None:
        return rate
    if rate is None:
        return gap
    return pt.switch(kind == 0, gap, rate)


def build_model(data: ModelData, *, likelihood: bool = True) -> pm.Model:
    """Build the PyMC model; ``likelihood=False`` gives the same model without its likelihood terms.

    Variables users read, all with named dims: every prior-file parameter; ``pattern`` (free) and ``competence``
    (system); ``p_misaligned_system`` (system): P(misaligned before training | the system's informed pattern
    coordinates and the hyperparameters), per draw (its posterior mean is the Rao-Blackwellized P(misaligned));
    ``tg_rate_reasoning`` (reasoning_obs) and ``p_capability_group`` (capability_obs) where those rows exist.
    """
    n_sys = len(data.coords["system"])
    n_coord = len(COORDINATES)
    # Parameter checks (alpha > 0, ...) are done when the prior file is parsed; without them the graph compiles faster.
    with pm.Model(coords=data.coords, check_bounds=False) as model:
        hyper = pm.Data("prior_hyper", data.prior_hyper)
        prm = _family_blocks(data, hyper)
        nu = hyper[data.hyper_index["model.tail_df"]]
        aligned = prm.coordinates("aligned")
        separation = prm.coordinates("separation")
        spread = prm.coordinates("spread") + (1.0 - data.informed_coordinates)  # 1 where unused: no division by 0
        shift = separation / spread  # the misaligned component's centre in standardized coordinates

        # ---- strategic competence: one standard normal per system with likelihood rows
        n_comp = int(data.layout.competent.size)
        kappa = pt.zeros((n_sys,))
        if n_comp:
            comp = pm.Normal("competence", 0.0, 1.0, dims="competent_system")
            kappa = pt.set_subtensor(kappa[data.layout.competent], comp)
        loading = prm["competence_loading"] if "competence_loading" in prm else 0.0
        # ---- per-system patterns (log-odds): the coordinates that rows inform are sampled; their prior is the
        # disposition mixture of Student-t densities, marginalized per system. Coordinates pinned down by counts are
        # sampled centred (as log-odds), the others non-centred (standardized): each where NUTS mixes best.
        n_free = len(data.coords["free"])
        p_mis = prm["p_misaligned"] if "p_misaligned" in prm else None
        if n_free:
            log_w = pt.stack([pt.log1p(-p_mis), pt.log(p_mis)])
            fs, fc = data.layout.free_system, data.layout.free_coord
            centred = data.layout.centred.astype(float)
            raw = pm.Flat("pattern_raw", dims="free")
            centre = aligned[fc] + pt.switch(pt.eq(fc, 0), loading * kappa[fs], 0.0)
            log_odds = pt.dot(data.layout.basis, raw)  # centred coordinates from the observed contexts' log-odds
            z = pt.switch(centred > 0, (log_odds - centre) / spread[fc], raw)
            pattern = pm.Deterministic(
                "pattern", pt.switch(centred > 0, log_odds, centre + spread[fc] * raw), dims="free"
            )
            log_tau = pt.log(spread[fc]) * centred  # the Jacobian of the standardization, where the value is log-odds
            lt = pt.stack(
                [student_t_logpdf(z, nu) - log_tau, student_t_logpdf(z - shift[fc], nu) - log_tau]
            )  # (disposition, free)
            onehot = np.eye(n_sys)[fs]  # (free, system)
            ll_d = pt.dot(lt, onehot).T  # (system, disposition): summed over each system's sampled coordinates
            has_free = np.zeros(n_sys)
            has_free[fs] = 1.0
            joint = log_w[None, :] + ll_d
            log_mix = pt.logsumexp(joint, axis=1)  # (system,)
            pm.Potential("pattern_mixture", (log_mix * has_free).sum())
            p_cond = pt.switch(has_free > 0, pt.exp(joint[:, 1] - log_mix), p_mis)
            pm.Deterministic("p_misaligned_system", p_cond, dims="system")
            theta = pt.set_subtensor(pt.zeros((n_sys, n_coord))[fs, fc], pattern)
        else:  # no pattern is informed: P(misaligned) is p_misaligned for every system (drawn from its prior)
            theta = pt.zeros((n_sys, n_coord))

        setting = prm["setting_effect"] if "setting_effect" in prm else pt.zeros((0,))
        setting_padded = pt.concatenate([setting, pt.zeros((1,))])
        shared = prm.vec(["after_rl_effect"]) if "after_rl_effect" in prm else pt.zeros((1,))

        def logit(x: np.ndarray, xs: np.ndarray, sys: np.ndarray, sett: np.ndarray) -> pt.TensorVariable:
            return (theta[sys] * x).sum(axis=1) + pt.dot(xs, shared) + setting_padded[sett]

        if not likelihood:
            return model
        sens = prm["reasoning_sensitivity"] if "reasoning_sensitivity" in prm else None
        fpos = prm["reasoning_false_positive"] if "reasoning_false_positive" in prm else None
        g = prm["behaviour_share"] if "behaviour_share" in prm else None
        if len(data.coords["reasoning_obs"]):
            p_r = pm.Deterministic(
                "tg_rate_reasoning",
                pm.math.sigmoid(logit(data.x_reasoning, data.xs_reasoning, data.sys_reasoning, data.set_reasoning)),
                dims="reasoning_obs",
            )
            counts = pm.Data("counts_reasoning", data.counts_reasoning)
            pm.Potential("reasoning", _binomial_logp(counts[0], counts[1], p_r * sens + (1.0 - p_r) * fpos).sum())
        if len(data.coords["cell"]):
            c = prm["baseline_compliance"]
        if len(data.coords["compliance_obs"]):
            p_c = pm.math.sigmoid(logit(data.x_pair, data.xs_pair, data.sys_pair, data.set_pair))
            counts = pm.Data("counts_pair", data.counts_pair)
            cc = c[data.cell_pair]
            ll = _binomial_logp(counts[2], counts[3], cc)
            if g is not None:  # cells with training counts (behaviour_share is informed only then)
                ll = ll + _binomial_logp(counts[0], counts[1], cc + (1.0 - cc) * g * p_c)
            pm.Potential("compliance", ll.sum())
        if len(data.coords["threshold_obs"]):
            p_t = pm.math.sigmoid(logit(data.x_threshold, data.xs_threshold, data.sys_threshold, data.set_threshold))
            th = pm.Data("threshold_rows", data.threshold_rows)  # (4, obs): threshold, n per tier, outcome, kind
            above = _above(
                data.threshold_rows[3],
                p_t,
                c if "baseline_compliance" in prm else None,
                data.cell_threshold,
                g,
                sens,
                fpos,
                th[1],
                th[0],
            )
            pm.Potential("threshold", (th[2] * pt.log(above) + (1.0 - th[2]) * pt.log1p(-above)).sum())
        if len(data.coords["population_obs"]):
            # P(a system drawn from the population shows the effect above the threshold): fixed standardized draws
            # (pop_draws: Student-t pattern coordinates and a standard-normal competence), mixed over dispositions
            draws = pm.Data("population_draws", data.population_draws)  # (draw, coordinate + 1)
            pop = pm.Data("population_rows", data.population_rows)  # (5, obs): threshold, n per tier, k, N, quantity
            probs = []
            for i in range(len(data.coords["population_obs"])):
                x, xs, sett = data.x_population[i], data.xs_population[i], data.set_population[i]
                by_d = []
                for d in (0.0, 1.0):
                    th_m = aligned[None, :] + spread[None, :] * draws[:, :n_coord] + d * separation[None, :]
                    th_m = pt.inc_subtensor(th_m[:, 0], loading * draws[:, n_coord])
                    p_m = pm.math.sigmoid((th_m * x[None, :]).sum(axis=1) + pt.dot(xs, shared) + setting_padded[sett])
                    kind = data.population_rows[4, i : i + 1]
                    cells = data.cell_population[i : i + 1]
                    above = _above(
                        kind,
                        p_m,
                        c if "baseline_compliance" in prm else None,
                        cells,
                        g,
                        sens,
                        fpos,
                        pop[1, i],
                        pop[0, i],
                    )
                    by_d.append(above.mean())
                probs.append((1.0 - p_mis) * by_d[0] + p_mis * by_d[1])
            p_pop = pm.Deterministic("p_population_above", pt.stack(probs), dims="population_obs")
            pm.Potential("population", _binomial_logp(pop[2], pop[3], p_pop).sum())
        if data.cap_index.size:
            # Optional capability likelihood: each (capability, system) group is a latent "has the capability"
            # indicator, P(has | competence) from the competence copula, marginalized. With it the per-episode rate
            # is Uniform(0, 1) (the counts have probability prod 1/(n+1)); without it the behaviour never occurs.
            ev = pm.Data("capability_evidence", data.capability_evidence)
            q = prm.vec([CAPABILITIES[i] for i in data.cap_index])
            lam = pt.clip(prm["competence_correlation"], 0.0, 1.0 - 1e-9)
            q_sys = _norm_cdf((_norm_ppf(q) + pt.sqrt(lam) * kappa[data.cap_system]) / pt.sqrt(1.0 - lam))
            q_sys = pt.clip(q_sys, 1e-12, 1.0 - 1e-12)
            has = pt.log(q_sys) + ev[0]
            lacks = pt.log1p(-q_sys) + pt.log(pt.maximum(ev[1], 1e-300))
            ll_cap = pt.switch(ev[1] > 0, pt.logaddexp(has, lacks), has)
            pm.Potential("capability_evidence_loglik", ll_cap.sum())
            pm.Deterministic("p_capability_group", pt.exp(has - ll_cap), dims="capability_obs")
    return model

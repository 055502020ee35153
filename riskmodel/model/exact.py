"""An independent check of the fit in small configurations: importance sampling from the prior.

Draw every sampled quantity from its prior (the prior-file parameters, each system's disposition, its informed pattern
coordinates and competence), weight each draw by the likelihood of the evidence (:mod:`riskmodel.model.likelihood`),
and read P(misaligned | system) and its Bayes factor off the weighted draws. No MCMC and no PyMC: it shares only the
likelihood transcription with the package, so agreement with a fit checks the sampler, the graph and the
Rao-Blackwellized estimates. Feasible only when the evidence is small (the weights degenerate otherwise; the effective
sample size is reported with every number).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from riskmodel.data.evidence import EvidenceSet
from riskmodel.data.features import COORDINATES
from riskmodel.data.priors import PriorSet
from riskmodel.model.likelihood import log_likelihood, pattern_prior_terms
from riskmodel.model.spec import PARAMETER_DIMS, model_data

__all__ = ["ImportanceCheck", "importance_check"]


@dataclass(frozen=True)
class ImportanceCheck:
    """P(misaligned | system) and its Bayes factor per system from likelihood-weighted prior draws.

    ``mcse`` values are delta-method standard errors of the self-normalized estimates; ``ess`` is the effective
    sample size of the weights, ``draws`` the number of prior draws.
    """

    p_misaligned: dict[str, float]
    p_misaligned_mcse: dict[str, float]
    bayes_factor: dict[str, float]
    log_bayes_factor_mcse: dict[str, float]
    ess: float
    draws: int


def _prior_block(priors: PriorSet, data, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name in sorted(data.sampled):
        size = data.size(name)
        shape = (n, size) if PARAMETER_DIMS.get(name) else (n,)
        out[name] = priors[name].draw(shape, rng)
    lay = data.layout
    n_sys = len(data.coords["system"])
    d = (rng.random((n, n_sys)) < out["p_misaligned"][:, None]).astype(float) if lay.free_system.size else None
    kappa = rng.standard_normal((n, n_sys))
    if lay.competent.size:
        out["competence"] = kappa[:, lay.competent]
    if lay.free_system.size:
        cols = []
        for s, k in zip(lay.free_system, lay.free_coord, strict=True):
            c = COORDINATES[k]
            x = out[f"{c}_aligned"] + d[:, s] * out[f"{c}_separation"]  # type: ignore[index]
            x = x + out[f"{c}_spread"] * rng.standard_t(priors.tail_df, n)
            if k == 0 and "competence_loading" in out:
                x = x + out["competence_loading"] * kappa[:, s]
            cols.append(x)
        out["pattern"] = np.stack(cols, axis=1)
    return out


def importance_check(
    priors: PriorSet, evidence: EvidenceSet, *, draws: int = 1_000_000, seed: int = 0, chunk: int = 100_000
) -> ImportanceCheck:
    """Self-normalized importance sampling of the posterior from ``draws`` prior draws (module docstring)."""
    data = model_data(priors, evidence)
    rng = np.random.default_rng(seed)
    systems = list(data.coords["system"])
    log_w_all, p_all = [], []
    for start in range(0, draws, chunk):
        n = min(chunk, draws - start)
        block = _prior_block(priors, data, n, rng)
        log_w_all.append(log_likelihood(block, data))
        joint, has = pattern_prior_terms(block, data)
        p_cond = np.exp(joint[..., 1] - logsumexp(joint, axis=-1)) if has.any() else np.zeros((n, len(systems)))
        pi = block["p_misaligned"] if "p_misaligned" in block else priors["p_misaligned"].draw(n, rng)
        p_all.append(np.where(has[None, :], p_cond, pi[:, None]))
    log_w = np.concatenate(log_w_all)
    p = np.concatenate(p_all)
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    ess = float(1.0 / (w**2).sum())
    prior_mean = priors["p_misaligned"].mean()
    out_p, out_se, out_bf, out_lse = {}, {}, {}, {}
    for j, s in enumerate(systems):
        est = float((w * p[:, j]).sum())
        se = float(np.sqrt((w**2 * (p[:, j] - est) ** 2).sum()))
        odds0 = prior_mean / (1 - prior_mean)
        out_p[s], out_se[s] = est, se
        out_bf[s] = (est / (1 - est)) / odds0
        out_lse[s] = se / (est * (1 - est))
    return ImportanceCheck(out_p, out_se, out_bf, out_lse, ess, draws)

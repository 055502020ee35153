"""What if: hypothetical evidence on a fitted result, without editing any file.

Add proposed observations (a system shows training-gaming reasoning in ``k`` of ``n`` episodes of a context) to a
fitted result and get the updated posterior:

- **Reweighting** (default): the cached posterior draws are importance-weighted by the binomial likelihood of the new
  counts, marginalized over each observed system's disposition exactly as the model does (``docs/model.md``), and
  each observed system's ``p_misaligned_system`` is updated draw by draw. The weights are Pareto-smoothed (PSIS) and
  their Pareto k says whether they can be trusted (<= 0.7).
- **Refit**: when k > 0.7 and the caller allows it, the model is refitted with an in-memory evidence set that holds
  the extra rows (nothing is written). A result from hypothetical evidence is never citable.

The same per-draw likelihood drives the preposterior value of information in :mod:`riskmodel.analysis.sensitivity`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np
import xarray as xr
from scipy.special import expit, gammaln, xlog1py, xlogy

from riskmodel.data.evidence import EvidenceRow, EvidenceSet
from riskmodel.data.features import Context
from riskmodel.errors import InputError
from riskmodel.interactive.update import PARETO_K_MAX, UpdateInfo, _psis
from riskmodel.model.spec import NEW_SYSTEM
from riskmodel.results.result import FitResult

__all__ = ["Observation", "augmented_evidence", "observation_loglik", "what_if"]


@dataclass(frozen=True)
class Observation:
    """A proposed (hypothetical) count: ``system`` shows training-gaming reasoning in ``k`` of ``n`` episodes.

    The reasoning is flagged by the same imperfect classifier as the published counts (sensitivity and false-positive
    rate of the prior file), in ``context``, in evaluation ``setting`` (default: the reference setting).
    """

    system: str
    context: Context
    k: int
    n: int
    setting: str | None = None

    def check(self) -> None:
        """Raise a one-line :class:`InputError` for impossible counts."""
        for name, v in (("k", self.k), ("n", self.n)):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
                raise InputError(f"must be a whole number >= 0, got {v!r}", field=f"observation.{name}")
        if self.k > self.n:
            raise InputError(f"k = {self.k} exceeds n = {self.n}", field="observation.k")


def _flag_rates(post: xr.Dataset, obs: Observation, reference_setting: str) -> np.ndarray:
    """Per (chain, draw, disposition): probability that an episode of ``obs`` is flagged as training-gaming."""
    cd = ("chain", "draw")
    systems = list(post["system_offset"]["system"].values)
    if obs.system not in systems:
        raise InputError(
            f"unknown system {obs.system!r}: reweighting needs a system of the fit ({', '.join(systems)})",
            field="observation.system",
        )
    x = obs.context.design_row()
    logit = post["tg_intercept"].transpose(*cd, "disposition").values + np.einsum(
        "cdef,f->cde", post["context_effect"].transpose(*cd, "disposition", "feature").values, x
    )
    logit = logit + post["system_offset"].sel(system=obs.system).transpose(*cd).values[..., None]
    setting = obs.setting or reference_setting
    if setting != reference_setting:
        if "setting_effect" not in post or setting not in post["setting_effect"]["setting"].values:
            raise InputError(f"no fitted effect for setting {setting!r}", field="observation.setting")
        logit = logit + post["setting_effect"].sel(setting=setting).transpose(*cd).values[..., None]
    p = expit(logit)
    sens = post["reasoning_sensitivity"].transpose(*cd).values[..., None]
    fpos = post["reasoning_false_positive"].transpose(*cd).values[..., None]
    return p * sens + (1.0 - p) * fpos


def observation_loglik(
    post: xr.Dataset, obs: Observation, reference_setting: str, k: np.ndarray | int | None = None
) -> np.ndarray:
    """Log-likelihood of the counts of ``obs`` per (chain, draw, disposition[, k]) given each draw's parameters.

    With ``k`` an array, one column per candidate count (used for preposterior analysis); else the observed ``k``.
    """
    q = _flag_rates(post, obs, reference_setting)
    if k is None:
        return _binom_logpmf(np.asarray(obs.k), obs.n, q)
    return _binom_logpmf(np.asarray(k), obs.n, q[..., None])


def _binom_logpmf(k: np.ndarray, n: int, q: np.ndarray) -> np.ndarray:
    """Binomial log-probability of ``k`` of ``n`` with probability ``q`` (broadcast; no argument checks, fast)."""
    log_choose = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    return log_choose + xlogy(k, q) + xlog1py(n - k, -q)


def _update_system(p_pre: np.ndarray, ll: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Marginal log-likelihood and updated P(misaligned) per draw, from per-disposition log-likelihoods.

    ``p_pre`` has shape (chain, draw); ``ll`` (chain, draw, disposition[, ...]) with dispositions (aligned,
    misaligned), as the model marginalizes a system's disposition over all its rows at once.
    """
    extra = ll.ndim - 3
    p = p_pre.reshape(p_pre.shape + (1,) * extra)
    with np.errstate(divide="ignore"):
        la = np.log1p(-p) + ll[:, :, 0]
        lm = np.log(p) + ll[:, :, 1]
    marginal = np.logaddexp(la, lm)
    post_mis = np.exp(lm - marginal)
    return marginal, np.nan_to_num(post_mis, nan=0.0)


def augmented_evidence(evidence: EvidenceSet, observations: list[Observation], reference_setting: str) -> EvidenceSet:
    """An in-memory evidence set with the observations added as reasoning counts (nothing is written).

    Counts in a context where the system already has a reasoning row (same system, setting, stage and features) are
    pooled into that row (``k + k'`` of ``n + n'``: the same binomial likelihood up to a constant, and the same model
    graph, so a refit reuses the compiled sampler); counts in a new context become a new row with source ``whatif``.
    Its hash names the original file and the changed rows, so its results are never confused with the released set.
    """
    rows = list(evidence.rows)
    counted = {r.id for r in evidence.reasoning_rows()}
    touched: list[EvidenceRow] = []
    for i, o in enumerate(observations):
        if o.system == NEW_SYSTEM:
            raise InputError(
                f"a refit needs a named system: {NEW_SYSTEM!r} is the system drawn from the population",
                field="observation.system",
            )
        c = o.context
        setting = o.setting or reference_setting
        same = [
            j
            for j, r in enumerate(rows)
            if (r.id in counted or r.source == "whatif")
            and (r.system, r.setting, r.stage, r.context.design_row().tolist())
            == (o.system, setting, c.stage, c.design_row().tolist())
        ]
        if same:  # pooled into the row of the same context: the same likelihood up to a constant, same model graph
            r = rows[same[0]]
            rows[same[0]] = replace(
                r, k=r.k + int(o.k), n=r.n + int(o.n), rate=None, note=f"{r.note} + hypothetical {o.k}/{o.n}".strip()
            )
            touched.append(rows[same[0]])
            continue
        rows.append(
            EvidenceRow(
                id=f"whatif-{i + 1}",
                source="whatif",
                system=o.system,
                setting=setting,
                stage=c.stage,
                condition="training",
                training_info=c.training_info,
                scratchpad=c.scratchpad,
                value_conflict=c.value_conflict,
                quantity="training_gaming_reasoning",
                k=int(o.k),
                n=int(o.n),
                rate=o.k / o.n if o.n else None,
                k_is_derived=False,
                where_read="hypothetical observation (riskmodel.interactive.whatif)",
            )
        )
        touched.append(rows[-1])
    text = evidence.sha256 + "|" + ";".join(f"{r.id}:{r.system}:{r.context.label()}:{r.k}/{r.n}" for r in touched)
    return replace(
        evidence,
        sources={**evidence.sources, "whatif": "hypothetical observations (not published)"},
        rows=tuple(rows),
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        path="",
        released=False,
    )


def what_if(
    result: FitResult,
    observations: list[Observation] | Observation,
    *,
    pareto_k_max: float = PARETO_K_MAX,
    allow_refit: bool = False,
    force_refit: bool = False,
    progress: bool = False,
) -> FitResult:
    """The result updated with hypothetical observations (see the module docstring).

    Parameters
    ----------
    result
        A fitted result (or a fast update of one: its importance weights are kept and multiplied).
    observations
        One or more proposed counts.
    pareto_k_max
        Above this Pareto k the reweighted numbers are not trusted.
    allow_refit
        Refit with an augmented in-memory evidence set when the weights are not trusted; otherwise the reweighted
        result is returned flagged ``reweighted-unreliable``.
    force_refit
        Refit whatever the Pareto k (the exact answer the reweighting approximates).

    Returns
    -------
    FitResult
        Not citable; its ``update`` says how it was obtained (``reweighted``, ``reweighted-unreliable`` or ``refit``)
        and gives the Pareto k.
    """
    obs = [observations] if isinstance(observations, Observation) else list(observations)
    if not obs:
        raise InputError("no observations given", field="observation")
    for o in obs:
        o.check()
    base = result.base or result
    ref = result.priors.reference_setting
    post = result.posterior_draws.copy()
    cd = ("chain", "draw")
    shape = (post.sizes["chain"], post.sizes["draw"])
    log_ratio = np.zeros(shape)
    p_sys = post["p_misaligned_system"].transpose(*cd, "system").copy()
    for system in dict.fromkeys(o.system for o in obs):
        ll = sum(observation_loglik(post, o, ref) for o in obs if o.system == system)
        marginal, p_new = _update_system(p_sys.sel(system=system).values, ll)
        log_ratio += marginal
        p_sys.loc[{"system": system}] = p_new
    post["p_misaligned_system"] = p_sys
    if result.weights is not None:
        with np.errstate(divide="ignore"):
            log_ratio = log_ratio + np.log(result.weights.reshape(shape))
    w, k = _psis(log_ratio.ravel(), shape)
    label = tuple(f"+{o.system}: {o.k}/{o.n} in {o.context.label()}" for o in obs)
    if k > pareto_k_max or force_refit:
        if force_refit:
            msg = f"refit asked for (Pareto k of the reweighting {k:.2f})"
        else:
            msg = f"importance reweighting is unreliable (Pareto k {k:.2f} > {pareto_k_max}): the new counts are "
            msg += "too far from what the fit predicts"
        if allow_refit or force_refit:
            ev = augmented_evidence(result.evidence, obs, ref)
            res = result.refit(evidence=ev, progress=progress)
            info = UpdateInfo("refit", label, k, None, f"{msg}; refit with MCMC on an augmented in-memory evidence set")
            return replace(res, base=base, update=info)
        info = UpdateInfo("reweighted-unreliable", label, k, None, msg)
    else:
        info = UpdateInfo("reweighted", label, k, None, "cached draws reweighted by the new counts' likelihood (PSIS)")
    return replace(result, posterior_draws=post, weights=w, base=base, update=info)

"""What if: hypothetical evidence on a fitted result, without editing any file.

Add proposed observations (a system shows training-gaming reasoning in ``k`` of ``n`` episodes of a context) to a
fitted result and get the updated posterior:

- **Reweighting**: when the observed system is in the fit and every pattern coordinate the context touches is one
  its rows already inform (so the compiled model's draws carry it), the cached draws are importance-weighted by the
  binomial likelihood of the new counts given each draw's pattern. The weights are Pareto-smoothed (PSIS) and their
  Pareto k says whether they can be trusted (<= 0.7; a NaN k never can). The disposition enters only through the
  pattern, so each draw's conditional P(misaligned) stays what it was; its weighted mean moves.
- **Refit**: otherwise (a new system, a new setting, a coordinate the system's rows do not inform yet, or untrusted
  weights) the model is refitted with an in-memory evidence set that holds the extra rows (nothing is written).

A result from hypothetical evidence is never citable. The same per-draw likelihood drives the preposterior value of
information in :mod:`riskmodel.analysis.sensitivity`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace

import numpy as np
import xarray as xr
from scipy.special import expit, gammaln, xlog1py, xlogy

from riskmodel.data.evidence import EvidenceRow, EvidenceSet
from riskmodel.data.features import COORDINATES, Context
from riskmodel.errors import InputError
from riskmodel.interactive.update import PARETO_K_MAX, UpdateInfo, _psis
from riskmodel.model.spec import NEW_SYSTEM
from riskmodel.results.result import FitResult

__all__ = ["MAX_EPISODES", "Observation", "augmented_evidence", "observation_loglik", "reweightable", "what_if"]

#: The largest number of hypothetical episodes accepted (the published counts are in the hundreds).
MAX_EPISODES = 10**7


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
        """Raise a one-line :class:`InputError` for impossible counts, names or feature values."""
        for name, v in (("k", self.k), ("n", self.n)):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or not 0 <= v <= MAX_EPISODES:
                raise InputError(
                    f"must be a whole number from 0 to {MAX_EPISODES}, got {v!r}", field=f"observation.{name}"
                )
        if self.n < 1:
            raise InputError("n must be at least 1", field="observation.n")
        if self.k > self.n:
            raise InputError(f"k = {self.k} exceeds n = {self.n}", field="observation.k")
        if not isinstance(self.system, str) or not self.system.strip() or len(self.system) > 80:
            raise InputError("must be a system name of at most 80 characters", field="observation.system")
        if self.setting is not None and (
            not isinstance(self.setting, str) or not self.setting or len(self.setting) > 200
        ):
            raise InputError("must be a setting name of at most 200 characters", field="observation.setting")
        try:
            self.context.check()
        except ValueError as exc:
            raise InputError(str(exc), field="observation.context") from None


def reweightable(result: FitResult, obs: Observation) -> str:
    """Why ``obs`` cannot be added by reweighting the cached draws (empty when it can)."""
    data = result.data
    if obs.system == NEW_SYSTEM:
        return f"{NEW_SYSTEM!r} is the system drawn from the population; name the system observed"
    systems = list(data.coords["system"])
    if obs.system not in systems:
        return f"{obs.system!r} is not a system of the fit"
    j = systems.index(obs.system)
    informed = {int(k) for s, k in zip(data.layout.free_system, data.layout.free_coord, strict=True) if s == j}
    need = {int(k) for k in np.flatnonzero(obs.context.pattern_row())}
    missing = sorted(need - informed)
    if missing:
        return f"its rows do not inform its {', '.join(COORDINATES[k] for k in missing)} coordinate yet"
    setting = obs.setting or result.priors.reference_setting
    if setting != result.priors.reference_setting and setting not in data.coords["setting"]:
        return f"the fit has no effect for setting {setting!r}"
    if obs.context.stage == "after-rl" and "after_rl_effect" not in data.sampled:
        return "the fit has no after-RL rows"
    if "reasoning_sensitivity" not in data.sampled:
        return "the fit has no reasoning counts (the classifier's sensitivity is not in its draws)"
    return ""


def _flag_rates(result: FitResult, post: xr.Dataset, obs: Observation) -> np.ndarray:
    """Per (chain, draw): probability that an episode of ``obs`` is flagged as training-gaming."""
    cd = ("chain", "draw")
    data = result.data
    j = list(data.coords["system"]).index(obs.system)
    x = obs.context.pattern_row()
    logit = np.zeros((post.sizes["chain"], post.sizes["draw"]))
    pattern = post["pattern"].transpose(*cd, "free").values
    for i, (s, k) in enumerate(zip(data.layout.free_system, data.layout.free_coord, strict=True)):
        if s == j and x[k]:
            logit = logit + pattern[..., i]
    if obs.context.stage == "after-rl":
        logit = logit + post["after_rl_effect"].transpose(*cd).values
    setting = obs.setting or result.priors.reference_setting
    if setting != result.priors.reference_setting:
        logit = logit + post["setting_effect"].sel(setting=setting).transpose(*cd).values
    p = expit(logit)
    sens = post["reasoning_sensitivity"].transpose(*cd).values
    fpos = post["reasoning_false_positive"].transpose(*cd).values
    return p * sens + (1.0 - p) * fpos


def observation_loglik(
    result: FitResult, obs: Observation, k: np.ndarray | int | None = None, post: xr.Dataset | None = None
) -> np.ndarray:
    """Log-likelihood of the counts of ``obs`` per (chain, draw[, k]) given each draw's parameters.

    With ``k`` an array, one column per candidate count (used for preposterior analysis); else the observed ``k``.
    """
    why = reweightable(result, obs)
    if why:
        raise InputError(f"cannot evaluate this observation on the cached draws: {why}", field="observation")
    q = _flag_rates(result, result.posterior if post is None else post, obs)
    if k is None:
        return _binom_logpmf(np.asarray(obs.k), obs.n, q)
    return _binom_logpmf(np.asarray(k), obs.n, q[..., None])


def _binom_logpmf(k: np.ndarray, n: int, q: np.ndarray) -> np.ndarray:
    """Binomial log-probability of ``k`` of ``n`` with probability ``q`` (broadcast; no argument checks, fast)."""
    log_choose = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    return log_choose + xlogy(k, q) + xlog1py(n - k, -q)


def _features(c: Context) -> str:
    """A context's features alone (a named context, like the elicitation context, is the same context unnamed)."""
    return replace(c, name="").label()


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
            and (r.system, r.setting, r.stage, _features(r.context)) == (o.system, setting, c.stage, _features(c))
        ]
        if same:
            r = rows[same[0]]
            rows[same[0]] = replace(
                r,
                k=r.k + int(o.k),  # type: ignore[operator]
                n=r.n + int(o.n),  # type: ignore[operator]
                rate=None,
                k_is_derived=False,
                note=f"{r.note} + hypothetical {o.k}/{o.n}".strip(),
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
                prerequisites=c.prerequisites,
                quantity="training_gaming_reasoning",
                k=int(o.k),
                n=int(o.n),
                rate=None,
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
        Refit with an augmented in-memory evidence set when the cached draws cannot take the observation or the
        weights are not trusted; otherwise such an observation is refused (one line saying why), and untrusted
        weights are returned flagged ``reweighted-unreliable``.
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
    label = tuple(f"+{o.system}: {o.k}/{o.n} in {o.context.label()}" for o in obs)
    blocked = [why for o in obs if (why := reweightable(result, o))]
    k = math.nan
    if not blocked and not force_refit:
        shape = (result.posterior.sizes["chain"], result.posterior.sizes["draw"])
        log_ratio = sum(observation_loglik(result, o) for o in obs)
        if result.weights is not None:
            with np.errstate(divide="ignore"):
                log_ratio = log_ratio + np.log(result.weights.reshape(shape))
        w, k = _psis(np.asarray(log_ratio).ravel(), shape)
        if k <= pareto_k_max:
            info = UpdateInfo(
                "reweighted", label, k, None, "cached draws reweighted by the new counts' likelihood (PSIS)"
            )
            return replace(result, weights=w, base=base, update=info)
    if force_refit:
        msg = "refit asked for"
    elif blocked:
        msg = f"the cached draws cannot take it ({blocked[0]})"
    else:
        msg = f"importance reweighting is unreliable (Pareto k {k:.2f} > {pareto_k_max})"
    if not (allow_refit or force_refit):
        if blocked:
            raise InputError(f"this observation needs a refit: {blocked[0]}", field="observation")
        info = UpdateInfo("reweighted-unreliable", label, k, None, msg)
        return replace(result, weights=w, base=base, update=info)
    ev = augmented_evidence(result.evidence, obs, result.priors.reference_setting)
    res = result.refit(evidence=ev, progress=progress)
    info = UpdateInfo(
        "refit", label, None if math.isnan(k) else k, None, f"{msg}; refit with MCMC on an augmented evidence set"
    )
    return replace(res, base=base, update=info)

"""Hypothetical counts of any system on the cached draws, Rao-Blackwellized over its generated copies and disposition.

A system's pattern coordinates that no row informs (every coordinate of a new system) are generated
``GENERATED_COPIES`` times per draw, given each disposition. The likelihood of a proposed count of flagged
training-gaming reasoning then depends on the copy and the disposition, so the unit of weighting is a
(draw, copy, disposition) triple: its weight is the draw's weight / copies x P(disposition | draw), and a count
multiplies it by ``Binom(k | n, q)`` with ``q`` the unit's flagged rate. Summed over a draw's units this is
``P(k | draw) = mean over copies of sum_d P(d | draw) Binom(k | n, q_copy,d)``, and every quantity given the counts
(P(worst case), P(misaligned)) weights each unit by its own likelihood. When every coordinate the context touches
is sampled, ``q`` is the same on every unit of a draw and this is exactly the draw-level reweighting of
:func:`riskmodel.interactive.whatif.observation_loglik` (a test checks it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr
from scipy.special import expit, gammaln

from riskmodel.analysis.sensitivity.common import (
    GRID_POINTS,
    SystemDraws,
    grid_levels,
    stamp,
    uninformed_parameters,
)
from riskmodel.errors import InputError
from riskmodel.interactive.update import PARETO_K_MAX, _psis
from riskmodel.model.quantities import patterns, scalar

if TYPE_CHECKING:
    from riskmodel.data.features import Context
    from riskmodel.interactive.whatif import Observation
    from riskmodel.results.result import FitResult

__all__ = ["Units", "flag_rates", "observed_one_way", "tg_rates", "unit_loglik"]


def tg_rates(draws: SystemDraws, context: Context, setting: str | None = None) -> np.ndarray:
    """The system's training-gaming rate in ``context`` per (chain, draw, copy, disposition).

    From the system's pattern given each disposition (sampled coordinates as sampled, generated ones from the copy),
    plus the shared after-RL effect and the setting's effect where the context has them.
    """
    theta_al, theta_mis, _ = patterns(draws.draws, draws.layout).system(0)
    x = context.pattern_row()
    logit = np.stack([theta_al @ x, theta_mis @ x], axis=-1)  # (chain, draw, copy, disposition)
    ds = draws.draws
    if context.stage == "after-rl":
        logit = logit + scalar(ds, "after_rl_effect")[..., None]
    ref = draws.priors.reference_setting
    if setting is not None and setting != ref:
        if "setting_effect" not in ds or setting not in ds["setting_effect"]["setting"].values:
            raise InputError(f"the fit has no effect for setting {setting!r}", field="observation.setting")
        logit = logit + ds["setting_effect"].sel(setting=setting).transpose("chain", "draw").values[:, :, None, None]
    return expit(logit)


def flag_rates(draws: SystemDraws, context: Context, setting: str | None = None) -> np.ndarray:
    """P(an episode of the system in ``context`` is flagged as training-gaming) per (chain, draw, copy, disposition).

    :func:`tg_rates` through the classifier's sensitivity and false-positive rate.
    """
    ds = draws.draws
    p = tg_rates(draws, context, setting)
    sens = scalar(ds, "reasoning_sensitivity")[..., None]
    fpos = scalar(ds, "reasoning_false_positive")[..., None]
    return p * sens + (1.0 - p) * fpos


def unit_loglik(q: np.ndarray, n: int, k: np.ndarray | int) -> np.ndarray:
    """Binomial log-probability of ``k`` of ``n`` flagged episodes per unit (``q`` any shape; ``k`` last axis)."""
    k = np.asarray(k, dtype=float)
    q = np.clip(q, 1e-300, 1.0 - 1e-16)[..., None] if k.ndim else np.clip(q, 1e-300, 1.0 - 1e-16)
    log_choose = gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0)
    return log_choose + k * np.log(q) + (n - k) * np.log1p(-q)


@dataclass(frozen=True)
class Units:
    """The (chain, draw, copy, disposition) units of one system, with assumptions possibly fixed.

    ``weight``: the unit's share of the posterior (draw weight / copies x P(disposition | draw, copy));
    ``p_worst_case``: P(worst case | the unit) (the draw, the copy's generated draws, the disposition).
    """

    draws: SystemDraws
    weight: np.ndarray
    p_worst_case: np.ndarray
    p_misaligned_after_training: np.ndarray

    @classmethod
    def of(cls, draws: SystemDraws, values: dict[str, float] | None = None) -> Units:
        """The units of ``draws`` with the assumptions ``values`` fixed on every copy."""
        values = values or {}
        # P(misaligned before training | draw): the uninformed assumptions never enter it
        pp = np.array(patterns(draws.draws, draws.layout).p_misaligned[..., 0])
        given = [draws.quantities(values, p_misaligned=d, per_copy=True) for d in (0.0, 1.0)]
        pw = np.stack([g["p_worst_case"].transpose("chain", "draw", "copy").values for g in given], axis=-1)
        post = np.stack([g["p_misaligned_post"].transpose("chain", "draw", "copy").values for g in given], axis=-1)
        c, d = draws.shape
        w = np.full((c, d), 1.0 / (c * d)) if draws.weights is None else np.asarray(draws.weights).reshape(c, d)
        weight = w[:, :, None, None] / draws.copies * np.stack([1.0 - pp, pp], axis=-1)
        fixed = SystemDraws(draws.system, draws.fixed(values), draws.layout, draws.priors, draws.weights)
        return cls(fixed, weight, pw, post)

    def loglik(self, context: Context, n: int, k: np.ndarray | int, setting: str | None = None) -> np.ndarray:
        """Log-likelihood of ``k`` of ``n`` flagged episodes in ``context`` per unit (and per ``k`` if an array)."""
        return unit_loglik(flag_rates(self.draws, context, setting), n, k)


def observed_one_way(
    result: FitResult,
    observations: Sequence[Observation] | Mapping[str, Sequence[Observation]],
    parameters: Sequence[str] | None = None,
    *,
    points: int = GRID_POINTS,
    pareto_k_max: float = PARETO_K_MAX,
) -> xr.Dataset:
    """P(worst case | hypothetical counts of the target system) with each uninformed assumption fixed on a grid.

    Every observation is of the fit's target system (a new system, or a named one): its counts weight each
    (draw, copy, disposition) unit by their likelihood (module docstring), for the assumptions fixed at each grid
    point (the likelihood and P(worst case | unit) both rerun). ``observations`` is one list, or several scenarios by
    label (a ``scenario`` dim; the worst-case arithmetic of a grid point is shared by all of them); an empty list is
    the one-way sweep of :func:`riskmodel.analysis.sensitivity.tornado.one_way` (no counts).

    Returns
    -------
    xarray.Dataset
        ``p_worst_case``, ``p_misaligned`` and ``p_misaligned_after_training`` (parameter, grid) given the counts,
        ``value`` (parameter, grid), and ``pareto_k`` / ``ess`` (parameter, grid) of the draw-level importance
        ratios ``P(counts | draw)`` (PSIS; above ``pareto_k_max`` the numbers are not reliable);
        ``baseline_*``: the same with every assumption at its draws.
    """
    system = result.system
    named = dict(observations) if isinstance(observations, Mapping) else {"": list(observations)}
    for obs in named.values():
        for o in obs:
            o.check()
            if o.system != system:
                raise InputError(
                    f"observations must be of the target system {system!r}, got {o.system!r}", field="system"
                )
    free = uninformed_parameters(result)
    parameters = free if parameters is None else list(parameters)
    unknown = [p for p in parameters if p not in free]
    if unknown:
        raise InputError(f"not an uninformed assumption: {unknown[0]!r}", field="parameters")
    levels = grid_levels(points)
    draws = SystemDraws.posterior(result, system)

    def summarize(values: dict[str, float]) -> np.ndarray:
        u = Units.of(draws, values)
        out = []
        for obs in named.values():
            log_l = sum((u.loglik(o.context, o.n, o.k, o.setting) for o in obs), np.zeros(u.weight.shape))
            joint = u.weight * np.exp(log_l - log_l.max())
            total = joint.sum()
            by_draw = joint.sum(axis=(2, 3)) / u.weight.sum(axis=(2, 3))  # P(counts | draw), up to a constant
            _, k = _psis(np.log(np.maximum(by_draw, 1e-300)).ravel(), by_draw.shape)
            wd = joint.sum(axis=(2, 3)) / total
            out.append(
                [
                    float((joint * u.p_worst_case).sum() / total),
                    float(joint[..., 1].sum() / total),
                    float((joint * u.p_misaligned_after_training).sum() / total),
                    k if obs else 0.0,
                    float(1.0 / (wd**2).sum()),
                ]
            )
        return np.array(out)  # (scenario, 5)

    base = summarize({})
    out = np.full((len(named), len(parameters), len(levels), 5), np.nan)
    value = np.full((len(parameters), len(levels)), np.nan)
    for i, name in enumerate(parameters):
        for j, x in enumerate(np.asarray(result.priors[name].quantile(levels), dtype=float)):
            out[:, i, j] = summarize({name: float(x)})
            value[i, j] = x
    dims = ("scenario", "parameter", "grid")
    ds = xr.Dataset(
        {
            "p_worst_case": (dims, out[..., 0]),
            "p_misaligned": (dims, out[..., 1]),
            "p_misaligned_after_training": (dims, out[..., 2]),
            "pareto_k": (dims, out[..., 3]),
            "ess": (dims, out[..., 4]),
            "value": (("parameter", "grid"), value),
            "level": (("grid",), levels),
            "baseline_p_worst_case": (("scenario",), base[:, 0]),
            "baseline_p_misaligned": (("scenario",), base[:, 1]),
            "baseline_pareto_k": (("scenario",), base[:, 3]),
            "baseline_ess": (("scenario",), base[:, 4]),
        },
        coords={"scenario": list(named), "parameter": list(parameters), "grid": np.arange(len(levels))},
    )
    ds["ess"].attrs["meaning"] = "effective sample size of the draw weights given the counts"
    if not isinstance(observations, Mapping):
        ds = ds.isel(scenario=0, drop=True)
    label = {k: "; ".join(f"{o.k}/{o.n} in {o.context.label()}" for o in v) or "none" for k, v in named.items()}
    return stamp(
        ds,
        result,
        analysis="one-way sweeps given hypothetical counts",
        system=system,
        observations=label,
        pareto_k_max=pareto_k_max,
    )

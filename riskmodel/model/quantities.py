"""Worst-case risk and its parts, computed draw by draw from parameter draws (posterior or prior).

Plain numpy/xarray arithmetic on draws with dims ``(chain, draw, ...)``; no MCMC. That is what makes fast updates
possible: an assumption the evidence does not inform can be redrawn from a new prior and these functions rerun on the
cached draws. The equations are in ``docs/model.md``.

Everything no likelihood term depends on (the uninformed assumptions, and each system's pattern coordinates that no
row informs) comes ``GENERATED_COPIES`` times per draw (``copy`` dim): every quantity here is the mean over the copies
of the conditional probability given the draw, Rao-Blackwellized over the disposition. Its posterior mean is an
unbiased estimate whose Monte Carlo error the ESS of the mean measures (:mod:`riskmodel.model.summaries`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.special import ndtr, ndtri
from threadpoolctl import threadpool_limits

from riskmodel.data.features import COORDINATES, pattern_matrix
from riskmodel.data.priors import CAPABILITIES, PriorSet
from riskmodel.model.spec import PatternLayout

__all__ = ["Patterns", "capability_given_competence", "patterns", "scalar", "worst_case"]


def scalar(params: xr.Dataset, name: str) -> np.ndarray:
    """Draws of a scalar parameter as (chain, draw, copy): sampled ones are repeated over the copies."""
    da = params[name]
    if "copy" in da.dims:
        return da.transpose("chain", "draw", "copy").values
    return da.transpose("chain", "draw").values[:, :, None]


def _stack(params: xr.Dataset, names: list[str]) -> np.ndarray:
    """(chain, draw, copy, name) draws of several scalar parameters (broadcast over copies)."""
    arrays = [scalar(params, n) for n in names]
    m = max(a.shape[2] for a in arrays)
    return np.stack([np.broadcast_to(a, (*a.shape[:2], m)) for a in arrays], axis=-1)


@dataclass(frozen=True)
class Patterns:
    """Per draw and copy: what each system's pattern is assembled from (:meth:`system` assembles one).

    ``aligned``, ``separation``, ``spread``: (chain, draw, copy, coordinate) population parameters; ``u``: (chain,
    draw, copy, system, coordinate) generated standardized coordinates; ``competence``: (chain, draw, copy, system);
    ``p_misaligned``: (chain, draw, copy, system), P(misaligned before training | the sampled coordinates and the
    hyperparameters); ``sampled``: (chain, draw, free) the sampled coordinates, placed by ``layout``.
    """

    aligned: np.ndarray
    separation: np.ndarray
    spread: np.ndarray
    loading: np.ndarray
    u: np.ndarray
    competence: np.ndarray
    p_misaligned: np.ndarray
    sampled: np.ndarray | None
    layout: PatternLayout

    def system(self, j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """System ``j``'s (aligned, misaligned, reinforced) patterns, each (chain, draw, copy, coordinate).

        A coordinate the system's rows inform is its sampled value whatever the disposition; the others are drawn
        from the population given each disposition. Reinforced: the aligned pattern shifted by the separation (a
        system made misaligned by reinforcement takes the misaligned pattern).
        """
        theta_al = self.aligned + self.spread * self.u[:, :, :, j]
        theta_al[..., 0] += self.loading * self.competence[:, :, :, j]
        theta_mis = theta_al + self.separation
        if self.sampled is not None:
            at = np.flatnonzero(self.layout.free_system == j)
            if at.size:
                coords = self.layout.free_coord[at]
                theta_al[..., coords] = self.sampled[:, :, None, at]
                theta_mis[..., coords] = self.sampled[:, :, None, at]
        return theta_al, theta_mis, theta_al + self.separation


def patterns(params: xr.Dataset, layout: PatternLayout) -> Patterns:
    """Read what every system's pattern is assembled from off the draws (sampled coordinates and generated ones)."""
    cd = ("chain", "draw")
    u = params["pattern_u"].transpose(*cd, "copy", "system", "coordinate").values
    kappa = params["competence_u"].transpose(*cd, "copy", "system").values.copy()
    if layout.competent.size:
        kappa[:, :, :, layout.competent] = params["competence"].transpose(*cd, "competent_system").values[:, :, None]
    if "p_misaligned_system" in params:
        pm = params["p_misaligned_system"]
        p_mis = pm.transpose(*cd, *(["copy"] if "copy" in pm.dims else []), "system").values
        if p_mis.ndim == 3:
            p_mis = p_mis[:, :, None, :]
    else:  # no system's pattern is informed: every system's P(misaligned) is the population's
        p_mis = scalar(params, "p_misaligned")[..., None]
    if p_mis.shape[-1] not in (1, u.shape[3]):  # pragma: no cover - a mismatch of draws and layout is a bug
        raise ValueError("p_misaligned_system and pattern_u disagree on the systems")
    sampled = params["pattern"].transpose(*cd, "free").values if layout.free_system.size else None
    return Patterns(
        _stack(params, [f"{c}_aligned" for c in COORDINATES]),
        _stack(params, [f"{c}_separation" for c in COORDINATES]),
        _stack(params, [f"{c}_spread" for c in COORDINATES]),
        scalar(params, "competence_loading"),
        u,
        kappa,
        np.broadcast_to(p_mis, kappa.shape),
        sampled,
        layout,
    )


def _consistency(rates: np.ndarray, n_crit: int, definition: str) -> np.ndarray:
    """Consistency from rates (context, ...) whose last two contexts are the elicitation and training contexts."""
    crit = rates[:n_crit]
    if definition == "absolute":
        return crit.min(axis=0)
    return np.minimum(crit / rates[n_crit], 1.0).min(axis=0)


def _logistic(z: np.ndarray) -> np.ndarray:
    """The logistic function, in place on ``z`` (exact in both tails; several times faster than scipy's expit)."""
    with np.errstate(over="ignore"):  # exp(-z) = inf for z < -709 gives the exact 0
        np.negative(z, out=z)
        np.exp(z, out=z)
    z += 1.0
    return np.reciprocal(z, out=z)


def _route(consistency: np.ndarray, other: np.ndarray) -> np.ndarray:
    """P(the worst-case strategy is carried out): via consistent training-gaming, or via the other route."""
    return 1.0 - (1.0 - consistency) * (1.0 - other)


def capability_given_competence(q: np.ndarray, strength: np.ndarray, competence: np.ndarray) -> np.ndarray:
    """P(capability a | misaligned, competence): the Gaussian copula of the shared strategic competence.

    ``q`` (..., capability) population probabilities, ``strength`` (...) and ``competence`` (...), broadcast;
    returns (..., capability). Marginally over a standard-normal competence this is ``q``; strength 0 makes the
    capabilities independent of the competence and of each other.
    """
    s = np.clip(strength, 0.0, 1.0 - 1e-9)[..., None]
    return ndtr((ndtri(np.clip(q, 0.0, 1.0)) + np.sqrt(s) * competence[..., None]) / np.sqrt(1.0 - s))


def worst_case(
    params: xr.Dataset,
    priors: PriorSet,
    layout: PatternLayout,
    *,
    systems: list[str] | None = None,
    capability_override: dict[str, float] | None = None,
    consistency_override: float | None = None,
    per_copy: bool = False,
) -> xr.Dataset:
    """Every worst-case quantity per (chain, draw, system) (``systems``: a subset, default all).

    ``params`` holds draws of the model's parameters (posterior or prior) with its generated copies; ``layout`` says
    which coordinates were sampled. The overrides set an assumption to a fixed value (e.g. a capability to 1: "if it
    were certain"). Systems are computed one at a time, which bounds the memory of the (draw, copy, context) arrays.
    ``per_copy``: keep the ``copy`` dim (chain, draw, copy, system, ...): each value is the conditional probability
    given the draw *and* that copy's generated draws, instead of their mean over the copies (Rao-Blackwellized
    preposterior analyses weight each copy by its own likelihood).
    """
    pat = patterns(params, layout)
    all_systems = list(layout.systems)
    names = all_systems if systems is None else list(systems)
    contexts = [*priors.critical, priors.elicitation, priors.training]
    x = pattern_matrix(contexts)  # (context, coordinate)
    n_crit = len(priors.critical)
    rho, other = scalar(params, "reinforcement"), scalar(params, "other_route")
    q = _stack(params, list(CAPABILITIES))
    for name, value in (capability_override or {}).items():
        q[..., CAPABILITIES.index(name)] = value
    # Inside the loop, contexts and capabilities lead (context, chain, draw, copy): reductions over them and means over
    # the copies then run over contiguous memory, several times faster than over a short trailing axis.
    strength = np.clip(scalar(params, "competence_correlation"), 0.0, 1.0 - 1e-9)
    z_q = np.moveaxis(ndtri(np.clip(q, 0.0, 1.0)), -1, 0)  # (capability, chain, draw, copy); the copula's P(a)
    loading_s, scale_s = np.sqrt(strength), np.sqrt(1.0 - strength)

    copy_mean = np.full(pat.u.shape[2], 1.0 / pat.u.shape[2])

    def mean(a: np.ndarray) -> np.ndarray:  # a: (..., chain, draw, copy) -> (..., chain, draw[, copy])
        if per_copy:
            return a
        if a.strides[-1] == 0:  # the same value on every copy (broadcast): its mean is that value, exactly
            return a[..., 0]
        return a @ copy_mean  # a product with 1/m is several times faster than .mean here

    def leading_last(a: np.ndarray) -> np.ndarray:  # (k, chain, draw[, copy]) -> (chain, draw[, copy], k)
        return np.moveaxis(a, 0, -1)

    keys = (
        "p_misaligned_pre",
        "p_misaligned_post",
        "consistency_al",
        "consistency_mis",
        "consistency_reinforced",
        "p_all_capabilities",
        "p_misaligned_and_route",
        "p_worst_case",
        "p_worst_case_consistency_route",
        "p_worst_case_other_route",
        "p_worst_case_other_route_only",
        "tg_rate_elicitation_al",
        "tg_rate_elicitation_mis",
        "tg_rate_training_al",
        "tg_rate_training_mis",
    )
    acc: dict[str, list[np.ndarray]] = {
        k: [] for k in (*keys, "p_capability", "p_route_and_capabilities", "tg_rate_critical")
    }
    with threadpool_limits(1):  # BLAS threads on these small products cost 5-50x what they compute
        for s in names:
            j = all_systems.index(s)
            theta = dict(zip(("al", "mis", "re"), pat.system(j), strict=True))  # each (chain, draw, copy, coordinate)
            shape = theta["al"].shape[:-1]
            rates = {  # (context, chain, draw, copy)
                k: _logistic(x @ th.reshape(-1, th.shape[-1]).T).reshape(len(contexts), *shape)
                for k, th in theta.items()
            }
            cons = {k: _consistency(r, n_crit, priors.consistency) for k, r in rates.items()}
            if consistency_override is not None:
                cons = {k: np.full_like(v, consistency_override) for k, v in cons.items()}
            per_cap = ndtr((z_q + loading_s * pat.competence[:, :, :, j]) / scale_s)  # (capability, chain, draw, copy)
            cum_caps = np.cumprod(per_cap, axis=0)
            p_caps = cum_caps[-1]
            pp = pat.p_misaligned[:, :, :, j]
            train_al = rates["al"][n_crit + 1]
            entrenched = (1.0 - pp) * rho * train_al
            route = pp * _route(cons["mis"], other) + entrenched * _route(cons["re"], other)
            m_post = pp + entrenched
            values = {
                "p_misaligned_pre": pp,
                "p_misaligned_post": m_post,
                "consistency_al": cons["al"],
                "consistency_mis": cons["mis"],
                "consistency_reinforced": cons["re"],
                "p_all_capabilities": p_caps,
                "p_misaligned_and_route": route,
                "p_worst_case": route * p_caps,
                "p_worst_case_consistency_route": (pp * cons["mis"] + entrenched * cons["re"]) * p_caps,
                "p_worst_case_other_route": m_post * other * p_caps,
                "p_worst_case_other_route_only": (pp * (1.0 - cons["mis"]) + entrenched * (1.0 - cons["re"]))
                * other
                * p_caps,
                "tg_rate_elicitation_al": rates["al"][n_crit],
                "tg_rate_elicitation_mis": rates["mis"][n_crit],
                "tg_rate_training_al": train_al,
                "tg_rate_training_mis": rates["mis"][n_crit + 1],
            }
            for k in keys:
                acc[k].append(mean(values[k]))
            acc["p_capability"].append(leading_last(mean(per_cap)))
            acc["p_route_and_capabilities"].append(leading_last(mean(route * cum_caps)))
            acc["tg_rate_critical"].append(
                np.stack([leading_last(mean(rates["al"][:n_crit])), leading_last(mean(rates["mis"][:n_crit]))], axis=-2)
            )
    axis = 3 if per_copy else 2
    arr = {k: np.stack(v, axis=axis) for k, v in acc.items()}  # system comes after chain, draw (and copy)
    dims = ("chain", "draw", "copy", "system") if per_copy else ("chain", "draw", "system")
    ddims = (*dims, "disposition")
    coords = {
        "chain": params["chain"].values,
        "draw": params["draw"].values,
        "system": names,
        "disposition": ["aligned", "misaligned"],
        "context": [c.label() for c in priors.critical],
        "capability": list(CAPABILITIES),
    }
    if per_copy:
        coords["copy"] = params["copy"].values if "copy" in params.coords else np.arange(pat.u.shape[2])

    def pair(a: str, b: str) -> np.ndarray:
        return np.stack([arr[a], arr[b]], axis=-1)

    return xr.Dataset(
        {
            "p_misaligned_pre": (dims, arr["p_misaligned_pre"]),
            "p_misaligned_post": (dims, arr["p_misaligned_post"]),
            "consistency": (ddims, pair("consistency_al", "consistency_mis")),
            "consistency_reinforced": (dims, arr["consistency_reinforced"]),
            "p_capability": ((*dims, "capability"), arr["p_capability"]),
            "p_all_capabilities": (dims, arr["p_all_capabilities"]),
            "p_route_and_capabilities": ((*dims, "capability"), arr["p_route_and_capabilities"]),
            "p_misaligned_and_route": (dims, arr["p_misaligned_and_route"]),
            "p_worst_case": (dims, arr["p_worst_case"]),
            "p_worst_case_consistency_route": (dims, arr["p_worst_case_consistency_route"]),
            "p_worst_case_other_route": (dims, arr["p_worst_case_other_route"]),
            "p_worst_case_other_route_only": (dims, arr["p_worst_case_other_route_only"]),
            "tg_rate_elicitation": (ddims, pair("tg_rate_elicitation_al", "tg_rate_elicitation_mis")),
            "tg_rate_training": (ddims, pair("tg_rate_training_al", "tg_rate_training_mis")),
            "tg_rate_critical": ((*ddims, "context"), arr["tg_rate_critical"]),
        },
        coords=coords,
    )

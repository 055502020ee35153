"""Fast updates: new assumptions on a cached fit without MCMC where that is exact or valid.

- A parameter the selected evidence does not inform (its posterior is its prior, independent of everything else)
  is redrawn from its new prior, seeded, and the worst-case arithmetic reruns on the cached draws: exact, no MCMC.
- A parameter the evidence informs is handled by importance reweighting of the cached draws with the ratio of new
  to old prior densities, smoothed by PSIS; the Pareto k of the weights says whether that is trustworthy. Above the
  threshold (0.7) the update refits, or, when refitting is not allowed, returns the reweighted numbers flagged as
  unreliable.
- Changing the declared contexts changes only downstream arithmetic.

An updated result is never citable: :meth:`FitResult.citation` refuses it until an exact fit is made.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np
import xarray as xr

from riskmodel.data.priors import PARAMETERS, PriorSet, load_priors
from riskmodel.results.result import FitResult

__all__ = ["PARETO_K_MAX", "UpdateInfo", "update"]

PARETO_K_MAX = 0.7


@dataclass(frozen=True)
class UpdateInfo:
    """How an updated result was obtained from its base fit."""

    method: str  # "unchanged", "recomputed", "reweighted", "refit" or "reweighted-unreliable"
    changed: tuple[str, ...]
    pareto_k: float | None = None
    prior_pareto_k: float | None = None
    message: str = ""

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "method": self.method,
            "changed": list(self.changed),
            "pareto_k": self.pareto_k,
            "prior_pareto_k": self.prior_pareto_k,
            "message": self.message,
        }


def _changed(old: PriorSet, new: PriorSet) -> list[str]:
    return [p for p in PARAMETERS if (old[p].distribution, old[p].params) != (new[p].distribution, new[p].params)]


def _redraw(ds: xr.Dataset, names: list[str], prior: PriorSet, seed: int) -> xr.Dataset:
    """``ds`` with the draws of uninformed scalar parameters replaced by fresh, seeded draws from their new priors."""
    if not names:
        return ds
    # A shallow copy has its own Variable objects over shared arrays: giving those variables new arrays leaves
    # ``ds`` untouched and skips the alignment an ``assign`` would do (this sits on the explorer's slider path).
    out = ds.copy(deep=False)
    for name in names:
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        var = out.variables[name]
        var.values = prior[name].draw(var.size, rng).reshape(var.shape)
    return out


def _log_ratio(ds: xr.Dataset, names: list[str], old: PriorSet, new: PriorSet) -> np.ndarray:
    """Sum over changed parameters (and their elements) of log new prior density - log old prior density."""
    total = np.zeros(ds.sizes["chain"] * ds.sizes["draw"])
    for name in names:
        x = ds[name].transpose("chain", "draw", ...).values.reshape(total.size, -1)
        total += (new[name].logpdf(x) - old[name].logpdf(x)).sum(axis=1)
    return total


def _psis(log_ratio: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Normalized PSIS weights of ``exp(log_ratio)`` and their Pareto k."""
    from arviz_stats.base import array_stats

    if np.ptp(log_ratio) < 1e-12:  # a constant ratio changes nothing (and PSIS cannot fit a tail to it)
        return np.full(shape, 1.0 / log_ratio.size), 0.0
    lw, k = array_stats.psislw(-log_ratio)  # psislw negates its input
    w = np.exp(lw - lw.max())
    return (w / w.sum()).reshape(shape), float(k)


def update(
    result: FitResult,
    priors: str | PriorSet,
    *,
    pareto_k_max: float = PARETO_K_MAX,
    allow_refit: bool = True,
    progress: bool = False,
) -> FitResult:
    """A result under new assumptions, from the cached draws where valid (see the module docstring).

    The returned result's ``update`` says how it was obtained; its ``base`` is the exact fit it came from.
    """
    new = load_priors(priors)
    base = result.base or result
    changed = _changed(base.priors, new)
    contexts_changed = (
        base.priors.elicitation,
        base.priors.training,
        base.priors.critical,
        base.priors.reference_setting,
        base.priors.consistency,
        base.priors.tail_df,
    ) != (new.elicitation, new.training, new.critical, new.reference_setting, new.consistency, new.tail_df)
    if not changed and not contexts_changed:
        return base  # the same assumptions: the exact fit itself (citable)
    informed = base.data.sampled
    structural = [p for p in changed if p in informed and base.priors[p].distribution != new[p].distribution]
    if structural or (new.reference_setting, new.tail_df) != (base.priors.reference_setting, base.priors.tail_df):
        return _refit(
            base,
            new,
            changed,
            "a prior family, the reference setting or the tail degrees of freedom changed: the model changes",
            progress,
        )
    redraw = [p for p in changed if p not in informed]
    post = _redraw(base.posterior_draws, redraw, new, base.seed)
    prior = _redraw(base.prior_draws, redraw, new, base.seed + 1)
    reweigh = [p for p in changed if p in informed]
    if not reweigh:
        info = UpdateInfo("recomputed", tuple(changed), message="uninformed assumptions redrawn; no MCMC")
        return replace(base, priors=new, posterior_draws=post, prior_draws=prior, base=base, update=info)
    w, k = _psis(_log_ratio(post, reweigh, base.priors, new), (base.chains, base.draws))
    w0, k0 = _psis(_log_ratio(prior, reweigh, base.priors, new), (1, prior.sizes["draw"]))
    if not max(k, k0) <= pareto_k_max:  # a NaN Pareto k is unreliable too
        msg = (
            f"importance reweighting is unreliable (Pareto k {max(k, k0):.2f} > {pareto_k_max}): the new prior "
            "is too far from the fitted one"
        )
        if allow_refit:
            return _refit(base, new, changed, msg, progress)
        info = UpdateInfo("reweighted-unreliable", tuple(changed), k, k0, msg)
    else:
        info = UpdateInfo("reweighted", tuple(changed), k, k0, "cached draws importance-reweighted (PSIS)")
    out = replace(
        base, priors=new, posterior_draws=post, prior_draws=prior, weights=w, prior_weights=w0, base=base, update=info
    )
    if not redraw and not contexts_changed:
        _share_quantities(out, base)
    return out


def _share_quantities(result: FitResult, base: FitResult) -> None:
    """Give ``result`` the worst-case quantities of ``base`` (same draws, same contexts: the same per-draw numbers).

    Only the weights differ for a reweighted result; recomputing the per-draw quantities would cost most of an
    explorer rerun. The cached properties live in the instance dict, which is where this puts them.
    """
    for name in ("quantities", "prior_quantities"):
        result.__dict__[name] = getattr(base, name)


def _refit(base: FitResult, new: PriorSet, changed: list[str], why: str, progress: bool) -> FitResult:
    res = base.refit(new, progress=progress)
    return replace(res, update=UpdateInfo("refit", tuple(changed), message=f"{why}; refit with MCMC"))

"""What every sensitivity analysis shares: provenance stamps, which assumptions are informed, one system's draws.

The worst-case arithmetic (:func:`riskmodel.model.quantities.worst_case`) is rerun many times by the analyses, always
for one target system. :class:`SystemDraws` holds the draws that system's quantities depend on (its sampled
coordinates and competence, its generated copies, every population and worst-case parameter), so a rerun reads a few
megabytes instead of every system's generated copies, and :meth:`SystemDraws.at` builds the draws of arbitrary
(posterior draw, uninformed assumption values) pairs, which is what Sobol indices and value of information evaluate.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from riskmodel.data.features import COORDINATES
from riskmodel.data.priors import CAPABILITIES, PARAMETERS
from riskmodel.errors import InputError
from riskmodel.model.quantities import worst_case
from riskmodel.model.spec import NEW_SYSTEM, PARAMETER_DIMS, PatternLayout

if TYPE_CHECKING:
    from riskmodel.data.features import Context
    from riskmodel.results.result import FitResult

__all__ = [
    "GRID_POINTS",
    "GRID_RANGE",
    "Progress",
    "SystemDraws",
    "declared_contexts",
    "grid_levels",
    "informed_parameters",
    "noop",
    "stamp",
    "uninformed_parameters",
]

#: Points of a one-way grid (default) and the prior quantiles it spans.
GRID_POINTS = 21
GRID_RANGE = (0.05, 0.95)

#: Progress callback: (stage, done, total).
Progress = Callable[[str, int, int], None]

#: Parameters the worst-case arithmetic and a system's flagged-reasoning rate read (besides the generated copies and
#: the system's own draws).
_WORST_CASE_PARAMETERS: tuple[str, ...] = (
    "p_misaligned",
    "reinforcement",
    *(f"{c}_{s}" for c in COORDINATES for s in ("aligned", "separation", "spread")),
    "competence_loading",
    "after_rl_effect",
    "setting_effect",
    "reasoning_sensitivity",
    "reasoning_false_positive",
    "other_route",
    "competence_correlation",
    *CAPABILITIES,
)


def noop(stage: str, done: int, total: int) -> None:
    """A progress callback that does nothing."""
    return None


def stamp(ds: xr.Dataset, result: FitResult, **attrs: Any) -> xr.Dataset:
    """Put the citation and provenance of the fit ``result`` was computed from into ``ds.attrs`` (and return it).

    A fast update or hypothetical evidence is stamped with the exact fit it came from, and says so; a fit that cannot
    be cited (an unreleased prior file) says why instead of a citation.
    """
    base = result.base or result
    why = base.not_citable()
    ds.attrs["citation"] = base.citation() if not why else f"not citable: {why}"
    ds.attrs["provenance"] = json.dumps(base.provenance)
    ds.attrs["derived_from_exact_fit"] = int(result.exact)
    if result.update is not None:
        ds.attrs["update"] = json.dumps(result.update.as_dict())
    for k, v in attrs.items():
        ds.attrs[k] = v if isinstance(v, str | int | float) else json.dumps(v)
    return ds


def uninformed_parameters(result: FitResult) -> list[str]:
    """Every assumption of the prior file no selected likelihood row informs, in file order.

    Their posterior is their prior, independent of everything else (``result.data.sampled`` lists the informed
    ones); they come ``GENERATED_COPIES`` times per posterior draw. Parameters without values (a per-setting effect
    when no evidence row has a non-reference setting) are left out.
    """
    return [p for p in PARAMETERS if p not in result.data.sampled and result.data.size(p) > 0]


def informed_parameters(result: FitResult) -> list[str]:
    """The assumptions some selected likelihood row informs (sampled by NUTS), in file order."""
    return [p for p in PARAMETERS if p in result.data.sampled and result.data.size(p) > 0]


def grid_levels(points: int = GRID_POINTS) -> np.ndarray:
    """Prior quantile levels of a one-way grid: ``points`` evenly spaced from the 5th to the 95th percentile."""
    if isinstance(points, bool) or not isinstance(points, int | np.integer) or not 2 <= points <= 1001:
        raise InputError(f"must be a whole number from 2 to 1001, got {points!r}", field="points")
    return np.linspace(*GRID_RANGE, int(points))


def declared_contexts(result: FitResult) -> list[tuple[str, Context]]:
    """(label, context) of every context the prior file declares: elicitation, training, each critical one."""
    ps = result.priors
    out = [
        (f"elicitation: {ps.elicitation.label()}", ps.elicitation),
        (f"training: {ps.training.label()}", ps.training),
    ]
    return out + [(f"critical: {c.label()}", c) for c in ps.critical]


def check_system(result: FitResult, system: str | None) -> str:
    """The target system (default: the fit's), or a one-line error naming the known ones."""
    system = result.system if system is None else system
    if system not in result.systems:
        raise InputError(f"unknown system {system!r} (known: {', '.join(result.systems)})", field="system")
    return system


@dataclass(frozen=True)
class SystemDraws:
    """The draws one system's worst-case quantities depend on, with the layout that places them.

    ``draws`` has the system as its only system, its sampled coordinates (``free``) and competence, every
    population, capability and route parameter (scalar ones with a ``copy`` dim where they are generated) and the
    generated copies; ``layout`` is the one-system layout; ``weights`` the normalized importance weights (chain,
    draw) of the draws (None: equal).
    """

    system: str
    draws: xr.Dataset
    layout: PatternLayout
    priors: Any
    weights: np.ndarray | None

    @classmethod
    def posterior(cls, result: FitResult, system: str) -> SystemDraws:
        """The posterior draws of ``system`` (with the result's weights)."""
        return cls.of(result.posterior, result.data.layout, result, system, result.weights)

    @classmethod
    def prior(cls, result: FitResult, draws: int | None = None) -> SystemDraws:
        """The prior draws (a system drawn from the population stands for every system), optionally the first few."""
        ds, w = result.prior_draws, result.prior_weights
        if draws is not None and draws < ds.sizes["draw"]:
            ds = ds.isel(draw=slice(0, draws))
            if w is not None:
                w = w[:, :draws] / w[:, :draws].sum()
        return cls.of(ds, PatternLayout((NEW_SYSTEM,)), result, NEW_SYSTEM, w)

    @classmethod
    def of(
        cls, params: xr.Dataset, layout: PatternLayout, result: FitResult, system: str, weights: np.ndarray | None
    ) -> SystemDraws:
        """``system``'s slice of ``params`` placed by ``layout``."""
        j = list(layout.systems).index(system)
        at = np.flatnonzero(layout.free_system == j)
        comp = np.flatnonzero(layout.competent == j)
        names = [n for n in _WORST_CASE_PARAMETERS if n in params.data_vars]
        keep = [*names, "pattern_u", "competence_u"]
        ds = params[keep].sel(system=[system])
        if "p_misaligned_system" in params:
            ds["p_misaligned_system"] = params["p_misaligned_system"].sel(system=[system])
        if at.size:
            ds["pattern"] = params["pattern"].isel(free=at)
        if comp.size:
            ds["competence"] = params["competence"].isel(competent_system=comp)
        sub = PatternLayout(
            (system,),
            np.zeros(at.size, dtype=np.int64),
            layout.free_coord[at].astype(np.int64),
            np.zeros(comp.size, dtype=np.int64),
        )
        return cls(system, ds, sub, result.priors, weights)

    @property
    def shape(self) -> tuple[int, int]:
        """(chain, draw)."""
        return self.draws.sizes["chain"], self.draws.sizes["draw"]

    @property
    def copies(self) -> int:
        """Generated copies per draw."""
        return self.draws.sizes["copy"]

    def fixed(self, values: Mapping[str, float | np.ndarray]) -> xr.Dataset:
        """The draws with uninformed scalar assumptions set to ``values`` on every copy.

        A value is a number (the same on every draw) or an array (chain, draw) (one value per draw, the same on its
        copies).
        """
        out = self.draws.copy(deep=False)
        c, d, m = (*self.shape, self.copies)
        for name, v in values.items():
            if name not in PARAMETERS or PARAMETER_DIMS.get(name):
                raise InputError(f"not a scalar assumption: {name!r}", field="parameter")
            arr = np.asarray(v, dtype=float)
            arr = np.broadcast_to(arr.reshape(arr.shape + (1,) * (3 - arr.ndim)) if arr.ndim else arr, (c, d, m))
            out[name] = (("chain", "draw", "copy"), np.array(arr))
        return out

    def quantities(
        self,
        values: Mapping[str, float | np.ndarray] | None = None,
        *,
        p_misaligned: float | None = None,
        per_copy: bool = False,
    ) -> xr.Dataset:
        """:func:`worst_case` of the system (dims without ``system``) with some assumptions fixed.

        ``p_misaligned``: the system's P(misaligned before training) set to this value on every draw (0 or 1 give
        the quantities given its disposition).
        """
        ds = self.fixed(values or {})
        if p_misaligned is not None:
            shape = ds["p_misaligned_system"].shape if "p_misaligned_system" in ds else (*self.shape, 1)
            dims = ds["p_misaligned_system"].dims if "p_misaligned_system" in ds else ("chain", "draw", "system")
            ds["p_misaligned_system"] = (dims, np.full(shape, float(p_misaligned)))
            ds = ds.assign_coords(system=[self.system])
        q = worst_case(ds, self.priors, self.layout, per_copy=per_copy)
        return q.isel(system=0, drop=True)

    def at(self, index: np.ndarray, values: Mapping[str, np.ndarray]) -> SystemDraws:
        """Draws of the pairs (posterior draw ``index[i]``, assumptions ``values[name][i]``) as one chain.

        ``index`` are flat (chain-major) draw numbers; each pair keeps that draw's sampled values and generated
        copies, with the assumptions in ``values`` set to the pair's value on every copy. Equal weights.
        """
        index = np.asarray(index, dtype=np.int64)
        d = self.shape[1]
        chain, draw = np.divmod(index, d)
        sel = {"chain": xr.DataArray(chain, dims="pair"), "draw": xr.DataArray(draw, dims="pair")}
        ds = self.draws.isel(sel).drop_vars(["chain", "draw"], errors="ignore")
        ds = ds.rename({"pair": "draw"}).expand_dims(chain=[0]).assign_coords(draw=np.arange(index.size))
        out = SystemDraws(self.system, ds.transpose("chain", "draw", ...), self.layout, self.priors, None)
        fixed = out.fixed({k: np.asarray(v, dtype=float)[None, :] for k, v in values.items()})
        return SystemDraws(self.system, fixed, self.layout, self.priors, None)


def flat_weights(weights: np.ndarray | None, n: int) -> np.ndarray:
    """Normalized weights of ``n`` draws as a flat array (equal when None)."""
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=float).ravel()
    return w / w.sum()

"""Pooling several forecasters: linear pools of fitted posteriors and logarithmic pools of prior sets.

Each forecaster is a released prior set; all members are fitted to the same evidence with the same seed and sampler
settings (through the fit store), and a pool gives each member a weight (positive, summing to 1 within
:data:`WEIGHT_TOL`).

**Linear pool** (:func:`linear_pool`): the pooled distribution of every reported quantity is the mixture
``sum_i w_i p_i``. Its draws are drawn *from the members' own draws*: in every chain, ``round(w_i x draws)`` of the
(chain, draw) positions (largest remainders, so the counts sum to the draws) take member ``i``'s draw at that very
position, and which positions go to which member is a seeded permutation (:func:`mixture_selection`). The pooled
draws therefore have the members' (chain, draw) layout, their mixture proportions are the weights to within one
draw per chain, every summary (mean, 90% interval, Monte Carlo standard error from the ESS of the mean) is computed
on them exactly as for one fit, and a pool of identical members *is* that member, draw for draw. The selection
depends only on the weights, chains, draws and seed, so a refit reproduces it.

The pool's citation names the method, every member with its prior hash and weight, the shared evidence, system and
sampler settings, and the sha256 of the pooled draws of every quantity::

    P(worst case) = 0.0052 [90%: 0.0002, 0.019] | riskmodel 0.2.0 model 2 | pool linear: baseline@2.0.0
    sha256:ed4fd2d0 w=0.5, skeptic@1.0.0 sha256:5e0d95e0 w=0.5 | evidence published-evals@2.0.0 sha256:cbc0dd0a |
    system new | nutpie 0.16.11 seed 1 | 4x1000 draws tune 1000 | draws sha256:1a2b3c4d

(on one line). :func:`verify_pool` (which :func:`riskmodel.results.verify.verify` calls for such lines) refits every
member from its release, rebuilds the pool and checks the numbers, the health and the draws as ``verify`` does for
one fit. ``| diagnostics FAILED`` is appended when any member failed its health checks.

**Logarithmic pool** (:func:`log_pool_priors`): the pooled prior of each parameter is the normalized geometric
mixture ``prod_i p_i(x)^w_i``, in closed form where the members share a family whose densities form an exponential
family closed under it:

- Beta: ``alpha = sum w_i (alpha_i - 1) + 1``, ``beta = sum w_i (beta_i - 1) + 1``;
- Gamma: ``alpha = sum w_i (alpha_i - 1) + 1``, ``beta = sum w_i beta_i``;
- Normal: precision-weighted, ``1/sigma^2 = sum w_i / sigma_i^2``, ``mu = sigma^2 sum w_i mu_i / sigma_i^2``;
- LogNormal: the same on the log scale (the ``1/x`` factors multiply to ``1/x`` because the weights sum to 1);
- HalfNormal: ``1/sigma^2 = sum w_i / sigma_i^2``.

These are exact. Members with different families for a parameter (say a HalfNormal and a Gamma) have no closed-form
pool in the allow-list and are refused with one line naming the parameter; so are members whose model settings or
contexts differ (a pool of priors is a pool of one model's parameters). The allow-list has no Student-t family; if
one is added, a geometric mixture of Student-t densities is not a Student-t, and it must be refused the same way
rather than approximated. Because nothing was elicited for a pooled prior, the pooled file stores parameters only
(no ``interval90``).

The pooled set is released through the normal machinery (:func:`riskmodel.data.authoring.release`), its file naming
the members (``NAME@VERSION sha256:HASH``) and weights in ``[[pooled_from]]``; it is then fitted like any prior set,
and its citation is an ordinary prior citation that verifies. Pooling the same members with the same weights again
reuses the existing release instead of releasing a copy.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from riskmodel.data.priors import PARAMETERS, ParamPrior, PriorSet, load_priors, prior_store
from riskmodel.data.registry import check_name
from riskmodel.errors import CitationError, InputError, PriorError, RiskmodelError

if TYPE_CHECKING:
    from riskmodel.data.evidence import EvidenceSet
    from riskmodel.results.result import FitResult
    from riskmodel.results.verify import Verification

__all__ = [
    "METHODS",
    "WEIGHT_TOL",
    "LinearPool",
    "PoolCitation",
    "check_log_pool_name",
    "check_pool",
    "fit_members",
    "is_pool_citation",
    "linear_pool",
    "log_pool_parameter",
    "log_pool_priors",
    "mix_quantities",
    "mixture_selection",
    "parse_pool_citation",
    "parse_weights",
    "pool_fits",
    "pool_name",
    "release_log_pool",
    "summarize_draws",
    "verify_pool",
]

#: Pooling methods: a linear pool of posteriors, or a logarithmic pool of priors.
METHODS: tuple[str, ...] = ("linear", "log")
#: How far from 1 the weights may sum.
WEIGHT_TOL = 1e-9
#: Most members a pool may have (the limit of ``[[pooled_from]]`` in a prior file).
MAX_MEMBERS = 50
_SHA_SHOWN = 8


# ---------------------------------------------------------------------------------------------------------------------
# Input checks (all before any fit)


def parse_weights(text: str | Sequence[float] | None, n: int) -> tuple[float, ...]:
    """The weights of ``n`` members: ``"0.5,0.3,0.2"`` or a sequence; ``None`` gives equal weights.

    Raises a one-line :class:`InputError` when the count is not ``n``, a weight is not a positive finite number, or the
    weights do not sum to 1 within :data:`WEIGHT_TOL`.
    """
    if text is None:
        return tuple(1.0 / n for _ in range(n))
    if isinstance(text, str):
        parts = [p.strip() for p in text.split(",")]
        try:
            weights = [float(p) for p in parts]
        except ValueError:
            raise InputError(f"must be numbers separated by commas, got {text!r}", field="weights") from None
    else:
        weights = [float(w) for w in text]
    if len(weights) != n:
        raise InputError(f"{len(weights)} weight(s) for {n} member(s): give one weight per member", field="weights")
    for w in weights:
        if not math.isfinite(w) or w <= 0:
            raise InputError(f"every weight must be a positive number, got {w!r}", field="weights")
    total = math.fsum(weights)
    if abs(total - 1.0) > WEIGHT_TOL:
        raise InputError(f"the weights must sum to 1 (within {WEIGHT_TOL:g}), they sum to {total!r}", field="weights")
    return tuple(weights)


def check_pool(
    members: Sequence[str], weights: str | Sequence[float] | None, method: str
) -> tuple[list[PriorSet], tuple[float, ...]]:
    """Check a pool's method, members and weights without fitting anything; returns the loaded members and weights.

    Every member must be a released prior set (``NAME@VERSION`` or ``NAME``, its latest release); an unknown member,
    an unreleased file, a bad weight or an unknown method is one :class:`InputError` line.
    """
    if method not in METHODS:
        raise InputError(f"unknown pooling method {method!r} (known: {', '.join(METHODS)})", field="method")
    if not members:
        raise InputError("a pool needs at least one member", field="members")
    if len(members) > MAX_MEMBERS:
        raise InputError(f"at most {MAX_MEMBERS} members, got {len(members)}", field="members")
    w = parse_weights(weights, len(members))
    loaded = []
    for ref in members:
        try:
            ps = load_priors(ref)
        except RiskmodelError as exc:
            raise InputError(f"unknown member {ref!r}: {exc.line()}", field="members") from None
        if not ps.released:
            raise InputError(
                f"member {ref!r} is not a released prior set: release it to pool it (only releases can be cited)",
                field="members",
            )
        loaded.append(ps)
    return loaded, w


def _member_label(ps: PriorSet) -> str:
    return f"{ps.ref} sha256:{ps.sha256}"


def pool_name(method: str, members: Sequence[PriorSet], weights: Sequence[float]) -> str:
    """A default name for a pooled prior set: ``pool-`` and 10 hex digits of a hash of its members and weights."""
    text = method + "|" + "|".join(f"{_member_label(m)} w={w!r}" for m, w in zip(members, weights, strict=True))
    return "pool-" + hashlib.sha256(text.encode()).hexdigest()[:10]


# ---------------------------------------------------------------------------------------------------------------------
# Linear pool


def mixture_selection(weights: Sequence[float], chains: int, draws: int, seed: int) -> np.ndarray:
    """Which member's draw each (chain, draw) position of a linear pool takes, shape (chains, draws).

    In every chain member ``i`` gets ``round(w_i x draws)`` positions (largest remainders, so that they sum to
    ``draws``), placed by a permutation seeded by ``seed``: the pooled chain is a mixture in the weights' proportions
    (to within one draw), and the same inputs give the same selection.
    """
    w = np.asarray(weights, dtype=float)
    raw = w * draws
    counts = np.floor(raw).astype(int)
    short = draws - int(counts.sum())
    if short > 0:
        order = np.argsort(-(raw - counts), kind="stable")  # largest remainders first, ties to the earlier member
        counts[order[:short]] += 1
    labels = np.repeat(np.arange(len(w)), counts)
    rng = np.random.default_rng([int(seed), 0x706F6F6C])  # "pool": a stream of its own, independent of the sampler's
    return np.stack([rng.permutation(labels) for _ in range(chains)])


def mix_quantities(datasets: Sequence[xr.Dataset], selection: np.ndarray) -> xr.Dataset:
    """The pooled dataset: at each (chain, draw) position, every variable's value from the member ``selection`` names.

    Variables without chain and draw dimensions must be equal in every member and are kept as they are.
    """
    first = datasets[0]
    out = {}
    sel = xr.DataArray(selection, dims=("chain", "draw"))
    for name, da in first.data_vars.items():
        if "chain" not in da.dims or "draw" not in da.dims:
            for ds in datasets[1:]:
                if not ds[name].equals(da):
                    raise InputError(f"the members differ in {name!r}: they cannot be pooled", field="members")
            out[name] = da
            continue
        order = ("chain", "draw", *(d for d in da.dims if d not in ("chain", "draw")))
        stack = np.stack([np.asarray(ds[name].transpose(*order).values) for ds in datasets])
        idx = sel.transpose("chain", "draw").values.reshape((1, *selection.shape) + (1,) * (stack.ndim - 3))
        picked = np.take_along_axis(stack, idx, axis=0)[0]
        out[name] = xr.DataArray(picked, dims=order, coords=da.transpose(*order).coords, attrs=da.attrs)
    return xr.Dataset(out, attrs=first.attrs)


def summarize_draws(draws: np.ndarray) -> dict[str, float]:
    """Mean, 90% interval and Monte Carlo standard error (from the ESS of the mean) of (chain, draw) draws."""
    from riskmodel.model.summaries import mcse_of_mean

    x = np.asarray(draws, dtype=float)
    lo, hi = np.quantile(x, [0.05, 0.95])
    return {"mean": float(x.mean()), "lower": float(lo), "upper": float(hi), "mcse": mcse_of_mean(x)}


#: The quantities a pool reports per member and for the pool (variable of the quantities, label).
REPORTED = (
    ("p_worst_case", "P(worst case)"),
    ("p_misaligned_pre", "P(misaligned)"),
    ("p_misaligned_post", "P(misaligned after training)"),
)


@dataclass
class LinearPool:
    """A linear pool of fitted members: the pooled draws of every quantity, the members and their weights."""

    members: tuple[FitResult, ...]
    weights: tuple[float, ...]
    selection: np.ndarray
    quantities: xr.Dataset

    @property
    def method(self) -> str:
        """``"linear"``."""
        return "linear"

    @property
    def system(self) -> str:
        """The target system shared by every member."""
        return self.members[0].system

    @property
    def healthy(self) -> bool:
        """Whether every member passed its health checks."""
        return all(m.healthy for m in self.members)

    @property
    def draws_sha256(self) -> str:
        """sha256 of the pooled draws of every quantity (:func:`riskmodel.results.result.draws_sha256`)."""
        from riskmodel.results.result import draws_sha256

        return draws_sha256(self.quantities)

    def summary(self, quantity: str = "p_worst_case", system: str | None = None) -> dict[str, float]:
        """Mean, 90% interval and MCSE of a pooled quantity for ``system`` (default: the target system)."""
        da = self.quantities[quantity].sel(system=system or self.system)
        return summarize_draws(da.transpose("chain", "draw").values)

    def member_summary(self, i: int, quantity: str = "p_worst_case", system: str | None = None) -> dict[str, float]:
        """The same summary of member ``i``'s own fit."""
        da = self.members[i].quantities[quantity].sel(system=system or self.system)
        return summarize_draws(da.transpose("chain", "draw").values)

    def citation(self) -> str:
        """The pool's one-line citation (module docstring); every member must be an exact fit under releases."""
        from riskmodel.results.citation import evidence_label, fmt
        from riskmodel.versions import package_version, sampler_version

        for m in self.members:
            why = m.not_citable()
            if why:
                raise InputError(f"member {m.priors.ref}: {why}", field="citation")
        base = self.members[0]
        s = self.summary()
        names = ", ".join(
            f"{m.priors.ref} sha256:{m.priors.sha256[:_SHA_SHOWN]} w={w!r}"
            for m, w in zip(self.members, self.weights, strict=True)
        )
        return (
            f"P(worst case) = {fmt(s['mean'])} [90%: {fmt(s['lower'])}, {fmt(s['upper'])}] | riskmodel "
            f"{package_version()} model {base.model_version} | pool linear: {names} | evidence "
            f"{evidence_label(base.evidence)} | system {base.system} | {base.sampler} "
            f"{sampler_version(base.sampler)} seed {base.seed} | {base.chains}x{base.draws} draws tune {base.tune} | "
            f"draws sha256:{self.draws_sha256[:_SHA_SHOWN]}" + ("" if self.healthy else " | diagnostics FAILED")
        )

    def report(self) -> dict[str, Any]:
        """JSON-ready: the pool's and each member's reported quantities (with MCSE), the weights and citations."""
        return {
            "method": "linear",
            "system": self.system,
            "healthy": self.healthy,
            "pool": {q: self.summary(q) for q, _ in REPORTED},
            "members": [
                {
                    "priors": m.priors.ref,
                    "sha256": m.priors.sha256,
                    "weight": w,
                    "healthy": m.healthy,
                    **{q: self.member_summary(i, q) for q, _ in REPORTED},
                    "citation": m.citation(),
                }
                for i, (m, w) in enumerate(zip(self.members, self.weights, strict=True))
            ],
            "mixture_counts": [int((self.selection == i).sum()) for i in range(len(self.members))],
            "citation": self.citation(),
        }


def _check_same_settings(results: Sequence[FitResult]) -> None:
    base = results[0]
    for r in results[1:]:
        for key in ("system", "seed", "chains", "draws", "tune", "sampler"):
            if getattr(r, key) != getattr(base, key):
                raise InputError(
                    f"members were fitted with different {key} ({getattr(base, key)!r} vs {getattr(r, key)!r})",
                    field="members",
                )
        if (r.evidence.sha256, r.evidence.excluded, r.evidence.capability_sources) != (
            base.evidence.sha256,
            base.evidence.excluded,
            base.evidence.capability_sources,
        ):
            raise InputError("members were fitted to different evidence", field="members")


def pool_fits(results: Sequence[FitResult], weights: Sequence[float]) -> LinearPool:
    """The linear pool of members already fitted with the same evidence, seed and sampler settings."""
    w = parse_weights(list(weights), len(results))
    _check_same_settings(results)
    base = results[0]
    selection = mixture_selection(w, base.chains, base.draws, base.seed)
    pooled = mix_quantities([r.quantities for r in results], selection)
    return LinearPool(tuple(results), w, selection, pooled)


def fit_members(
    members: Sequence[PriorSet], evidence: str | EvidenceSet, settings: dict[str, Any], *, cache: bool
) -> list[FitResult]:
    """Fit every member with the same evidence and settings (a member named twice is fitted once), in order."""
    from riskmodel.results.result import fit

    out: list[FitResult] = []
    done: dict[str, FitResult] = {}
    for ps in members:
        if ps.sha256 not in done:  # a member named twice is fitted once
            done[ps.sha256] = fit(ps, evidence, cache=cache, **settings)
        out.append(done[ps.sha256])
    return out


def linear_pool(
    members: Sequence[str],
    weights: str | Sequence[float] | None = None,
    *,
    evidence: str | EvidenceSet | None = None,
    system: str = "new",
    seed: int = 1,
    chains: int = 4,
    draws: int = 1000,
    tune: int = 1000,
    progress: bool = False,
    cache: bool = True,
    cache_dir: str | None = None,
) -> LinearPool:
    """Fit every member (same evidence, seed and settings; through the fit store) and pool them linearly.

    The inputs are checked (:func:`check_pool`) before anything is fitted.
    """
    from riskmodel.data.registry import DEFAULT_EVIDENCE

    loaded, w = check_pool(members, weights, "linear")
    settings = dict(system=system, seed=seed, chains=chains, draws=draws, tune=tune, progress=progress)
    if cache_dir is not None:
        settings["cache_dir"] = cache_dir
    results = fit_members(loaded, evidence or DEFAULT_EVIDENCE, settings, cache=cache)
    return pool_fits(results, w)


# ---------------------------------------------------------------------------------------------------------------------
# Logarithmic pool of priors


def log_pool_parameter(name: str, priors: Sequence[ParamPrior], weights: Sequence[float]) -> dict[str, float]:
    """Closed-form parameters of the logarithmic pool ``prod p_i^w_i`` (normalized) of one parameter's priors.

    Raises a one-line :class:`PriorError` naming the parameter when the members' families differ (no closed form).
    """
    families = sorted({p.distribution for p in priors})
    if len(families) != 1:
        raise PriorError(
            f"the members' priors are {' and '.join(families)}: a logarithmic pool of different families has no "
            "closed form in the allowed families; give the members one family for this parameter",
            field=f"parameters.{name}",
        )
    fam = families[0]
    w = np.asarray(weights, dtype=float)
    par = [p.params for p in priors]

    def wsum(values: list[float]) -> float:
        return math.fsum(float(wi) * v for wi, v in zip(w, values, strict=True))

    if fam in ("Beta", "Gamma"):
        alpha = wsum([p["alpha"] - 1.0 for p in par]) + 1.0
        beta = wsum([p["beta"] - 1.0 for p in par]) + 1.0 if fam == "Beta" else wsum([p["beta"] for p in par])
        return {"alpha": alpha, "beta": beta}
    if fam in ("Normal", "LogNormal"):
        precision = wsum([1.0 / p["sigma"] ** 2 for p in par])
        mu = wsum([p["mu"] / p["sigma"] ** 2 for p in par]) / precision
        return {"mu": mu, "sigma": 1.0 / math.sqrt(precision)}
    if fam == "HalfNormal":
        return {"sigma": 1.0 / math.sqrt(wsum([1.0 / p["sigma"] ** 2 for p in par]))}
    raise PriorError(f"no closed-form logarithmic pool of a {fam} prior", field=f"parameters.{name}")


def _describe(p: ParamPrior) -> str:
    return f"{p.distribution}({', '.join(f'{k}={v:.4g}' for k, v in p.params.items())})"


def _weights_text(members: Sequence[PriorSet], weights: Sequence[float]) -> str:
    return ", ".join(f"{m.ref} (w={w:.4g})" for m, w in zip(members, weights, strict=True))


def log_pool_priors(
    members: Sequence[PriorSet], weights: Sequence[float], *, name: str | None = None, author: str = ""
) -> PriorSet:
    """The logarithmic pool of released prior sets: an unreleased :class:`PriorSet` naming its members and weights.

    Every parameter is pooled in closed form (:func:`log_pool_parameter`); the members must agree on the model
    settings (``tail_df``, ``consistency``) and the contexts, else one :class:`PriorError` line names the field.
    """
    w = parse_weights(list(weights), len(members))
    base = members[0]
    for m in members[1:]:
        for key in ("tail_df", "consistency", "reference_setting", "elicitation", "training", "critical"):
            if getattr(m, key) != getattr(base, key):
                where = f"model.{key}" if key in ("tail_df", "consistency") else f"contexts.{key}"
                raise PriorError(
                    f"{base.ref} and {m.ref} differ here: only prior sets of the same model settings and contexts "
                    "can be pooled",
                    field=where,
                )
    params: dict[str, ParamPrior] = {}
    for pname in PARAMETERS:
        ps = [m[pname] for m in members]
        values = log_pool_parameter(pname, ps, w)
        if all((p.distribution, p.params) == (ps[0].distribution, ps[0].params) for p in ps):
            rationale = f"Every member gives {_describe(ps[0])}, so the pool does too. {ps[0].rationale}"
            source = ps[0].source
        else:
            rationale = (
                "Logarithmic pool (normalized prod p_i^w_i, closed form) of "
                + "; ".join(f"{m.ref} w={wi:.4g}: {_describe(p)}" for m, wi, p in zip(members, w, ps, strict=True))
                + "."
            )
            source = ""
        params[pname] = ParamPrior(pname, ps[0].distribution, values, rationale[:8000], source[:2000], None)
    label = _weights_text(members, w)
    return dataclasses.replace(
        base,
        name=name or pool_name("log", members, w),
        version="0.0.0",
        date=dt.date.today().isoformat(),
        summary=f"Logarithmic pool of {label}"[:8000],
        changelog=f"Logarithmic pool of {label}"[:8000],
        parameters=params,
        author=author,
        parent="",
        pooled_from=tuple((_member_label(m), wi) for m, wi in zip(members, w, strict=True)),
        sha256="",
        path="",
        released=False,
        extra={},
    )


def _same_pool(a: PriorSet, b: PriorSet) -> bool:
    keys = ("pooled_from", "tail_df", "consistency", "reference_setting", "elicitation", "training", "critical")
    if any(getattr(a, k) != getattr(b, k) for k in keys):
        return False
    return all((a[p].distribution, a[p].params) == (b[p].distribution, b[p].params) for p in PARAMETERS)


def release_log_pool(
    members: Sequence[PriorSet],
    weights: Sequence[float],
    *,
    name: str | None = None,
    author: str = "riskmodel pool",
) -> PriorSet:
    """Release the logarithmic pool of ``members`` as a prior set (or reuse an identical existing release).

    Returns the loaded, hash-checked release. Everything is checked before anything is written.
    """
    from riskmodel.data.authoring import release

    pooled = log_pool_priors(members, weights, name=name, author=author)
    existing = check_log_pool_name(pooled)
    if existing is not None:
        return existing
    rel = release(pooled, author=author, changelog=pooled.changelog, name=pooled.name)
    return load_priors(rel.ref)


def check_log_pool_name(pooled: PriorSet) -> PriorSet | None:
    """Check the name a logarithmic pool is to be released under; returns an identical existing release, if any.

    The name must be valid, and a name already in use must belong to pooled prior sets (a pool never becomes a new
    version of a forecaster's own prior set). Raises one :class:`InputError` line otherwise; writes nothing.
    """
    try:
        check_name(pooled.name, field="name")
    except RiskmodelError as exc:
        raise InputError(exc.reason, field="name") from None
    releases = [r for r in prior_store().releases() if r.name == pooled.name]
    for rel in reversed(releases):
        existing = load_priors(rel.ref)
        if _same_pool(existing, pooled):
            return existing
    if releases and not load_priors(releases[-1].ref).pooled_from:
        raise InputError(f"{pooled.name!r} is a prior set that is not a pool: choose another --name", field="name")
    return None


# ---------------------------------------------------------------------------------------------------------------------
# Citations of linear pools and their verification

_POOL_RE = re.compile(r" \| pool (?P<method>[a-z]+): (?P<members>[^|]*?) \| evidence ")
_MEMBER_RE = re.compile(
    r"^(?P<ref>[a-z0-9][a-z0-9_-]{0,63}@\d+\.\d+\.\d+) sha256:(?P<sha>[0-9a-f]{8,64}) w=(?P<w>[0-9.eE+-]+)$"
)


@dataclass(frozen=True)
class PoolCitation:
    """A parsed pool citation: the method, members (release, cited hash prefix, weight) and the shared settings."""

    method: str
    members: tuple[tuple[str, str, float], ...]
    #: The line with the first member in place of the pool, parsed as an ordinary citation (numbers and settings).
    base: Any

    def member_citation(self, i: int) -> Any:
        """The shared settings as an ordinary :class:`~riskmodel.results.citation.Citation` of member ``i``."""
        ref, sha, _ = self.members[i]
        return dataclasses.replace(self.base, priors=ref, priors_sha=sha)


def is_pool_citation(line: str) -> bool:
    """Whether ``line`` is a pool citation (``... | pool METHOD: ... | evidence ...``)."""
    return isinstance(line, str) and _POOL_RE.search(line) is not None


def parse_pool_citation(line: str) -> PoolCitation:
    """Parse a pool citation, or raise a one-line :class:`CitationError`."""
    from riskmodel.results.citation import parse_citation

    text = line.strip() if isinstance(line, str) else ""
    m = _POOL_RE.search(text)
    if not m:
        raise CitationError("not a pool citation line", field="citation")
    if m["method"] != "linear":
        raise CitationError(
            f"pool method {m['method']!r}: only linear pools are cited as pools (a logarithmic pool is a released "
            "prior set with an ordinary citation)",
            field="citation",
        )
    members = []
    for part in m["members"].split(", "):
        mm = _MEMBER_RE.match(part.strip())
        if not mm:
            raise CitationError(f"pool member {part!r} is not 'NAME@VERSION sha256:HASH w=WEIGHT'", field="citation")
        try:
            weight = float(mm["w"])
        except ValueError:
            raise CitationError(f"pool member {part!r} has no numeric weight", field="citation") from None
        members.append((mm["ref"], mm["sha"], weight))
    try:
        parse_weights([w for _, _, w in members], len(members))
    except InputError as exc:
        raise CitationError(f"the cited pool weights are invalid ({exc.reason})", field="citation") from None
    first_ref, first_sha, _ = members[0]
    plain = text[: m.start()] + f" | priors {first_ref} sha256:{first_sha} | evidence " + text[m.end() :]
    base = parse_citation(plain)
    return PoolCitation(m["method"], tuple(members), base)


def verify_pool(line: str, *, progress: bool = False, require_bits: bool | None = None) -> Verification:
    """Refit every member of a pool citation from its release, rebuild the pool and check what the line claims.

    As :func:`riskmodel.results.verify.verify` does for one fit: the cited releases and hash prefixes are checked
    before any refit (a mismatch does not verify, naming the file, and nothing is refitted); with the cited riskmodel
    and sampler versions (unless ``require_bits`` is False) the pooled draws must hash to the cited sha256; when they
    do, each cited number must be the rebuilt pool's, rounded to its cited digits, and otherwise within 3 Monte Carlo
    standard errors plus half a unit of the last cited digit; and the health must be as cited.
    """
    from riskmodel.results.result import fit
    from riskmodel.results.verify import (
        Verification,
        check_cited_health,
        check_cited_numbers,
        cited_evidence,
        cited_file_differences,
        refit_settings,
        version_notes,
    )

    pc = parse_pool_citation(line)
    cit = pc.base
    file_diffs = tuple(d for i in range(len(pc.members)) for d in cited_file_differences(pc.member_citation(i)))
    if file_diffs:
        msg = "files checked against their registered hashes before any refit: a cited file differs, so nothing was "
        return Verification(False, msg + "refitted", tuple(dict.fromkeys(file_diffs)), "")
    evidence = cited_evidence(cit)
    notes, bits_required = version_notes(cit, require_bits)
    refits: dict[str, FitResult] = {}
    results = []
    for ref, _, _ in pc.members:
        if ref not in refits:
            refits[ref] = fit(
                ref, evidence, **refit_settings(cit), progress=progress, cache=False
            )  # verify never trusts the fit store
        results.append(refits[ref])
    pool = pool_fits(results, [w for _, _, w in pc.members])
    pw = pool.quantities["p_worst_case"].sel(system=cit.system).transpose("chain", "draw").values
    new = {"mean": float(pw.mean()), "lower": float(np.quantile(pw, 0.05)), "upper": float(np.quantile(pw, 0.95))}
    sha = pool.draws_sha256
    bit_identical = sha.startswith(cit.draws_sha)
    diffs = []
    if bit_identical:
        bits = f"bit-identical: the rebuilt pool's draws hash to the cited sha256:{cit.draws_sha}"
    elif bits_required:
        bits = (
            f"NOT bit-identical with the cited riskmodel and {cit.sampler} versions: the rebuilt pool's draws hash to "
            f"sha256:{sha[: len(cit.draws_sha)]}, not the cited sha256:{cit.draws_sha}"
        )
        diffs.append(bits)
    else:
        bits = f"not bit-identical (sha256:{sha[: len(cit.draws_sha)]} vs sha256:{cit.draws_sha}): other versions"
    number_diffs, numbers = check_cited_numbers(cit, new, pw, bit_identical, "the rebuilt pool")
    diffs += number_diffs
    healthy = pool.healthy
    diffs += check_cited_health(cit, healthy, pool=True)
    method = (
        f"linear pool of {len(pc.members)} members, each refitted from its release (hashes checked); {numbers}; "
        "health as cited; "
        + (f"draws bit-identical required (same riskmodel and {cit.sampler} versions); " if bits_required else "")
        + bits
    )
    warnings = tuple(notes) + tuple(
        f"refit {r.priors.ref}: {w}" for r in refits.values() for w in r.diagnostics.warnings
    )
    return Verification(
        not diffs, method, tuple(diffs), pool.citation(), warnings, bit_identical, healthy, bits_required, cit.sampler
    )

"""Why two citations differ: Shapley attributions of the change in log P(worst case) and log P(misaligned).

Two citations A and B name a prior set and an evidence set each, fitted with the same system, seed and sampler
settings. :func:`explain` attributes the difference ``log P_B - log P_A`` of the posterior mean of each reported
quantity (P(worst case) of the cited system, P(misaligned) of every system the two fits share) in two steps.

1. **Prior change versus evidence change**: the two-factor Shapley values from the four exact fits
   ``f(prior, evidence)`` for prior in {A, B} and evidence in {A, B}::

       prior    = ((f(B, A) - f(A, A)) + (f(B, B) - f(A, B))) / 2
       evidence = ((f(A, B) - f(A, A)) + (f(B, B) - f(B, A))) / 2

   They add up to ``f(B, B) - f(A, A)`` exactly. Fits come from the fit store when it holds them
   (:func:`riskmodel.results.result.fit`); with the same evidence in both citations there are two fits and the
   evidence share is exactly 0.
2. **Within the prior change, per changed parameter**: the players are the prior-file parameters whose prior differs
   between A and B, plus each model setting that differs (critical, elicitation or training contexts, reference
   setting, consistency definition, tail degrees of freedom). The value of a coalition S under evidence e is
   ``g_e(S)``: the quantity under prior A with the members of S taken from B. ``g_e`` of the empty coalition and of
   all players are the exact fits of step 1; every other coalition is a fast update
   (:func:`riskmodel.interactive.update.update`) of one of the exact fits held for that evidence (A's, B's, and any
   refit made on the way): an exact redraw of the uninformed parameters and PSIS reweighting of the informed ones.
   The base of a coalition depends only on its informed members (parameters the evidence informs, and the reference
   setting and tail degrees of freedom, which change the sampled model), so coalitions that differ in uninformed
   members only are updates of one fit and a parameter that moves nothing gets exactly 0. Bases are tried nearest
   first (fewest informed players to change) and the first update with Pareto k <= 0.7 is used; when every base has
   k > 0.7 the coalition is refit exactly with the citations' settings (the refit becomes a further base), up to
   ``max_refits`` refits, beyond which the reweighting with the smallest k is used and flagged. The per-parameter
   value is the average over the evidence sets of the Shapley values of ``g_e``. Shapley values are efficient, so
   they add up to the prior share of step 1 exactly: the reported residual (total minus the sum of every
   attribution) is a check, zero up to rounding.

   With up to :data:`EXACT_MAX_PLAYERS` players the Shapley values are exact (every coalition). With more, they are
   estimated by permutation sampling (Castro, Gomez and Tejada 2009): ``permutations`` random orders of the players
   drawn with ``numpy.random.default_rng(shapley_seed)``, each player's value the mean of its marginal contributions
   over the orders. Every order's contributions add up to ``g(all) - g(none)``, so efficiency stays exact; the
   sampling error of each estimate (the standard deviation of its contributions over the orders over
   ``sqrt(permutations)``) is added in quadrature to its Monte Carlo error.

**Monte Carlo errors.** Each value is the log of a (weighted) posterior mean ``m = sum_i w_i x_i``; by the delta method
its error is the error of the mean of the influence series ``z_i = N w_i (x_i - m) / m`` (``N`` draws, normalized
importance weights ``w``; ``w_i = 1/N`` for an exact fit). Every attribution is a linear combination of such logs, so
its error is the Monte Carlo standard error, from the effective sample size over chains and draws, of the same
combination of the influence series, draw by draw. Evaluations on the same fit share draws, so their correlation is
kept; independent fits (another evidence set, a refit) have the same (chain, draw) shape and their series add as
independent ones do (their cross terms vanish in expectation).
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from riskmodel.data.evidence import EvidenceSet
from riskmodel.data.priors import PARAMETERS, PriorSet, load_priors
from riskmodel.errors import CitationError, InputError
from riskmodel.results.citation import Citation, parse_citation
from riskmodel.results.verify import check_cited_files, cited_evidence, refit_settings

if TYPE_CHECKING:
    from riskmodel.results.result import FitResult

__all__ = [
    "EXACT_MAX_PLAYERS",
    "MODEL_SETTINGS",
    "Attribution",
    "Explanation",
    "cited_evidence",
    "explain",
    "hybrid_priors",
    "players",
    "shapley_exact",
    "shapley_permutation",
]

#: Up to this many changed parameters the Shapley values are computed exactly (2**n coalitions); beyond, sampled.
EXACT_MAX_PLAYERS = 8
#: Permutations of the sampled Shapley estimate (more than EXACT_MAX_PLAYERS players), and the seed of their draw.
DEFAULT_PERMUTATIONS = 64
DEFAULT_SHAPLEY_SEED = 1
#: Most exact refits made for coalitions whose reweighting is unreliable (beyond it the best reweighting is flagged).
DEFAULT_MAX_REFITS = 6
#: Prior-set fields other than the parameters that change the model or its worst-case arithmetic (one player each).
MODEL_SETTINGS: tuple[str, ...] = (
    "elicitation",
    "training",
    "critical",
    "reference_setting",
    "consistency",
    "tail_df",
)


# --------------------------------------------------------------------------------------------------------------------
# checking the citations


def _check_pair(a: Citation, b: Citation) -> None:
    """The two citations must fit the same system with the same seed and sampler settings."""
    for name in ("system", "seed", "chains", "draws", "tune", "sampler"):
        va, vb = getattr(a, name), getattr(b, name)
        if va != vb:
            raise CitationError(
                f"the citations differ in {name} ({va} vs {vb}): explain attributes differences between fits with the "
                "same system, seed, chains, draws, tune and sampler",
                field=f"citation.{name}",
            )


# --------------------------------------------------------------------------------------------------------------------
# players and coalitions


def players(a: PriorSet, b: PriorSet) -> list[str]:
    """What differs between two prior sets: changed parameters (model order), then changed model settings."""
    out = [p for p in PARAMETERS if (a[p].distribution, a[p].params) != (b[p].distribution, b[p].params)]
    return out + [s for s in MODEL_SETTINGS if getattr(a, s) != getattr(b, s)]


def hybrid_priors(a: PriorSet, b: PriorSet, members: frozenset[str] | set[str]) -> PriorSet:
    """Prior set ``a`` with the parameters and model settings in ``members`` taken from ``b`` (unreleased)."""
    params = dict(a.parameters)
    settings: dict[str, Any] = {}
    for m in members:
        if m in a.parameters:
            params[m] = b.parameters[m]
        elif m in MODEL_SETTINGS:
            settings[m] = getattr(b, m)
        else:
            raise InputError(f"unknown parameter or model setting {m!r}", field="players")
    return replace(a, parameters=params, **settings, sha256="", path="", released=False)


def _weight(size: int, n: int) -> float:
    """The Shapley weight |S|! (n - |S| - 1)! / n! of a coalition of ``size`` players not holding the one valued."""
    return math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)


def shapley_exact(n: int, value: Callable[[frozenset[int]], Any]) -> list[Any]:
    """Exact Shapley values of players ``0..n-1`` under the set function ``value`` (any type with + - and * float).

    ``value`` is called once per coalition (callers cache nothing); the values add up to
    ``value(all) - value(none)``.
    """
    coalitions = [frozenset(c) for r in range(n + 1) for c in itertools.combinations(range(n), r)]
    v = {c: value(c) for c in coalitions}
    out = []
    for j in range(n):
        total = None
        for c in coalitions:
            if j in c:
                continue
            term = (v[c | {j}] - v[c]) * _weight(len(c), n)
            total = term if total is None else total + term
        out.append(total)
    return out


def shapley_permutation(
    n: int, value: Callable[[frozenset[int]], Any], permutations: int, seed: int
) -> tuple[list[Any], list[list[Any]]]:
    """Permutation-sampling Shapley estimates of players ``0..n-1`` (module docstring).

    Returns the estimates and, per player, its marginal contribution in each sampled order (for the sampling
    error). ``value`` should cache its results: a coalition recurs across orders.
    """
    if permutations < 1:
        raise InputError(f"must be at least 1, got {permutations}", field="permutations")
    rng = np.random.default_rng(seed)
    contributions: list[list[Any]] = [[] for _ in range(n)]
    for _ in range(permutations):
        order = rng.permutation(n)
        members: frozenset[int] = frozenset()
        prev = value(members)
        for j in order:
            members = members | {int(j)}
            cur = value(members)
            contributions[int(j)].append(cur - prev)
            prev = cur
    estimates = []
    for cs in contributions:
        total = cs[0]
        for c in cs[1:]:
            total = total + c
        estimates.append(total * (1.0 / len(cs)))
    return estimates, contributions


# --------------------------------------------------------------------------------------------------------------------
# values with influence series


@dataclass(frozen=True)
class Value:
    """Logs of posterior means of the quantities (``log``, one per quantity) and their influence series.

    ``z`` has shape (chain, draw, quantity): the first-order error of ``log`` is the mean of ``z`` over the draws
    (module docstring). Values add and scale linearly, series draw by draw.
    """

    log: np.ndarray
    z: np.ndarray

    def __add__(self, other: Value) -> Value:
        return Value(self.log + other.log, self.z + other.z)

    def __sub__(self, other: Value) -> Value:
        return Value(self.log - other.log, self.z - other.z)

    def __mul__(self, k: float) -> Value:
        return Value(self.log * k, self.z * k)

    def mcse(self) -> np.ndarray:
        """Monte Carlo standard error of each log value (ESS of the influence series over chains and draws)."""
        from riskmodel.model.summaries import mcse_of_means

        zc = self.z - self.z.mean(axis=(0, 1))
        if not np.any(zc):
            return np.zeros(self.log.shape)
        return np.asarray(mcse_of_means(zc), float)


@dataclass(frozen=True)
class Quantity:
    """One explained quantity: its label, the quantity variable and the system."""

    label: str
    variable: str
    system: str


def _quantities(system: str, systems: list[str]) -> list[Quantity]:
    out = [Quantity(f"P(worst case | {system})", "p_worst_case", system)]
    out += [Quantity(f"P(misaligned | {s})", "p_misaligned_pre", s) for s in systems]
    return out


def value_of(result: FitResult, quantities: list[Quantity]) -> tuple[Value, np.ndarray, np.ndarray]:
    """The :class:`Value` of a result (exact, reweighted or redrawn), its means and their MCSE (probability scale)."""
    q = result.quantities
    cols = []
    for qt in quantities:
        da = q[qt.variable].sel(system=qt.system)
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        if extra:
            da = da.mean(extra)
        cols.append(np.asarray(da.transpose("chain", "draw").values, float))
    x = np.stack(cols, axis=-1)
    shape = x.shape[:2]
    n = shape[0] * shape[1]
    w = np.full(shape, 1.0 / n) if result.weights is None else np.asarray(result.weights, float).reshape(shape)
    m = np.einsum("cdj,cd->j", x, w)
    if not np.all(m > 0):
        bad = [qt.label for qt, mj in zip(quantities, m, strict=True) if not mj > 0]
        raise InputError(f"the posterior mean of {', '.join(bad)} is 0: its log is undefined", field="quantity")
    z = n * w[..., None] * (x - m) / m
    from riskmodel.model.summaries import mcse_of_means

    se = np.asarray(mcse_of_means(x, None if result.weights is None else w), float)
    return Value(np.log(m), z), m, se


# --------------------------------------------------------------------------------------------------------------------
# the result


@dataclass(frozen=True)
class Attribution:
    """One share of a difference: which component, its value (difference of logs) and Monte Carlo error."""

    quantity: str
    component: str
    kind: str  # "total", "evidence", "prior", "parameter", "residual"
    value: float
    mcse: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "quantity": self.quantity,
            "component": self.component,
            "kind": self.kind,
            "value": self.value,
            "mcse": self.mcse,
        }


@dataclass(frozen=True)
class Coalition:
    """How one coalition's value was obtained (for the record and the health of the attribution)."""

    evidence: str
    members: tuple[str, ...]
    method: str  # "exact fit", "recomputed", "reweighted", "refit", "reweighted-unreliable"
    base: str
    pareto_k: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "evidence": self.evidence,
            "members": list(self.members),
            "method": self.method,
            "base": self.base,
            "pareto_k": self.pareto_k,
        }


@dataclass
class Explanation:
    """The attributions of the difference between two citations (module docstring), with what produced them."""

    citation_a: str
    citation_b: str
    system: str
    quantities: list[str]
    #: Posterior mean and MCSE of each quantity under A and under B (probability scale; the cited fits).
    mean_a: dict[str, tuple[float, float]]
    mean_b: dict[str, tuple[float, float]]
    attributions: list[Attribution]
    players: list[str]
    shapley: dict[str, Any]
    coalitions: list[Coalition]
    fits: dict[str, str]
    warnings: list[str] = field(default_factory=list)

    def table(self, quantity: str | None = None) -> list[Attribution]:
        """The attributions of one quantity (default: P(worst case) of the cited system), in display order."""
        q = quantity or self.quantities[0]
        return [a for a in self.attributions if a.quantity == q]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: both citations, the means, every attribution and how it was obtained."""
        per_q = {}
        for q in self.quantities:
            rows = self.table(q)
            per_q[q] = {
                "a": {"mean": self.mean_a[q][0], "mcse": self.mean_a[q][1]},
                "b": {"mean": self.mean_b[q][0], "mcse": self.mean_b[q][1]},
                "scale": "difference of natural logs of posterior means (log B - log A)",
                "total": next(a.as_dict() for a in rows if a.kind == "total"),
                "evidence": next(a.as_dict() for a in rows if a.kind == "evidence"),
                "prior": next(a.as_dict() for a in rows if a.kind == "prior"),
                "parameters": {a.component: a.as_dict() for a in rows if a.kind == "parameter"},
                "residual": next(a.as_dict() for a in rows if a.kind == "residual"),
            }
        return {
            "citations": {"a": self.citation_a, "b": self.citation_b},
            "system": self.system,
            "quantities": per_q,
            "players": self.players,
            "shapley": self.shapley,
            "coalitions": [c.as_dict() for c in self.coalitions],
            "fits": self.fits,
            "warnings": self.warnings,
        }


def _stage(progress: bool, text: str) -> None:
    if progress:
        print(f"riskmodel: {text}", file=sys.stderr, flush=True)


def _k(info: Any) -> float:
    """The larger Pareto k of an update's posterior and prior weights (negative for light-tailed weights)."""
    ks = [x for x in (info.pareto_k, info.prior_pareto_k) if x is not None and math.isfinite(x)]
    return max(ks) if ks else math.inf


#: Model settings that change the sampled model itself (an update refits): they choose the base like informed priors.
_MODEL_CHANGING = ("reference_setting", "tail_df")


class _Game:
    """The coalition values ``g_e(S)`` under one evidence set, with the exact fits used as bases for updates.

    The base of a coalition depends only on its *informed* members (parameters the evidence informs, and model
    settings that change the sampled model): coalitions that differ only in uninformed members are updates of the
    same fit, so an uninformed parameter that does not move a quantity gets exactly 0 for it (the null player), and
    fit-to-fit Monte Carlo noise is charged only to the informed parameters whose addition changes the base.
    """

    def __init__(
        self,
        label: str,
        evidence: EvidenceSet,
        prior_a: PriorSet,
        prior_b: PriorSet,
        fit_a: FitResult,
        fit_b: FitResult,
        names: list[str],
        quantities: list[Quantity],
        refit: Callable[[PriorSet, EvidenceSet], FitResult],
        budget: list[int],
        progress: bool,
    ) -> None:
        self.label = label
        self.evidence = evidence
        self.prior_a, self.prior_b = prior_a, prior_b
        self.names = names
        self.quantities = quantities
        self.refit = refit
        self.budget = budget  # [refits left], shared by the games of both evidence sets
        self.progress = progress
        informed = set(fit_a.data.sampled) | set(_MODEL_CHANGING)
        self.informed = frozenset(i for i, m in enumerate(names) if m in informed)
        self.bases: list[tuple[str, frozenset[int], FitResult]] = [
            ("A", frozenset(), fit_a),
            ("B", self.informed, fit_b),
        ]
        #: informed members -> (base name, base fit, Pareto k of the update from it, whether it is reliable)
        self.base_of: dict[frozenset[int], tuple[str, FitResult, float | None, bool]] = {
            self.informed: ("B", fit_b, None, True),
            frozenset(): ("A", fit_a, None, True),  # A's when nothing informed changed
        }
        self.cache: dict[frozenset[int], Value] = {}
        self.records: dict[frozenset[int], Coalition] = {}
        self._store(frozenset(), fit_a, "exact fit", "A", None)
        self._store(frozenset(range(len(names))), fit_b, "exact fit", "B", None)

    def _store(self, s: frozenset[int], result: FitResult, method: str, base: str, k: float | None) -> Value:
        v, _, _ = value_of(result, self.quantities)
        self.cache[s] = v
        members = tuple(self.names[i] for i in sorted(s))
        self.records[s] = Coalition(self.label, members, method, base, k)
        return v

    def _prior(self, s: frozenset[int]) -> PriorSet:
        return hybrid_priors(self.prior_a, self.prior_b, {self.names[i] for i in s})

    def _choose(self, s: frozenset[int], key: frozenset[int]) -> FitResult | None:
        """Pick the base of the informed members ``key`` (nearest reliable update, else a refit); returns a refit."""
        from riskmodel.interactive.update import PARETO_K_MAX, update

        prior = self._prior(s)
        best: tuple[float, str, FitResult] | None = None
        for name, _members, base in sorted(self.bases, key=lambda t: len(t[1] ^ key)):
            info = update(base, prior, allow_refit=False).update
            if info is None:
                self.base_of[key] = (name, base, None, True)
                return None
            if info.method == "refit":  # the model itself changes: update refit exactly; use the refit as the base
                break
            k = _k(info)
            if info.method == "recomputed" or k <= PARETO_K_MAX:
                self.base_of[key] = (name, base, None if info.method == "recomputed" else k, True)
                return None
            if best is None or k < best[0]:
                best = (k, name, base)
        else:
            assert best is not None  # there is always a base
            if self.budget[0] <= 0:
                self.base_of[key] = (best[1], best[2], best[0], False)
                return None
            self.budget[0] -= 1
            members = ", ".join(self.names[i] for i in sorted(key))
            _stage(self.progress, f"refitting a coalition (Pareto k {best[0]:.2f} > 0.7; taken from B: {members})")
        res = self.refit(prior, self.evidence)
        name = f"refit {len(self.bases) - 1}"
        self.bases.append((name, key, res))
        self.base_of[key] = (name, res, None, True)
        return res

    def __call__(self, s: frozenset[int]) -> Value:
        if s in self.cache:
            return self.cache[s]
        from riskmodel.interactive.update import update

        key = s & self.informed
        refit = self._choose(s, key) if key not in self.base_of else None
        if refit is not None:
            return self._store(s, refit, "refit", self.base_of[key][0], None)
        name, base, k, reliable = self.base_of[key]
        res = update(base, self._prior(s), allow_refit=False)
        if res.update is None:
            return self._store(s, res, "exact fit", name, None)
        method = res.update.method if reliable else "reweighted-unreliable"
        if method.startswith("reweighted"):
            k = _k(res.update)
        return self._store(s, res, method, name, k if method.startswith("reweighted") else None)


def explain(
    citation_a: str,
    citation_b: str,
    *,
    permutations: int = DEFAULT_PERMUTATIONS,
    shapley_seed: int = DEFAULT_SHAPLEY_SEED,
    max_refits: int = DEFAULT_MAX_REFITS,
    exact_max_players: int = EXACT_MAX_PLAYERS,
    cache: bool = True,
    cache_dir: str | None = None,
    progress: bool = False,
) -> Explanation:
    """Attribute the difference between two citations to the evidence, the prior and each changed parameter.

    See the module docstring for the method and its Monte Carlo errors.

    Parameters
    ----------
    citation_a, citation_b
        Citation lines (:func:`riskmodel.results.citation.parse_citation`). Both are parsed, and their files checked
        against the registered hashes, before anything is fitted; they must cite the same system, seed, chains, draws
        and tune.
    permutations, shapley_seed
        Orders sampled, and their seed, when more than ``exact_max_players`` parameters changed.
    max_refits
        Most exact refits of coalitions whose importance reweighting is unreliable (Pareto k > 0.7).
    cache, cache_dir
        Read and write the fit store (:mod:`riskmodel.results.store`).
    progress
        Say on stderr what is being fitted.
    """
    from riskmodel.model.spec import model_data
    from riskmodel.results.result import fit

    cits = [parse_citation(citation_a), parse_citation(citation_b)]
    for c in cits:
        check_cited_files(c)
    a, b = cits
    _check_pair(a, b)
    if isinstance(max_refits, bool) or not isinstance(max_refits, int) or max_refits < 0:
        raise InputError(f"must be a whole number >= 0, got {max_refits!r}", field="max-refits")
    if isinstance(permutations, bool) or not isinstance(permutations, int) or not 1 <= permutations <= 100_000:
        raise InputError(f"must be a whole number from 1 to 100000, got {permutations!r}", field="permutations")
    priors = [load_priors(c.priors) for c in cits]
    evidence = [cited_evidence(c) for c in cits]
    same_evidence = evidence[0].subset_sha256 == evidence[1].subset_sha256 and (
        evidence[0].capability_sources == evidence[1].capability_sources
    )
    systems_by = []
    for ps in priors:
        for ev in evidence:
            known = list(model_data(ps, ev).coords["system"])
            if a.system not in known:
                raise CitationError(
                    f"system {a.system!r} is not in the model of {ps.ref} with evidence {ev.ref} "
                    f"(known: {', '.join(known)})",
                    field="citation.system",
                )
            systems_by.append(known)
    systems = [s for s in systems_by[0] if all(s in k for k in systems_by)]
    quantities = _quantities(a.system, systems)
    settings = refit_settings(a)

    def exact(ps: PriorSet, ev: EvidenceSet) -> FitResult:
        _stage(progress, f"fitting {ps.ref if ps.released else 'a coalition of ' + ps.ref} with {ev.ref}")
        return fit(ps, ev, **settings, progress=progress, cache=cache, cache_dir=cache_dir)

    fits: dict[tuple[int, int], FitResult] = {}
    for i, j in ((0, 0), (1, 1), (1, 0), (0, 1)):
        if same_evidence and i != j:
            fits[(i, j)] = fits[(i, i)]
        else:
            fits[(i, j)] = exact(priors[i], evidence[j])
    warnings = []
    for i, c in enumerate(cits):
        got = fits[(i, i)]
        if not got.draws_sha256.startswith(c.draws_sha):
            warnings.append(
                f"the fit of citation {'AB'[i]} does not reproduce its cited draws (sha256:"
                f"{got.draws_sha256[: len(c.draws_sha)]} vs the cited sha256:{c.draws_sha}; other versions?): the "
                "attributions are of the refit"
            )
    for key, r in fits.items():
        for w in r.diagnostics.warnings:
            msg = f"fit {'AB'[key[0]]}-prior/{'AB'[key[1]]}-evidence: {w}"
            if msg not in warnings:
                warnings.append(msg)
    v = {key: value_of(r, quantities) for key, r in fits.items()}
    val = {key: x[0] for key, x in v.items()}
    total = val[(1, 1)] - val[(0, 0)]
    prior_share = ((val[(1, 0)] - val[(0, 0)]) + (val[(1, 1)] - val[(0, 1)])) * 0.5
    evidence_share = ((val[(0, 1)] - val[(0, 0)]) + (val[(1, 1)] - val[(1, 0)])) * 0.5

    names = players(priors[0], priors[1])
    n = len(names)
    budget = [max_refits]
    games = []
    for j in (0,) if same_evidence else (0, 1):
        label = "AB"[j] if not same_evidence else "A=B"
        games.append(
            _Game(
                label,
                evidence[j],
                priors[0],
                priors[1],
                fits[(0, j)],
                fits[(1, j)],
                names,
                quantities,
                exact,
                budget,
                progress,
            )
        )
    method: dict[str, Any]
    param_values: list[Value] = []
    sampling_se: list[np.ndarray] = []
    if n == 0:
        method = {"method": "none", "players": 0}
    elif n <= exact_max_players:
        method = {"method": "exact", "players": n, "coalitions": 2**n}
        per_game = [shapley_exact(n, g) for g in games]
        param_values = [sum((pg[i] for pg in per_game[1:]), per_game[0][i]) * (1.0 / len(games)) for i in range(n)]
        sampling_se = [np.zeros(len(quantities)) for _ in range(n)]
    else:
        method = {
            "method": "permutation sampling (Castro, Gomez and Tejada 2009)",
            "players": n,
            "permutations": permutations,
            "seed": shapley_seed,
        }
        per_game = [shapley_permutation(n, g, permutations, shapley_seed) for g in games]
        for i in range(n):
            est = sum((pg[0][i] for pg in per_game[1:]), per_game[0][0][i]) * (1.0 / len(games))
            param_values.append(est)
            # the contributions of one order, averaged over the evidence sets (the same orders in each game)
            contrib = np.array(
                [sum(pg[1][i][m].log for pg in per_game) / len(games) for m in range(len(per_game[0][1][i]))]
            )
            sampling_se.append(contrib.std(axis=0, ddof=1) / np.sqrt(len(contrib)) if len(contrib) > 1 else 0 * est.log)
    coalitions = [c for g in games for c in g.records.values()]
    method["refits"] = max_refits - budget[0]
    unreliable = [c for c in coalitions if c.method == "reweighted-unreliable"]
    if unreliable:
        warnings.append(
            f"{len(unreliable)} coalition value(s) come from importance reweighting with Pareto k > 0.7 (the refit "
            f"budget of {max_refits} was spent): those parameter attributions are unreliable; raise --max-refits"
        )
    residual = total - evidence_share - prior_share
    if param_values:
        residual = total - evidence_share - sum(param_values[1:], param_values[0])

    attributions: list[Attribution] = []
    se_total, se_ev, se_pr, se_res = total.mcse(), evidence_share.mcse(), prior_share.mcse(), residual.mcse()
    se_params = [np.sqrt(pv.mcse() ** 2 + ss**2) for pv, ss in zip(param_values, sampling_se, strict=True)]
    for qi, qt in enumerate(quantities):
        lab = qt.label
        attributions.append(
            Attribution(lab, "total (log B - log A)", "total", float(total.log[qi]), float(se_total[qi]))
        )
        attributions.append(
            Attribution(lab, "evidence change", "evidence", float(evidence_share.log[qi]), float(se_ev[qi]))
        )
        attributions.append(Attribution(lab, "prior change", "prior", float(prior_share.log[qi]), float(se_pr[qi])))
        for name, pv, se in zip(names, param_values, se_params, strict=True):
            attributions.append(Attribution(lab, name, "parameter", float(pv.log[qi]), float(se[qi])))
        attributions.append(
            Attribution(lab, "residual (total - sum)", "residual", float(residual.log[qi]), float(se_res[qi]))
        )
    mean_a = {qt.label: (float(v[(0, 0)][1][i]), float(v[(0, 0)][2][i])) for i, qt in enumerate(quantities)}
    mean_b = {qt.label: (float(v[(1, 1)][1][i]), float(v[(1, 1)][2][i])) for i, qt in enumerate(quantities)}
    fit_labels = {
        f"{'AB'[i]}-prior/{'AB'[j]}-evidence": f"{r.priors.ref} | {r.evidence.ref} | draws sha256:{r.draws_sha256[:8]}"
        for (i, j), r in fits.items()
    }
    return Explanation(
        citation_a.strip(),
        citation_b.strip(),
        a.system,
        [qt.label for qt in quantities],
        mean_a,
        mean_b,
        attributions,
        names,
        method,
        coalitions,
        fit_labels,
        warnings,
    )


# --------------------------------------------------------------------------------------------------------------------
# the waterfall figure


def waterfall(expl: Explanation, quantity: str | None = None) -> Any:
    """A matplotlib waterfall of one quantity's attributions (default: P(worst case)), stamped with both citations.

    From log P_A at the left, each bar adds one attribution (evidence change, then each changed parameter, then the
    residual) with its Monte Carlo error as an error bar, to log P_B at the right.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    q = quantity or expl.quantities[0]
    rows = expl.table(q)
    steps = [r for r in rows if r.kind in ("evidence", "parameter", "residual")]
    if not any(r.kind == "parameter" for r in rows):
        steps = [r for r in rows if r.kind in ("evidence", "prior", "residual")]
    start, end = math.log(expl.mean_a[q][0]), math.log(expl.mean_b[q][0])
    levels = [start]
    for r in steps:
        levels.append(levels[-1] + r.value)
    span = max([*levels, end]) - min([*levels, end])
    pad = max(0.15 * span, 0.05, *(2 * r.mcse for r in steps))
    lo, hi = min([*levels, end]) - pad, max([*levels, end]) + pad
    labels = ["log P under A", *[r.component.replace("_", " ") for r in steps], "log P under B"]
    fig, ax = plt.subplots(figsize=(max(6.5, 0.75 * len(labels) + 2.5), 5.2))
    ax.bar(0, start - lo, bottom=lo, color="0.55")
    for i, r in enumerate(steps, start=1):
        color = "tab:red" if r.value > 0 else "tab:blue"
        ax.bar(i, r.value, bottom=levels[i - 1], color=color, yerr=r.mcse, ecolor="0.2", capsize=3)
        ax.text(i, max(levels[i - 1], levels[i]) + 0.02 * (hi - lo), f"{r.value:+.2f}", ha="center", fontsize=7)
    ax.bar(len(labels) - 1, end - lo, bottom=lo, color="0.35")
    ax.set_ylim(lo, hi)
    ax.set_xticks(range(len(labels)), labels, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel(f"log {q}")
    ax.set_title(
        f"Why {q} differs: B/A = {math.exp(end - start):.3g}x (Shapley shares of log B - log A, bars ± MCSE)",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.text(0.005, 0.03, f"A: {expl.citation_a}", fontsize=4.5, color="0.35", ha="left", va="bottom")
    fig.text(0.005, 0.005, f"B: {expl.citation_b}", fontsize=4.5, color="0.35", ha="left", va="bottom")
    return fig

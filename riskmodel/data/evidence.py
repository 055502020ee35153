"""Evidence sets: versioned, hashed files of published evaluation numbers, and their role in the likelihood.

An evidence file ``evidence/NAME/VERSION.toml`` has a header (name, version, date, summary, changelog, ``format``), a
``[sources.ID]`` table per paper, and one ``[[row]]`` per published number: system, setting, stage, condition, the
context features, what was measured, ``k`` and ``n`` (absent when the paper gives only a rate), the rate and where it
was read. Format 2 (every file released since the evidence library) also traces every number: the page address it
was read from (``url``), the sentence, table cell or figure caption (``quote``) and the number as printed
(``published``), which must appear in the quote and agree with the row's numbers (:func:`trace_problems`).

What a row does in the model (``docs/evidence.md`` has the table):

- training-gaming reasoning counts measured in training, and compliance counts in training and unmonitored, enter the
  likelihood of the system's pattern;
- a per-system outcome "above/below a threshold" (``threshold``, ``outcome``, ``n`` episodes per tier) enters it
  through the probability that the observed rate or gap exceeds the threshold;
- a population row (``system = "population"``: ``k`` of ``n`` systems above a threshold) enters through the
  probability that a system drawn from the population would;
- capability evidence (:data:`CAPABILITY_EVIDENCE`) enters only for the sources switched on, by
  ``capability_likelihood = true`` in the source's table or by :meth:`EvidenceSet.with_capability_likelihood`;
- every other row is *reference-only* with a stated reason (a rate without ``n``, a quantity the model has no term
  for): shown beside the fit, never in the likelihood, because inventing an ``n`` would invent precision.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from riskmodel.data.features import VOCABULARY, Context
from riskmodel.data.registry import Store, data_root, load_versioned, parse_versioned_toml, sha256_bytes
from riskmodel.errors import EvidenceError

__all__ = [
    "CAPABILITY_EVIDENCE",
    "CONDITIONS",
    "FORMATS",
    "POPULATION",
    "QUANTITIES",
    "STAGES",
    "CompliancePair",
    "EvidenceRow",
    "EvidenceSet",
    "evidence_store",
    "load_evidence",
    "parse_evidence",
    "reference_reason",
    "trace_problems",
]

#: Evidence file formats this package reads (2: every number traced to a quote; 1: the first releases, untraced).
FORMATS: tuple[int, ...] = (1, 2)
#: The ``system`` of a population row (how many of n systems showed an effect).
POPULATION = "population"

#: Measured quantity -> what it is. The first three feed the training-gaming likelihood; the capability quantities
#: inform a capability assumption when switched on (:data:`CAPABILITY_EVIDENCE`); the rest are reference-only.
QUANTITIES: dict[str, str] = {
    "training_gaming_reasoning": "share of episodes whose reasoning shows training-gaming (alignment-faking reasoning)",
    "complied": "share of episodes in which the system complied with the training objective",
    "compliance_gap": "compliance in training minus compliance unmonitored",
    # capability evidence (in-context scheming and related behaviour)
    "disabled_oversight": "share of episodes in which the system disabled its oversight (in-context scheming)",
    "attempted_self_exfiltration": "share of episodes with an attempted self-exfiltration (in-context scheming)",
    "goal_guarding": "share of episodes in which the system protected its goal from a replacement prompt",
    "covert_email_reranking": "share of episodes in which the system covertly manipulated a ranking for its goal",
    "behavioral_scheming": "behaves differently when told it is tested vs deployed (in-context scheming)",
    "covert_action": "share of episodes with a covert action (lying, sabotage, sandbagging, hidden rule-breaking)",
    "sandbagging": "runs in which the system deliberately underperformed on a capability evaluation",
    "doubled_down": "share of follow-up questions in which the system kept up its deception instead of confessing",
    # reference-only measurements
    "refused": "share of episodes in which the system refused",
    "sandbagging_accuracy": "accuracy on a capability evaluation under an incentive to do well or badly",
    "eval_awareness": "share of episodes whose reasoning says the situation is an evaluation",
    "eval_detection_auc": "area under the ROC curve of telling evaluations from deployment",
    "self_exfiltration": "share of episodes in which the system tried to copy its weights out",
    "finding": "a published finding without a rate (reference only, quoted)",
}
#: Capability-evidence quantity -> the capability assumption it informs (docs/evidence.md says why).
CAPABILITY_EVIDENCE: dict[str, str] = {
    "disabled_oversight": "cross_context_strategizing",
    "attempted_self_exfiltration": "cross_context_strategizing",
    "goal_guarding": "cross_context_strategizing",
    "covert_email_reranking": "cross_context_strategizing",
    "behavioral_scheming": "cross_context_strategizing",
    "covert_action": "cross_context_strategizing",
    "sandbagging": "sandbagging",
    "doubled_down": "hiding_reasoning",
}
#: Quantities a per-system threshold outcome or a population row can be about.
THRESHOLD_QUANTITIES: tuple[str, ...] = ("training_gaming_reasoning", "compliance_gap")
CONDITIONS: tuple[str, ...] = (
    "training",
    "unmonitored",
    "gap",
    "nudged",
    "no_nudge",
    "no_goal",
    "goal_matches_developer",
    "testing_vs_deployment",
    "eval",
    "follow_up",
)
#: Stages a row may name. Only ``pre-rl`` and ``after-rl`` are states of the training-gaming model; rows at other
#: stages (anti-scheming training) are capability evidence or reference-only.
STAGES: tuple[str, ...] = ("pre-rl", "after-rl", "before-anti-scheming", "after-anti-scheming")
_TRACE_FIELDS = {
    "url",
    "quote",
    "published",
    "published_complement",
    "read_from_figure",
    "figure_precision",
    "n_quote",
    "n_url",
}
_ROW_FIELDS = {
    "id",
    "source",
    "system",
    "setting",
    "stage",
    "condition",
    "training_info",
    "scratchpad",
    "value_conflict",
    "prerequisites",
    "quantity",
    "k",
    "n",
    "rate",
    "k_is_derived",
    "threshold",
    "outcome",
    "n_per_system",
    "where_read",
    "note",
    *_TRACE_FIELDS,
}
_HEADER = ("name", "version", "date", "summary", "changelog")
_MAX_ROWS = 5000
_OUTCOMES = ("above", "below")


@dataclass(frozen=True)
class EvidenceRow:
    """One published number, with its context and where it was read."""

    id: str
    source: str
    system: str
    setting: str
    stage: str
    condition: str
    training_info: str
    scratchpad: str
    value_conflict: str
    quantity: str
    k: int | None
    n: int | None
    rate: float | None
    k_is_derived: bool
    where_read: str
    note: str = ""
    prerequisites: str = "implicit"
    threshold: float | None = None
    outcome: str = ""
    n_per_system: int | None = None
    url: str = ""
    quote: str = ""
    published: str = ""
    read_from_figure: bool = False
    figure_precision: float = 0.0
    n_quote: str = ""
    n_url: str = ""
    published_complement: bool = False

    @property
    def context(self) -> Context:
        """The context features of this row."""
        stage = self.stage if self.stage in VOCABULARY["stage"] else "pre-rl"
        return Context(
            self.value_conflict, self.training_info, self.scratchpad, stage, prerequisites=self.prerequisites
        )

    @property
    def has_counts(self) -> bool:
        """Whether the paper gives ``n`` (so the row can enter a binomial likelihood)."""
        return self.k is not None and self.n is not None

    @property
    def is_population(self) -> bool:
        """Whether the row counts systems (``k`` of ``n`` systems above a threshold) rather than episodes."""
        return self.system == POPULATION

    @property
    def model_stage(self) -> bool:
        """Whether the row's stage is a state of the training-gaming model (pre-RL or after extra RL)."""
        return self.stage in VOCABULARY["stage"]


@dataclass(frozen=True)
class CompliancePair:
    """Compliance counts of one cell (source, system, setting, context): in training, unmonitored, or both.

    Each cell has its own baseline compliance ``c``; the training row adds training-gaming on top of it.
    """

    training: EvidenceRow | None
    unmonitored: EvidenceRow | None

    @property
    def row(self) -> EvidenceRow:
        """A row of the cell (for its system, setting and context)."""
        return self.training or self.unmonitored  # type: ignore[return-value]

    @property
    def cell(self) -> str:
        """Label of the compliance cell."""
        r = self.row
        return f"{r.system}|{r.setting}|{r.stage}|{r.context.label()}"

    def counts(self) -> tuple[int, int, int, int]:
        """Counts k, n in training, then unmonitored (0 of 0 for a missing row: it adds nothing to the likelihood)."""
        t, u = self.training, self.unmonitored
        return (t.k if t else 0, t.n if t else 0, u.k if u else 0, u.n if u else 0)  # type: ignore[return-value]


@dataclass(frozen=True)
class EvidenceSet:
    """A validated evidence set, with where it came from."""

    name: str
    version: str
    date: str
    summary: str
    changelog: str
    sources: dict[str, str]
    rows: tuple[EvidenceRow, ...]
    sha256: str = ""
    path: str = ""
    released: bool = False
    excluded: frozenset[str] = field(default_factory=frozenset)
    #: Sources whose file says ``capability_likelihood = true``.
    capability_in_file: frozenset[str] = field(default_factory=frozenset)
    #: Sources whose capability rows enter the likelihood (None: as the file says).
    capability_override: frozenset[str] | None = None
    format: int = 2

    @property
    def ref(self) -> str:
        """``NAME@VERSION``."""
        return f"{self.name}@{self.version}"

    @property
    def active_rows(self) -> tuple[EvidenceRow, ...]:
        """Rows the user has not switched off."""
        return tuple(r for r in self.rows if r.id not in self.excluded)

    def _episode_rows(self) -> list[EvidenceRow]:
        return [r for r in self.active_rows if not r.is_population and r.model_stage]

    def reasoning_rows(self) -> list[EvidenceRow]:
        """Training-gaming reasoning counts measured in training: the reasoning likelihood."""
        return [
            r
            for r in self._episode_rows()
            if r.quantity == "training_gaming_reasoning"
            and r.condition == "training"
            and r.has_counts
            and r.threshold is None
        ]

    def compliance_pairs(self) -> list[CompliancePair]:
        """Compliance counts grouped into cells (training and/or unmonitored): the compliance likelihood."""
        rows = [
            r
            for r in self._episode_rows()
            if r.quantity == "complied" and r.has_counts and r.condition in ("training", "unmonitored")
        ]
        key = lambda r: (r.source, r.system, r.setting, r.stage, r.context.label())  # noqa: E731
        cells: dict[tuple[str, ...], dict[str, EvidenceRow]] = {}
        for r in rows:
            cells.setdefault(key(r), {})[r.condition] = r
        return [CompliancePair(c.get("training"), c.get("unmonitored")) for c in cells.values()]

    def threshold_rows(self) -> list[EvidenceRow]:
        """Per-system outcomes above/below a threshold with ``n`` episodes per tier: the threshold likelihood."""
        return [
            r
            for r in self._episode_rows()
            if r.quantity in THRESHOLD_QUANTITIES and r.threshold is not None and r.outcome and r.n is not None
        ]

    def population_rows(self) -> list[EvidenceRow]:
        """Counts of systems above a threshold (with the episodes per system): the population likelihood."""
        return [
            r
            for r in self.active_rows
            if r.is_population
            and r.model_stage
            and r.quantity in THRESHOLD_QUANTITIES
            and r.threshold is not None
            and r.has_counts
            and r.n_per_system is not None
        ]

    @property
    def capability_sources(self) -> frozenset[str]:
        """Sources whose capability evidence enters the likelihood (optional capability terms)."""
        return self.capability_in_file if self.capability_override is None else self.capability_override

    def _capability_rows_of(self, rows: tuple[EvidenceRow, ...]) -> list[EvidenceRow]:
        return [r for r in rows if r.quantity in CAPABILITY_EVIDENCE and r.has_counts and not r.is_population]

    def capability_rows(self) -> list[EvidenceRow]:
        """Capability-evidence counts of the switched-on sources: the optional capability likelihood."""
        on = self.capability_sources
        return [r for r in self._capability_rows_of(self.active_rows) if r.source in on]

    def with_capability_likelihood(self, sources: bool | set[str] | frozenset[str] = True) -> EvidenceSet:
        """A copy with the capability likelihood switched on for ``sources``, off for the others.

        ``True``: every source that has capability-evidence counts; ``False``: none. The choice is part of the subset
        hash when it differs from the file's ``capability_likelihood`` flags.
        """
        has = {r.source for r in self._capability_rows_of(self.rows)}
        if sources is True:
            chosen = frozenset(has)
        elif sources is False:
            chosen = frozenset()
        else:
            chosen = frozenset(sources)
            bad = sorted(chosen - has)
            if bad:
                raise EvidenceError(
                    f"source {bad[0]!r} has no capability-evidence counts",
                    file=self.path,
                    field="capability_likelihood",
                )
        return replace(self, capability_override=chosen)

    def likelihood_rows(self) -> list[EvidenceRow]:
        """Every row that enters the likelihood (core, threshold, population and switched-on capability rows)."""
        ids = {r.id for r in self.reasoning_rows()} | {r.id for r in self.capability_rows()}
        ids |= {r.id for r in self.threshold_rows()} | {r.id for r in self.population_rows()}
        for p in self.compliance_pairs():
            ids |= {r.id for r in (p.training, p.unmonitored) if r is not None}
        return [r for r in self.active_rows if r.id in ids]

    def reference_rows(self) -> list[EvidenceRow]:
        """Active rows shown for reference only (:func:`reference_reason` says why)."""
        used = {r.id for r in self.likelihood_rows()}
        return [r for r in self.active_rows if r.id not in used]

    def systems(self) -> list[str]:
        """Every system named by an active row (not the population), in first-seen order."""
        return list(dict.fromkeys(r.system for r in self.active_rows if not r.is_population))

    def model_systems(self) -> list[str]:
        """Systems with at least one row in the likelihood (the systems of the model), in first-seen order."""
        used = {r.id for r in self.likelihood_rows()}
        return list(dict.fromkeys(r.system for r in self.active_rows if r.id in used and not r.is_population))

    def without(self, row_ids: set[str] | frozenset[str]) -> EvidenceSet:
        """A copy with some rows switched off (the subset is named by its own hash in citations)."""
        unknown = sorted(set(row_ids) - {r.id for r in self.rows})
        if unknown:
            raise EvidenceError(f"no row with id {unknown[0]!r}", file=self.path, field="row")
        return replace(self, excluded=frozenset(row_ids) | self.excluded)

    @property
    def subset_sha256(self) -> str:
        """Hash naming the active subset (equals the file hash when nothing is switched off)."""
        cap = self.capability_sources
        if not self.excluded and cap == self.capability_in_file:
            return self.sha256
        text = self.sha256 + "|" + ",".join(sorted(self.excluded))
        if cap != self.capability_in_file:
            text += "|capability:" + ",".join(sorted(cap))
        return sha256_bytes(text.encode())


def reference_reason(row: EvidenceRow) -> str:
    """Why a row is not in the likelihood."""
    if row.quantity in CAPABILITY_EVIDENCE:
        if row.is_population:
            return "capability evidence about a population of systems: no term of the model (reference only)"
        if not row.has_counts:
            what = "a threshold outcome" if row.threshold is not None else "a rate without k and n"
            return f"capability evidence as {what}: the capability likelihood takes counts k of n (reference only)"
        return f"capability evidence: capability likelihood switched off for {row.source}"
    if row.quantity not in ("training_gaming_reasoning", "complied", "compliance_gap"):
        return f"{row.quantity}: no term of the model measures it (reference only)"
    if not row.model_stage:
        return f"stage {row.stage!r} is not a state of the training-gaming model"
    if row.is_population:
        if row.threshold is None or not row.has_counts:
            return "population row without a threshold or counts of systems (reference only)"
        if row.n_per_system is None:
            return "population row without episodes per system (reference only; see its note)"
        return "population row not used"
    if row.threshold is not None:
        return "threshold outcome without n episodes per tier: reference only (no n is invented)"
    if row.quantity == "compliance_gap":
        return "a compliance gap enters as a threshold outcome or through its training and unmonitored counts"
    if row.quantity == "complied" and row.has_counts:
        return f"compliance in condition {row.condition!r}: the likelihood uses training and unmonitored counts"
    if row.quantity == "training_gaming_reasoning" and row.has_counts:
        return f"reasoning in condition {row.condition!r}: the likelihood uses reasoning measured in training"
    if row.n is not None:
        return "a rate with n but no k: reference only"
    return "rate without n: reference only (no n is invented)"


# ---------------------------------------------------------------------------------------------- tracing
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty twenty-one twenty-two twenty-three twenty-four twenty-five".split()
    )
}
# A number: not part of a name ("gpt-4o", "opus-3", "o1"), optionally signed, optionally a percentage.
_NUM = (
    r"(?<![\w.\-\u2212])([-\u2212]?)(?<![A-Za-z][-\u2212])(\d+(?:,\d{3})*(?:\.\d+)?)"
    r"(?!(?!\s*(?:%|pp\b|percent\b))[\w.]*[A-Za-z])"
)
_NUM_RE = re.compile(_NUM + r"\s*(%|pp\b|percent\b)?")
_PAIR_RE = re.compile(r"(?<![\w.])(\d+)\s*(?:/|out of|of)\s*(\d+)(?![\w.])")


@dataclass(frozen=True)
class _Printed:
    """A number as printed: its value, half a unit of its last digit, and whether it is a percentage."""

    value: float
    half: float
    percent: bool

    def as_fraction(self) -> float:
        return self.value / 100.0 if self.percent else self.value


def _numbers(text: str, percent_context: bool | None = None) -> list[_Printed]:
    """Every number in ``text`` (signed, with its printed precision), and number words (one ... twenty-five).

    A number without a unit in a text that prints percentages elsewhere (``11.9 ± 1.7%``, a table headed ``(%)``)
    counts as a percentage too; ``percent_context`` says whether the surrounding quote does (default: ``text``).
    """
    out = []
    has_percent = ("%" in text or "percent" in text) if percent_context is None else percent_context
    for m in _NUM_RE.finditer(text.replace("\u2212", "-")):
        digits = m[2].replace(",", "")
        decimals = len(digits.partition(".")[2])
        value = float(digits) * (-1.0 if m[1] else 1.0)
        half = 0.5 * 10.0**-decimals
        out.append(_Printed(value, half, bool(m[3])))
        if not m[3] and has_percent:
            out.append(_Printed(value, half, True))
    for word in re.findall(r"[a-z]+(?:-[a-z]+)?", text.lower()):
        if word in _NUMBER_WORDS:
            out.append(_Printed(float(_NUMBER_WORDS[word]), 0.0, False))
    return out


def _pairs(text: str) -> list[tuple[int, int]]:
    """Counts printed as ``k/n``, ``k out of n`` or ``k of n``."""
    return [(int(a), int(b)) for a, b in _PAIR_RE.findall(text)]


def _agrees(value: float, numbers: list[_Printed], pairs: list[tuple[int, int]], precision: float) -> bool:
    """Whether a fraction is one of the printed numbers: a percentage, a plain fraction, or a printed k/n."""
    for x in numbers:
        half = x.half / 100.0 if x.percent else x.half
        if (x.percent or abs(x.value) <= 1.0) and abs(x.as_fraction() - value) <= max(half, precision) + 1e-9:
            return True
    return any(n > 0 and abs(k / n - value) <= max(0.5 / n, precision) + 1e-9 for k, n in pairs)


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def trace_problems(row: EvidenceRow) -> list[tuple[str, str]]:
    """What is wrong with a row's trace to its source, as (field, reason); empty when the row is traced.

    A traced row names the page it was read from (``url``, an http(s) address), quotes the sentence, table cell or
    figure caption (``quote``), and gives the number as printed (``published``), which appears verbatim in the quote
    and agrees with the row: its rate (as a fraction or a percentage, to the printed precision, or within
    ``figure_precision`` for a reading off a figure), its ``k`` and ``n`` when they are not derived, its threshold,
    and for a population row the counts of systems (digits or words). A derived ``k`` needs ``n`` in the quote or in
    ``n_quote``.
    """
    out: list[tuple[str, str]] = []
    if not re.match(r"^https?://\S+$", row.url):
        out.append(("url", "must be the http(s) address of the page the number was read from"))
    quote, published = _squash(row.quote), _squash(row.published)
    if not quote:
        out.append(("quote", "missing: the sentence, table cell or figure caption the number was read from"))
        return out
    if not published:
        out.append(("published", "missing: the number as printed"))
        return out
    if published not in quote:
        out.append(("published", f"{row.published!r} does not appear in the quote"))
        return out
    precision = row.figure_precision if row.read_from_figure else 0.0
    if row.read_from_figure and not precision > 0:
        out.append(("figure_precision", "a reading off a figure needs its precision (> 0)"))
    in_pub, pairs_pub = _numbers(published, "%" in quote or "percent" in quote), _pairs(published)
    in_quote, pairs_quote = _numbers(quote), _pairs(quote)
    n_text = _numbers(_squash(row.n_quote)) if row.n_quote else []
    if row.rate is not None and not row.is_population:
        printed = 1.0 - row.rate if row.published_complement else row.rate
        if not _agrees(printed, in_pub, pairs_pub, precision):
            what = f"1 - {row.rate:g}" if row.published_complement else f"{row.rate:g}"
            out.append(("rate", f"{what} is not the published number {row.published!r}"))
    elif row.published_complement:
        out.append(("published_complement", "needs the rate that is the complement of the published number"))
    if row.k is not None and row.n is not None and not row.is_population:
        if row.k_is_derived and row.rate is None:
            out.append(("rate", "a derived k needs the rate it was derived from"))
        elif row.k_is_derived and row.k != round(row.rate * row.n):  # type: ignore[operator]
            out.append(("k", f"k = {row.k} is not round(rate * n) = {round(row.rate * row.n)}"))  # type: ignore[operator]
        elif not row.k_is_derived and (row.k, row.n) not in pairs_pub:
            if not any(abs(x.value - row.k) < 1e-9 for x in in_pub):
                out.append(("k", f"k = {row.k} is not the published number {row.published!r}"))
    if row.n is not None and not row.is_population:
        if not any(abs(x.value - row.n) < 1e-9 for x in in_quote + n_text) and row.n not in [b for _, b in pairs_quote]:
            out.append(("n", f"n = {row.n} appears neither in the quote nor in n_quote"))
    if row.is_population and row.k is not None and row.n is not None:
        counted = [x.value for x in in_quote + n_text] + [v for pr in pairs_quote for v in pr]
        for fld, v, what in (("k", row.k, "count of systems"), ("n", row.n, "number of systems")):
            if not any(abs(x - v) < 1e-9 for x in counted):
                out.append((fld, f"the {what} {v} does not appear in the quote"))
    if row.threshold is not None and not _agrees(row.threshold, in_quote, pairs_quote, 0.0):
        out.append(("threshold", f"the threshold {row.threshold:g} does not appear in the quote"))
    if row.n_quote and not re.match(r"^https?://\S+$", row.n_url or row.url):
        out.append(("n_url", "must be the http(s) address of the page n was read from"))
    return out


# ---------------------------------------------------------------------------------------------- parsing
def _str(doc: dict[str, Any], key: str, file: str, fld: str, *, required: bool = True, limit: int = 2000) -> str:
    v = doc.get(key, None)
    if v is None:
        if required:
            raise EvidenceError("missing field", file=file, field=f"{fld}{key}")
        return ""
    if isinstance(v, dt.date):
        v = v.isoformat()
    if not isinstance(v, str) or (required and not v.strip()):
        raise EvidenceError("must be a non-empty string", file=file, field=f"{fld}{key}")
    if len(v) > limit:
        raise EvidenceError(f"must be at most {limit} characters", file=file, field=f"{fld}{key}")
    return v


def _count(v: Any, file: str, fld: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise EvidenceError(f"must be a whole number, got {v!r}", file=file, field=fld)
    if v < 0 or v > 10**9:
        raise EvidenceError(f"must be between 0 and 1e9, got {v}", file=file, field=fld)
    return v


def _fraction(v: Any, file: str, fld: str, lo: float = 0.0) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise EvidenceError(f"must be a number, got {v!r}", file=file, field=fld)
    if not lo <= v <= 1.0:
        raise EvidenceError(f"must lie in [{lo:g}, 1], got {v!r}", file=file, field=fld)
    return float(v)


def _bool(doc: dict[str, Any], key: str, file: str, fld: str) -> bool:
    v = doc.get(key, False)
    if not isinstance(v, bool):
        raise EvidenceError("must be true or false", file=file, field=f"{fld}{key}")
    return v


def _parse_row(i: int, doc: Any, sources: dict[str, str], file: str, fmt: int) -> EvidenceRow:
    fld = f"row[{i}]."
    if not isinstance(doc, dict):
        raise EvidenceError("must be a table", file=file, field=f"row[{i}]")
    unknown = sorted(set(doc) - _ROW_FIELDS)
    if unknown:
        raise EvidenceError(f"unknown field {unknown[0]!r}", file=file, field=f"row[{i}]")
    if fmt == 1:
        later = sorted(set(doc) & (_TRACE_FIELDS | {"prerequisites", "threshold", "outcome", "n_per_system"}))
        if later:
            raise EvidenceError(f"field {later[0]!r} needs format = 2", file=file, field=f"row[{i}]")
    rid = _str(doc, "id", file, fld, limit=200)
    fld = f"row[{rid}]."
    source = _str(doc, "source", file, fld)
    if source not in sources:
        raise EvidenceError(
            f"unknown source {source!r}: add it to [sources] with its citation", file=file, field=f"{fld}source"
        )
    feats = {}
    for feat in ("value_conflict", "training_info", "scratchpad", "prerequisites"):
        v = doc.get(feat, "implicit" if feat == "prerequisites" else None)
        if v not in VOCABULARY[feat]:
            raise EvidenceError(
                f"must be one of {', '.join(VOCABULARY[feat])}, got {v!r}", file=file, field=f"{fld}{feat}"
            )
        feats[feat] = v
    stage = doc.get("stage", "pre-rl")
    if stage not in STAGES:
        raise EvidenceError(f"must be one of {', '.join(STAGES)}, got {stage!r}", file=file, field=f"{fld}stage")
    condition = doc.get("condition")
    if condition not in CONDITIONS:
        raise EvidenceError(
            f"must be one of {', '.join(CONDITIONS)}, got {condition!r}", file=file, field=f"{fld}condition"
        )
    quantity = doc.get("quantity")
    if not isinstance(quantity, str) or quantity not in QUANTITIES:
        raise EvidenceError(
            f"must be one of {', '.join(QUANTITIES)}, got {quantity!r}", file=file, field=f"{fld}quantity"
        )
    system = _str(doc, "system", file, fld, limit=80)
    k, n = _count(doc.get("k"), file, f"{fld}k"), _count(doc.get("n"), file, f"{fld}n")
    threshold = _fraction(doc.get("threshold"), file, f"{fld}threshold")
    outcome = doc.get("outcome", "")
    if outcome and outcome not in _OUTCOMES:
        raise EvidenceError(f"must be one of above, below, got {outcome!r}", file=file, field=f"{fld}outcome")
    if system == POPULATION:
        if (k is None) != (n is None):
            raise EvidenceError("a population row gives both k and n systems, or neither", file=file, field=f"{fld}k")
        if outcome:
            raise EvidenceError("a population row counts systems: no outcome", file=file, field=f"{fld}outcome")
    else:
        if threshold is not None and outcome not in _OUTCOMES:
            raise EvidenceError("a threshold needs an outcome (above or below)", file=file, field=f"{fld}outcome")
        if outcome and threshold is None:
            raise EvidenceError("an outcome needs a threshold", file=file, field=f"{fld}threshold")
        if threshold is not None and k is not None:
            raise EvidenceError("a threshold outcome has n episodes per tier, no k", file=file, field=f"{fld}k")
        if threshold is None and k is not None and n is None:
            raise EvidenceError("a count k needs its n", file=file, field=f"{fld}n")
        if threshold is None and n is not None and k is None and doc.get("rate") is None:
            raise EvidenceError("n without k needs the rate it is the denominator of", file=file, field=f"{fld}rate")
    if n is not None and n == 0:
        raise EvidenceError("n must be at least 1", file=file, field=f"{fld}n")
    if k is not None and n is not None and k > n:
        raise EvidenceError(f"k = {k} exceeds n = {n}", file=file, field=f"{fld}k")
    n_per_system = _count(doc.get("n_per_system"), file, f"{fld}n_per_system")
    if n_per_system is not None and (system != POPULATION or n_per_system == 0):
        raise EvidenceError("only a population row has n_per_system (>= 1)", file=file, field=f"{fld}n_per_system")
    rate = _fraction(doc.get("rate"), file, f"{fld}rate", lo=-1.0 if quantity == "compliance_gap" else 0.0)
    if rate is not None and k is not None and n is not None and system != POPULATION and abs(k / n - rate) > 0.01:
        raise EvidenceError(f"rate {rate} disagrees with k/n = {k}/{n}", file=file, field=f"{fld}rate")
    if rate is None and k is None and threshold is None and quantity != "finding":
        raise EvidenceError("give k and n, a rate, or a threshold outcome", file=file, field=f"{fld}rate")
    precision = doc.get("figure_precision", 0.0)
    if isinstance(precision, bool) or not isinstance(precision, int | float) or not 0 <= precision <= 1:
        raise EvidenceError(f"must be a number in [0, 1], got {precision!r}", file=file, field=f"{fld}figure_precision")
    row = EvidenceRow(
        id=rid,
        source=source,
        system=system,
        setting=_str(doc, "setting", file, fld, limit=200),
        stage=stage,
        condition=condition,
        quantity=quantity,
        k=k,
        n=n,
        rate=rate,
        k_is_derived=_bool(doc, "k_is_derived", file, fld),
        where_read=_str(doc, "where_read", file, fld),
        note=_str(doc, "note", file, fld, required=False, limit=4000),
        threshold=threshold,
        outcome=outcome,
        n_per_system=n_per_system,
        url=_str(doc, "url", file, fld, required=fmt >= 2),
        quote=_str(doc, "quote", file, fld, required=fmt >= 2, limit=4000),
        published=_str(doc, "published", file, fld, required=fmt >= 2, limit=400),
        read_from_figure=_bool(doc, "read_from_figure", file, fld),
        figure_precision=float(precision),
        n_quote=_str(doc, "n_quote", file, fld, required=False, limit=4000),
        n_url=_str(doc, "n_url", file, fld, required=False),
        published_complement=_bool(doc, "published_complement", file, fld),
        **feats,
    )
    if fmt >= 2:
        problems = trace_problems(row)
        if problems:
            where, why = problems[0]
            raise EvidenceError(f"not traced to its source: {why}", file=file, field=f"{fld}{where}")
    return row


def parse_evidence(
    text: str | bytes, *, file: str = "<evidence>", sha256: str = "", released: bool = False
) -> EvidenceSet:
    """Parse and validate an evidence file's content; every problem is a one-line :class:`EvidenceError`."""
    doc, sha256 = parse_versioned_toml(text, file=file, error=EvidenceError, sha256=sha256)
    header = {k: _str(doc, k, file, "") for k in _HEADER}
    unknown = sorted(set(doc) - {*_HEADER, "format", "sources", "row"})
    if unknown:
        raise EvidenceError(f"unknown field {unknown[0]!r}", file=file)
    fmt = doc.get("format", 1)
    if isinstance(fmt, bool) or fmt not in FORMATS:
        raise EvidenceError(f"must be one of {', '.join(map(str, FORMATS))}, got {fmt!r}", file=file, field="format")
    src = doc.get("sources")
    if not isinstance(src, dict) or not src:
        raise EvidenceError("missing [sources] table", file=file, field="sources")
    sources = {}
    capability_on = set()
    for sid, s in src.items():
        if not isinstance(s, dict):
            raise EvidenceError("must be a table with a citation", file=file, field=f"sources.{sid}")
        unknown_src = sorted(set(s) - {"citation", "capability_likelihood", "measured", "mapping", "url"})
        if unknown_src:
            raise EvidenceError(f"unknown field {unknown_src[0]!r}", file=file, field=f"sources.{sid}")
        sources[sid] = _str(s, "citation", file, f"sources.{sid}.")
        for key in ("measured", "mapping", "url"):
            _str(s, key, file, f"sources.{sid}.", required=False, limit=4000)
        flag = s.get("capability_likelihood", False)
        if not isinstance(flag, bool):
            raise EvidenceError("must be true or false", file=file, field=f"sources.{sid}.capability_likelihood")
        if flag:
            capability_on.add(sid)
    rows_doc = doc.get("row")
    if not isinstance(rows_doc, list) or not rows_doc:
        raise EvidenceError("needs at least one [[row]]", file=file, field="row")
    if len(rows_doc) > _MAX_ROWS:
        raise EvidenceError(f"at most {_MAX_ROWS} rows", file=file, field="row")
    rows = tuple(_parse_row(i, r, sources, file, fmt) for i, r in enumerate(rows_doc))
    seen_ids: set[str] = set()
    seen_keys: dict[tuple[Any, ...], str] = {}
    for r in rows:
        if r.id in seen_ids:
            raise EvidenceError("duplicate row id", file=file, field=f"row[{r.id}].id")
        seen_ids.add(r.id)
        if r.quantity == "finding":
            continue
        key = (r.source, r.system, r.setting, r.stage, r.condition, r.context.label(), r.quantity, r.threshold)
        if key in seen_keys:
            raise EvidenceError(
                f"duplicates row {seen_keys[key]!r} (same source, system, setting, context and quantity)",
                file=file,
                field=f"row[{r.id}]",
            )
        seen_keys[key] = r.id
    counted = {r.source for r in rows if r.quantity in CAPABILITY_EVIDENCE and r.has_counts and not r.is_population}
    for sid in sorted(capability_on):
        if sid not in counted:
            raise EvidenceError(
                "capability_likelihood = true but the source has no capability-evidence counts",
                file=file,
                field=f"sources.{sid}.capability_likelihood",
            )
    return EvidenceSet(
        **header,
        sources=sources,
        rows=rows,
        sha256=sha256,
        path=file,
        released=released,
        capability_in_file=frozenset(capability_on),
        format=fmt,
    )


def evidence_store(root: Path | None = None) -> Store:
    """The store of released evidence sets (``evidence/`` under the data root)."""
    return Store((root or data_root()) / "evidence", "evidence")


def load_evidence(ref: str | Path | EvidenceSet = "published-evals", *, root: Path | None = None) -> EvidenceSet:
    """Load an evidence set by ``NAME@VERSION`` (hash-checked release), ``NAME`` (latest) or a file path."""
    if isinstance(ref, EvidenceSet):
        return ref
    return load_versioned(ref, evidence_store(root), parse_evidence, EvidenceError)

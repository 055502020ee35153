"""Evidence sets: versioned, hashed files of published evaluation counts, and their role in the likelihood.

An evidence file ``evidence/NAME/VERSION.toml`` has a header (name, version, date, summary, changelog), a
``[sources.ID]`` table per paper, and one ``[[row]]`` per published number: system, setting, stage, condition, the
context features, what was measured, ``k`` and ``n`` (absent when the paper gives only a rate), the rate and where it
was read. Rows with a rate but no ``n`` are *reference-only*: they are shown beside the fit but never enter the
likelihood, because inventing an ``n`` would invent precision.

Capability evidence (in-context scheming counts, :data:`CAPABILITY_EVIDENCE`) enters the likelihood only for the
sources switched on, by ``capability_likelihood = true`` in the source's ``[sources.ID]`` table or by
:meth:`EvidenceSet.with_capability_likelihood`; otherwise it is reference-only. The measurement model is in
``docs/evidence.md``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from riskmodel.data.features import VOCABULARY, Context
from riskmodel.data.registry import Store, data_root, load_versioned, parse_versioned_toml, sha256_bytes
from riskmodel.errors import EvidenceError

__all__ = [
    "CAPABILITY_EVIDENCE",
    "CONDITIONS",
    "QUANTITIES",
    "CompliancePair",
    "EvidenceRow",
    "EvidenceSet",
    "evidence_store",
    "load_evidence",
    "parse_evidence",
]

#: Measured quantity -> what it is. Training-gaming reasoning and compliance feed the core likelihood; the in-context
#: scheming rows are capability evidence (reference-only until capability likelihood terms are switched on).
QUANTITIES: dict[str, str] = {
    "training_gaming_reasoning": "share of episodes whose reasoning shows training-gaming",
    "complied": "share of episodes in which the system complied with the training objective",
    "compliance_gap": "compliance in training minus compliance unmonitored",
    "disabled_oversight": "share of episodes in which the system disabled its oversight (in-context scheming)",
    "attempted_self_exfiltration": "share of episodes with an attempted self-exfiltration (in-context scheming)",
    "behavioral_scheming": "behaves differently when told it is tested vs deployed (in-context scheming)",
}
#: Capability-evidence quantity -> the capability assumption it informs (see docs/evidence.md for why). Every one
#: is an in-context scheming behaviour of ME24: shown with a goal at odds with the developer's in the prompt, it
#: demonstrates that the system can strategize about oversight, exfiltration and evaluations when misaligned.
CAPABILITY_EVIDENCE: dict[str, str] = {
    "disabled_oversight": "cross_context_strategizing",
    "attempted_self_exfiltration": "cross_context_strategizing",
    "behavioral_scheming": "cross_context_strategizing",
}
CONDITIONS: tuple[str, ...] = ("training", "unmonitored", "gap", "nudged", "no_nudge", "testing_vs_deployment")
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
    "quantity",
    "k",
    "n",
    "rate",
    "k_is_derived",
    "where_read",
    "note",
}
_HEADER = ("name", "version", "date", "summary", "changelog")
_MAX_ROWS = 5000


@dataclass(frozen=True)
class EvidenceRow:
    """One published number, with its context and citation."""

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

    @property
    def context(self) -> Context:
        """The context features of this row."""
        return Context(self.value_conflict, self.training_info, self.scratchpad, self.stage)

    @property
    def has_counts(self) -> bool:
        """Whether the paper gives ``n`` (so the row can enter a binomial likelihood)."""
        return self.k is not None and self.n is not None


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

    @property
    def ref(self) -> str:
        """``NAME@VERSION``."""
        return f"{self.name}@{self.version}"

    @property
    def active_rows(self) -> tuple[EvidenceRow, ...]:
        """Rows the user has not switched off."""
        return tuple(r for r in self.rows if r.id not in self.excluded)

    def reasoning_rows(self) -> list[EvidenceRow]:
        """Training-gaming reasoning counts measured in training: the reasoning likelihood."""
        return [
            r
            for r in self.active_rows
            if r.quantity == "training_gaming_reasoning" and r.condition == "training" and r.has_counts
        ]

    def compliance_pairs(self) -> list[CompliancePair]:
        """Compliance counts grouped into cells (training and/or unmonitored): the compliance likelihood."""
        rows = [
            r
            for r in self.active_rows
            if r.quantity == "complied" and r.has_counts and r.condition in ("training", "unmonitored")
        ]
        key = lambda r: (r.source, r.system, r.setting, r.stage, r.training_info, r.scratchpad, r.value_conflict)  # noqa: E731
        cells: dict[tuple[str, ...], dict[str, EvidenceRow]] = {}
        for r in rows:
            cells.setdefault(key(r), {})[r.condition] = r
        return [CompliancePair(c.get("training"), c.get("unmonitored")) for c in cells.values()]

    @property
    def capability_sources(self) -> frozenset[str]:
        """Sources whose capability evidence enters the likelihood (optional capability terms)."""
        return self.capability_in_file if self.capability_override is None else self.capability_override

    def capability_rows(self) -> list[EvidenceRow]:
        """Capability-evidence counts of the switched-on sources: the optional capability likelihood."""
        on = self.capability_sources
        return [r for r in self.active_rows if r.quantity in CAPABILITY_EVIDENCE and r.has_counts and r.source in on]

    def with_capability_likelihood(self, sources: bool | set[str] | frozenset[str] = True) -> EvidenceSet:
        """A copy with the capability likelihood switched on for ``sources``, off for the others.

        ``True``: every source that has capability-evidence counts; ``False``: none. The choice is part of the subset
        hash when it differs from the file's ``capability_likelihood`` flags.
        """
        has = {r.source for r in self.rows if r.quantity in CAPABILITY_EVIDENCE and r.has_counts}
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
        """Every row that enters the likelihood (core, and capability rows of switched-on sources)."""
        ids = {r.id for r in self.reasoning_rows()} | {r.id for r in self.capability_rows()}
        for p in self.compliance_pairs():
            ids |= {r.id for r in (p.training, p.unmonitored) if r is not None}
        return [r for r in self.active_rows if r.id in ids]

    def reference_rows(self) -> list[EvidenceRow]:
        """Active rows shown for reference only, each with why (rate without n, capability evidence, unpaired)."""
        used = {r.id for r in self.likelihood_rows()}
        return [r for r in self.active_rows if r.id not in used]

    def systems(self) -> list[str]:
        """Every system named by an active row, in first-seen order."""
        return list(dict.fromkeys(r.system for r in self.active_rows))

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
    if not row.has_counts:
        return "rate without n: reference only (no n is invented)"
    if row.quantity in CAPABILITY_EVIDENCE:
        return f"capability evidence: capability likelihood switched off for {row.source}"
    return "condition not used by the core likelihood"


def _str(doc: dict[str, Any], key: str, file: str, fld: str, *, required: bool = True) -> str:
    v = doc.get(key, None)
    if v is None:
        if required:
            raise EvidenceError("missing field", file=file, field=f"{fld}{key}")
        return ""
    if isinstance(v, dt.date):
        v = v.isoformat()
    if not isinstance(v, str) or (required and not v.strip()):
        raise EvidenceError("must be a non-empty string", file=file, field=f"{fld}{key}")
    if len(v) > 2000:
        raise EvidenceError("must be at most 2000 characters", file=file, field=f"{fld}{key}")
    return v


def _count(v: Any, file: str, fld: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise EvidenceError(f"must be a whole number, got {v!r}", file=file, field=fld)
    if v < 0 or v > 10**9:
        raise EvidenceError(f"must be between 0 and 1e9, got {v}", file=file, field=fld)
    return v


def _parse_row(i: int, doc: Any, sources: dict[str, str], file: str) -> EvidenceRow:
    fld = f"row[{i}]."
    if not isinstance(doc, dict):
        raise EvidenceError("must be a table", file=file, field=f"row[{i}]")
    unknown = sorted(set(doc) - _ROW_FIELDS)
    if unknown:
        raise EvidenceError(f"unknown field {unknown[0]!r}", file=file, field=f"row[{i}]")
    rid = _str(doc, "id", file, fld)
    fld = f"row[{rid}]."
    source = _str(doc, "source", file, fld)
    if source not in sources:
        raise EvidenceError(
            f"unknown source {source!r}: add it to [sources] with its citation", file=file, field=f"{fld}source"
        )
    feats = {}
    for feat in ("value_conflict", "training_info", "scratchpad", "stage"):
        v = doc.get(feat, "pre-rl" if feat == "stage" else None)
        if v not in VOCABULARY[feat]:
            raise EvidenceError(
                f"must be one of {', '.join(VOCABULARY[feat])}, got {v!r}", file=file, field=f"{fld}{feat}"
            )
        feats[feat] = v
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
    k, n = _count(doc.get("k"), file, f"{fld}k"), _count(doc.get("n"), file, f"{fld}n")
    if (k is None) != (n is None):
        raise EvidenceError("give both k and n, or neither (rate only)", file=file, field=f"{fld}k")
    if n is not None and k is not None:
        if n == 0:
            raise EvidenceError("n must be at least 1", file=file, field=f"{fld}n")
        if k > n:
            raise EvidenceError(f"k = {k} exceeds n = {n}", file=file, field=f"{fld}k")
    rate = doc.get("rate")
    if rate is not None:
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate):
            raise EvidenceError(f"must be a number, got {rate!r}", file=file, field=f"{fld}rate")
        lo = -1.0 if quantity == "compliance_gap" else 0.0
        if not lo <= rate <= 1.0:
            raise EvidenceError(f"must lie in [{lo:g}, 1], got {rate!r}", file=file, field=f"{fld}rate")
        if k is not None and n is not None and abs(k / n - rate) > 0.01:
            raise EvidenceError(f"rate {rate} disagrees with k/n = {k}/{n}", file=file, field=f"{fld}rate")
        rate = float(rate)
    elif k is None:
        raise EvidenceError("give k and n, or a rate", file=file, field=f"{fld}rate")
    derived = doc.get("k_is_derived", False)
    if not isinstance(derived, bool):
        raise EvidenceError("must be true or false", file=file, field=f"{fld}k_is_derived")
    return EvidenceRow(
        id=rid,
        source=source,
        system=_str(doc, "system", file, fld),
        setting=_str(doc, "setting", file, fld),
        condition=condition,
        quantity=quantity,
        k=k,
        n=n,
        rate=rate,
        k_is_derived=derived,
        where_read=_str(doc, "where_read", file, fld),
        note=_str(doc, "note", file, fld, required=False),
        **feats,
    )


def parse_evidence(
    text: str | bytes, *, file: str = "<evidence>", sha256: str = "", released: bool = False
) -> EvidenceSet:
    """Parse and validate an evidence file's content; every problem is a one-line :class:`EvidenceError`."""
    doc, sha256 = parse_versioned_toml(text, file=file, error=EvidenceError, sha256=sha256)
    header = {k: _str(doc, k, file, "") for k in _HEADER}
    unknown = sorted(set(doc) - {*_HEADER, "sources", "row"})
    if unknown:
        raise EvidenceError(f"unknown field {unknown[0]!r}", file=file)
    src = doc.get("sources")
    if not isinstance(src, dict) or not src:
        raise EvidenceError("missing [sources] table", file=file, field="sources")
    sources = {}
    capability_on = set()
    for sid, s in src.items():
        if not isinstance(s, dict):
            raise EvidenceError("must be a table with a citation", file=file, field=f"sources.{sid}")
        unknown_src = sorted(set(s) - {"citation", "capability_likelihood"})
        if unknown_src:
            raise EvidenceError(f"unknown field {unknown_src[0]!r}", file=file, field=f"sources.{sid}")
        sources[sid] = _str(s, "citation", file, f"sources.{sid}.")
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
    rows = tuple(_parse_row(i, r, sources, file) for i, r in enumerate(rows_doc))
    seen_ids: set[str] = set()
    seen_keys: dict[tuple[Any, ...], str] = {}
    for r in rows:
        if r.id in seen_ids:
            raise EvidenceError("duplicate row id", file=file, field=f"row[{r.id}].id")
        seen_ids.add(r.id)
        key = (
            r.source,
            r.system,
            r.setting,
            r.stage,
            r.condition,
            r.training_info,
            r.scratchpad,
            r.value_conflict,
            r.quantity,
        )
        if key in seen_keys:
            raise EvidenceError(
                f"duplicates row {seen_keys[key]!r} (same source, system, setting, context and quantity)",
                file=file,
                field=f"row[{r.id}]",
            )
        seen_keys[key] = r.id
    for sid in sorted(capability_on):
        if not any(r.source == sid and r.quantity in CAPABILITY_EVIDENCE and r.has_counts for r in rows):
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
    )


def evidence_store(root: Path | None = None) -> Store:
    """The store of released evidence sets (``evidence/`` under the data root)."""
    return Store((root or data_root()) / "evidence", "evidence")


def load_evidence(ref: str | Path | EvidenceSet = "published-evals", *, root: Path | None = None) -> EvidenceSet:
    """Load an evidence set by ``NAME@VERSION`` (hash-checked release), ``NAME`` (latest) or a file path."""
    if isinstance(ref, EvidenceSet):
        return ref
    return load_versioned(ref, evidence_store(root), parse_evidence, EvidenceError)

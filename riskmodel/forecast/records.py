"""Forecast records: a citation tied to a question, a horizon, a date and a forecaster.

A record is a TOML file ``forecasts/NAME.toml`` under the data root (``$RISKMODEL_DATA``, else the checkout; see
:func:`riskmodel.data.registry.data_root`) holding

- ``question``: the question in words;
- ``quantity``: what the model quantity (P(worst case) for the cited system) is taken to mean for the question;
- ``resolution``: how the question resolves, and ``horizon``: the resolution date (``YYYY-MM-DD``);
- ``forecaster`` and ``created`` (the date the record was made);
- ``citation``: the citation line of the exact fit the numbers come from;
- ``[numbers]``: the stored numbers of that fit (``system``, ``mean``, the 90% interval ``lower`` and ``upper`` of
  the per-draw probability, and ``mcse``, the Monte Carlo standard error of the mean), as full-precision floats;
- optionally ``supersedes = "OLD sha256:HASH"``: the record it replaces, pinned by the sha256 of its bytes.

Records are immutable like releases: written once, atomically and exclusively (a record of an existing name is
refused and nothing is written), with their sha256 in ``forecasts/registry.toml``; a record whose bytes differ from
its registered hash (any edit, of the texts or the numbers) is refused when it is read, so it cannot verify. A
changed view is a *new* record that supersedes the old one; ``show`` and ``list`` say which records are superseded
and by what.

:func:`verify_record` refits the record's citation with :func:`riskmodel.results.verify.verify` and then checks the
stored numbers against the numbers of the fit whose draws hash to the refit's (read from the fit store when it holds
that fit, else fitted): with the same riskmodel and nutpie versions the draws are bit-identical and the stored
numbers must equal the refit's; otherwise they must lie within 3 Monte Carlo standard errors of them. Any mismatch is
one :class:`RecordError` line.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import math
import os
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w

from riskmodel.data.registry import atomic_write, check_name, data_root, read_file, sha256_bytes
from riskmodel.errors import CitationError, RegistryError, RiskmodelError

if TYPE_CHECKING:
    from riskmodel.results.result import FitResult

__all__ = [
    "ForecastRecord",
    "RecordError",
    "RecordVerification",
    "list_records",
    "load_record",
    "make_record",
    "parse_record",
    "record_numbers",
    "record_path",
    "records_dir",
    "registered",
    "registry_path",
    "superseded_by",
    "verify_record",
    "write_record",
]

_TEXT_FIELDS = ("question", "quantity", "resolution", "forecaster")
_TOP_FIELDS = {"name", "created", "horizon", "citation", "supersedes", "numbers", *_TEXT_FIELDS}
_NUMBER_FIELDS = {"system", "mean", "lower", "upper", "mcse"}
_SUPERSEDES_RE = re.compile(r"^(?P<name>[a-z0-9][a-z0-9_-]{0,63}) sha256:(?P<sha>[0-9a-f]{64})$")
_MAX_TEXT = 8000


class RecordError(RiskmodelError):
    """A forecast record that is malformed, exists already, or whose citation or numbers do not verify."""


@dataclass(frozen=True)
class ForecastRecord:
    """One forecast record (module docstring); ``sha256`` and ``path`` say which file it was read from."""

    name: str
    question: str
    quantity: str
    resolution: str
    horizon: str
    forecaster: str
    created: str
    citation: str
    system: str
    mean: float
    lower: float
    upper: float
    mcse: float
    supersedes: str = ""
    sha256: str = ""
    path: str = ""

    @property
    def supersedes_name(self) -> str:
        """The name of the record this one replaces (empty when none)."""
        return self.supersedes.partition(" ")[0]

    def to_toml(self) -> str:
        """The record file's text (``parse_record`` round-trips it)."""
        doc: dict[str, Any] = {
            "name": self.name,
            "created": self.created,
            "forecaster": self.forecaster,
            "question": self.question,
            "quantity": self.quantity,
            "resolution": self.resolution,
            "horizon": self.horizon,
        }
        if self.supersedes:
            doc["supersedes"] = self.supersedes
        doc["citation"] = self.citation
        doc["numbers"] = {
            "system": self.system,
            "mean": float(self.mean),
            "lower": float(self.lower),
            "upper": float(self.upper),
            "mcse": float(self.mcse),
        }
        header = (
            "# Forecast record written by `riskmodel forecast new`. Never edit it: records are immutable.\n"
            "# To change the forecast, write a new record with --supersedes "
            f"{self.name}. Check it with: riskmodel forecast verify {self.name}\n"
        )
        return header + tomli_w.dumps(doc)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "name": self.name,
            "question": self.question,
            "quantity": self.quantity,
            "resolution": self.resolution,
            "horizon": self.horizon,
            "forecaster": self.forecaster,
            "created": self.created,
            "supersedes": self.supersedes or None,
            "citation": self.citation,
            "numbers": {
                "system": self.system,
                "mean": self.mean,
                "lower": self.lower,
                "upper": self.upper,
                "mcse": self.mcse,
            },
            "sha256": self.sha256,
            "path": self.path,
        }


def records_dir(root: Path | None = None) -> Path:
    """The folder of forecast records: ``forecasts/`` under the data root."""
    return (root or data_root()) / "forecasts"


def record_path(name: str, root: Path | None = None) -> Path:
    """Where the record ``name`` lives (the name is checked: no path separators)."""
    try:
        check_name(name, field="name")
    except RegistryError as exc:
        raise RecordError(exc.reason, field="name") from None
    return records_dir(root) / f"{name}.toml"


def _text(doc: dict[str, Any], key: str, file: str, *, prefix: str = "") -> str:
    v = doc.get(key)
    if isinstance(v, dt.date):
        v = v.isoformat()
    if not isinstance(v, str) or not v.strip():
        raise RecordError(
            "missing field" if key not in doc else "must be a non-empty string", file=file, field=prefix + key
        )
    if len(v) > _MAX_TEXT or ("\n" in v and key == "citation"):
        raise RecordError(f"must be one line of at most {_MAX_TEXT} characters", file=file, field=prefix + key)
    return v.strip()


def _date(text: str, file: str | None, field: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise RecordError(f"must be a date YYYY-MM-DD, got {text!r}", file=file, field=field) from None


def _number(doc: dict[str, Any], key: str, file: str) -> float:
    v = doc.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise RecordError(f"must be a finite number, got {v!r}", file=file, field=f"numbers.{key}")
    return float(v)


def parse_record(data: bytes | str, *, file: str = "<record>") -> ForecastRecord:
    """Parse and check a record's content; every problem is one :class:`RecordError` line."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        raise RecordError(f"not valid TOML ({str(exc)[:200]})", file=file) from None
    unknown = sorted(set(doc) - _TOP_FIELDS)
    if unknown:
        raise RecordError(f"unknown field {unknown[0]!r}", file=file)
    name = _text(doc, "name", file)
    try:
        check_name(name, field="name")
    except RegistryError as exc:
        raise RecordError(exc.reason, file=file, field="name") from None
    texts = {k: _text(doc, k, file) for k in _TEXT_FIELDS}
    created = _date(_text(doc, "created", file), file, "created")
    horizon = _date(_text(doc, "horizon", file), file, "horizon")
    citation = _text(doc, "citation", file)
    supersedes = ""
    if "supersedes" in doc:
        supersedes = _text(doc, "supersedes", file)
        if not _SUPERSEDES_RE.match(supersedes):
            raise RecordError("must be 'NAME sha256:HASH' (the record it replaces)", file=file, field="supersedes")
        if supersedes.partition(" ")[0] == name:
            raise RecordError("a record cannot supersede itself", file=file, field="supersedes")
    nums = doc.get("numbers")
    if not isinstance(nums, dict):
        raise RecordError("missing [numbers] table", file=file, field="numbers")
    unknown = sorted(set(nums) - _NUMBER_FIELDS)
    if unknown:
        raise RecordError(f"unknown field {unknown[0]!r}", file=file, field="numbers")
    system = _text(nums, "system", file, prefix="numbers.")
    mean, lower, upper, mcse = (_number(nums, k, file) for k in ("mean", "lower", "upper", "mcse"))
    if not (0 <= lower <= upper <= 1 and 0 <= mean <= 1 and mcse >= 0):
        raise RecordError(
            "the stored numbers are not a probability, its interval and an MCSE", file=file, field="numbers"
        )
    return ForecastRecord(
        name=name,
        created=created,
        horizon=horizon,
        citation=citation,
        supersedes=supersedes,
        system=system,
        mean=mean,
        lower=lower,
        upper=upper,
        mcse=mcse,
        sha256=sha256_bytes(raw),
        path=file,
        **texts,
    )


def load_record(name: str, root: Path | None = None) -> ForecastRecord:
    """Read the record ``name`` from ``forecasts/`` (a one-line error when it does not exist or is malformed)."""
    path = record_path(name, root)
    if not path.is_file():
        known = ", ".join(r.name for r in list_records(root)) or "none"
        raise RecordError(f"no forecast record {name!r} (records: {known})", file=str(path))
    try:
        data = read_file(path, kind="forecasts")
    except RiskmodelError as exc:
        raise RecordError(exc.reason, file=str(path)) from None
    known = registered(root).get(name)
    if known is None:
        raise RecordError(
            "not a registered record (records are written by riskmodel forecast new, never by hand)", file=str(path)
        )
    digest = sha256_bytes(data)
    if digest != known:
        raise RecordError(
            f"bytes differ from the registered sha256 {known[:12]}... (now {digest[:12]}...): a record must never "
            "change; restore it, or write a new record with --supersedes",
            file=str(path),
            field="sha256",
        )
    rec = parse_record(data, file=str(path))
    if rec.name != name:
        raise RecordError(f"file says name {rec.name!r} but is {name}.toml", file=str(path), field="name")
    return rec


def list_records(root: Path | None = None) -> list[ForecastRecord]:
    """Every record in ``forecasts/``, by name (files that are not records are reported as errors)."""
    folder = records_dir(root)
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(p for p in folder.glob("*.toml") if p.name != REGISTRY_FILE):
        try:
            data = read_file(path, kind="forecasts")
        except RiskmodelError as exc:
            raise RecordError(exc.reason, file=str(path)) from None
        out.append(parse_record(data, file=str(path)))
    return out


def superseded_by(name: str, records: list[ForecastRecord]) -> list[str]:
    """Names of the records that say they supersede ``name``."""
    return [r.name for r in records if r.supersedes_name == name]


def record_numbers(result: FitResult) -> dict[str, float]:
    """The numbers a record stores for a fit: mean, 90% interval and MCSE of P(worst case) for its system."""
    from riskmodel.model.summaries import mcse_of_mean, summarize

    da = result.quantities["p_worst_case"].sel(system=result.system).transpose("chain", "draw")
    s = summarize(da)
    return {"mean": s.mean, "lower": s.lower, "upper": s.upper, "mcse": mcse_of_mean(da)}


def check_new(
    name: str,
    *,
    question: str,
    quantity: str,
    resolution: str,
    horizon: str,
    forecaster: str,
    supersedes: str | None = None,
    root: Path | None = None,
) -> str:
    """Check the inputs of a new record before anything is fitted; returns the ``supersedes`` link (or "").

    The name must be new (records are never overwritten), every text field non-empty, the horizon a date after
    today, and a superseded record must exist.
    """
    path = record_path(name, root)
    if path.exists() or name in registered(root):
        raise RecordError(
            f"a record {name!r} exists already: records are never overwritten; write a new record with "
            f"--supersedes {name}",
            file=str(path),
        )
    for key, value in (("question", question), ("quantity", quantity), ("resolution", resolution)):
        if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TEXT:
            raise RecordError(f"must be a non-empty text of at most {_MAX_TEXT} characters", field=key)
    if not isinstance(forecaster, str) or not forecaster.strip() or len(forecaster) > _MAX_TEXT:
        raise RecordError("must name who makes the forecast", field="forecaster")
    when = _date(str(horizon), None, "horizon")
    if dt.date.fromisoformat(when) <= dt.date.today():
        raise RecordError(f"the resolution date {when} must lie after today", field="horizon")
    if not supersedes:
        return ""
    old = load_record(supersedes, root)
    return f"{old.name} sha256:{old.sha256}"


def make_record(
    name: str,
    result: FitResult,
    *,
    question: str,
    quantity: str,
    resolution: str,
    horizon: str,
    forecaster: str,
    supersedes: str = "",
) -> ForecastRecord:
    """The record of an exact, citable fit (not written); ``supersedes`` is ``"OLD sha256:HASH"`` or empty."""
    citation = result.citation()  # raises a one-line error for a fit that cannot be cited
    nums = record_numbers(result)
    text = ForecastRecord(
        name=name,
        question=question.strip(),
        quantity=quantity.strip(),
        resolution=resolution.strip(),
        horizon=_date(str(horizon), None, "horizon"),
        forecaster=forecaster.strip(),
        created=dt.date.today().isoformat(),
        citation=citation,
        system=result.system,
        supersedes=supersedes,
        **nums,
    ).to_toml()
    return parse_record(text, file=f"forecasts/{name}.toml")


#: The registry of record hashes inside ``forecasts/`` (written by riskmodel, never by hand).
REGISTRY_FILE = "registry.toml"


def registry_path(root: Path | None = None) -> Path:
    """Path of the records' registry: every record's name, sha256 and creation date."""
    return records_dir(root) / REGISTRY_FILE


def registered(root: Path | None = None) -> dict[str, str]:
    """Name -> registered sha256 of every record (empty when there is no registry yet)."""
    path = registry_path(root)
    if not path.is_file():
        return {}
    try:
        doc = tomllib.loads(read_file(path, kind="forecasts").decode("utf-8"))
    except RiskmodelError as exc:
        raise RecordError(exc.reason, file=str(path)) from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        raise RecordError(f"not valid TOML ({str(exc)[:200]})", file=str(path)) from None
    rows = doc.get("record", [])
    if not isinstance(rows, list):
        raise RecordError("must be an array of [[record]] tables", file=str(path), field="record")
    out = {}
    for i, row in enumerate(rows):
        if not (isinstance(row, dict) and isinstance(row.get("name"), str) and isinstance(row.get("sha256"), str)):
            raise RecordError("must be a table with name and sha256", file=str(path), field=f"record[{i}]")
        out[row["name"]] = row["sha256"]
    return out


@contextlib.contextmanager
def _locked(root: Path | None) -> Iterator[None]:
    """Hold the records' registry lock (one writer at a time)."""
    folder = records_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".registry.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def write_record(record: ForecastRecord, root: Path | None = None) -> ForecastRecord:
    """Write a record atomically and exclusively, and register its sha256; an existing record is never replaced.

    The record file goes only together with its registry entry: when either write fails, neither is left.
    """
    path = record_path(record.name, root)
    data = record.to_toml().encode()
    try:
        with _locked(root):
            known = registered(root)
            if record.name in known:
                raise FileExistsError(str(path))
            atomic_write(path, data, exclusive=True)
            try:
                rows = [{"name": n, "sha256": h} for n, h in sorted({**known, record.name: sha256_bytes(data)}.items())]
                header = (
                    "# Registry of forecast records: written by riskmodel, never by hand.\n"
                    "# A record whose bytes differ from its sha256 here does not verify.\n"
                )
                atomic_write(
                    registry_path(root), header.encode() + tomli_w.dumps({"record": rows}).encode(), exclusive=False
                )
            except BaseException:
                with contextlib.suppress(OSError):
                    path.unlink()
                raise
    except FileExistsError:
        raise RecordError(
            "exists already: records are never overwritten; write a new record with --supersedes", file=str(path)
        ) from None
    except OSError as exc:
        raise RecordError(
            f"cannot write the record ({exc.strerror or type(exc).__name__}); nothing was written", file=str(path)
        ) from None
    return parse_record(data, file=str(path))


@dataclass(frozen=True)
class RecordVerification:
    """What :func:`verify_record` checked for one record."""

    name: str
    citation_method: str
    numbers_method: str
    bit_identical: bool | None
    refit_line: str
    warnings: tuple[str, ...] = ()


def _mcse_of_summaries(result: FitResult) -> dict[str, float]:
    """Monte Carlo standard errors of the mean and of the 5% and 95% quantiles of P(worst case) (ArviZ)."""
    from arviz_stats.base import array_stats

    x = result.quantities["p_worst_case"].sel(system=result.system).transpose("chain", "draw").values
    out = {"mean": float(array_stats.mcse(x, chain_axis=0, draw_axis=1, method="mean"))}
    for key, prob in (("lower", 0.05), ("upper", 0.95)):
        out[key] = float(array_stats.mcse(x, chain_axis=0, draw_axis=1, method="quantile", prob=prob))
    return {k: v if math.isfinite(v) else 0.0 for k, v in out.items()}


def _rounding(text: str) -> float:
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (-decimals + (int(exponent) if exponent else 0))


def verify_record(
    record: str | ForecastRecord, *, root: Path | None = None, progress: bool = False
) -> RecordVerification:
    """Refit a record's citation and check its stored numbers (module docstring); one :class:`RecordError` if not.

    Checks, in order: the record parses; a superseded record exists with the pinned hash; the stored numbers round to
    the cited ones and name the cited system; the citation verifies (:func:`riskmodel.results.verify.verify`); the
    stored numbers equal those of the fit whose draws hash to the refit's (within 3 MCSE when the versions differ).
    """
    from riskmodel.results.citation import parse_citation
    from riskmodel.results.result import fit
    from riskmodel.results.verify import cited_evidence, refit_settings, verify

    rec = load_record(record, root) if isinstance(record, str) else record
    file = rec.path or str(record_path(rec.name, root))
    if rec.supersedes:
        old_name, _, sha = rec.supersedes.partition(" sha256:")
        old = load_record(old_name, root)
        if old.sha256 != sha:
            raise RecordError(
                f"supersedes {old_name} sha256:{sha[:12]}..., but that record is now sha256:{old.sha256[:12]}... "
                "(it was changed after it was superseded)",
                file=file,
                field="supersedes",
            )
    try:
        cit = parse_citation(rec.citation)
    except RiskmodelError as exc:
        raise RecordError(f"the citation does not parse ({exc.reason})", file=file, field="citation") from None
    if cit.system != rec.system:
        raise RecordError(
            f"the numbers are for system {rec.system!r} but the citation is of {cit.system!r}",
            file=file,
            field="numbers",
        )
    for key, text in (("mean", cit.mean_text), ("lower", cit.lower_text), ("upper", cit.upper_text)):
        stored = getattr(rec, key)
        if not abs(stored - getattr(cit, key)) <= _rounding(text) * (1 + 1e-9):
            raise RecordError(
                f"stored {key} {stored:.4g} is not the cited {text}: the numbers are not those of the cited fit",
                file=file,
                field=f"numbers.{key}",
            )
    try:
        v = verify(rec.citation, progress=progress)
    except CitationError as exc:  # a line that cannot be checked; a sampler failure stays what it is (FitError)
        raise RecordError(f"the citation does not verify ({exc.line()})", file=file, field="citation") from None
    if not v.matches:
        raise RecordError(f"the citation does not verify: {'; '.join(v.differences)}", file=file, field="citation")
    evidence = cited_evidence(cit)
    result = fit(cit.priors, evidence, **refit_settings(cit), progress=progress)
    same_draws = bool(v.bit_identical) and result.draws_sha256.startswith(cit.draws_sha)
    new = record_numbers(result)
    tols = _mcse_of_summaries(result) if not same_draws else {}
    for key in ("mean", "lower", "upper", "mcse"):
        stored, got = getattr(rec, key), new[key]
        if same_draws:
            ok = math.isclose(stored, got, rel_tol=1e-12, abs_tol=1e-15)
            how = "equal (bit-identical draws)"
        else:  # another fit of the same model: its MCSE is an estimate too, so only the summaries are compared
            ok = key == "mcse" or abs(stored - got) <= 3 * tols[key]
            how = "within 3 MCSE (other versions)"
        if not ok:
            raise RecordError(
                f"stored {key} {stored!r} differs from the refit's {got!r} (must be {how})",
                file=file,
                field=f"numbers.{key}",
            )
    how = (
        "stored mean, interval and MCSE equal the refit's (bit-identical draws)"
        if same_draws
        else "stored mean and 90% interval within 3 MCSE of the refit's (other versions)"
    )
    return RecordVerification(rec.name, v.method, how, v.bit_identical, v.refit_line, v.warnings)

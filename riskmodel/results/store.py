"""The fit store: exact fits kept on disk, content-addressed by everything that determines their draws.

A stored fit is found by its key (:func:`fit_key`: model version, prior set sha256, evidence file sha256 and subset,
seed, chains, draws, tune, sampler settings, the sampler, its version and those of the libraries that determine its
draws, and the package version) and by nothing else. An entry is one
netCDF file holding the sampler's output (posterior, sample statistics) and the diagnostics; the generated copies and
the prior draws are recomputed from the seed when it is read (they are deterministic), so entries stay small. Reading
an entry needs neither PyMC nor the sampler.

- Location: ``$RISKMODEL_CACHE_DIR``, else the user cache directory (``platformdirs``), under ``fits/``; every
  fitting command takes ``--cache-dir`` and ``--no-cache``.
- Integrity: an entry carries the sha256 of its draws; one whose draws do not hash to it (corrupt or truncated) is
  reported in one line, deleted and refitted.
- Writes are atomic (a temporary file renamed into place), so two processes writing the same key leave one valid
  entry.
- Size: at most :data:`DEFAULT_MAX_BYTES` (``$RISKMODEL_CACHE_MAX_MB`` overrides); least recently used entries are
  evicted first (reading an entry marks it used).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskmodel.errors import InputError

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "DEFAULT_MAX_BYTES",
    "StoreEntry",
    "cache_dir",
    "clear",
    "entries",
    "fit_key",
    "max_bytes",
    "read",
    "read_report",
    "total_bytes",
    "write",
    "write_report",
]

#: Default size cap of the store (least recently used entries are evicted beyond it).
DEFAULT_MAX_BYTES = 2 * 1024**3
_SUFFIX = ".nc"


class StoreWarning(UserWarning):
    """A stored fit could not be used (it is refitted); the message is one line."""


def cache_dir(override: str | Path | None = None) -> Path:
    """Where stored fits live: ``override``, ``$RISKMODEL_CACHE_DIR``, or the user cache directory, plus ``fits/``."""
    if override is not None:
        base = Path(override)
    elif os.environ.get("RISKMODEL_CACHE_DIR"):
        base = Path(os.environ["RISKMODEL_CACHE_DIR"])
    else:
        import platformdirs

        base = Path(platformdirs.user_cache_dir("riskmodel"))
    return base / "fits"


def max_bytes() -> int:
    """The store's size cap in bytes: ``$RISKMODEL_CACHE_MAX_MB`` megabytes, else :data:`DEFAULT_MAX_BYTES`.

    Beyond it, least recently used entries are evicted after each write; 0 keeps nothing.
    """
    raw = os.environ.get("RISKMODEL_CACHE_MAX_MB")
    if raw is None:
        return DEFAULT_MAX_BYTES
    try:
        mb = float(raw)
    except ValueError:
        raise InputError(f"must be a number of megabytes, got {raw!r}", field="RISKMODEL_CACHE_MAX_MB") from None
    if not 0 <= mb <= 1e7:
        raise InputError(f"must be from 0 to 1e7 megabytes, got {raw!r}", field="RISKMODEL_CACHE_MAX_MB")
    return int(mb * 1024**2)


def fit_key(settings: dict[str, Any]) -> str:
    """The content address of a fit: the sha256 of everything that determines its draws (a JSON document)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class StoreEntry:
    """One stored fit: its key, file, size, last use and what it is a fit of."""

    key: str
    path: Path
    bytes: int
    last_used: float
    label: str


def entries(directory: str | Path | None = None) -> list[StoreEntry]:
    """Every stored fit, most recently used first."""
    root = cache_dir(directory)
    if not root.is_dir():
        return []
    out = []
    for path in root.glob(f"*{_SUFFIX}"):
        try:
            st = path.stat()
        except OSError:
            continue
        label_path = path.with_suffix(".json")
        try:
            label = json.loads(label_path.read_text()).get("label", "")
        except (OSError, ValueError):
            label = ""
        out.append(StoreEntry(path.stem, path, st.st_size, st.st_mtime, label))
    return sorted(out, key=lambda e: -e.last_used)


def total_bytes(directory: str | Path | None = None) -> int:
    """Bytes held by the stored fits (what the size cap counts)."""
    return sum(e.bytes for e in entries(directory))


#: A temporary file of a write older than this (seconds) belongs to a writer that died: ``clear`` removes it.
STALE_TMP_SECONDS = 3600.0


def _stale_tmp(root: Path, now: float) -> list[Path]:
    """Temporary files left by writers that were killed mid-write (older than :data:`STALE_TMP_SECONDS`)."""
    out = []
    for p in root.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if now - p.stat().st_mtime > STALE_TMP_SECONDS:
                out.append(p)
    return out


def _remove(path: Path) -> None:
    for p in (path, path.with_suffix(".json"), *path.parent.glob(f"{path.stem}.*.report")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def clear(directory: str | Path | None = None, *, older_than_days: float | None = None) -> list[StoreEntry]:
    """Delete stored fits (those not used for ``older_than_days`` days, or all); returns what was deleted.

    Temporary files of writes that died more than an hour ago go too (they are not entries and are not returned).
    """
    if older_than_days is not None and not (older_than_days >= 0):
        raise InputError(f"must be a number of days >= 0, got {older_than_days!r}", field="older-than")
    now = time.time()
    cutoff = None if older_than_days is None else now - older_than_days * 86400
    root = cache_dir(directory)
    if root.is_dir():
        for p in _stale_tmp(root, now):
            with contextlib.suppress(OSError):
                p.unlink()
    gone = []
    for e in entries(directory):
        if cutoff is None or e.last_used < cutoff:
            _remove(e.path)
            gone.append(e)
    return gone


def is_stored(key: str, directory: str | Path | None = None) -> bool:
    """Whether the store holds an entry for ``key`` (its integrity is checked only when it is read)."""
    return (cache_dir(directory) / f"{key}{_SUFFIX}").is_file()


def read(key: str, expected_draws_sha256: str | None, directory: str | Path | None = None) -> tuple[Any, dict] | None:
    """The stored sampler output (``xarray.DataTree``) and metadata of ``key``, or None when there is none.

    An entry that cannot be read, or whose draws do not hash to the recorded sha256 (``check`` is done by the
    caller, which knows how the draws are assembled), is reported once (a :class:`StoreWarning`), deleted and
    treated as missing.
    """
    import xarray as xr

    path = cache_dir(directory) / f"{key}{_SUFFIX}"
    if not path.is_file():
        return None
    # Read through a private hard link: xarray keeps netCDF handles open in a process-wide cache keyed by path, so
    # opening the entry's own path again could return a handle to the bytes it held before it was rewritten (stale
    # draws, or an error for a truncated file). The data are loaded and the handle closed before the link goes.
    alias = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.read.tmp")  # cleaned if left
    try:
        try:
            os.link(path, alias)
        except OSError:
            shutil.copyfile(path, alias)
        with xr.open_datatree(alias, engine="netcdf4") as opened:
            tree = opened.load()
        meta = json.loads(tree.attrs["riskmodel_store"])
    except Exception as exc:  # any unreadable entry is discarded, never trusted
        warnings.warn(f"discarded a corrupt stored fit {path.name} ({type(exc).__name__}); refitting", StoreWarning, 2)
        _remove(path)
        return None
    finally:
        with contextlib.suppress(OSError):
            alias.unlink()
    with contextlib.suppress(OSError):
        os.utime(path)  # least recently used eviction
    return tree, meta


def discard(key: str, reason: str, directory: str | Path | None = None) -> None:
    """Delete an entry that failed its integrity check, saying why in one line."""
    path = cache_dir(directory) / f"{key}{_SUFFIX}"
    warnings.warn(f"discarded stored fit {path.name}: {reason}; refitting", StoreWarning, 2)
    _remove(path)


def write(key: str, tree: xr.DataTree, meta: dict[str, Any], label: str, directory: str | Path | None = None) -> None:
    """Store a fit under ``key`` atomically, then evict least recently used entries beyond the size cap.

    A store that cannot be written (read-only or full disk) costs only speed: the failure is one warning line. A bad
    ``$RISKMODEL_CACHE_MAX_MB`` raises :class:`~riskmodel.errors.InputError` before anything is written.
    """
    cap = max_bytes()
    root = cache_dir(directory)
    path = root / f"{key}{_SUFFIX}"
    tmp = root / f".{key}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    try:
        root.mkdir(parents=True, exist_ok=True)
        out = tree.copy()
        out.attrs = {**out.attrs, "riskmodel_store": json.dumps(meta)}
        out.to_netcdf(tmp, engine="netcdf4")
        os.replace(tmp, path)
        path.with_suffix(".json").write_text(json.dumps({"label": label, "key": key}))
    except OSError as exc:
        warnings.warn(f"could not store the fit in {root} ({exc.strerror or exc}); it is not kept", StoreWarning, 2)
        with contextlib.suppress(OSError):
            tmp.unlink()
        return
    _evict(root, cap)


def read_report(key: str, name: str, directory: str | Path | None = None) -> dict[str, Any] | None:
    """A report stored beside the fit ``key`` (``name`` says which), or None."""
    path = cache_dir(directory) / f"{key}.{name}.report"
    if not (cache_dir(directory) / f"{key}{_SUFFIX}").is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_report(key: str, name: str, report: dict[str, Any], directory: str | Path | None = None) -> None:
    """Keep a report beside its fit (atomically); a failure costs only speed."""
    root = cache_dir(directory)
    tmp = root / f".{key}.{name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    try:
        tmp.write_text(json.dumps(report))
        os.replace(tmp, root / f"{key}.{name}.report")
    except (OSError, TypeError, ValueError):
        with contextlib.suppress(OSError):
            tmp.unlink()


def _evict(root: Path, cap: int) -> None:
    total = 0
    for e in entries(root.parent):
        total += e.bytes
        if total > cap:
            _remove(e.path)

"""Versioned, hashed, immutable files: the one mechanism that prior sets and evidence sets both use.

A *store* is a folder (``priors/`` or ``evidence/``) holding one file per released version, ``NAME/VERSION.toml``, and
a ``registry.toml`` that records each release's sha256. Loading a released version whose bytes differ from the
registered hash fails loudly; releasing never overwrites a file (it is created exclusively, written to a temporary
file, fsynced and renamed), and concurrent releases are serialized by a lock on the registry.

Saves survive faults: a release is renamed into place only together with its registry entry. When anything fails
(a full disk, a read-only folder, an I/O error) the release file, a folder created for it and every temporary file
are removed, and the failure is one :class:`~riskmodel.errors.RegistryError` line naming the file. Temporary files
left by a process that was killed mid-save are ignored by every reader and removed by the next release. Released files
and the registry get the permissions of their folder (read and write bits), never the 0600 of a temporary file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import os
import re
import stat
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from riskmodel.errors import RegistryError, RiskmodelError

__all__ = [
    "DEFAULT_EVIDENCE",
    "DEFAULT_PRIORS",
    "MAX_FILE_BYTES",
    "Release",
    "Store",
    "atomic_write",
    "data_root",
    "folder_mode",
    "format_version",
    "load_versioned",
    "parse_ref",
    "parse_version",
    "parse_versioned_toml",
    "read_file",
    "sha256_bytes",
]

#: The prior set and evidence set a fit uses unless told otherwise: named explicitly, never "the latest release",
#: so that releasing a new version of a set never changes anyone's default.
DEFAULT_PRIORS = "baseline@2.0.0"
DEFAULT_EVIDENCE = "published-evals@2.0.0"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_VERSION_RE = re.compile(r"^(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})$")
REGISTRY_FILE = "registry.toml"


def data_root() -> Path:
    """Folder that holds ``priors/`` and ``evidence/``.

    ``RISKMODEL_DATA`` wins; otherwise the checkout this package was installed from (an editable install), otherwise
    the current directory.
    """
    env = os.environ.get("RISKMODEL_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[2]  # riskmodel/data/registry.py -> the checkout
    if (here / "priors" / REGISTRY_FILE).is_file():
        return here
    return Path.cwd()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def parse_version(text: str, *, file: str | None = None, field: str = "version") -> tuple[int, int, int]:
    """Parse a semantic version ``MAJOR.MINOR.PATCH`` into a tuple, or raise a :class:`RegistryError`."""
    m = _VERSION_RE.match(text) if isinstance(text, str) else None
    if not m:
        raise RegistryError(f"{text!r} is not a semantic version MAJOR.MINOR.PATCH", file=file, field=field)
    return int(m[1]), int(m[2]), int(m[3])


def format_version(v: tuple[int, int, int]) -> str:
    """Format a version tuple as ``MAJOR.MINOR.PATCH``."""
    return ".".join(str(x) for x in v)


def check_name(name: str, *, file: str | None = None, field: str = "name") -> str:
    """Validate a set name (lower-case letters, digits, ``-`` and ``_``; no path separators)."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise RegistryError(
            f"{name!r} is not a valid name (lower-case letters, digits, '-' or '_', at most 64 characters)",
            file=file,
            field=field,
        )
    return name


def parse_ref(ref: str, *, kind: str) -> tuple[str, str | None]:
    """Split ``NAME@VERSION`` (or ``NAME``, meaning the latest release) into its parts."""
    if not isinstance(ref, str) or ref.count("@") > 1:
        raise RegistryError(f"{ref!r} is not NAME or NAME@VERSION", field=kind)
    name, _, version = ref.partition("@")
    check_name(name, field=kind)
    if version and version != "latest":
        parse_version(version, field=kind)
        return name, version
    return name, None


#: The largest file riskmodel reads (the default evidence is about 0.6 MB).
MAX_FILE_BYTES = 16 * 1024**2
#: The deepest nesting of arrays and tables a versioned file may have (the files use 3).
MAX_NESTING = 32


def read_file(path: Path, *, kind: str, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``, or a one-line error (never a hang on a FIFO or device)."""
    import stat as stat_mod

    from riskmodel.errors import InputError

    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or exc})", file=str(path), field=kind) from None
    if not stat_mod.S_ISREG(st.st_mode):
        raise InputError(
            "not a regular file (a directory, pipe or device cannot be a prior or evidence file)",
            file=str(path),
            field=kind,
        )
    if st.st_size > max_bytes:
        raise InputError(
            f"{st.st_size} bytes: larger than the {max_bytes} a {kind} file may have", file=str(path), field=kind
        )
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or exc})", file=str(path), field=kind) from None
    if len(data) > max_bytes:
        raise InputError(f"larger than the {max_bytes} bytes a {kind} file may have", file=str(path), field=kind)
    return data


def _nesting(text: str) -> int:
    """Deepest nesting of brackets and braces outside strings and comments (guards the TOML parser's recursion)."""
    depth = best = 0
    quote = ""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif ch in "[{":
            depth += 1
            best = max(best, depth)
            if best > MAX_NESTING:
                return best
        elif ch in "]}":
            depth -= 1
        i += 1
    return best


def parse_versioned_toml(
    text: str | bytes, *, file: str, error: type[RiskmodelError], sha256: str = ""
) -> tuple[dict[str, Any], str]:
    """Decode and parse the content of a versioned file and check its name and version.

    Returns the TOML document and the sha256 of its bytes; every problem is raised as a one-line ``error``.
    """
    if isinstance(text, bytes):
        sha256 = sha256 or sha256_bytes(text)
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise error("not UTF-8 text", file=file) from None
    else:
        sha256 = sha256 or sha256_bytes(text.encode("utf-8"))
    if _nesting(text) > MAX_NESTING:
        raise error(f"nested more than {MAX_NESTING} levels deep: not a riskmodel file", file=file)
    try:
        doc = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise error(f"not valid TOML ({str(exc)[:200]})", file=file) from None
    try:
        for key in ("name", "version"):
            if not isinstance(doc.get(key), str):
                raise error("missing field" if key not in doc else "must be a string", file=file, field=key)
        check_name(doc["name"], file=file)
        parse_version(doc["version"], file=file)
    except RegistryError as exc:
        raise error(exc.reason, file=file, field=exc.field) from None
    return doc, sha256


def load_versioned[T](ref: str | Path, store: Store, parse: Callable[..., T], error: type[RiskmodelError]) -> T:
    """Load a versioned file: a path (unreleased), or ``NAME@VERSION`` / ``NAME`` from ``store`` (hash-checked).

    ``parse(data, file=..., sha256=..., released=...)`` validates the content; a released file must say the name and
    version it is registered under.
    """
    text = str(ref)
    if isinstance(ref, Path) or text.endswith(".toml") or "/" in text:
        try:
            data = read_file(Path(text), kind=store.kind)
        except RiskmodelError as exc:
            raise error(exc.reason, file=text) from None
        return parse(data, file=text)
    rel = store.resolve(text)
    path = str(store.root / rel.path)
    data = store.read(rel)  # checks the bytes against the registered hash, every time
    key = (parse, path, rel.sha256)
    obj = _PARSED.get(key)
    if obj is None:
        obj = parse(data, file=path, sha256=rel.sha256, released=True)
        if (obj.name, obj.version) != (rel.name, rel.version):  # type: ignore[attr-defined]
            raise error(f"file says {obj.ref} but is registered as {rel.ref}", file=path, field="version")  # type: ignore[attr-defined]
        if len(_PARSED) >= 64:
            _PARSED.clear()
        _PARSED[key] = obj
    return obj


#: Parsed released files by (parser, path, sha256). A pure memo: a released file's verified bytes decide its parse,
#: and the parsed sets are immutable. It saves the explorer re-validating the same files on every rerun.
_PARSED: dict[tuple[Any, str, str], Any] = {}


@dataclass(frozen=True)
class Release:
    """One released file: its name, version, path relative to the store, hash and status."""

    name: str
    version: str
    path: str
    sha256: str
    released: str
    deprecated: str = ""

    @property
    def ref(self) -> str:
        """``NAME@VERSION``."""
        return f"{self.name}@{self.version}"

    @property
    def key(self) -> tuple[str, tuple[int, int, int]]:
        """Sort key: name, then semantic version."""
        return self.name, parse_version(self.version)


def folder_mode(folder: Path) -> int:
    """The read and write permission bits of ``folder`` (what a file written into it gets: 0o755 gives 0o644)."""
    return stat.S_IMODE(os.stat(folder).st_mode) & 0o666


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` (``os.write`` may write fewer; a full disk raises ``ENOSPC``)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(folder: Path) -> None:
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


#: Names of the temporary files :func:`atomic_write` creates next to ``NAME``: ``.NAME.RANDOM.tmp``.
def _tmp_prefix(name: str) -> str:
    return f".{name}."


def atomic_write(path: Path, data: bytes, *, exclusive: bool) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync and rename, so readers never see a partial file.

    With ``exclusive`` the call fails (``FileExistsError``) rather than replace an existing file. The file gets the
    read and write permissions of its folder (:func:`folder_mode`). On any failure (``OSError`` such as a full disk,
    or an interrupt) nothing is left behind: neither the temporary file nor, with ``exclusive``, ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_tmp_prefix(path.name), suffix=".tmp")
    linked = False
    try:
        try:
            # mkstemp creates the file readable by its owner only; a release is read by everyone who can read the folder
            os.fchmod(fd, folder_mode(path.parent))
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if exclusive:
            os.link(tmp, path)  # fails with FileExistsError instead of replacing
            linked = True
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if linked:  # the file is ours: a failed exclusive write leaves nothing
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        raise


_STALE_TMP_RE = re.compile(r"^\.(registry|(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5}))\.toml\..+\.tmp$")


@contextlib.contextmanager
def _os_errors(kind: str, path: Path) -> Iterator[None]:
    """Turn an ``OSError`` of a save (full disk, read-only folder, permission, I/O) into one :class:`RegistryError`."""
    try:
        yield
    except RiskmodelError:
        raise
    except OSError as exc:
        where = exc.filename if isinstance(exc.filename, str) else str(path)
        raise RegistryError(
            f"cannot save to the {kind} folder ({exc.strerror or type(exc).__name__}); nothing was written",
            file=where,
        ) from None


class Store:
    """A folder of versioned files of one kind (``priors`` or ``evidence``) with its registry of hashes."""

    def __init__(self, root: Path, kind: str) -> None:
        self.root = Path(root)
        self.kind = kind

    @property
    def registry_path(self) -> Path:
        """Path of the registry file."""
        return self.root / REGISTRY_FILE

    def releases(self) -> list[Release]:
        """Every registered release, sorted by name and version."""
        path = self.registry_path
        if not path.is_file():
            raise RegistryError("registry file not found", file=str(path))
        try:
            text = read_file(path, kind=self.kind).decode("utf-8")
            if _nesting(text) > MAX_NESTING:
                raise RegistryError(f"nested more than {MAX_NESTING} levels deep", file=str(path))
            doc = tomllib.loads(text)
        except RiskmodelError as exc:
            raise RegistryError(exc.reason, file=str(path)) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise RegistryError(f"not valid TOML ({str(exc)[:200]})", file=str(path)) from None
        rows = doc.get("release", [])
        if not isinstance(rows, list):
            raise RegistryError("must be an array of [[release]] tables", file=str(path), field="release")
        out = []
        for i, row in enumerate(rows):
            field = f"release[{i}]"
            if not isinstance(row, dict):
                raise RegistryError("must be a table", file=str(path), field=field)
            try:
                rel = Release(
                    name=str(row["name"]),
                    version=str(row["version"]),
                    path=str(row["path"]),
                    sha256=str(row["sha256"]),
                    released=str(row.get("released", "")),
                    deprecated=str(row.get("deprecated", "")),
                )
            except KeyError as exc:
                raise RegistryError(f"missing field {exc.args[0]!r}", file=str(path), field=field) from None
            check_name(rel.name, file=str(path), field=f"{field}.name")
            parse_version(rel.version, file=str(path), field=f"{field}.version")
            if rel.path != f"{rel.name}/{rel.version}.toml":
                raise RegistryError(
                    f"path must be {rel.name}/{rel.version}.toml", file=str(path), field=f"{field}.path"
                )
            out.append(rel)
        return sorted(out, key=lambda r: r.key)

    def resolve(self, ref: str) -> Release:
        """Find the release named by ``NAME@VERSION`` (or the latest non-deprecated release of ``NAME``)."""
        name, version = parse_ref(ref, kind=self.kind)
        candidates = [r for r in self.releases() if r.name == name]
        if not candidates:
            known = sorted({r.name for r in self.releases()})
            raise RegistryError(f"unknown {self.kind} set {name!r} (known: {', '.join(known)})", field=self.kind)
        if version is None:
            live = [r for r in candidates if not r.deprecated] or candidates
            return live[-1]
        for r in candidates:
            if r.version == version:
                return r
        known_v = ", ".join(r.version for r in candidates)
        raise RegistryError(f"{name} has no released version {version} (released: {known_v})", field=self.kind)

    def read(self, release: Release) -> bytes:
        """The bytes of a released file, after checking them against the registered sha256."""
        path = self.root / release.path
        if not path.exists():
            raise RegistryError("released file is missing", file=str(path))
        try:
            data = read_file(path, kind=self.kind)
        except RiskmodelError as exc:
            raise RegistryError(exc.reason, file=str(path)) from None
        digest = sha256_bytes(data)
        if digest != release.sha256:
            raise RegistryError(
                f"bytes differ from the registered sha256 {release.sha256[:12]}... (now {digest[:12]}...): a released "
                "file must never change; restore it or release a new version",
                file=str(path),
                field="sha256",
            )
        return data

    def latest_version(self, name: str) -> tuple[int, int, int] | None:
        """Highest released version of ``name`` (deprecated ones included), or None."""
        versions = [r.key[1] for r in self.releases() if r.name == name]
        return max(versions) if versions else None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the registry lock; every ``OSError`` inside (a full disk, a read-only folder) is one line."""
        with _os_errors(self.kind, self.root):
            self.root.mkdir(parents=True, exist_ok=True)
            path = self.root / ".registry.lock"
            try:  # created with the folder's permissions, so that everyone who may release can take the lock
                fd = os.open(path, os.O_RDWR | os.O_CREAT, folder_mode(self.root))
            except PermissionError:
                fd = os.open(path, os.O_RDONLY)  # flock works on a read-only descriptor too
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    self._clean_stale_temporaries()
                    yield
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def _clean_stale_temporaries(self) -> None:
        """Remove temporary files of releases and registry writes a killed process left (the caller holds the lock).

        Only the registry lock's holder writes them, so any that exist now are leftovers; readers never look at them.
        """
        folders = [self.root, *(d for d in self.root.iterdir() if d.is_dir() and not d.is_symlink())]
        for folder in folders:
            for f in folder.iterdir():
                if _STALE_TMP_RE.match(f.name) and f.is_file():
                    with contextlib.suppress(OSError):
                        f.unlink()

    def _write_registry(self, releases: list[Release]) -> None:
        rows = []
        for r in sorted(releases, key=lambda r: r.key):
            row = {"name": r.name, "version": r.version, "path": r.path, "sha256": r.sha256, "released": r.released}
            if r.deprecated:
                row["deprecated"] = r.deprecated
            rows.append(row)
        header = (
            f"# Registry of released {self.kind} files: written by riskmodel, never by hand.\n"
            "# A released file whose bytes differ from its sha256 here is refused when loaded.\n"
        )
        data = header.encode() + tomli_w.dumps({"release": rows}).encode()
        atomic_write(self.registry_path, data, exclusive=False)

    def release(self, name: str, version: str, data: bytes) -> Release:
        """Write ``data`` as ``NAME/VERSION.toml`` and register its hash; refuses a name/version that exists."""
        check_name(name)
        parse_version(version)
        with self._locked():
            return self._release_locked(name, version, data)

    def release_next(self, name: str, make: Callable[[str], bytes], bump: str = "minor") -> Release:
        """Release the next version of ``name`` (``bump``: major, minor or patch; 1.0.0 for a new name).

        The version is chosen *under the registry lock* and ``make(version)`` renders the file for it, so processes
        saving at the same time each get their own version and none is refused or lost.
        """
        check_name(name)
        if bump not in ("major", "minor", "patch"):
            raise RegistryError(f"bump must be major, minor or patch, got {bump!r}", field="bump")
        with self._locked():
            latest = max((r.key[1] for r in self.releases() if r.name == name), default=None)
            if latest is None:
                version = "1.0.0"
            else:
                major, minor, patch = latest
                nxt = {"major": (major + 1, 0, 0), "minor": (major, minor + 1, 0), "patch": (major, minor, patch + 1)}
                version = format_version(nxt[bump])
            return self._release_locked(name, version, make(version))

    def _release_locked(self, name: str, version: str, data: bytes) -> Release:
        """Check, write and register one release; the caller holds the registry lock."""
        v = parse_version(version)
        rel_path = f"{name}/{version}.toml"
        existing = self.releases()
        if any(r.name == name and r.version == version for r in existing):
            raise RegistryError(f"{name}@{version} is already released; choose a new version", field="version")
        latest = max((r.key[1] for r in existing if r.name == name), default=None)
        if latest is not None and v <= latest:
            raise RegistryError(
                f"version {version} is not above the latest release {format_version(latest)} of {name}",
                field="version",
            )
        target = self.root / rel_path
        folder_created = not target.parent.exists()
        rel = Release(name, version, rel_path, sha256_bytes(data), dt.date.today().isoformat())
        adopted = False
        try:
            if folder_created:
                target.parent.mkdir()
                os.chmod(target.parent, stat.S_IMODE(os.stat(self.root).st_mode))
            try:
                atomic_write(target, data, exclusive=True)
            except FileExistsError:
                if not (target.is_file() and not target.is_symlink() and target.read_bytes() == data):
                    raise RegistryError(
                        "an unregistered file with other content already exists at this path; it is left untouched "
                        "(move it away, or release a new version)",
                        file=str(target),
                    ) from None
                adopted = True  # the same bytes a killed save of this very release left: register them
            self._write_registry([*existing, rel])
        except BaseException:
            # the release file goes only together with its registry entry: a failed save leaves nothing behind
            if not adopted:
                with contextlib.suppress(OSError):
                    if target.is_file() and target.read_bytes() == data:
                        target.unlink()
            if folder_created:
                with contextlib.suppress(OSError):
                    target.parent.rmdir()  # only when empty
            raise
        return rel

    def deprecate(self, ref: str, reason: str) -> Release:
        """Mark a release deprecated (it stays loadable and citable; it is never removed or rewritten)."""
        if not reason.strip():
            raise RegistryError("a deprecation needs a reason", field="reason")
        with self._locked():
            releases = self.releases()
            target = self.resolve(ref)
            new = Release(target.name, target.version, target.path, target.sha256, target.released, reason.strip())
            self._write_registry([new if r == target else r for r in releases])
        return new

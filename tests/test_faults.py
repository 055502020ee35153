"""Faults: Ctrl-C during a fit (a real SIGINT to a subprocess), and saves on a full disk or a read-only folder.

Saves are tested twice: with injected faults (``ENOSPC`` from ``os.write``, ``EIO`` from ``os.replace`` of the
registry, ``EROFS`` from ``mkstemp``; always run) and on a real tmpfs of a few kilobytes (a full disk, and a read-only
remount: the tests run as root, whom ``chmod`` does not stop; skipped where ``mount`` is not allowed).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from riskmodel.cli.main import INTERRUPTED_LINE, main
from riskmodel.data import registry
from tests.conftest import ROOT, snapshot

RISKMODEL = str(Path(sys.executable).with_name("riskmodel"))


def _draft(folder: Path, name: str = "fresh") -> Path:
    """A draft of a new prior set (the baseline's assumptions under a new name): its release is ``NAME@1.0.0``."""
    text = (ROOT / "priors" / "baseline" / "2.0.0.toml").read_text()
    text = re.sub(r'^name = "baseline"$', f'name = "{name}"', text, count=1, flags=re.M)
    text = re.sub(r'^version = "2.0.0"$', 'version = "0.0.0"', text, count=1, flags=re.M)
    path = folder / f"{name}-draft.toml"
    path.write_text(text)
    return path


def _release(draft: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["priors", "release", str(draft), "--author", "t", "--changelog", "a test release"])
    out, err = capsys.readouterr()
    return code, out, err


def _one_error_line(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("riskmodel: error: "), err
    assert "Traceback" not in err
    return lines[0]


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


# ------------------------------------------------------------------------------------------------ injected faults
def _fail(exc_errno: int):
    def boom(*args, **kwargs):
        raise OSError(exc_errno, os.strerror(exc_errno))

    return boom


def test_full_disk_on_write_leaves_nothing_and_the_next_save_works(data_copy, tmp_path, capsys, monkeypatch):
    """ENOSPC while writing the release file: one line, exit 2, no file, no temporary, and the save then succeeds."""
    draft = _draft(tmp_path)
    before = snapshot(data_copy / "priors")
    with monkeypatch.context() as m:
        m.setattr(registry.os, "write", _fail(errno.ENOSPC))
        line = _one_error_line(*_release(draft, capsys)[::2])
    assert "No space left on device" in line and "nothing was written" in line
    assert snapshot(data_copy / "priors") == before
    assert not (data_copy / "priors" / "fresh").exists() and not _leftovers(data_copy / "priors")
    code, out, _ = _release(draft, capsys)  # no "an unregistered file already exists": nothing was left behind
    assert code == 0 and "released fresh@1.0.0" in out


def test_failed_registry_write_removes_the_release_file(data_copy, tmp_path, capsys, monkeypatch):
    """The release file goes only together with its registry entry: a failed registry rename removes it again."""
    draft = _draft(tmp_path)
    before = snapshot(data_copy / "priors")
    with monkeypatch.context() as m:
        m.setattr(registry.os, "replace", _fail(errno.EIO))
        line = _one_error_line(*_release(draft, capsys)[::2])
    assert "Input/output error" in line
    assert snapshot(data_copy / "priors") == before and not _leftovers(data_copy / "priors")


def test_read_only_folder_is_one_line(data_copy, tmp_path, capsys, monkeypatch):
    """EROFS from creating the temporary file (what a read-only mount gives even root)."""
    draft = _draft(tmp_path)
    before = snapshot(data_copy / "priors")
    with monkeypatch.context() as m:
        m.setattr(registry.tempfile, "mkstemp", _fail(errno.EROFS))
        line = _one_error_line(*_release(draft, capsys)[::2])
    assert "Read-only file system" in line
    assert snapshot(data_copy / "priors") == before


def test_a_killed_save_leaves_a_temporary_that_is_ignored_and_cleaned(data_copy, tmp_path, capsys):
    """Temporary files a killed save left (release and registry): readers ignore them, the next save cleans them."""
    pri = data_copy / "priors"
    stale = [pri / "baseline" / ".2.1.0.toml.abc123.tmp", pri / ".registry.toml.xyz.tmp"]
    for p in stale:
        p.write_bytes(b"partial \x00 garbage [[[")
    assert main(["priors", "list"]) == 0
    assert "baseline@2.0.0" in capsys.readouterr().out
    code, out, _ = _release(_draft(tmp_path), capsys)
    assert code == 0, out
    assert not any(p.exists() for p in stale)


@pytest.mark.parametrize("mode", [0o755, 0o775, 0o700])
def test_released_files_get_the_folders_permissions(data_copy, tmp_path, capsys, mode):
    """No 0600: the release, its folder and registry.toml get the read/write bits of the priors folder."""
    pri = data_copy / "priors"
    os.chmod(pri, mode)
    old = os.umask(0o077)  # even under a strict umask (the permissions come from the folder, not the umask)
    try:
        code, out, _ = _release(_draft(tmp_path), capsys)
    finally:
        os.umask(old)
    assert code == 0, out
    want = mode & 0o666
    assert stat.S_IMODE((pri / "fresh" / "1.0.0.toml").stat().st_mode) == want
    assert stat.S_IMODE((pri / "registry.toml").stat().st_mode) == want
    assert stat.S_IMODE((pri / "fresh").stat().st_mode) == mode


# ------------------------------------------------------------------------------------------------ a real tmpfs
@contextlib.contextmanager
def _tmpfs(size: str) -> Iterator[Path]:
    where = Path(tempfile.mkdtemp(prefix="riskmodel-tmpfs-"))
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if ok.returncode != 0:
        where.rmdir()
        pytest.skip(f"cannot mount a tmpfs here ({ok.stderr.decode().strip()[:80]})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        shutil.rmtree(where, ignore_errors=True)


def _fill(folder: Path) -> None:
    """Fill the file system of ``folder`` to the last byte."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * chunk)
    finally:
        os.close(fd)


def test_real_full_disk(tmp_path, capsys, monkeypatch):
    """A tmpfs filled to the last byte: the release is one line, exit 2, and leaves the folder as it was."""
    with _tmpfs("1m") as mnt:
        shutil.copytree(ROOT / "priors", mnt / "priors")
        monkeypatch.setenv("RISKMODEL_DATA", str(mnt))
        draft = _draft(tmp_path)
        _fill(mnt)
        before = snapshot(mnt / "priors")
        line = _one_error_line(*_release(draft, capsys)[::2])
        assert "No space left on device" in line
        assert snapshot(mnt / "priors") == before and not _leftovers(mnt / "priors")
        (mnt / "filler").unlink()
        code, out, _ = _release(draft, capsys)  # with space again, the same save works
        assert code == 0 and "released fresh@1.0.0" in out


def test_real_read_only_folder(tmp_path, capsys, monkeypatch):
    """A tmpfs remounted read-only stops root too: one line, exit 2, nothing changed."""
    with _tmpfs("2m") as mnt:
        shutil.copytree(ROOT / "priors", mnt / "priors")
        (mnt / "priors" / ".registry.lock").touch()
        monkeypatch.setenv("RISKMODEL_DATA", str(mnt))
        draft = _draft(tmp_path)
        before = snapshot(mnt / "priors")
        assert subprocess.run(["mount", "-o", "remount,ro", str(mnt)], capture_output=True).returncode == 0
        line = _one_error_line(*_release(draft, capsys)[::2])
        assert "Read-only file system" in line
        assert snapshot(mnt / "priors") == before


# ------------------------------------------------------------------------------------------------ Ctrl-C
def _interrupt(tmp_path: Path, argv: list[str], after: float) -> tuple[int, str, str]:
    """Run ``riskmodel ARGV`` and send SIGINT ``after`` seconds after it starts sampling; returns (exit, out, err)."""
    env = {
        **os.environ,
        "RISKMODEL_DATA": str(tmp_path),
        "RISKMODEL_CACHE_DIR": str(tmp_path / "store"),
        "PYTHONUNBUFFERED": "1",
    }
    for d in ("priors", "evidence"):
        shutil.copytree(ROOT / d, tmp_path / d)
    before = snapshot(tmp_path / "priors", tmp_path / "evidence")
    out_file = (tmp_path / "stdout.txt").open("w+")  # a file, not a pipe: a full stdout pipe would block the fit
    proc = subprocess.Popen(
        [RISKMODEL, *argv], stdout=out_file, stderr=subprocess.PIPE, env=env, text=True, cwd=tmp_path
    )
    assert proc.stderr is not None
    seen = []
    deadline = time.monotonic() + 900
    for line in proc.stderr:  # progress lines: wait until the sampler runs
        seen.append(line)
        if "riskmodel: sampling" in line or time.monotonic() > deadline:
            break
    assert any("riskmodel: sampling" in x for x in seen), "".join(seen)
    time.sleep(after)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    out_file.seek(0)
    out = out_file.read()
    out_file.close()
    assert time.monotonic() - sent < 60, "Ctrl-C took more than a minute to stop the fit"
    err = "".join(seen) + rest
    assert snapshot(tmp_path / "priors", tmp_path / "evidence") == before
    store = tmp_path / "store"
    assert not store.exists() or not [p for p in store.rglob("*") if p.is_file() and p.suffix != ".lock"]
    return proc.returncode, out, err


def _check_interrupted(code: int, out: str, err: str) -> None:
    assert code == 130, err
    assert out == "", out  # no numbers, no citation
    assert "Traceback" not in err and "ZeroDivisionError" not in err
    assert err.strip().splitlines()[-1] == INTERRUPTED_LINE
    assert "healthy" not in err and "citation" not in err.lower()


@pytest.mark.slow
def test_ctrl_c_during_tuning(tmp_path):
    """SIGINT while the sampler tunes (100000 tuning steps): exit 130, one line, nothing written, no citation."""
    _check_interrupted(*_interrupt(tmp_path, ["run", "--chains", "2", "--draws", "10", "--tune", "100000"], 2.0))


@pytest.mark.slow
def test_ctrl_c_during_sampling(tmp_path):
    """SIGINT after tuning, while drawing (20 tuning steps, then 30000 draws): exit 130, nothing written."""
    argv = ["run", "--chains", "1", "--draws", "30000", "--tune", "20", "--json"]
    _check_interrupted(*_interrupt(tmp_path, argv, 6.0))

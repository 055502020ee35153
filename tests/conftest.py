"""Shared fixtures: one default fit per test session (the model compiles once per process)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def snapshot(*dirs: Path) -> dict[str, str]:
    """Path -> sha256 of every file under ``dirs`` (to show that nothing was written)."""
    out = {}
    for d in dirs:
        for p in sorted(Path(d).rglob("*")):
            if p.is_file() and p.name != ".registry.lock":
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def data_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of priors/ and evidence/, used as the data root for the test."""
    for d in ("priors", "evidence"):
        shutil.copytree(ROOT / d, tmp_path / d)
    monkeypatch.setenv("RISKMODEL_DATA", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="session")
def default_fit():
    """The default fit (latest baseline priors, default evidence, seed 1), shared by every test that reads it."""
    from riskmodel import fit

    return fit(seed=1, chains=4, draws=1000)

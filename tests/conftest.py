"""Shared fixtures: one default fit per test session (the model compiles once per process)."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
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


@pytest.fixture(scope="session", autouse=True)
def fit_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fit store private to the test session: tests never read or fill the user's cache."""
    path = tmp_path_factory.mktemp("fit-store")
    mp = pytest.MonkeyPatch()
    mp.setenv("RISKMODEL_CACHE_DIR", str(path))
    yield path
    mp.undo()


@pytest.fixture(scope="session")
def default_fit():
    """The default fit (default priors and evidence, seed 1, 4 x 1000), shared by every test that reads it."""
    from riskmodel import fit

    return fit(seed=1, chains=4, draws=1000)

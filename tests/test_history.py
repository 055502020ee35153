"""Immutable history: released files match their hashes, releases are atomic, concurrent saves lose nothing."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from riskmodel.data.evidence import evidence_store, load_evidence
from riskmodel.data.priors import load_priors, prior_store
from riskmodel.data.registry import Store, atomic_write, sha256_bytes
from riskmodel.errors import RegistryError, RiskmodelError
from tests.conftest import ROOT, snapshot

#: Processes racing to save a new prior version, and rounds of the race (all start each round at a barrier).
RACERS, ROUNDS = 4, 25


# ------------------------------------------------------------------------------------------------ released files
@pytest.mark.parametrize("kind", ["priors", "evidence"])
def test_every_released_file_matches_its_registered_hash(kind):
    store = prior_store(ROOT) if kind == "priors" else evidence_store(ROOT)
    load = load_priors if kind == "priors" else load_evidence
    releases = store.releases()
    assert releases
    registry = tomllib.loads(store.registry_path.read_text())["release"]
    assert len(registry) == len(releases)
    for rel in releases:
        data = (store.root / rel.path).read_bytes()
        assert sha256_bytes(data) == rel.sha256, rel.ref
        if kind == "priors" and rel.ref in ("baseline@1.0.0", "baseline@1.1.0"):
            with pytest.raises(RiskmodelError, match="written for model 1"):  # kept, verifiable with riskmodel 0.1.0
                load(rel.ref, root=ROOT)
            continue
        obj = load(rel.ref, root=ROOT)
        assert (obj.name, obj.version, obj.sha256, obj.released) == (rel.name, rel.version, rel.sha256, True)
    on_disk = {str(p.relative_to(store.root)) for p in store.root.rglob("*.toml") if p.name != "registry.toml"}
    assert on_disk == {r.path for r in releases}, "a file in the store is not registered (or one is missing)"


# ------------------------------------------------------------------------------------------------ atomic writes
def test_atomic_write_fsyncs_file_and_directory_and_renames(tmp_path, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    target = tmp_path / "sub" / "1.0.0.toml"
    atomic_write(target, b"x = 1\n", exclusive=True)
    assert target.read_bytes() == b"x = 1\n"
    assert len(synced) == 2
    assert Path(synced[0]).name.startswith(".1.0.0.toml.") and synced[0].endswith(".tmp")  # the temporary file
    assert synced[1] == str(target.parent)  # then the directory, after the rename
    assert [p.name for p in target.parent.iterdir()] == ["1.0.0.toml"]  # no temporary file left


def test_atomic_write_never_replaces_a_file_and_leaves_nothing_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "1.0.0.toml"
    atomic_write(target, b"first\n", exclusive=True)
    with pytest.raises(FileExistsError):
        atomic_write(target, b"second\n", exclusive=True)
    assert target.read_bytes() == b"first\n"

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        atomic_write(tmp_path / "2.0.0.toml", b"partial", exclusive=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.0.0.toml"]  # no target, no temporary file


# ------------------------------------------------------------------------------------------------ released = immutable
def test_a_release_can_be_deprecated_but_not_rewritten(data_copy):
    store = prior_store(data_copy)
    path = data_copy / "priors" / "baseline" / "2.0.0.toml"
    before = path.read_bytes()
    with pytest.raises(RegistryError, match="already released"):
        store.release("baseline", "2.0.0", b"name = 'baseline'\nversion = '2.0.0'\n")
    with pytest.raises(RegistryError, match="not above the latest release"):
        store.release("baseline", "1.9.0", before)
    store.release("baseline", "2.1.0", before.replace(b'version = "2.0.0"', b'version = "2.1.0"'))
    dep = store.deprecate("baseline@2.0.0", "superseded by 2.1.0")
    assert dep.deprecated == "superseded by 2.1.0" and dep.sha256 == sha256_bytes(before)
    assert path.read_bytes() == before  # deprecation touches the registry only
    assert load_priors("baseline@2.0.0", root=data_copy).sha256 == dep.sha256  # still loadable and citable
    assert store.resolve("baseline").version == "2.1.0"
    with pytest.raises(RegistryError, match="needs a reason"):
        store.deprecate("baseline@2.1.0", "  ")
    assert not any(hasattr(Store, m) for m in ("remove", "delete", "unrelease", "overwrite", "replace"))


def test_an_unregistered_file_at_the_target_path_is_left_untouched(data_copy):
    store = prior_store(data_copy)
    stray = data_copy / "priors" / "baseline" / "3.0.0.toml"
    stray.write_bytes(b"hand-written\n")
    before = snapshot(data_copy)
    with pytest.raises(RegistryError, match="unregistered file with other content already exists"):
        store.release("baseline", "3.0.0", b"new bytes\n")
    assert snapshot(data_copy) == before


# ------------------------------------------------------------------------------------------------ racing saves
def _racer(root: str, barrier, rounds: int, results) -> None:
    """Save a new version of baseline in each round, all racers starting together; report every outcome."""
    try:
        os.environ["RISKMODEL_DATA"] = root
        from riskmodel.interactive.explore import beta_from_mean_strength, release_priors

        base = load_priors("baseline@2.0.0")
        for r in range(rounds):
            # a release must change something: each racer and round its own coordination prior, with its reason
            mean = 0.1 + 0.002 * r + (os.getpid() % 97) * 1e-5
            edited = base.with_parameter(beta_from_mean_strength(base["coordination"], mean, 20.0))
            why = {"coordination": f"race {os.getpid()} round {r}"}
            barrier.wait(timeout=300)
            try:
                rel = release_priors(
                    edited,
                    why["coordination"],
                    name="raced",
                    author=f"racer {os.getpid()}",
                    rationales=why,
                    parent=base,
                )
                results.put(("ok", rel.ref, rel.sha256))
            except RiskmodelError as exc:
                results.put(("error", exc.line(), ""))
    except BaseException as exc:  # a crashed racer must fail the test with its reason, not hang it
        results.put(("crash", repr(exc), ""))
        raise


def _race(root: str) -> list[tuple[str, str, str]]:
    """Run the race: RACERS processes x ROUNDS rounds, each round started at a barrier; return every outcome."""
    # forkserver: racers fork from a clean server with the library imported once (fork from a multi-threaded process
    # could deadlock; spawn would import the library in every racer)
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["riskmodel.interactive.explore", "riskmodel.data.priors"])
    barrier, results = ctx.Barrier(RACERS), ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(root, barrier, ROUNDS, results)) for _ in range(RACERS)]
    for p in procs:
        p.start()
    outcomes = []
    while len(outcomes) < RACERS * ROUNDS:
        outcomes.append(results.get(timeout=600))
        if outcomes[-1][0] == "crash":
            break
    for p in procs:
        p.join(timeout=60)
    return outcomes


@pytest.mark.slow
def test_processes_saving_at_once_get_distinct_versions_and_lose_nothing(data_copy):
    # The race runs in a fresh interpreter: multiprocessing re-imports the parent's __main__ in its children, and
    # after an AppTest in this process that would be the Streamlit app.
    code = "import json, sys; from tests.test_history import _race; print(json.dumps(_race(sys.argv[1])))"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(data_copy)], capture_output=True, text=True, timeout=900, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcomes = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not [o for o in outcomes if o[0] == "crash"], outcomes
    errors = [o[1] for o in outcomes if o[0] == "error"]
    saved = [o[1] for o in outcomes if o[0] == "ok"]
    registered = {r.ref: r for r in prior_store(data_copy).releases()}
    lost = [ref for ref in saved if ref not in registered]
    print(f"{RACERS} processes x {ROUNDS} rounds: {len(saved)} saved, {len(errors)} refused, {len(lost)} lost")
    assert errors == [], errors[:3]
    assert len(set(saved)) == len(saved) == RACERS * ROUNDS  # distinct versions
    assert lost == []
    for ref in saved:  # every saved file is intact and loads under its registered hash
        assert load_priors(ref, root=data_copy).sha256 == registered[ref].sha256
    assert len([r for r in registered if r.startswith("raced@")]) == RACERS * ROUNDS

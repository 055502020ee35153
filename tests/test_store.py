"""The fit store (riskmodel.results.store) and ``riskmodel cache``.

A stored fit is found by its key and by nothing else; a corrupt entry is refitted with one warning line; concurrent
writers leave one valid entry; ``verify`` never trusts the store; ``--json`` output does not depend on whether the
fit was stored; ``cache clear`` makes the next run sample; the size cap evicts the least recently used entry first.

The MCMC tests share one small stored fit (2 chains x 200 draws after 200 tuning steps) made once per module in a
private store; each test works on its own copy of that store.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

import riskmodel.results.result as result_module
from riskmodel.cli import main
from riskmodel.data.evidence import load_evidence
from riskmodel.data.priors import load_priors
from riskmodel.results import store
from riskmodel.results.result import draws_sha256, fit, fit_settings
from tests.conftest import ROOT

SMALL = {"seed": 41, "chains": 2, "draws": 200, "tune": 200}
SMALL_ARGS = ["--seed", "41", "--chains", "2", "--draws", "200", "--tune", "200"]
#: Every field of a fit's key (riskmodel.results.result.fit_settings); a new field needs a test below.
KEY_FIELDS = {
    "model",
    "package",
    "priors_sha256",
    "evidence_sha256",
    "evidence_excluded",
    "evidence_capability",
    "seed",
    "chains",
    "draws",
    "tune",
    "sampler",
    "sampler_version",
    "sampler_libraries",
    "target_accept",
    "adaptation",
    "generated_copies",
    "prior_draws",
}


class Sampled(Exception):
    """Raised instead of sampling: the fit missed the store."""


def _no_sampling(*args: Any, **kwargs: Any) -> None:
    raise Sampled


def _misses(**kwargs: Any) -> bool:
    """Whether ``fit(**kwargs)`` went to the sampler (with sampling replaced by :func:`_no_sampling`)."""
    try:
        fit(**kwargs)
    except Sampled:
        return True
    return False


def _cli(*args: str, cache_dir: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    """``riskmodel ARGS`` in a new process on the store ``cache_dir``."""
    env = {**os.environ, "RISKMODEL_CACHE_DIR": str(cache_dir)}
    return subprocess.run(
        [sys.executable, "-m", "riskmodel.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


def _tree(seed: int, shape: tuple[int, ...] = (2, 100, 10)) -> tuple[xr.DataTree, dict[str, Any]]:
    """A small stand-in for a stored sampler output, with the metadata ``fit`` writes (its draws' sha256)."""
    post = xr.Dataset({"x": (("chain", "draw", "k"), np.random.default_rng(seed).normal(size=shape))})
    return xr.DataTree.from_dict({"posterior": post}), {"draws_sha256": draws_sha256(post), "seed": seed}


# ------------------------------------------------------------------------------------------------ keys, no MCMC
@pytest.fixture(scope="module")
def files():
    return load_priors("baseline@2.0.0"), load_evidence("published-evals@2.0.0")


def test_key_fields_are_the_documented_ones(files):
    settings = fit_settings(*files, 1, 4, 1000, 1000)
    assert set(settings) == KEY_FIELDS
    # the key is a function of the settings alone: computed twice, and from a reordered copy, it is the same
    assert store.fit_key(settings) == store.fit_key(fit_settings(*files, 1, 4, 1000, 1000))
    assert store.fit_key(dict(reversed(settings.items()))) == store.fit_key(settings)


def test_changing_any_key_field_changes_the_key(files):
    settings = fit_settings(*files, 1, 4, 1000, 1000)
    base = store.fit_key(settings)
    for name, value in settings.items():
        changed = [*value, "x"] if isinstance(value, list) else f"{value}x"
        assert store.fit_key({**settings, name: changed}) != base, name
        assert store.fit_key({k: v for k, v in settings.items() if k != name}) != base, name


def _variants(ps, ev, monkeypatch) -> dict[str, dict[str, Any]]:
    """Settings of fits that differ from the base fit in one thing each (computed by fit_settings itself)."""
    out = {
        "seed": fit_settings(ps, ev, 2, 2, 200, 200),
        "chains": fit_settings(ps, ev, 1, 3, 200, 200),
        "draws": fit_settings(ps, ev, 1, 2, 201, 200),
        "tune": fit_settings(ps, ev, 1, 2, 200, 199),
        "a prior parameter": fit_settings(
            ps.with_parameter(replace(ps["p_misaligned"], params={"alpha": 2.0, "beta": 10.5}, interval90=None)),
            ev,
            1,
            2,
            200,
            200,
        ),
        "the tail degrees of freedom": fit_settings(ps.with_model(tail_df=ps.tail_df + 1), ev, 1, 2, 200, 200),
        "an evidence row switched off": fit_settings(ps, ev.without({ev.likelihood_rows()[0].id}), 1, 2, 200, 200),
        "the capability likelihood": fit_settings(ps, ev.with_capability_likelihood(False), 1, 2, 200, 200),
        "another evidence file": fit_settings(
            ps, load_evidence(ROOT / "tests" / "fixtures" / "reduced.toml"), 1, 2, 200, 200
        ),
        "the sampler": fit_settings(ps, ev, 1, 2, 200, 200, "numpyro"),
    }
    patches = {
        "target_accept": ("TARGET_ACCEPT", 0.95),
        "the sampler version": ("sampler_version", lambda *_: "0.0.1"),
        "a library that determines the draws": ("sampler_libraries", lambda *_: {"numba": "0.0.1"}),
        "the package version": ("package_version", lambda: "9.9.9"),
        "the model version": ("MODEL_VERSION", 3),
        "the mass-matrix adaptation": ("ADAPTATION", "low-rank"),
    }
    for label, (attr, value) in patches.items():
        with monkeypatch.context() as m:
            m.setattr(result_module, attr, value)
            out[label] = fit_settings(ps, ev, 1, 2, 200, 200)
    import riskmodel.model.prior as prior_module
    import riskmodel.model.spec as spec_module

    with monkeypatch.context() as m:
        m.setattr(spec_module, "GENERATED_COPIES", spec_module.GENERATED_COPIES + 1)
        out["the generated copies"] = fit_settings(ps, ev, 1, 2, 200, 200)
    with monkeypatch.context() as m:
        m.setattr(prior_module, "PRIOR_DRAWS", prior_module.PRIOR_DRAWS + 1)
        out["the prior draws"] = fit_settings(ps, ev, 1, 2, 200, 200)
    return out


def test_a_stored_entry_is_found_by_its_key_and_by_nothing_else(files, tmp_path, monkeypatch):
    ps, ev = files
    base = fit_settings(ps, ev, 1, 2, 200, 200)
    tree, meta = _tree(0)
    store.write(store.fit_key(base), tree, meta, "base", tmp_path)
    got = store.read(store.fit_key(fit_settings(ps, ev, 1, 2, 200, 200)), None, tmp_path)
    assert got is not None and got[1] == meta
    xr.testing.assert_identical(got[0]["posterior"].to_dataset(), tree["posterior"].to_dataset())
    variants = _variants(ps, ev, monkeypatch)
    covered = {k for v in variants.values() for k in KEY_FIELDS if v[k] != base[k]}
    assert covered == KEY_FIELDS, KEY_FIELDS - covered  # every field is changed by some real input
    for label, settings in variants.items():
        assert store.read(store.fit_key(settings), None, tmp_path) is None, label
    assert [e.key for e in store.entries(tmp_path)] == [store.fit_key(base)]


# ------------------------------------------------------------------------------------------------ cache command
def _filled(directory: Path, n: int) -> list[str]:
    """``n`` stand-in entries used one second apart (oldest first); returns their keys."""
    keys = []
    for i in range(n):
        key = f"{i:064x}"
        store.write(key, *_tree(i), f"stand-in {i}", directory)
        os.utime(directory / "fits" / f"{key}.nc", (time.time() - 100 + i, time.time() - 100 + i))
        keys.append(key)
    return keys


def test_cache_path_list_and_clear(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RISKMODEL_CACHE_DIR", str(tmp_path))
    assert main(["cache", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "fits")
    assert main(["cache", "list"]) == 0
    assert "0 stored fits, 0 B" in capsys.readouterr().out
    keys = _filled(tmp_path, 3)
    old = time.time() - 10 * 86400
    os.utime(tmp_path / "fits" / f"{keys[0]}.nc", (old, old))
    assert main(["cache", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "3 stored fits" in out[0] and "cap 2 GiB" in out[0]
    assert out[1].split() == ["key", "size", "last", "used", "fit", "of"]
    # most recently used first, with the key prefix, size and label
    assert [line.split()[0] for line in out[2:]] == [k[:12] for k in (keys[2], keys[1], keys[0])]
    assert out[2].endswith("stand-in 2") and "KiB" in out[2]
    assert main(["cache", "list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["path"] == str(tmp_path / "fits") and doc["max_bytes"] == store.DEFAULT_MAX_BYTES
    assert [e["key"] for e in doc["entries"]] == [keys[2], keys[1], keys[0]]
    assert doc["total_bytes"] == sum(e["bytes"] for e in doc["entries"]) == store.total_bytes(tmp_path)
    assert doc["entries"][0]["label"] == "stand-in 2" and doc["entries"][2]["last_used"].startswith(
        time.strftime("%Y-%m-%d", time.gmtime(old))
    )
    # a temporary file of a writer that died an hour ago goes; one being written now stays
    stale, live = tmp_path / "fits" / f".{keys[0]}.1.1.tmp", tmp_path / "fits" / f".{keys[1]}.2.2.tmp"
    for p in (stale, live):
        p.write_bytes(b"partial")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    assert main(["cache", "clear", "--older-than", "7"]) == 0
    out = capsys.readouterr().out
    assert "removed 1 stored fit not used for 7 days" in out and "2 kept" in out and keys[0][:12] in out
    assert not stale.exists() and live.exists()
    assert [e.key for e in store.entries()] == [keys[2], keys[1]]
    assert not (tmp_path / "fits" / f"{keys[0]}.json").exists()
    assert main(["cache", "clear", "--older-than", "7"]) == 0
    assert "nothing removed (2 kept)" in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0
    assert "removed 2 stored fits" in capsys.readouterr().out
    assert store.entries() == [] and [p.name for p in (tmp_path / "fits").iterdir()] == [live.name]


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["cache", "clear", "--older-than", "-1"], {}, "older-than: must be a number of days >= 0"),
        (["cache", "clear", "--older-than", "nan"], {}, "older-than: must be a number of days >= 0"),
        (["cache", "clear", "--older-than", "soon"], {}, "must be a number of days, got 'soon'"),
        (["cache", "list"], {"RISKMODEL_CACHE_MAX_MB": "lots"}, "RISKMODEL_CACHE_MAX_MB: must be a number"),
        (["cache", "list"], {"RISKMODEL_CACHE_MAX_MB": "-3"}, "RISKMODEL_CACHE_MAX_MB: must be from 0"),
        (["cache", "purge"], {}, "invalid choice: 'purge'"),
        (["cache"], {}, "required: action"),
    ],
)
def test_bad_cache_input_exits_2_with_one_line_and_deletes_nothing(argv, env, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RISKMODEL_CACHE_DIR", str(tmp_path))
    keys = _filled(tmp_path, 2)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SystemExit) as ex:
        sys.exit(main(argv))
    assert ex.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and captured.err.startswith("riskmodel: error:")
    assert message in captured.err and "Traceback" not in captured.err
    assert sorted(e.key for e in store.entries()) == keys


def test_cache_command_does_not_import_the_sampler(tmp_path):
    """``riskmodel cache list`` in a new process imports neither PyMC, PyTensor nor nutpie."""
    code = (
        "import sys; from riskmodel.cli import main; main(['cache', 'list']); "
        "print(sorted(m for m in ('pymc', 'pytensor', 'nutpie', 'numba') if m in sys.modules))"
    )
    env = {**os.environ, "RISKMODEL_CACHE_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


# ------------------------------------------------------------------------------------------------ size cap
def test_the_size_cap_evicts_the_least_recently_used_entry_first(tmp_path, monkeypatch):
    keys = _filled(tmp_path, 3)  # used in the order 0, 1, 2
    for key in keys[:2]:
        store.write_report(key, "report-x", {"n": 1}, tmp_path)
    assert store.read(keys[0], None, tmp_path) is not None  # reading marks 0 used: 1 is now the least recent
    sizes = {e.key: e.bytes for e in store.entries(tmp_path)}
    assert [e.key for e in store.entries(tmp_path)] == [keys[0], keys[2], keys[1]]
    room = sum(sizes.values()) + 0.5 * max(sizes.values())  # three entries fit, four do not
    monkeypatch.setenv("RISKMODEL_CACHE_MAX_MB", str(room / 1024**2))
    store.write(f"{3:064x}", *_tree(3), "stand-in 3", tmp_path)
    left = [e.key for e in store.entries(tmp_path)]
    assert left == [f"{3:064x}", keys[0], keys[2]]
    assert store.read(keys[1], None, tmp_path) is None
    assert not list((tmp_path / "fits").glob(f"{keys[1]}.*"))  # its label and report went with it
    assert store.read_report(keys[0], "report-x", tmp_path) == {"n": 1}
    assert store.total_bytes(tmp_path) <= store.max_bytes()
    monkeypatch.setenv("RISKMODEL_CACHE_MAX_MB", "0")  # a cap of 0 keeps nothing
    store.write(f"{4:064x}", *_tree(4), "stand-in 4", tmp_path)
    assert store.entries(tmp_path) == []


# ------------------------------------------------------------------------------------------------ concurrency
_RACER = r"""
import sys, time, warnings
import numpy as np, xarray as xr
from riskmodel.results import store
from riskmodel.results.result import draws_sha256

role, directory, key, who, until = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
warnings.simplefilter("error", store.StoreWarning)  # a corrupt or unwritable entry fails the racer
post = xr.Dataset({"x": (("chain", "draw", "k"), np.random.default_rng(who).normal(size=(4, 1000, 40)))})
tree, meta = xr.DataTree.from_dict({"posterior": post}), {"draws_sha256": draws_sha256(post), "who": who}
open(f"{until}.ready{who}", "w").close()
while not __import__("os").path.exists(f"{until}.go"):
    time.sleep(0.01)
writes = reads = 0
deadline = time.time() + 4
while time.time() < deadline:
    if role == "write":
        store.write(key, tree, meta, f"writer {who}", directory)
        writes += 1
    else:
        got = store.read(key, None, directory)
        if got is not None:
            assert draws_sha256(got[0]["posterior"].to_dataset()) == got[1]["draws_sha256"], "torn read"
            reads += 1
print(role, who, writes, reads, meta["draws_sha256"])
"""


def test_two_concurrent_writers_of_one_key_leave_one_valid_entry(tmp_path):
    """Two processes write the same key as fast as they can for 4 s while a third reads it; one valid entry stays."""
    script = tmp_path / "racer.py"
    script.write_text(_RACER)
    sync = tmp_path / "sync"
    key = "ab" * 32
    roles = [("write", 1), ("write", 2), ("read", 3)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), role, str(tmp_path), key, str(who), str(sync)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for role, who in roles
    ]
    deadline = time.time() + 300
    while not all(Path(f"{sync}.ready{who}").exists() for _, who in roles):
        assert time.time() < deadline and all(p.poll() is None for p in procs), "a racer did not start"
        time.sleep(0.05)
    Path(f"{sync}.go").touch()
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        reports.append(out.split())
    writes = [int(r[2]) for r in reports if r[0] == "write"]
    assert min(writes) >= 3, writes  # the writers overlapped (each wrote many times in the same 4 s)
    assert int(reports[2][3]) >= 1  # the reader saw the entry, never a torn one
    found = store.entries(tmp_path)
    assert [e.key for e in found] == [key]
    assert sorted(p.name for p in (tmp_path / "fits").iterdir()) == [f"{key}.json", f"{key}.nc"]  # no temp files
    tree, meta = store.read(key, None, tmp_path)
    digest = draws_sha256(tree["posterior"].to_dataset())
    assert digest == meta["draws_sha256"] in {r[4] for r in reports if r[0] == "write"}
    assert json.loads((tmp_path / "fits" / f"{key}.json").read_text())["label"] in ("writer 1", "writer 2")


# ------------------------------------------------------------------------------------------------ MCMC
@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """One small fit, sampled into a private store: (store folder, result)."""
    directory = tmp_path_factory.mktemp("small-store")
    res = fit(**SMALL, cache_dir=str(directory))
    assert [e.key for e in store.entries(directory)] == [res.store_key]
    return directory, res


@pytest.fixture
def store_copy(stored, tmp_path, monkeypatch) -> Path:
    """A private copy of the small store, which is also this test's default store ($RISKMODEL_CACHE_DIR)."""
    directory = tmp_path / "store"
    shutil.copytree(stored[0], directory)
    monkeypatch.setenv("RISKMODEL_CACHE_DIR", str(directory))
    return directory


def _entry(directory: Path) -> Path:
    (path,) = (directory / "fits").glob("*.nc")
    return path


@pytest.mark.slow
def test_a_stored_fit_reads_back_identical_and_any_changed_field_misses(stored, store_copy, monkeypatch):
    _, first = stored
    monkeypatch.setattr(result_module, "_sample", _no_sampling)
    again = fit(**SMALL)
    assert again.store_key == first.store_key
    assert again.draws_sha256 == first.draws_sha256
    xr.testing.assert_identical(again.posterior, first.posterior)
    xr.testing.assert_identical(again.prior_draws, first.prior_draws)
    np.testing.assert_equal(vars(again.diagnostics), vars(first.diagnostics))  # NaN (no ESS of a ratio) == NaN
    assert again.citation() == first.citation()
    # the target system is not part of the key: its draws are the same
    other = fit(**SMALL, system="claude-3-opus")
    assert other.draws_sha256 == first.draws_sha256 and other.system == "claude-3-opus"
    ps, ev = first.priors, first.evidence
    misses = {
        "seed": {"seed": 42},
        "chains": {"chains": 3},
        "draws": {"draws": 201},
        "tune": {"tune": 199},
        "priors": {"priors": ps.with_model(tail_df=ps.tail_df + 1)},
        "evidence subset": {"evidence": ev.without({ev.likelihood_rows()[0].id})},
        "capability likelihood": {"evidence": ev.with_capability_likelihood(False)},
        "sampler": {"sampler": "pymc"},
    }
    for label, change in misses.items():
        assert _misses(**{**SMALL, **change}), label
    for attr, value in (
        ("TARGET_ACCEPT", 0.95),
        ("sampler_version", lambda *_: "0.0.1"),
        ("package_version", lambda: "9.9.9"),
        ("MODEL_VERSION", 3),
    ):
        with monkeypatch.context() as m:
            m.setattr(result_module, attr, value)
            assert _misses(**SMALL), attr
    assert len(store.entries()) == 1
    assert fit(**SMALL).draws_sha256 == first.draws_sha256  # and the original key still hits


@pytest.mark.slow
def test_an_entry_whose_draws_were_altered_is_discarded_with_one_warning(stored, store_copy, monkeypatch):
    path = _entry(store_copy)
    tree = xr.open_datatree(path, engine="netcdf4").load()
    post = tree["posterior"].to_dataset()
    name = sorted(post.data_vars)[0]
    post[name] = post[name] + 1e-9
    tree["posterior"] = xr.DataTree(post)
    path.unlink()
    tree.to_netcdf(path, engine="netcdf4")  # readable, with the original metadata, but not the original draws
    monkeypatch.setattr(result_module, "_sample", _no_sampling)
    with pytest.warns(store.StoreWarning) as caught, pytest.raises(Sampled):
        fit(**SMALL)
    (w,) = caught
    text = str(w.message)
    assert "\n" not in text and "do not hash to the recorded sha256" in text and path.name in text
    assert store.entries() == []


@pytest.mark.slow
def test_a_truncated_entry_is_refitted_with_a_one_line_warning_in_a_new_process(stored, store_copy):
    _, first = stored
    path = _entry(store_copy)
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size // 2)
    proc = _cli("run", "--json", *SMALL_ARGS, cache_dir=store_copy)
    assert proc.returncode in (0, 3), proc.stderr
    lines = proc.stderr.splitlines()
    about = [line for line in lines if "stored fit" in line]
    assert len(about) == 1 and "discarded" in about[0] and path.name in about[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert all(line.startswith("riskmodel: ") for line in lines), proc.stderr  # every stderr line is one message
    assert any("sampling" in line for line in lines)
    # the refit reproduces the original draws and replaces the entry with a valid one
    assert json.loads(proc.stdout)["provenance"]["draws_sha256"] == first.draws_sha256
    assert path.stat().st_size == size
    _, meta = store.read(first.store_key, None, store_copy)
    assert meta["draws_sha256"] == first.draws_sha256


@pytest.mark.slow
def test_json_output_is_identical_from_a_stored_and_a_fresh_fit(stored, store_copy):
    """Fresh (``--no-cache``, sampled in a new process), stored (report built from the stored draws), stored again
    (report read from the store): the same bytes on stdout."""
    fresh = _cli("run", "--json", "--no-cache", *SMALL_ARGS, cache_dir=store_copy)
    from_store = _cli("run", "--json", *SMALL_ARGS, cache_dir=store_copy)
    report_stored = _cli("run", "--json", *SMALL_ARGS, cache_dir=store_copy)
    for proc in (fresh, from_store, report_stored):
        assert proc.returncode in (0, 3), proc.stderr
    assert "read the fit from the fit store" in from_store.stderr and "sampling" not in from_store.stderr
    assert "sampling" in fresh.stderr
    assert list(store_copy.glob("fits/*.report"))  # the second stored run read the report back
    assert json.loads(fresh.stdout) == json.loads(from_store.stdout) == json.loads(report_stored.stdout)
    assert fresh.stdout == from_store.stdout == report_stored.stdout


@pytest.mark.slow
def test_cache_clear_then_run_refits(stored, store_copy, capsys):
    _, first = stored
    assert main(["run", "--json", *SMALL_ARGS]) in (0, 3)
    out, err = capsys.readouterr()
    assert "read the fit from the fit store" in err and "sampling" not in err
    assert main(["cache", "clear"]) == 0
    assert "removed 1 stored fit " in capsys.readouterr().out
    assert store.entries() == []
    assert main(["run", "--json", *SMALL_ARGS]) in (0, 3)
    out2, err2 = capsys.readouterr()
    assert "sampling" in err2 and "read the fit from the fit store" not in err2
    assert json.loads(out2)["provenance"]["draws_sha256"] == first.draws_sha256
    assert json.loads(out2) == json.loads(out)
    assert [e.key for e in store.entries()] == [first.store_key]  # stored again


@pytest.mark.slow
def test_verify_refits_even_when_the_store_holds_the_key(stored, store_copy, monkeypatch):
    """The store holds the cited key, and ``verify`` still samples, without reading the store, bit for bit.

    (A store cannot be made to lie about a key undetected: a stored entry's draws must hash to its recorded sha256
    once assembled under the key's seed, so another seed's entry copied under the key is discarded and refitted.)
    """
    from riskmodel.results.verify import verify

    _, first = stored
    assert fit(**SMALL).draws_sha256 == first.draws_sha256  # the store answers for this key
    reads, samples = [], []
    real_read, real_sample = store.read, result_module._sample
    monkeypatch.setattr(store, "read", lambda *a, **k: reads.append(a) or real_read(*a, **k))
    monkeypatch.setattr(result_module, "_sample", lambda *a, **k: samples.append(a) or real_sample(*a, **k))
    v = verify(first.citation())
    assert v.matches, v.differences
    assert v.bit_identical is True
    assert v.refit_line == first.citation()
    assert samples and not reads
    # and an entry of another seed copied under the key is not believed
    other = fit(**{**SMALL, "seed": 42})
    shutil.copyfile(store_copy / "fits" / f"{other.store_key}.nc", store_copy / "fits" / f"{first.store_key}.nc")
    with pytest.warns(store.StoreWarning, match="do not hash"):
        assert fit(**SMALL).draws_sha256 == first.draws_sha256

"""Reproducible citations and fault handling: a verify that cannot be fooled, A-B-A draws, failed fits."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from riskmodel.cli.main import EXIT_UNHEALTHY, main
from riskmodel.errors import CitationError, FitError
from riskmodel.results.citation import parse_citation
from riskmodel.results.verify import verify
from tests.conftest import ROOT, snapshot

fit_module = importlib.import_module("riskmodel.results.result")
verify_module = importlib.import_module("riskmodel.results.verify")
sampling_module = importlib.import_module("riskmodel.model.sampling")

LINE = (
    "P(worst case) = 0.0052 [90%: 0.00024, 0.018] | riskmodel 0.2.0 model 2 | priors baseline@2.0.0 sha256:ed4fd2d0 | "
    "evidence published-evals@2.0.0 sha256:cbc0dd0a | system new | nutpie 0.16.11 seed 1 | 4x1000 draws tune 1000 | "
    "draws sha256:3ab3b30d"
)
OLD_FORMAT = (
    "P(worst case) = 0.0026 [90%: 0.0001-0.0099] | riskmodel 0.1.0 | priors baseline@1.1.0 sha256:ac440d08 | "
    "evidence published-evals@1.0.0 sha256:589516bf | system new | nutpie seed 1 | 4x1000 draws"
)


def _no_fit(*a, **k):
    raise AssertionError("verify must refuse before fitting")


# ------------------------------------------------------------------------------------------------ citation format
def test_citation_lines_parse_with_subsets_and_the_health_suffix():
    cit = parse_citation(LINE)
    assert (cit.model, cit.seed, cit.chains, cit.draws, cit.tune, cit.draws_sha) == (2, 1, 4, 1000, 1000, "3ab3b30d")
    assert cit.without == () and cit.capability is None and not cit.unhealthy
    sub = LINE.replace("sha256:cbc0dd0a |", "sha256:cbc0dd0a without[row-a,row-b] capability[] |") + (
        " | diagnostics FAILED"
    )
    cit = parse_citation(sub)
    assert cit.without == ("row-a", "row-b") and cit.capability == () and cit.unhealthy


def test_model_1_citations_name_the_package_that_verifies_them():
    with pytest.raises(CitationError, match=r"riskmodel 0\.1\.0 \(model 1\)"):
        parse_citation(OLD_FORMAT)


def test_another_sampler_and_wrong_hashes_are_refused_before_any_refit(monkeypatch, capsys):
    monkeypatch.setattr(verify_module, "fit", _no_fit)
    with pytest.raises(CitationError, match="sampler 'stan' is not one this version can rerun"):
        verify(LINE.replace("nutpie 0.16.11 seed", "stan 2.0 seed"))
    for old, new, kind in (
        ("sha256:ed4fd2d0", "sha256:ed4fd2d1", "priors"),
        ("sha256:cbc0dd0a", "sha256:cbc0dd0b", "evidence"),
    ):
        with pytest.raises(CitationError, match=f"citation.{kind}: cites sha256") as info:
            verify(LINE.replace(old, new))
        assert str(ROOT / kind) in info.value.line()  # names the file
    assert main(["verify", LINE.replace("nutpie 0.16.11 seed", "numpyro 0.15.0 seed"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sampler 'numpyro'" in err


# ------------------------------------------------------------------------------------------------ sampler failure
@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (RuntimeError("mass matrix is not positive definite\nstack details"), "mass matrix is not positive definite"),
        (RuntimeError(""), "RuntimeError"),
        (ValueError("\n\n"), "ValueError"),
    ],
)
def test_sampler_exception_is_a_one_line_fit_error(monkeypatch, capsys, exc, message):
    import nutpie

    class Compiled:
        pass

    def boom(*a, **k):
        raise exc

    monkeypatch.setattr(sampling_module, "compiled_model", lambda data: Compiled())
    monkeypatch.setattr(nutpie, "sample", boom)
    with pytest.raises(FitError) as info:
        fit_module.fit(draws=20, chains=1, cache=False)
    assert info.value.line() == f"sampler: the sampler failed: {message}"
    assert main(["run", "--draws", "20", "--chains", "1", "--no-progress", "--no-cache"]) == 2
    out, err = capsys.readouterr()
    assert err.endswith(f"riskmodel: error: sampler: the sampler failed: {message}\n")
    assert "P(worst case)" not in out  # nothing is printed as if it were a forecast


def test_compile_failure_is_a_fit_error(monkeypatch):
    def broken(data):
        raise MemoryError()

    monkeypatch.setattr(sampling_module, "compiled_model", broken)
    with pytest.raises(FitError, match="the sampler failed: MemoryError"):
        fit_module.fit(draws=20, chains=1, cache=False)


@pytest.mark.slow
def test_ctrl_c_during_a_fit_stops_cleanly_and_writes_nothing(tmp_path):
    """A real SIGINT in a subprocess: one line, exit 130, no citation, nothing in the fit store or the data folders."""
    env = {**os.environ, "RISKMODEL_CACHE_DIR": str(tmp_path / "store")}
    before = snapshot(ROOT / "priors", ROOT / "evidence")
    for wait in (25.0, 60.0):  # during compilation or tuning, and later (sampling) on a warm machine
        proc = subprocess.Popen(
            [sys.executable, "-m", "riskmodel.cli", "run", "--json", "--seed", "11"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        time.sleep(wait)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
        if proc.returncode == 0:  # finished before the signal: nothing to test at this delay
            continue
        assert proc.returncode == 130, err
        assert "Traceback" not in err and err.strip().splitlines()[-1] == "riskmodel: interrupted; nothing was written"
        assert out == "" and "P(worst case)" not in out
        assert not list((tmp_path / "store").glob("fits/*.nc"))
    assert snapshot(ROOT / "priors", ROOT / "evidence") == before


# ------------------------------------------------------------------------------------------------ poor fit
@pytest.fixture(scope="module")
def poor_fit():
    """A fit too short to be trusted (2 chains x 20 draws after 5 tuning steps)."""
    return fit_module.fit(seed=2, chains=2, draws=20, tune=5, cache=False)


@pytest.mark.slow
def test_poor_fit_is_flagged_in_attributes_report_and_citation(poor_fit):
    assert not poor_fit.healthy and poor_fit.diagnostics.warnings
    line = poor_fit.citation()
    assert line.endswith("| diagnostics FAILED") and parse_citation(line).unhealthy
    tree = poor_fit.to_datatree()
    assert tree.attrs["healthy"] == "no"
    prov = json.loads(tree.attrs["provenance"])
    assert prov["healthy"] is False and prov["diagnostics"]["ok"] is False
    rep = poor_fit.report()
    assert rep["diagnostics"]["ok"] is False and rep["citation"].endswith("diagnostics FAILED")


@pytest.mark.slow
def test_poor_fit_through_the_cli_exits_3_with_each_warning_once_on_stderr(poor_fit, capsys):
    code = main(["run", "--json", "--draws", "20", "--chains", "2", "--tune", "5", "--seed", "2", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == EXIT_UNHEALTHY
    rep = json.loads(out)
    assert rep["healthy"] is False and rep["diagnostics"]["warnings"]
    assert rep["citation"].endswith("| diagnostics FAILED")
    assert "NaN" not in out and "Infinity" not in out
    warnings = [x for x in err.splitlines() if x.startswith("riskmodel: warning:")]
    assert len(warnings) == len(set(warnings)) == len(rep["diagnostics"]["warnings"])
    assert main(["run", "--draws", "20", "--chains", "2", "--tune", "5", "--seed", "2", "--no-progress"]) == 3
    out, err = capsys.readouterr()
    assert "warning" not in out.lower()  # printed once, on stderr


@pytest.mark.slow
def test_an_incomplete_fit_is_never_healthy(monkeypatch):
    """A trace with fewer draws than asked (an interrupted sampler) fails its health check."""
    import nutpie

    real = nutpie.sample

    def short(*a, **k):
        trace = real(*a, **k)
        post = trace["posterior"].to_dataset().isel(draw=slice(0, 30))
        stats = trace["sample_stats"].to_dataset().isel(draw=slice(0, 30))
        import xarray as xr

        return xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})

    monkeypatch.setattr(nutpie, "sample", short)
    res = fit_module.fit(seed=3, chains=2, draws=60, tune=60, cache=False)
    assert not res.healthy and any("not the 60 asked for" in w for w in res.diagnostics.warnings)


# ------------------------------------------------------------------------------------------------ reproducibility
def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "riskmodel.cli", *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )


@pytest.mark.slow
def test_draws_depend_only_on_what_the_citation_names_a_b_a(default_fit):
    """Fit A, then B, then A again in one process (and A in a new one): A's draws hash the same every time."""
    from dataclasses import replace

    ps = default_fit.priors
    b_priors = ps.with_parameter(replace(ps["p_misaligned"], params={"alpha": 3.0, "beta": 9.0}, interval90=None))
    a1 = fit_module.fit(seed=1, cache=False)
    b = fit_module.fit(b_priors, seed=1, cache=False)
    small = fit_module.fit(evidence=ROOT / "tests" / "fixtures" / "reduced.toml", seed=1, cache=False)
    a2 = fit_module.fit(seed=1, cache=False)
    assert a1.draws_sha256 == a2.draws_sha256 == default_fit.draws_sha256
    assert b.draws_sha256 != a1.draws_sha256 and small.draws_sha256 != a1.draws_sha256
    fresh = _cli("run", "--json", "--no-cache", "--no-progress")
    assert json.loads(fresh.stdout)["provenance"]["draws_sha256"] == a1.draws_sha256


@pytest.mark.slow
def test_same_seed_gives_bit_identical_draws_whatever_the_core_count():
    a = fit_module.fit(seed=5, chains=2, draws=200, cores=1, cache=False)
    b = fit_module.fit(seed=5, chains=2, draws=200, cores=2, cache=False)
    c = fit_module.fit(seed=6, chains=2, draws=200, cores=2, cache=False)
    assert a.draws_sha256 == b.draws_sha256 != c.draws_sha256
    assert a.citation() == b.citation()
    prov = a.provenance
    assert prov["sampler"] == "nutpie" and prov["sampler_version"] == prov["dependencies"]["nutpie"]
    assert prov["draws_sha256"] == a.draws_sha256


@pytest.mark.slow
def test_verify_reproduces_a_citation_bit_for_bit_in_a_fresh_process(default_fit):
    line = default_fit.citation()
    ver = _cli("verify", line, "--no-progress")
    assert ver.returncode == 0, ver.stdout + ver.stderr
    assert "verified: the citation matches" in ver.stdout
    assert "bit-identical draws: yes" in ver.stdout, ver.stdout
    assert f"refit:   {line}" in ver.stdout  # the fresh process prints the very same line


def _alter(line: str, field: str) -> str:
    """The citation line with one field edited."""
    cit = parse_citation(line)
    edits = {
        "mean": (f"= {cit.mean_text} ", f"= {float(cit.mean_text) * 3:.2g} "),
        "interval": (f"[90%: {cit.lower_text}, ", f"[90%: {float(cit.lower_text) * 10:.2g}, "),
        "seed": ("seed 1 |", "seed 2 |"),
        "draws": ("4x1000 draws", "4x900 draws"),
        "chains": ("4x1000 draws", "3x1000 draws"),
        "tune": ("tune 1000", "tune 900"),
        "draws hash": (f"draws sha256:{cit.draws_sha}", "draws sha256:00000000"),
        "system": ("system new", "system claude-3-opus"),
        "add health suffix": (line, line + " | diagnostics FAILED"),
        "evidence subset": (f"sha256:{cit.evidence_sha} |", f"sha256:{cit.evidence_sha} capability[] |"),
    }
    old, new = edits[field]
    assert old in line, field
    return line.replace(old, new, 1)


#: Every edit of a healthy citation's fields that must fail verify with the same versions (docs/reproducibility.md).
ALTERATIONS = [
    "mean",
    "interval",
    "seed",
    "draws",
    "chains",
    "tune",
    "draws hash",
    "system",
    "add health suffix",
    "evidence subset",
]


@pytest.mark.slow
@pytest.mark.parametrize("field", ALTERATIONS)
def test_an_edited_citation_does_not_verify(default_fit, field):
    line = default_fit.citation()
    v = verify(_alter(line, field))
    assert not v.matches, (field, v.method)


@pytest.mark.slow
def test_deleting_the_health_suffix_of_an_unhealthy_citation_fails(poor_fit):
    line = poor_fit.citation()
    assert verify(line).matches
    assert not verify(line.removesuffix(" | diagnostics FAILED")).matches


@pytest.mark.slow
def test_a_genuine_subset_citation_verifies(default_fit):
    sub = default_fit.evidence.with_capability_likelihood(False)
    res = fit_module.fit(evidence=sub, seed=1, cache=False)
    line = res.citation()
    assert "capability[]" in line
    v = verify(line)
    assert v.matches and v.bit_identical, v.differences


@pytest.mark.slow
def test_verify_with_another_sampler_version_needs_only_monte_carlo_agreement(default_fit):
    line = default_fit.citation()
    other = line.replace(f"nutpie {fit_module.sampler_version()} ", "nutpie 0.0.1 ")
    other = _alter(other, "draws hash")
    v = verify(other)
    assert v.matches and not v.bits_required  # the numbers still agree within Monte Carlo error ...
    assert v.bit_identical is False  # ... but the draws are not the cited ones, as expected with another version
    assert any("cited with nutpie 0.0.1" in w for w in v.warnings)

"""Reproducible citations and fault handling: bit identity vs Monte Carlo agreement, sampler pinning, failed fits."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest

from riskmodel.cli.main import EXIT_UNHEALTHY, main
from riskmodel.errors import CitationError, FitError
from riskmodel.results.citation import parse_citation
from riskmodel.results.verify import verify
from tests.conftest import ROOT

fit_module = importlib.import_module("riskmodel.results.result")
sampling_module = importlib.import_module("riskmodel.model.sampling")

OLD_FORMAT = (
    "P(worst case) = 0.0026 [90%: 0.0001-0.0099] | riskmodel 0.1.0 | priors baseline@1.1.0 sha256:ac440d08 | "
    "evidence published-evals@1.0.0 sha256:589516bf | system new | nutpie seed 1 | 4x1000 draws"
)


# ------------------------------------------------------------------------------------------------ citation format
def test_old_citation_lines_still_parse_and_new_fields_are_read():
    old = parse_citation(OLD_FORMAT)
    assert (old.sampler, old.sampler_version, old.draws_sha, old.unhealthy) == ("nutpie", "", "", False)
    new = parse_citation(
        OLD_FORMAT.replace("nutpie seed 1", "nutpie 0.16.11 seed 1") + " | draws sha256:c0177185 | diagnostics FAILED"
    )
    assert (new.sampler_version, new.draws_sha, new.unhealthy) == ("0.16.11", "c0177185", True)


def test_another_sampler_is_refused_before_any_refit(monkeypatch, capsys):
    def no_fit(*a, **k):
        raise AssertionError("verify must refuse before fitting")

    monkeypatch.setattr(fit_module, "fit", no_fit)
    with pytest.raises(CitationError, match="sampler 'stan' is not one this version can rerun"):
        verify(OLD_FORMAT.replace("nutpie seed", "stan seed"))
    assert main(["verify", OLD_FORMAT.replace("nutpie seed", "numpyro 0.15.0 seed"), "--no-progress"]) == 2
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
        fit_module.fit(draws=20, chains=1)
    assert info.value.line() == f"sampler: the sampler failed: {message}"
    assert main(["run", "--draws", "20", "--chains", "1", "--no-progress"]) == 2
    out, err = capsys.readouterr()
    assert err == f"riskmodel: error: sampler: the sampler failed: {message}\n"
    assert "P(worst case)" not in out  # nothing is printed as if it were a forecast


def test_compile_failure_is_a_fit_error(monkeypatch):
    def broken(data):
        raise MemoryError()

    monkeypatch.setattr(sampling_module, "compiled_model", broken)
    with pytest.raises(FitError, match="the sampler failed: MemoryError"):
        fit_module.fit(draws=20, chains=1)


@pytest.mark.slow
def test_app_survives_a_failed_fit_with_an_error_panel(data_copy, monkeypatch):
    import nutpie
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    def boom(*a, **k):
        raise RuntimeError("the sampler ran out of memory")

    # no compile: the sampler fails anyway
    monkeypatch.setattr(sampling_module, "compiled_model", lambda data: object())
    monkeypatch.setattr(nutpie, "sample", boom)
    monkeypatch.setenv("RISKMODEL_APP_DRAWS", "50")
    monkeypatch.setenv("RISKMODEL_APP_CHAINS", "2")
    st.cache_resource.clear()  # a cached fit from another test would hide the failure
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    st.cache_resource.clear()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert any("The fit failed" in e and "the sampler ran out of memory" in e for e in errors), errors
    assert not at.metric  # no numbers shown as if they came from a fit


# ------------------------------------------------------------------------------------------------ poor fit
@pytest.fixture(scope="module")
def poor_fit():
    """A fit too short to be trusted (2 chains x 20 draws after 5 tuning steps)."""
    return fit_module.fit(seed=2, chains=2, draws=20, tune=5)


@pytest.mark.slow
def test_poor_fit_is_flagged_in_attributes_report_and_citation(poor_fit):
    assert not poor_fit.healthy and poor_fit.diagnostics.warnings
    assert any("effective sample size" in w for w in poor_fit.diagnostics.warnings)
    line = poor_fit.citation()
    assert line.endswith("| diagnostics FAILED") and parse_citation(line).unhealthy
    tree = poor_fit.to_datatree()
    assert tree.attrs["healthy"] == "no" and "effective sample size" in tree.attrs["diagnostics_warnings"]
    prov = json.loads(tree.attrs["provenance"])
    assert prov["healthy"] is False and prov["diagnostics"]["ok"] is False
    rep = poor_fit.report()
    assert rep["diagnostics"]["ok"] is False and rep["citation"].endswith("diagnostics FAILED")


@pytest.mark.slow
def test_poor_fit_through_the_cli_exits_3_with_warnings(poor_fit, capsys):
    code = main(["run", "--json", "--draws", "20", "--chains", "2", "--seed", "2", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == EXIT_UNHEALTHY
    rep = json.loads(out)
    assert rep["healthy"] is False and rep["diagnostics"]["warnings"]
    assert rep["citation"].endswith("| diagnostics FAILED")
    assert err.startswith("riskmodel: warning:") and "Traceback" not in err
    assert main(["cite", "--draws", "20", "--chains", "2", "--no-progress"]) == EXIT_UNHEALTHY
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith("| diagnostics FAILED")


@pytest.mark.slow
def test_app_shows_a_poor_fit_as_warnings(data_copy, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("RISKMODEL_APP_DRAWS", "20")
    monkeypatch.setenv("RISKMODEL_APP_CHAINS", "2")
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    st.cache_resource.clear()
    assert not at.exception, at.exception
    assert any("effective sample size" in w.value for w in at.warning), [w.value for w in at.warning]
    assert any(c.value.endswith("| diagnostics FAILED") for c in at.code), [c.value for c in at.code]


# ------------------------------------------------------------------------------------------------ reproducibility
@pytest.mark.slow
def test_same_seed_gives_bit_identical_draws_whatever_the_core_count():
    a = fit_module.fit(seed=5, chains=2, draws=200, cores=1)
    b = fit_module.fit(seed=5, chains=2, draws=200, cores=2)
    c = fit_module.fit(seed=6, chains=2, draws=200, cores=2)
    assert a.draws_sha256 == b.draws_sha256 != c.draws_sha256
    assert a.citation() == b.citation()
    prov = a.provenance
    assert prov["sampler"] == "nutpie" and prov["sampler_version"] == prov["dependencies"]["nutpie"]
    assert prov["draws_sha256"] == a.draws_sha256


@pytest.mark.slow
def test_verify_reproduces_a_citation_bit_for_bit_in_a_fresh_process(default_fit):
    line = default_fit.citation()
    assert f"nutpie {fit_module.sampler_version()} seed 1" in line and "| draws sha256:" in line
    env = dict(os.environ)
    ver = subprocess.run(
        [sys.executable, "-m", "riskmodel.cli", "verify", line, "--no-progress"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )
    assert ver.returncode == 0, ver.stdout + ver.stderr
    assert "verified: the citation matches" in ver.stdout
    assert "bit-identical draws: yes" in ver.stdout, ver.stdout
    assert f"refit:   {line}" in ver.stdout  # the fresh process prints the very same line


@pytest.mark.slow
def test_verify_flags_another_sampler_version_and_a_changed_draws_hash(default_fit):
    line = default_fit.citation()
    other = line.replace(f"nutpie {fit_module.sampler_version()} ", "nutpie 0.0.1 ")
    sha = line.split("draws sha256:")[1][:8]
    other = other.replace(f"draws sha256:{sha}", "draws sha256:00000000")
    v = verify(other)
    assert v.matches  # the numbers still agree within Monte Carlo error ...
    assert v.bit_identical is False and "NOT bit-identical" in v.method  # ... but the draws are not the cited ones
    assert any("cited with nutpie 0.0.1" in w for w in v.warnings)

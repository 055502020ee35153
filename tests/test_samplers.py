"""Selectable samplers (``--sampler nutpie|numpyro|pymc``): refused before any work when unknown, missing or asked
for a time limit they cannot keep; named in the citation and the fit store's key; verified with the cited sampler;
and every sampler draws the same posterior (headline numbers agree within their Monte Carlo error)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import riskmodel.results.result as result_mod
from riskmodel.cli.main import main
from riskmodel.errors import CitationError, InputError
from riskmodel.results.citation import parse_citation
from riskmodel.results.result import fit, fit_settings
from riskmodel.results.store import fit_key
from riskmodel.results.verify import cited_file_differences, refit_settings, version_notes
from riskmodel.versions import SAMPLER, SAMPLERS, sampler_version
from tests.conftest import ROOT

RISKMODEL = str(Path(sys.executable).with_name("riskmodel"))
#: Small fits for the alternative samplers (each compiles in every fit: keep them short).
SMALL = {"seed": 3, "chains": 2, "draws": 300, "tune": 300}


@pytest.fixture
def no_sampling(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("reached the sampler: the input was not checked before the expensive work")

    monkeypatch.setattr(result_mod, "_sample", boom)


def _line(default_line: str, sampler: str, version: str) -> str:
    """The default fit's citation with another sampler named in it."""
    return default_line.replace(f"| {SAMPLER} {sampler_version()} seed", f"| {sampler} {version} seed")


def test_the_samplers_and_their_versions():
    assert SAMPLER in SAMPLERS and set(SAMPLERS) == {"nutpie", "numpyro", "pymc"}
    for s in SAMPLERS:
        assert sampler_version(s)[0].isdigit(), s  # the bench/test install has every sampler


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"sampler": "stan"}, "sampler", "unknown sampler 'stan' (known: nutpie, numpyro, pymc)"),
        ({"sampler": "numpyro", "max_seconds": 5}, "max-seconds", "stops only the nutpie sampler"),
        ({"sampler": "pymc", "max_seconds": 5}, "max-seconds", "pymc runs to the end"),
    ],
)
def test_a_bad_sampler_choice_is_refused_before_any_work(no_sampling, kwargs, field, words):
    with pytest.raises(InputError) as err:
        fit(**SMALL, **kwargs, cache=False)
    assert err.value.field == field and words in err.value.reason


def test_a_missing_sampler_library_is_named_with_its_install_command(no_sampling, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "numpyro" else real(name, *a))
    with pytest.raises(InputError) as err:
        fit(**SMALL, sampler="numpyro", cache=False)
    assert err.value.field == "sampler"
    assert "needs numpyro, not installed (pip install 'riskmodel[jax]')" in err.value.reason


def test_the_cli_offers_the_samplers_and_refuses_others(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--sampler", "stan"])
    assert exc.value.code == 2
    assert "invalid choice: 'stan'" in capsys.readouterr().err
    assert main(["run", "--sampler", "numpyro", "--max-seconds", "5", "--no-cache"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "max-seconds" in err[0] and "nutpie" in err[0]


def test_the_sampler_is_part_of_the_fit_store_key():
    from riskmodel.data.evidence import load_evidence
    from riskmodel.data.priors import load_priors

    ps, ev = load_priors("baseline@2.0.0"), load_evidence("published-evals@2.0.0")
    keys = {s: fit_key(fit_settings(ps, ev, 1, 4, 1000, 1000, s)) for s in SAMPLERS}
    assert len(set(keys.values())) == len(SAMPLERS)
    for s in SAMPLERS:
        settings = fit_settings(ps, ev, 1, 4, 1000, 1000, s)
        assert settings["sampler"] == s and settings["sampler_version"] == sampler_version(s)
        assert set(settings["sampler_libraries"]) >= {s if s != "pymc" else "pymc"}


@pytest.mark.slow
def test_a_citation_names_its_sampler_and_verify_takes_every_known_one(default_fit):
    line = default_fit.citation()
    assert f"| {SAMPLER} {sampler_version()} seed 1 |" in line
    for s in SAMPLERS:
        cit = parse_citation(_line(line, s, sampler_version(s)))
        assert cit.sampler == s
        assert cited_file_differences(cit) == ()  # checkable: a known sampler
        assert refit_settings(cit)["sampler"] == s
        notes, required = version_notes(cit, None)
        assert required and notes == []
    with pytest.raises(CitationError, match=r"sampler 'stan' is not one this version can rerun"):
        cited_file_differences(parse_citation(_line(line, "stan", "2.36")))
    notes, required = version_notes(parse_citation(_line(line, "numpyro", "0.0.1")), None)
    assert not required
    assert notes == [
        f"cited with numpyro 0.0.1, refit with numpyro {sampler_version('numpyro')}: different draws are expected; "
        "only agreement within Monte Carlo error can hold"
    ]


def _headlines(res) -> dict[str, tuple[float, float]]:
    """(mean, MCSE) of P(worst case | new) and P(misaligned | claude-3-opus) of a fit."""
    errs = result_mod.headline_errors(res)
    keys = ("P(worst case | new)", "P(misaligned | claude-3-opus)")
    return {k: errs[k][:2] for k in keys}


def _report_headlines(rep: dict) -> dict[str, tuple[float, float]]:
    """The same two numbers from a ``run --json`` report."""
    new, opus = rep["p_worst_case"], rep["per_system"]["claude-3-opus"]["p_misaligned"]
    return {
        "P(worst case | new)": (new["mean"], new["mcse"]),
        "P(misaligned | claude-3-opus)": (opus["mean"], opus["mcse"]),
    }


def _agree(a: dict[str, tuple[float, float]], b: dict[str, tuple[float, float]], label: str) -> None:
    for k, (ma, sa) in a.items():
        mb, sb = b[k]
        assert abs(ma - mb) <= 4 * math.hypot(sa, sb), f"{label}: {k} {ma:.5g} ± {sa:.2g} vs {mb:.5g} ± {sb:.2g}"


@pytest.mark.slow
def test_numpyro_through_the_cli_draws_the_same_posterior_and_verifies_bit_identically(default_fit, tmp_path):
    """``run --sampler numpyro --json`` (2 x 500 draws) in a new process: the stage line and the provenance name
    numpyro, it has no divergences and no gross r_hat, its headline numbers lie within 4 combined MCSE of the default
    nutpie fit's, and its citation (which names numpyro) verifies in another new process with bit-identical draws.

    Health as a whole is not asserted: numpyro's fit of the default key at 4 x 1000 is flagged by the headline rule
    (five headline numbers have a Monte Carlo error above 10%, the largest 12.5%; README "Speed"), and verify checks
    whatever health the line states.
    """
    env = {**os.environ, "RISKMODEL_CACHE_DIR": str(tmp_path)}
    argv = ["run", "--sampler", "numpyro", "--json", "--chains", "2", "--draws", "500", "--tune", "500"]
    run = subprocess.run([RISKMODEL, *argv], capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    assert run.returncode in (0, 3), run.stderr
    assert "riskmodel: sampling with numpyro" in run.stderr
    rep = json.loads(run.stdout)
    prov, diag = rep["provenance"], rep["diagnostics"]
    assert prov["sampler"] == "numpyro" and prov["sampler_version"] == sampler_version("numpyro")
    # no gross failure (a short fit: 2 x 500 gave max r_hat 1.022, above the 1.01 the health check asks of a citation)
    assert diag["divergences"] == 0 and diag["max_r_hat"] <= 1.05
    assert (run.returncode == 0) == rep["healthy"]
    _agree(_report_headlines(rep), _headlines(default_fit), "numpyro vs nutpie")
    line = rep["citation"]
    assert f"| numpyro {sampler_version('numpyro')} seed 1 | 2x500 draws tune 500 |" in line
    env = {**os.environ, "RISKMODEL_CACHE_DIR": str(tmp_path / "other")}
    ver = subprocess.run(
        [RISKMODEL, "verify", line, "--no-progress"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=900
    )
    assert ver.returncode == 0, ver.stdout + ver.stderr
    assert "bit-identical draws: yes (required: same riskmodel and numpyro versions)" in ver.stdout, ver.stdout
    assert f"refit:   {line}" in ver.stdout


@pytest.mark.slow
def test_pymc_nuts_draws_the_same_posterior(default_fit):
    """PyMC's own NUTS on the default priors and evidence (2 x 500): no more than a stray divergence, r_hat within
    1.02, headline numbers within 4 combined MCSE of the default (nutpie) fit, and its sampler in the citation."""
    res = fit(seed=1, chains=2, draws=500, tune=500, sampler="pymc", cache=False)
    d = res.diagnostics
    assert res.sampler == "pymc" and d.divergences <= 2 and d.max_r_hat <= 1.02, d.warnings
    _agree(_headlines(res), _headlines(default_fit), "pymc vs nutpie")
    assert f"| pymc {sampler_version('pymc')} seed 1 |" in res.citation()


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["numpyro", "pymc"])
def test_ctrl_c_stops_the_other_samplers_too(tmp_path, sampler):
    """A real SIGINT while numpyro or PyMC samples: exit 130, one line, nothing written, no citation (as nutpie)."""
    from tests.test_faults import _check_interrupted, _interrupt

    argv = ["run", "--sampler", sampler, "--chains", "2", "--draws", "20000", "--tune", "200", "--json"]
    _check_interrupted(*_interrupt(tmp_path, argv, 4.0))

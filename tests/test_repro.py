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

from riskmodel.cli.main import EXIT_UNHEALTHY, INTERRUPTED_LINE, main
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
    for old, new, kind, path in (
        ("sha256:ed4fd2d0", "sha256:ed4fd2d1", "priors", "priors/baseline/2.0.0.toml"),
        ("sha256:cbc0dd0a", "sha256:cbc0dd0b", "evidence", "evidence/published-evals/2.0.0.toml"),
        ("priors baseline@2.0.0", "priors skeptic@1.0.0", "priors", "priors/skeptic/1.0.0.toml"),
        ("evidence published-evals@2.0.0", "evidence published-evals@1.0.0", "evidence", "published-evals/1.0.0"),
    ):
        v = verify(LINE.replace(old, new))  # fails at once: _no_fit would raise on any refit
        assert not v.matches and v.refit_line == "" and v.bit_identical is None and v.healthy is None
        assert len(v.differences) == 1 and f"citation.{kind}: cites sha256" in v.differences[0]
        assert str(ROOT / kind) in v.differences[0] and path in v.differences[0]  # names the file
    assert main(["verify", LINE.replace("sha256:ed4fd2d0", "sha256:ed4fd2d1"), "--no-progress"]) == 1
    out, err = capsys.readouterr()
    assert "NOT verified" in out and "refit:   none" in out and "priors/baseline/2.0.0.toml" in out
    assert main(["verify", LINE.replace("nutpie 0.16.11 seed", "blackjax 1.2.0 seed"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "sampler 'blackjax' is not one this version can rerun (nutpie, numpyro, pymc)" in err
    for bad, message in (
        (LINE.replace("model 2", "model 1"), "a citation of model 1"),
        (LINE.replace("priors baseline@2.0.0", "priors nosuch@2.0.0"), "cites an unknown release"),
        (LINE.replace("sha256:cbc0dd0a |", "sha256:cbc0dd0a without[no-such-row] |"), "evidence subset that does not"),
    ):
        with pytest.raises(CitationError, match=message):
            verify(bad)


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
    """A real SIGINT in a subprocess: one line, exit 130, no citation, nothing in the fit store or the data folders.

    The signal is sent a moment after the fit says (on stderr) that it is compiling, then that it is sampling, so
    it lands in that stage whatever the machine's speed (fixed delays raced with the fit on a fast, idle machine).
    """
    env = {**os.environ, "RISKMODEL_CACHE_DIR": str(tmp_path / "store")}
    before = snapshot(ROOT / "priors", ROOT / "evidence")
    interrupted = []
    for stage, delay in (("riskmodel: compiling", 2.0), ("riskmodel: sampling", 0.3)):
        # stdout to a file, not a pipe: a fit that ends before its stage (e.g. read from the store) must not block
        # on a full stdout pipe while this loop waits for a stderr line
        out_file = (tmp_path / f"out-{len(interrupted)}-{stage[11:]}.json").open("w+")
        proc = subprocess.Popen(
            [sys.executable, "-m", "riskmodel.cli", "run", "--json", "--seed", "11"],
            stdout=out_file,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        seen = []
        for line in proc.stderr:  # until the stage begins (or the process ends)
            seen.append(line)
            if line.startswith(stage):
                break
        assert seen and seen[-1].startswith(stage), "".join(seen)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=300)
        err = "".join(seen) + rest
        out_file.seek(0)
        out = out_file.read()
        out_file.close()
        if proc.returncode == 0:  # finished before the signal: nothing to test at this stage
            continue
        assert proc.returncode == 130, (stage, err)
        assert "Traceback" not in err and err.strip().splitlines()[-1] == INTERRUPTED_LINE
        assert out == "" and "P(worst case)" not in out, stage
        assert not list((tmp_path / "store").glob("fits/*.nc"))
        interrupted.append(stage)
    assert "riskmodel: compiling" in interrupted  # a compile takes far longer than 2 s: that signal always lands
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
    import xarray as xr

    real = fit_module._sample

    def short(*a, **k):
        out = real(*a, **k)  # the trace, or (trace, stopped) where fits can be stopped by a time limit
        trace = out[0] if isinstance(out, tuple) else out
        cut = {g: trace[g].to_dataset().isel(draw=slice(0, 30)) for g in ("posterior", "sample_stats")}
        cut = xr.DataTree.from_dict(cut)
        return (cut, *out[1:]) if isinstance(out, tuple) else cut

    monkeypatch.setattr(fit_module, "_sample", short)
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


#: Small sampler settings for the A-B-A test: bit identity does not need a healthy fit, only the same inputs.
ABA_SETTINGS = {"seed": 4, "chains": 2, "draws": 200, "tune": 200}


def aba_hashes(order: str) -> dict[str, str]:
    """Fit the sets named by ``order`` (letters A, B, C, in that order, repeats allowed) and return their draw hashes.

    A: the default priors and evidence. B: the same model structure with another prior on p_misaligned (only the
    data values of the cached compiled model change). C: another structure (the reduced evidence fixture, so another
    compiled model). Keys are ``LETTER#k`` for the k-th fit of that letter.
    """
    from dataclasses import replace

    from riskmodel.data.priors import load_priors
    from riskmodel.data.registry import DEFAULT_EVIDENCE, DEFAULT_PRIORS

    ps = load_priors(DEFAULT_PRIORS)
    b = ps.with_parameter(replace(ps["p_misaligned"], params={"alpha": 3.0, "beta": 9.0}, interval90=None))
    sets = {
        "A": (ps, DEFAULT_EVIDENCE),
        "B": (b, DEFAULT_EVIDENCE),
        "C": (ps, str(ROOT / "tests" / "fixtures" / "reduced.toml")),
    }
    out: dict[str, str] = {}
    for letter in order:
        priors, evidence = sets[letter]
        k = sum(key.startswith(letter) for key in out) + 1
        out[f"{letter}#{k}"] = fit_module.fit(priors, evidence, cache=False, **ABA_SETTINGS).draws_sha256
    return out


@pytest.mark.slow
def test_draws_depend_only_on_what_the_citation_names_a_b_a():
    """A, B, C, A in this process and B, A, B in a new one: each set's draws hash the same whatever came before.

    B after A here against B first in a fresh process is the case of issue 14 (``compare`` fitted baseline@1.1.0
    after 1.0.0 and got other draws than ``run`` of it alone).
    """
    here = aba_hashes("ABCA")
    code = "import json; from tests.test_repro import aba_hashes; print(json.dumps(aba_hashes('BAB')))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=900, cwd=ROOT, env=dict(os.environ)
    )
    assert proc.returncode == 0, proc.stderr
    there = json.loads(proc.stdout.strip().splitlines()[-1])
    assert here["A#1"] == here["A#2"] == there["A#1"]
    assert here["B#1"] == there["B#1"] == there["B#2"]
    assert len({here["A#1"], here["B#1"], here["C#1"]}) == 3  # the three sets do differ


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


# ------------------------------------------------------------------------------------------------ altered citations
@pytest.fixture
def stored_refits(monkeypatch):
    """verify's refits go through the session's fit store, so that each setting is sampled once per session.

    A stored fit is the very fit the same settings sample (the store is keyed by everything that determines the
    draws and checks their sha256 on every read); verify itself never reads the store, and
    ``tests/test_cli.py::test_run_json_then_verify_in_a_new_process`` runs a real refit in a fresh process.
    """
    real = fit_module.fit

    def fit(*args, **kwargs):
        kwargs["cache"] = True
        return real(*args, **kwargs)

    monkeypatch.setattr(verify_module, "fit", fit)


def _flip(hexdigits: str) -> str:
    """The same hash prefix with its last digit changed."""
    return hexdigits[:-1] + ("0" if hexdigits[-1] != "0" else "1")


def _bump(text: str) -> str:
    """A cited number plus one unit in its last digit."""
    from decimal import Decimal

    d = Decimal(text)
    return str(d + Decimal(1).scaleb(d.as_tuple().exponent))


def _numbers(cit, mean: str | None = None, lower: str | None = None, upper: str | None = None) -> tuple[str, str]:
    head = f"P(worst case) = {cit.mean_text} [90%: {cit.lower_text}, {cit.upper_text}]"
    return head, f"P(worst case) = {mean or cit.mean_text} [90%: {lower or cit.lower_text}, {upper or cit.upper_text}]"


def _other_evidence_release() -> str:
    from riskmodel.data.evidence import evidence_store

    return next(r.ref for r in evidence_store().releases() if r.name != "published-evals")


#: One edit of one field of the default fit's (healthy) citation line -> (old, new) substrings.
EDITS = {
    "value x3": lambda c, s: _numbers(c, mean=f"{c.mean * 3:.2g}"),
    "value +1 in its last digit": lambda c, s: _numbers(c, mean=_bump(c.mean_text)),
    "value, 4 digits correctly rounded": lambda c, s: _numbers(c, mean=f"{s.mean:.4g}"),
    "interval lower x3": lambda c, s: _numbers(c, lower=f"{c.lower * 3:.2g}"),
    "interval upper +1 in its last digit": lambda c, s: _numbers(c, upper=_bump(c.upper_text)),
    "package version": lambda c, s: (f"riskmodel {c.package} model", "riskmodel 0.1.9 model"),
    "model version": lambda c, s: ("model 2 |", "model 1 |"),
    "priors name": lambda c, s: (f"priors {c.priors} ", "priors skeptic@1.0.0 "),
    "priors version": lambda c, s: (f"priors {c.priors} ", "priors baseline@1.1.0 "),
    "priors hash": lambda c, s: (f"sha256:{c.priors_sha}", f"sha256:{_flip(c.priors_sha)}"),
    "evidence name": lambda c, s: (f"evidence {c.evidence} ", f"evidence {_other_evidence_release()} "),
    "evidence version": lambda c, s: (f"evidence {c.evidence} ", "evidence published-evals@1.0.0 "),
    "evidence hash": lambda c, s: (f"sha256:{c.evidence_sha}", f"sha256:{_flip(c.evidence_sha)}"),
    "evidence subset capability[]": lambda c, s: (
        f"sha256:{c.evidence_sha} |",
        f"sha256:{c.evidence_sha} capability[] |",
    ),
    "evidence subset, unknown row": lambda c, s: (
        f"sha256:{c.evidence_sha} |",
        f"sha256:{c.evidence_sha} without[x] |",
    ),
    "system": lambda c, s: ("| system new |", "| system claude-3-opus |"),
    "sampler name": lambda c, s: (f"| nutpie {c.sampler_version} seed", f"| stan {c.sampler_version} seed"),
    "sampler version": lambda c, s: (f"| nutpie {c.sampler_version} seed", "| nutpie 0.0.1 seed"),
    "seed": lambda c, s: (f" seed {c.seed} |", f" seed {c.seed + 1} |"),
    "chains": lambda c, s: (f"| {c.chains}x{c.draws} draws", f"| {c.chains - 1}x{c.draws} draws"),
    "draws": lambda c, s: (f"| {c.chains}x{c.draws} draws", f"| {c.chains}x{c.draws - 100} draws"),
    "tune": lambda c, s: (f"draws tune {c.tune} |", f"draws tune {c.tune - 100} |"),
    "draws hash": lambda c, s: (f"draws sha256:{c.draws_sha}", f"draws sha256:{_flip(c.draws_sha)}"),
    "health suffix added": lambda c, s: (
        f"draws sha256:{c.draws_sha}",
        f"draws sha256:{c.draws_sha} | diagnostics FAILED",
    ),
}
#: Edits of two fields at once: another version makes bit identity unverifiable (docs/reproducibility.md).
COMBINED = {
    "seed, with another package version": ("seed", "package version"),
    "seed, with another sampler version": ("seed", "sampler version"),
}
#: What verify must say of each edit with the installed versions: "fail" (NOT verified, exit 1), "fail at once"
#: (NOT verified without a refit: a cited file differs), "error" (cannot be checked: exit 2, before any refit) or
#: "pass" (the edited line is still true, or only Monte Carlo agreement can be checked). docs/reproducibility.md.
EXPECTED = {
    "value x3": "fail",
    "value +1 in its last digit": "fail",
    "value, 4 digits correctly rounded": "pass",
    "interval lower x3": "fail",
    "interval upper +1 in its last digit": "fail",
    "package version": "pass",
    "model version": "error",
    "priors name": "fail at once",
    "priors version": "fail at once",
    "priors hash": "fail at once",
    "evidence name": "fail at once",
    "evidence version": "fail at once",
    "evidence hash": "fail at once",
    "evidence subset capability[]": "fail",
    "evidence subset, unknown row": "error",
    "system": "fail",
    "sampler name": "error",
    "sampler version": "pass",
    "seed": "fail",
    "chains": "fail",
    "draws": "fail",
    "tune": "fail",
    "draws hash": "fail",
    "health suffix added": "fail",
    "seed, with another package version": "pass",
    "seed, with another sampler version": "pass",
}


def _altered(line: str, name: str, summary) -> str:
    for field in COMBINED.get(name, (name,)):
        old, new = EDITS[field](parse_citation(line), summary)
        assert old in line, (field, old, line)
        line = line.replace(old, new, 1)
    return line


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_altered_field_of_a_citation(default_fit, stored_refits, monkeypatch, name):
    """Every field of a healthy citation, edited: the outcome in docs/reproducibility.md's table, and why."""
    from riskmodel.model.summaries import summarize

    summary = summarize(default_fit.quantities["p_worst_case"].sel(system="new"))
    line = default_fit.citation()
    edited = _altered(line, name, summary)
    assert edited != line
    expected = EXPECTED[name]
    if expected in ("error", "fail at once"):
        monkeypatch.setattr(verify_module, "fit", _no_fit)  # refused before any refit
    if expected == "error":
        with pytest.raises(CitationError):
            verify(edited)
        return
    v = verify(edited)
    if expected == "fail at once":
        assert (
            not v.matches and v.refit_line == "" and ("priors/" in v.differences[0] or "evidence/" in v.differences[0])
        )
        return
    assert v.matches == (expected == "pass"), (name, v.differences, v.method)
    if name in COMBINED or name == "sampler version":
        assert not v.bits_required and any("cited with" in w for w in v.warnings)
    if name in ("seed", "chains", "draws", "tune", "draws hash", "evidence subset capability[]"):
        assert v.bits_required and not v.bit_identical
        assert any("NOT bit-identical" in d for d in v.differences)
    if name.startswith(("value", "interval", "system")) and expected == "fail":
        assert v.bit_identical and any("the refit's draws are the cited ones" in d for d in v.differences)


@pytest.mark.slow
def test_the_genuine_line_verifies_and_another_machine_needs_only_monte_carlo(default_fit, stored_refits, capsys):
    line = default_fit.citation()
    v = verify(line)
    assert v.matches and v.bit_identical and v.bits_required and v.healthy and v.refit_line == line
    seed = _altered(line, "seed", None)
    v = verify(seed, require_bits=False)  # the seed's edit is then only a Monte Carlo question
    assert v.matches and not v.bits_required and not v.bit_identical
    assert any("another machine" in w for w in v.warnings)
    assert main(["verify", seed, "--another-machine", "--no-progress"]) == 0
    assert main(["verify", _altered(line, "sampler version", None), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "warning" not in out and err.count("riskmodel: warning: cited with nutpie 0.0.1") == 1  # once, stderr
    assert main(["verify", seed, "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "NOT verified" in out and "NOT bit-identical" in out and "bit-identical draws: no (required" in out


@pytest.mark.slow
def test_deleting_the_health_suffix_of_an_unhealthy_citation_fails(poor_fit):
    """Real refits (no fit store): a poor fit's line verifies as cited, and not without its suffix."""
    line = poor_fit.citation()
    v = verify(line)
    assert v.matches and v.healthy is False and v.bit_identical, v.differences
    v = verify(line.removesuffix(" | diagnostics FAILED"))
    assert not v.matches and "does not say 'diagnostics FAILED'" in " ".join(v.differences)


@pytest.mark.slow
def test_a_genuine_subset_citation_verifies(default_fit, stored_refits):
    sub = default_fit.evidence.with_capability_likelihood(False)
    res = fit_module.fit(evidence=sub, seed=1)
    line = res.citation()
    assert "capability[]" in line
    row = sorted(r.id for r in default_fit.evidence.likelihood_rows())[0]
    rows = fit_module.fit(evidence=default_fit.evidence.without({row}), seed=1, chains=2, draws=300, tune=300)
    rows_line = rows.citation()
    assert f"without[{row}]" in rows_line
    # each verifies in a new process (as a reader of the forecast would run it), bit for bit
    for cited in (line, rows_line):  # the second with the health as cited, whatever it is
        proc = subprocess.run(
            [sys.executable, "-m", "riskmodel.cli", "verify", cited, "--no-progress"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "bit-identical draws: yes" in proc.stdout, proc.stdout

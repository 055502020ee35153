"""The command-line contract: bad input exits 2 with one line; the defaults run end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from riskmodel.cli import main
from tests.conftest import ROOT, snapshot

BAD_CALLS = [
    (["run", "--priors", "nosuch@1.0.0"], "unknown priors set"),
    (["run", "--priors", "baseline@9.9.9"], "no released version 9.9.9"),
    (["run", "--priors", "baseline@1.0"], "not a semantic version"),
    (["run", "--evidence", "nosuch"], "unknown evidence set"),
    (["run", "--system", "hal-9000"], "unknown system 'hal-9000'"),
    (["run", "--draws", "-5"], "draws: must be a whole number"),
    (["run", "--priors", "/nonexistent/x.toml"], "cannot read"),
    (["run", "--seed", "abc"], "invalid int value"),
    (["verify", "P(worst case) = lots"], "not a riskmodel citation line"),
    (
        [
            "verify",
            "P(worst case) = 2 [90%: 0.1, 0.2] | riskmodel 0.2.0 model 2 | priors baseline@2.0.0 sha256:12345678 | "
            "evidence published-evals@2.0.0 sha256:12345678 | system new | nutpie 0.16.11 seed 1 | 4x1000 draws "
            "tune 1000 | draws sha256:12345678",
        ],
        "not a probability interval",
    ),
    (
        [
            "verify",
            "P(worst case) = 0.1 [90%: 0.01, 0.2] | riskmodel 0.2.0 model 2 | priors nosuch@1.0.0 sha256:12345678 | "
            "evidence published-evals@2.0.0 sha256:12345678 | system new | nutpie 0.16.11 seed 1 | 4x1000 draws "
            "tune 1000 | draws sha256:12345678",
        ],
        "cites an unknown release",
    ),
    (
        [
            "verify",
            "P(worst case) = 0.1 [90%: 0.01-0.2] | riskmodel 0.1.0 | priors baseline@1.1.0 sha256:ac440d08 | "
            "evidence published-evals@1.0.0 sha256:589516bf | system new | nutpie seed 1 | 4x1000 draws",
        ],
        "a citation of riskmodel 0.1.0 (model 1)",
    ),
    (["run", "--priors", "baseline@1.1.0"], "written for model 1"),
    (["priors", "show", "baseline@7.0.0"], "no released version"),
    (["priors", "diff", "baseline@2.0.0", "../../etc/passwd@1.0.0"], "cannot read"),
    (["priors", "diff", "baseline@2.0.0", "Base line@1.0.0"], "not a valid name"),
    (["compare", "baseline@2.0.0", "published-evals@2.0.0"], "cannot compare a priors set with a evidence set"),
    (["evidence", "validate", "/nonexistent.toml"], "cannot read"),
    (["frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_CALLS, ids=[" ".join(a)[:40] for a, _ in BAD_CALLS])
def test_bad_input_exits_2_with_one_line(argv, message, capsys):
    before = snapshot(ROOT / "priors", ROOT / "evidence")
    with pytest.raises(SystemExit) as ex:
        sys.exit(main(argv))
    assert ex.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("riskmodel: error:"), err
    assert message in err
    assert "Traceback" not in err
    assert snapshot(ROOT / "priors", ROOT / "evidence") == before


def test_tampered_release_exits_2(data_copy, capsys):
    path = data_copy / "evidence" / "published-evals" / "2.0.0.toml"
    path.write_bytes(path.read_bytes() + b"\n")
    assert main(["run", "--evidence", "published-evals@2.0.0"]) == 2
    err = capsys.readouterr().err
    assert "differ from the registered sha256" in err and str(path) in err


def test_priors_list_show_diff(capsys):
    assert main(["priors", "list"]) == 0
    out = capsys.readouterr().out
    assert "baseline@1.0.0" in out and "baseline@2.0.0" in out and "model 1" in out
    assert main(["priors", "show", "baseline@2.0.0"]) == 0
    out = capsys.readouterr().out
    assert "p_misaligned" in out and "capability evaluation" in out and "tail_df" in out
    assert main(["evidence", "show", "published-evals@2.0.0"]) == 0
    assert "reference only" in capsys.readouterr().out


def _cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    return subprocess.run(
        [sys.executable, "-m", "riskmodel.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


@pytest.mark.slow
def test_run_json_then_verify_in_a_new_process():
    run = _cli("run", "--json", "--seed", "7", "--no-progress")
    assert run.returncode == 0, run.stderr
    rep = json.loads(run.stdout)
    for key in (
        "p_worst_case",
        "p_worst_case_prior",
        "exceedance",
        "p_misaligned",
        "bayes_factor_worst_case",
        "assumptions",
        "per_system",
        "diagnostics",
        "provenance",
        "citation",
    ):
        assert key in rep
    for key in ("mean", "lower", "upper"):
        assert 0 <= rep["p_worst_case"][key] <= 1
    assert set(rep["diagnostics"]) >= {"divergences", "max_r_hat", "min_ess_bulk"}
    prov = rep["provenance"]
    assert prov["priors"]["version"] == "2.0.0" and prov["seed"] == 7 and prov["draws"] == 1000
    assert set(prov["dependencies"]) >= {"pymc", "pytensor", "arviz", "numpy", "nutpie"}
    assert rep["citation"].startswith("P(worst case) = ")
    ver = _cli("verify", rep["citation"], "--no-progress")
    assert ver.returncode == 0, ver.stdout + ver.stderr
    assert "Monte Carlo" in ver.stdout and "verified" in ver.stdout and "bit-identical" in ver.stdout


@pytest.mark.slow
def test_forged_citation_does_not_verify(default_fit, capsys):
    line = default_fit.citation()
    assert main(["verify", line, "--no-progress"]) == 0
    mean = line.split(" = ")[1].split(" ")[0]
    forged = line.replace(f"= {mean} ", f"= {float(mean) * 3:.2g} ", 1)
    capsys.readouterr()
    assert main(["verify", forged, "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "NOT verified" in out and "mean: cited" in out
    wrong_hash = line.replace("sha256:", "sha256:0", 1)
    assert main(["verify", wrong_hash, "--no-progress"]) in (1, 2)


@pytest.mark.slow
def test_human_output_has_summary_and_citation(default_fit, capsys):
    assert main(["run", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "P(worst case)" in out and "per system" in out and "claude-3-opus" in out
    assert out.strip().splitlines()[-1] == default_fit.citation()


@pytest.mark.slow
def test_cite_and_compare(default_fit, capsys):
    assert main(["cite", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == default_fit.citation() and "@misc{riskmodel_baseline_1_1_0_new_1" in out
    assert main(["compare", "baseline@1.0.0", "baseline@1.1.0", "--draws", "300", "--no-progress"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    assert "baseline@1.0.0" in header and "baseline@1.1.0" in header
    assert "log10 P(W) if coordination certain" in out and out.count("P(worst case) = ") == 2

"""The command-line contract: bad input exits 2 with one line; the defaults run end to end."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import subprocess
import sys

import pytest

from riskmodel.cli import main
from tests.conftest import ROOT, snapshot

main_module = importlib.import_module("riskmodel.cli.main")

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
def test_run_json_then_verify_in_a_new_process(default_fit):
    """``run --json`` in a new process reads the shared default fit from the session's fit store (no sampling, so
    its health is the default fit's, not that of a short fit); ``verify`` in another new process refits for real
    and must give bit-identical draws and the very same line."""
    run = _cli("run", "--json", "--no-progress")
    assert run.returncode == (0 if default_fit.healthy else 3), run.stderr
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
    assert prov["priors"]["version"] == "2.0.0" and prov["seed"] == 1 and prov["draws"] == 1000
    assert prov["draws_sha256"] == default_fit.draws_sha256
    assert set(prov["dependencies"]) >= {"pymc", "pytensor", "arviz", "numpy", "nutpie"}
    line = rep["citation"]
    assert line == default_fit.citation()
    ver = _cli("verify", line, "--no-progress")
    assert ver.returncode == 0, ver.stdout + ver.stderr
    assert "verified: the citation matches" in ver.stdout
    assert "bit-identical draws: yes (required" in ver.stdout, ver.stdout
    assert f"refit:   {line}" in ver.stdout  # the fresh process prints the very same line


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
    assert main(["verify", wrong_hash, "--no-progress"]) == 1  # a cited file differs: no refit
    out = capsys.readouterr().out
    assert "NOT verified" in out and "priors/baseline/2.0.0.toml" in out and "refit:   none" in out


@pytest.mark.slow
def test_human_output_has_summary_and_citation(default_fit, capsys):
    assert main(["run", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "P(worst case)" in out and "per system" in out and "claude-3-opus" in out
    assert out.strip().splitlines()[-1] == default_fit.citation()
    sampler = next(x for x in out.splitlines() if x.startswith("sampler: "))
    assert "(at most 1.01)" in sampler and "(at least 400)" in sampler
    assert "warning" not in out  # warnings go to stderr, once


@pytest.mark.slow
def test_cite_and_compare(default_fit, capsys):
    assert main(["cite", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == default_fit.citation() and "@misc{riskmodel_baseline_2_0_0_new_1" in out
    argv = ["compare", "baseline@2.0.0", "skeptic@1.0.0", "--chains", "2", "--draws", "300", "--tune", "300"]
    code = main([*argv, "--no-progress"])
    out, err = capsys.readouterr()
    header = out.splitlines()[0]
    assert "baseline@2.0.0" in header and "skeptic@1.0.0" in header
    assert "log10 P(W) if coordination certain" in out and out.count("P(worst case) = ") == 2
    # short fits may fail their health checks: then each failed check is one stderr line naming its fit, exit 3
    warnings = [x for x in err.splitlines() if x.startswith("riskmodel: warning:")]
    assert code == (3 if warnings else 0) and len(warnings) == len(set(warnings))
    refs = ("baseline@2.0.0", "skeptic@1.0.0")
    assert all(x.split(": ")[2] in refs for x in warnings)
    assert "warning" not in out and out.count("diagnostics FAILED") == len({x.split(": ")[2] for x in warnings})


# ------------------------------------------------------------------------------------------------ a readable CLI
def _arguments(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("riskmodel",)):
    """(command, argument, help) of every argument of every command and subcommand, and of the commands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield " ".join(path), name, helps.get(name)
                yield from _arguments(sub, (*path, name))
        else:
            yield " ".join(path), "/".join(action.option_strings) or action.dest, action.help


def test_every_argument_of_every_command_has_help():
    from riskmodel.cli.main import build_parser

    args = list(_arguments(build_parser()))
    missing = [f"{cmd} {arg}" for cmd, arg, text in args if not text or not text.strip() or text == argparse.SUPPRESS]
    assert not missing, missing
    assert len(args) > 60  # every subcommand was walked (run, verify, priors release, sensitivity, cache, ...)


def test_version_and_the_exit_codes_in_the_top_level_help(capsys):
    from riskmodel.versions import package_version, sampler_version

    with pytest.raises(SystemExit) as ex:
        main(["--version"])
    assert ex.value.code == 0
    out = capsys.readouterr().out
    assert out == f"riskmodel {package_version()} (model 2, default sampler nutpie {sampler_version()})\n"
    with pytest.raises(SystemExit) as ex:
        main(["--help"])
    assert ex.value.code == 0
    out = capsys.readouterr().out
    parts = re.split(r"\n  ([0-9]+) +", out[out.index("exit codes:") :].split("\n\n")[0])
    codes = {code: " ".join(text.split()) for code, text in zip(parts[1::2], parts[2::2], strict=True)}
    for code, meaning in (
        ("0", "success"),
        ("1", "internal bug"),
        ("2", "bad input"),
        ("3", "health checks"),
        ("130", "interrupted"),
    ):
        assert meaning in codes[code], (code, codes)
    assert "``" not in out  # prose, not a code comment
    proc = subprocess.run(
        [sys.executable, "-m", "riskmodel.cli", "--version"], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert proc.returncode == 0 and proc.stdout.startswith("riskmodel ") and proc.stderr == ""


@pytest.mark.parametrize(
    ("x", "threshold", "text"),
    [
        (1.0104, 1.01, "1.0104"),
        (1.00999, 1.01, "1.00999"),
        (1.01, 1.01, "1.01"),
        (399.6, 400, "399.6"),
        (1.2, 1.01, "1.2"),
    ],
)
def test_a_number_past_a_threshold_never_prints_as_the_threshold(x, threshold, text):
    from riskmodel.model.diagnostics import fmt_vs as _vs

    assert _vs(x, threshold) == text


def test_threshold_digits_on_many_values_near_the_thresholds():
    import numpy as np

    from riskmodel.model.diagnostics import fmt_vs as _vs

    rng = np.random.default_rng(0)
    for threshold in (1.01, 400.0):
        for x in threshold * (1 + rng.normal(0, 1e-3, 2000) * rng.choice([1, 1e-3, 1e-6], 2000)):
            y = float(_vs(float(x), threshold))
            assert (y > threshold) == (x > threshold) and (y < threshold) == (x < threshold), (x, y)


def test_priors_show_wraps_rationales_without_cutting_them(capsys, monkeypatch):
    from riskmodel.data.priors import PARAMETERS, load_priors

    monkeypatch.setenv("COLUMNS", "70")
    assert main(["priors", "show", "baseline@2.0.0"]) == 0
    out = capsys.readouterr().out
    flat = " ".join(out.split())
    ps = load_priors("baseline@2.0.0")
    for name in PARAMETERS:
        assert " ".join(ps[name].rationale.split()) in flat, name  # every word, none cut
        if ps[name].source:
            assert " ".join(("source: " + ps[name].source).split()) in flat, name
    assert " ".join(ps.summary.split()) in flat and " ".join(ps.changelog.split()) in flat
    wrapped = [x for x in out.splitlines() if x.startswith("    ")]
    assert wrapped and all(len(x) <= 69 or " " not in x.strip() for x in wrapped)  # only a lone long word is longer


def test_evidence_show_shortens_findings_between_words(capsys):
    from riskmodel.data.evidence import load_evidence

    assert main(["evidence", "show", "published-evals@2.0.0"]) == 0
    out = capsys.readouterr().out
    ev = load_evidence("published-evals@2.0.0")
    findings = {r.id: r.published for r in ev.rows if "finding: " in main_module._row_value(r)}
    assert findings
    for line in out.splitlines():
        row_id = line.split(" ", 1)[0]
        if row_id in findings:
            shown = line.split("finding: ", 1)[1].split("  ")[0].removesuffix(" [...]").split()
            words = findings[row_id].split()
            assert shown == words[: len(shown)], (row_id, shown)  # whole words, a prefix of the finding


def test_a_closed_output_pipe_stops_quietly():
    """``riskmodel priors show ... | head``: the reader closes the pipe; one exit code, no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write
    proc = subprocess.run(
        [sys.executable, "-m", "riskmodel.cli", "priors", "show", "baseline@2.0.0"],
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    os.close(write_end)
    assert proc.returncode == main_module.EXIT_BROKEN_PIPE and proc.stderr == "", proc.stderr


def test_the_health_warnings_print_a_failed_threshold_with_enough_digits():
    """diagnose()'s own warnings (what run, the app and verify print) never print r_hat 1.0104 as '1.01 > 1.01'."""
    import numpy as np
    import xarray as xr

    from riskmodel.model.diagnostics import diagnose

    base = np.random.default_rng(1).normal(0, 1, (2, 400))

    def fit_with_shift(shift: float):
        a = base.copy()
        a[1] += shift  # chains that disagree a little more with every step
        tree = xr.DataTree.from_dict(
            {
                "posterior": xr.Dataset({"x_block": (("chain", "draw"), a)}),
                "sample_stats": xr.Dataset({"diverging": (("chain", "draw"), np.zeros((2, 400), bool))}),
            }
        )
        return diagnose(tree, ["x_block"])

    # the first shift whose r_hat is just past the threshold (below 1.0105, so 3 digits would print "1.01")
    d = next(d for d in map(fit_with_shift, np.linspace(0.0, 0.6, 601)) if d.max_r_hat > 1.01)
    assert d.max_r_hat < 1.0105
    line = next(w for w in d.warnings if "r_hat" in w)
    printed = line.split("max r_hat ")[1].split(" ")[0]
    assert float(printed) > 1.01, line

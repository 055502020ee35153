"""Regression tests for the hostile cases of issue 14 (reliability): each gives a one-line typed error, a flagged
(never healthy) result or a correct one, and writes nothing into the data folders.

Cases that would need MCMC are checked to fail *before* it: the sampler is replaced by a function that fails the
test if it is ever reached (:func:`no_sampling`). The few that do sample are marked slow and use small fits.
"""

from __future__ import annotations

import math
import os
import re

import numpy as np
import pytest
import xarray as xr

from riskmodel.cli.main import main
from riskmodel.data.distributions import check_interval, check_params, elicit_interval, frozen
from riskmodel.data.evidence import parse_evidence
from riskmodel.data.features import Context
from riskmodel.data.priors import parse_priors
from riskmodel.errors import EvidenceError, FitError, InputError, PriorError, RiskmodelError
from riskmodel.interactive.whatif import Observation, what_if
from riskmodel.model.diagnostics import Diagnostics, diagnose, with_headlines
from riskmodel.model.prior import check_prior_mass, degenerate_parameters
from riskmodel.results import result as result_mod
from tests.conftest import ROOT, snapshot

BASE = (ROOT / "priors" / "baseline" / "2.0.0.toml").read_text()
EVIDENCE = (ROOT / "evidence" / "published-evals" / "2.0.0.toml").read_text()


def with_param(name: str, block: str, text: str = BASE) -> str:
    """The baseline prior file with the table of parameter ``name`` replaced by ``block``."""
    out, n = re.subn(
        rf"(\[parameters\.{name}\]\n)(.*?)(?=\n\[)", lambda m: m.group(1) + block, text, count=1, flags=re.S
    )
    assert n == 1, name
    return out


def deep(text: str, depth: int = 5000) -> str:
    """``text`` with a value nested ``depth`` arrays deep in front of it."""
    return "x = " + "[" * depth + "]" * depth + "\n" + text


@pytest.fixture
def no_sampling(monkeypatch):
    """Fail the test if a fit reaches the sampler (the case must be refused before any MCMC)."""

    def boom(*args, **kwargs):
        raise AssertionError("reached the sampler: the input was not checked before the expensive work")

    monkeypatch.setattr(result_mod, "_sample", boom)


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def one_line(code: int, err: str, *, contains: str = "") -> str:
    """Exit 2 and exactly one ``riskmodel: error:`` line on stderr (no traceback)."""
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("riskmodel: error: "), err
    assert contains in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def unchanged(data_copy):
    """The data folders must be byte-identical after the test."""
    before = snapshot(data_copy / "priors", data_copy / "evidence")
    yield data_copy
    assert snapshot(data_copy / "priors", data_copy / "evidence") == before, "a refused case wrote into the data"


# ------------------------------------------------------------------------------------------------ files
@pytest.mark.parametrize("kind", ["prior", "evidence", "registry"])
def test_toml_nested_5000_deep_is_one_line(unchanged, tmp_path, capsys, kind):
    if kind == "prior":
        f = tmp_path / "p.toml"
        f.write_text(deep(BASE))
        argv = ["priors", "show", str(f)]
    elif kind == "evidence":
        f = tmp_path / "e.toml"
        f.write_text(deep(EVIDENCE))
        argv = ["evidence", "validate", str(f)]
    else:
        reg = unchanged / "priors" / "registry.toml"
        saved = reg.read_bytes()
        reg.write_text(deep(saved.decode()))
        try:
            one_line(*cli(["priors", "list"], capsys)[::2], contains="nested more than")
        finally:
            reg.write_bytes(saved)
        return
    one_line(*cli(argv, capsys)[::2], contains="nested more than")


@pytest.mark.parametrize("what", ["directory", "fifo"])
def test_released_file_replaced_by_a_directory_or_fifo(unchanged, capsys, no_sampling, what):
    path = unchanged / "priors" / "baseline" / "2.0.0.toml"
    saved = path.read_bytes()
    path.unlink()
    (path.mkdir if what == "directory" else lambda: os.mkfifo(path))()
    try:
        one_line(*cli(["run", "--draws", "100"], capsys)[::2], contains="not a regular file")
    finally:
        path.rmdir() if what == "directory" else path.unlink()
        path.write_bytes(saved)


@pytest.mark.parametrize("arg", ["/dev/zero", "DIR", "FIFO"])
def test_priors_option_naming_a_device_directory_or_fifo(unchanged, tmp_path, capsys, no_sampling, arg):
    if arg == "DIR":
        arg = str(tmp_path) + "/"
    elif arg == "FIFO":
        arg = str(tmp_path / "pipe.toml")
        os.mkfifo(arg)
    one_line(*cli(["run", "--priors", arg], capsys)[::2], contains="not a regular file")


def test_file_larger_than_the_cap_is_refused_without_reading_it(unchanged, tmp_path, capsys, no_sampling):
    big = tmp_path / "big.toml"
    with open(big, "wb") as fh:
        fh.truncate(64 * 2**20)  # sparse: 64 MiB that cost nothing to make
    one_line(*cli(["run", "--priors", str(big)], capsys)[::2], contains="larger than")


def test_evidence_using_the_reserved_system_name_new(unchanged, tmp_path, capsys):
    f = tmp_path / "e.toml"
    f.write_text(re.sub(r'^system = "[^"]+"', 'system = "new"', EVIDENCE, count=1, flags=re.M))
    one_line(*cli(["evidence", "validate", str(f)], capsys)[::2], contains="reserved")


# ------------------------------------------------------------------------------------------------ numbers
LOGNORMAL = 'distribution = "LogNormal"\nparams = {{ mu = {mu}, sigma = 1.0 }}\nrationale = "hostile"\n'


def test_lognormal_mu_1000_is_named_not_an_overflow_traceback(unchanged, tmp_path, capsys):
    text = with_param("intercept_spread", LOGNORMAL.format(mu="1000.0"))
    with pytest.raises(PriorError, match=r"parameters\.intercept_spread\.params\.mu: mu must be within \+/-700"):
        parse_priors(text, file="p.toml")
    f = tmp_path / "p.toml"
    f.write_text(text)
    one_line(*cli(["priors", "show", str(f)], capsys)[::2], contains="intercept_spread")
    with pytest.raises(PriorError, match="overflows"):
        frozen("LogNormal", {"mu": 1000.0, "sigma": 1.0})


def test_documented_limits_hold_after_elicitation():
    """An interval beyond +/-1e6 is refused; an elicited Normal passes the same parameter checks as a typed one."""
    with pytest.raises(PriorError, match=r"within \+/-1e\+06"):
        check_interval("Normal", -1e8, 1e8)
    p = elicit_interval("Normal", -1e6, 1e6)
    assert p == check_params("Normal", p, file=None, field="x")
    assert math.isclose(p["sigma"], 1e6 / 1.6448536269514722, rel_tol=1e-12)  # (high - low) / (2 z_0.95)
    with pytest.raises(PriorError):
        check_params("Normal", {"mu": 0.0, "sigma": math.inf}, file=None, field="x")


@pytest.mark.parametrize(
    ("param", "block"),
    [
        ("p_misaligned", 'distribution = "Beta"\nparams = { alpha = 0.01, beta = 0.01 }\nrationale = "h"\n'),
        ("intercept_aligned", 'distribution = "Normal"\nparams = { mu = 0.0, sigma = 1e6 }\nrationale = "h"\n'),
        ("intercept_aligned", 'distribution = "Normal"\ninterval90 = [-1e6, 1e6]\nrationale = "h"\n'),
        ("intercept_spread", LOGNORMAL.format(mu="100.0")),
        ("intercept_spread", 'distribution = "Gamma"\nparams = { alpha = 1.0, beta = 1e-6 }\nrationale = "h"\n'),
    ],
)
def test_degenerate_priors_are_refused_before_mcmc(unchanged, tmp_path, capsys, no_sampling, param, block):
    """Beta(0.01, 0.01), Normal sd 1e6 (given or elicited), a LogNormal at e^100: refused in milliseconds, named."""
    ps = parse_priors(with_param(param, block), file="p.toml")
    assert [b[0] for b in degenerate_parameters(ps)] == [param]
    with pytest.raises(PriorError, match=rf"parameters\.{param}: prior predictive check failed: {param} puts"):
        check_prior_mass(ps)
    f = tmp_path / "p.toml"
    f.write_text(with_param(param, block))
    one_line(*cli(["run", "--priors", str(f), "--no-cache"], capsys)[::2], contains="prior predictive check")


def test_prior_check_passes_every_released_model_2_prior_set():
    from riskmodel.data.priors import load_priors

    for ref in ("baseline@2.0.0", "skeptic@1.0.0"):
        assert degenerate_parameters(load_priors(ref)) == []


def test_degenerate_mass_is_exact():
    """The check's mass is the prior's CDF: Beta(0.01, 0.01) puts 2 * I_{1e-4}(0.01, 0.01) within 1e-4 of 0 or 1."""
    from scipy import special

    ps = parse_priors(
        with_param("p_misaligned", 'distribution = "Beta"\nparams = { alpha = 0.01, beta = 0.01 }\nrationale = "h"\n')
    )
    (name, mass, _), *_ = degenerate_parameters(ps)
    assert name == "p_misaligned"
    assert math.isclose(mass, 2 * special.betainc(0.01, 0.01, 1e-4), rel_tol=1e-9)


# ------------------------------------------------------------------------------------------------ fit options
@pytest.mark.parametrize(
    ("argv", "contains"),
    [
        (["--draws", "10000000"], "draws: must be a whole number from 10 to 1000000"),
        (["--draws", "100000", "--chains", "4"], "exceeds 200000"),
        (["--max-seconds", "0"], "max-seconds"),
        (["--max-seconds", "nan"], "max-seconds"),
        (["--max-seconds", "-5"], "max-seconds"),
        (["--max-seconds", "inf"], "max-seconds"),
    ],
)
def test_bad_fit_options_are_refused_at_once(unchanged, capsys, no_sampling, argv, contains):
    one_line(*cli(["run", *argv], capsys)[::2], contains=contains)


def test_memory_estimate_refuses_what_cannot_fit(unchanged, capsys, no_sampling, monkeypatch):
    """One line with the estimate and the limit, before sampling."""
    monkeypatch.setenv("RISKMODEL_MAX_MEMORY", str(2 * 2**30))
    line = one_line(*cli(["run", "--draws", "20000", "--chains", "4"], capsys)[::2], contains="needs about")
    est = result_mod.memory_estimate(4, 20000, 33)
    assert f"{est / 2**30:.1f} GiB" in line and "more than the 2.0 GiB" in line
    monkeypatch.setenv("RISKMODEL_MAX_MEMORY", "lots")
    one_line(*cli(["run"], capsys)[::2], contains="RISKMODEL_MAX_MEMORY")


def test_memory_limit_default_is_below_the_free_memory(monkeypatch):
    monkeypatch.delenv("RISKMODEL_MAX_MEMORY", raising=False)
    free = next(int(x.split()[1]) * 1024 for x in open("/proc/meminfo") if x.startswith("MemAvailable:"))
    assert 0 < result_mod.memory_limit() <= free


# ------------------------------------------------------------------------------------------------ sensitivity
@pytest.mark.parametrize(
    ("extra", "contains"),
    [
        (["--points", "1"], "points:"),
        (["--n-base", "3"], "n-base:"),
        (["--out", "FILE"], "exists and is not a folder"),
        (["--out", "FILE/sub"], "is a file"),
        (["--scheduler", "tcp://127.0.0.1:1"], "cannot reach the Dask scheduler"),
    ],
)
def test_sensitivity_options_refused_before_the_fit(unchanged, tmp_path, capsys, monkeypatch, extra, contains):
    from riskmodel.results import outputs

    monkeypatch.setattr(outputs, "fit_from_args", lambda *a, **k: pytest.fail("fitted before checking the options"))
    (tmp_path / "FILE").write_text("x")
    extra = [e.replace("FILE", str(tmp_path / "FILE")) for e in extra]
    one_line(*cli(["sensitivity", *extra], capsys)[::2], contains=contains)
    assert (tmp_path / "FILE").read_text() == "x"


# ------------------------------------------------------------------------------------------------ what-if inputs
@pytest.mark.parametrize(
    ("obs", "contains"),
    [
        (Observation("claude-3-opus", Context("maybe", "prompted", "yes"), 1, 3), "value_conflict must be one of"),
        (Observation("claude-3-opus", Context("no", "carrier-pigeon", "yes"), 1, 3), "training_info must be"),
        (Observation("claude-3-opus", Context("no", "prompted", "sideways"), 1, 3), "scratchpad must be"),
        (Observation("claude-3-opus", Context("no", "prompted", "yes"), 10**30, 10**30), "whole number from 0 to"),
        (Observation("claude-3-opus", Context("no", "prompted", "yes"), 1, 10**30), "whole number from 0 to"),
        (Observation("claude-3-opus", Context("no", "prompted", "yes"), 1.5, 3), "whole number"),  # type: ignore[arg-type]
        (Observation("", Context("no", "prompted", "yes"), 1, 3), "system name"),
    ],
)
def test_what_if_inputs_are_checked_before_the_result_is_touched(obs, contains):
    with pytest.raises(InputError, match=re.escape(contains)):
        what_if(None, obs)  # type: ignore[arg-type]  # the check comes first: the result is never read


# ------------------------------------------------------------------------------------------------ health
def _trace(draws: int, nan: bool) -> xr.DataTree:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, draws))
    if nan:
        x[:, draws // 2 :] = np.nan  # what an interrupted nutpie run pads with
    post = xr.Dataset({"a_block": (("chain", "draw"), x)})
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((4, draws), bool))})
    return xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})


def test_a_partial_trace_padded_with_nan_is_never_healthy():
    d = diagnose(_trace(1000, nan=True), ["a_block"], expected_draws=1000)
    assert not d.ok and any("non-finite" in w for w in d.warnings)
    d = diagnose(_trace(400, nan=False), ["a_block"], expected_draws=1000)
    assert not d.ok and any("400 draws per chain, not the 1000" in w for w in d.warnings)
    assert diagnose(_trace(1000, nan=False), ["a_block"], expected_draws=1000).ok


def test_nan_diagnostics_or_headlines_never_pass():
    assert not Diagnostics(0, math.nan, 1000.0, 1000.0, ()).ok  # `nan > 1.01` is false: still not a pass
    assert not Diagnostics(0, 1.0, math.inf, 1000.0, ()).ok
    d = Diagnostics(0, 1.0, 1000.0, 1000.0, ())
    assert d.ok
    assert not with_headlines(d, {"P(worst case | new)": (math.nan, 0.0, 1.0)}).ok
    assert not with_headlines(d, {"P(worst case | new)": (0.1, 0.001, 1000.0)}, ["p_worst_case (prior)"]).ok
    assert with_headlines(d, {"P(worst case | new)": (0.1, 0.001, 1000.0)}).ok


# ------------------------------------------------------------------------------------------------ slow: real fits
@pytest.mark.slow
def test_max_seconds_stops_a_fit_flagged_and_unstored(unchanged, tmp_path):
    """--max-seconds during sampling: the draws so far, flagged (never healthy), nothing in the fit store."""
    store = tmp_path / "store"
    r = result_mod.fit(seed=1, chains=1, draws=30000, tune=20, max_seconds=3, cache_dir=str(store))
    assert not r.healthy and 0 < r.posterior.sizes["draw"] < 30000
    assert r.diagnostics.warnings[0].startswith("stopped after --max-seconds 3")
    assert not store.exists() or not [p for p in store.rglob("*") if p.is_file() and p.suffix != ".lock"]
    with pytest.raises(FitError, match="before the first draws"):  # stopped while tuning: no result at all
        result_mod.fit(seed=1, chains=1, draws=10, tune=100000, max_seconds=2, cache_dir=str(store))


@pytest.mark.slow
def test_evidence_row_with_a_billion_episodes_does_not_hang(unchanged, tmp_path):
    """n = 1e9 (k consistent with the published rate): the fit ends (within --max-seconds) and is flagged or correct."""
    text = EVIDENCE.replace("k = 48\nn = 400\nrate = 0.119", "k = 119000000\nn = 1000000000\nrate = 0.119", 1)
    text = text.replace("We use 400 queries for all", "We use 1000000000 queries for all", 1)
    ev = parse_evidence(text, file="big.toml")
    r = result_mod.fit("baseline@2.0.0", ev, seed=1, chains=2, draws=200, tune=200, max_seconds=240, cache=False)
    q = r.quantities["p_worst_case"].values
    if r.healthy:
        assert np.all(np.isfinite(q)) and np.all((q >= 0) & (q <= 1))
    else:
        assert r.diagnostics.warnings


@pytest.mark.slow
def test_nan_pareto_k_is_unreliable_never_a_healthy_reweighting(default_fit):
    """1000 of 1000 in a context the system's rows inform: a reweighting whose k is NaN or > 0.7 is flagged."""
    from riskmodel.interactive.whatif import reweightable

    contexts = [Context("no", "prompted", "hidden"), Context("no", "prompted", "yes")]
    contexts.append(Context("yes", "prompted", "yes"))
    pairs = [
        (s, c)
        for c in contexts
        for s in default_fit.systems
        if s != "new" and not reweightable(default_fit, Observation(s, c, 1, 2))
    ]
    system, ctx = pairs[0]
    r = what_if(default_fit, Observation(system, ctx, 1000, 1000))
    k = r.update.pareto_k
    if r.update.method == "reweighted":
        assert k is not None and np.isfinite(k) and k <= 0.7
    else:
        assert r.update.method == "reweighted-unreliable" and not r.healthy
        assert not (np.isfinite(k) and k <= 0.7)


@pytest.mark.slow
def test_unreliable_update_is_never_healthy(default_fit):
    from dataclasses import replace

    from riskmodel.interactive.update import UpdateInfo

    flagged = replace(default_fit, base=default_fit, update=UpdateInfo("reweighted-unreliable", (), math.nan))
    assert default_fit.healthy and not flagged.healthy


def test_every_error_here_is_a_riskmodel_error():
    """The typed errors these cases raise share the CLI's one-line contract."""
    for cls in (InputError, PriorError, EvidenceError, FitError):
        assert issubclass(cls, RiskmodelError)
        assert "\n" not in cls("a\nb", file="f", field="x").line()

"""Pooling several forecasters: weights, linear pools of fitted draws, logarithmic pools of priors."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
from scipy import integrate, stats

from riskmodel.data.priors import ParamPrior, load_priors, prior_store
from riskmodel.errors import InputError, PriorError
from riskmodel.forecast import pool as pool_mod
from tests.conftest import ROOT, snapshot

# small fits: these tests check the pooling arithmetic, not the model
SMALL = {"chains": 2, "draws": 200, "tune": 300, "seed": 3}
SMALL_ARGS = ["--chains", "2", "--draws", "200", "--tune", "300", "--seed", "3", "--no-progress"]


# ---------------------------------------------------------------------------------------------------------------------
# weights and members: one line, before any fit


@pytest.mark.parametrize(
    ("text", "n", "needle"),
    [
        ("0.5,0.4", 2, "sum to 1"),
        ("0.5,0.5,0.0", 3, "positive"),
        ("1.5,-0.5", 2, "positive"),
        ("0.5,0.5", 3, "2 weight(s) for 3 member(s)"),
        ("0.5,abc", 2, "numbers separated by commas"),
        ("nan,0.5", 2, "positive"),
        (f"0.5,{0.5 + 2e-9!r}", 2, "sum to 1"),
    ],
)
def test_bad_weights_are_one_line(text, n, needle):
    with pytest.raises(InputError) as exc:
        pool_mod.parse_weights(text, n)
    assert needle in exc.value.line()
    assert "\n" not in exc.value.line()


def test_weights_within_tolerance_and_default_equal():
    assert pool_mod.parse_weights(f"0.5,{0.5 + 5e-10!r}", 2) == (0.5, 0.5 + 5e-10)
    assert pool_mod.parse_weights("0.5,0.3,0.2", 3) == (0.5, 0.3, 0.2)
    assert pool_mod.parse_weights(None, 4) == (0.25,) * 4


def test_unknown_member_and_method():
    with pytest.raises(InputError, match=r"unknown member 'nobody@1\.0\.0'"):
        pool_mod.check_pool(["baseline@2.0.0", "nobody@1.0.0"], None, "linear")
    with pytest.raises(InputError, match="unknown pooling method 'geometric'"):
        pool_mod.check_pool(["baseline@2.0.0"], None, "geometric")


@pytest.mark.parametrize(
    "argv",
    [
        ["pool", "baseline@2.0.0", "nobody@1.0.0"],
        ["pool", "baseline@2.0.0", "skeptic@1.0.0", "--weights", "0.6,0.5"],
        ["pool", "baseline@2.0.0", "skeptic@1.0.0", "--weights", "0.6,0.3,0.1"],
        ["pool", "baseline@2.0.0", "skeptic@1.0.0", "--weights", "1.2,-0.2"],
        ["pool", "baseline@2.0.0", "skeptic@1.0.0", "--method", "median"],
        ["pool", "baseline@2.0.0", "skeptic@1.0.0", "--method", "log", "--weights", "0.6,0.5"],
        ["pool", "baseline@2.0.0", "skeptic@1.0.0", "--method", "log", "--name", "Bad Name"],
        ["pool", "baseline@2.0.0", "skeptic@1.0.0", "--priors", "baseline@2.0.0"],
    ],
)
def test_cli_bad_input_exit_2_nothing_written_no_fit(argv, data_copy, monkeypatch, capsys):
    from riskmodel.cli.main import main
    from riskmodel.results import result

    def no_fit(*a, **k):
        raise AssertionError("fitted before checking the input")

    monkeypatch.setattr(result, "fit", no_fit)
    before = snapshot(data_copy)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("riskmodel: error: ") and "\n" not in err
    assert snapshot(data_copy) == before


# ---------------------------------------------------------------------------------------------------------------------
# logarithmic pooling in closed form, checked against numerical integration of prod p_i^w_i


def _numeric_pool(dists, weights, lo, hi):
    """Normalized prod p_i(x)^w_i on [lo, hi]: its density function."""

    def unnorm(x):
        return math.exp(sum(w * d.logpdf(x) for d, w in zip(dists, weights, strict=True)))

    z, _ = integrate.quad(unnorm, lo, hi, limit=200)
    return lambda x: unnorm(x) / z


def _prior(name, family, **params):
    return ParamPrior(name, family, params, "r")


@pytest.mark.parametrize(
    ("family", "members", "weights", "support"),
    [
        ("Beta", [{"alpha": 2.0, "beta": 8.0}, {"alpha": 6.0, "beta": 3.0}], [0.3, 0.7], (0.0, 1.0)),
        ("Normal", [{"mu": -1.0, "sigma": 0.5}, {"mu": 2.0, "sigma": 2.0}], [0.5, 0.5], (-np.inf, np.inf)),
        ("Gamma", [{"alpha": 2.0, "beta": 1.0}, {"alpha": 5.0, "beta": 4.0}], [0.25, 0.75], (0.0, np.inf)),
        ("LogNormal", [{"mu": 0.0, "sigma": 1.0}, {"mu": 1.0, "sigma": 0.5}], [0.6, 0.4], (0.0, np.inf)),
        ("HalfNormal", [{"sigma": 1.5}, {"sigma": 0.3}], [0.5, 0.5], (0.0, np.inf)),
    ],
)
def test_log_pool_closed_form_equals_normalized_product(family, members, weights, support):
    priors = [_prior("x", family, **m) for m in members]
    pooled = _prior("x", family, **pool_mod.log_pool_parameter("x", priors, weights)).dist()
    numeric = _numeric_pool([p.dist() for p in priors], weights, *support)
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        x = float(pooled.ppf(q))
        assert numeric(x) == pytest.approx(float(pooled.pdf(x)), rel=1e-6)


def test_log_pool_of_two_betas_closed_form_parameters():
    a = _prior("p_misaligned", "Beta", alpha=2.0, beta=10.0)
    b = _prior("p_misaligned", "Beta", alpha=4.0, beta=2.0)
    got = pool_mod.log_pool_parameter("p_misaligned", [a, b], [0.25, 0.75])
    assert got == pytest.approx({"alpha": 0.25 * 1 + 0.75 * 3 + 1, "beta": 0.25 * 9 + 0.75 * 1 + 1}, rel=1e-15)


def test_log_pool_of_two_normals_is_precision_weighted():
    a = _prior("setting_effect", "Normal", mu=0.0, sigma=1.0)
    b = _prior("setting_effect", "Normal", mu=3.0, sigma=0.5)
    got = pool_mod.log_pool_parameter("setting_effect", [a, b], [0.5, 0.5])
    precision = 0.5 / 1.0 + 0.5 / 0.25
    assert got["sigma"] == pytest.approx(precision**-0.5, rel=1e-15)
    assert got["mu"] == pytest.approx((0.5 * 3.0 / 0.25) / precision, rel=1e-15)


def test_log_pool_of_identical_members_is_the_member():
    p = _prior("x", "Gamma", alpha=5.48, beta=3.6)
    assert pool_mod.log_pool_parameter("x", [p, p, p], [0.2, 0.3, 0.5]) == pytest.approx(p.params, rel=1e-14)


def test_log_pool_of_different_families_names_the_parameter():
    a = _prior("competence_loading", "HalfNormal", sigma=0.6)
    b = _prior("competence_loading", "Gamma", alpha=2.0, beta=3.0)
    with pytest.raises(PriorError) as exc:
        pool_mod.log_pool_parameter("competence_loading", [a, b], [0.5, 0.5])
    line = exc.value.line()
    assert line.startswith("parameters.competence_loading: ") and "Gamma and HalfNormal" in line


def test_log_pool_of_baseline_and_skeptic():
    a, b = load_priors("baseline@2.0.0"), load_priors("skeptic@1.0.0")
    pooled = pool_mod.log_pool_priors([a, b], [0.5, 0.5], name="bs")
    # HalfNormal(1.5) and HalfNormal(0.3): 1/sigma^2 = 0.5/1.5^2 + 0.5/0.3^2
    assert pooled["intercept_separation"].params["sigma"] == pytest.approx((0.5 / 2.25 + 0.5 / 0.09) ** -0.5)
    assert pooled["p_misaligned"].params == a["p_misaligned"].params  # the members agree there
    assert pooled["p_misaligned"].interval90 is None  # nothing was elicited for a pool
    assert pooled.pooled_from == ((f"baseline@2.0.0 sha256:{a.sha256}", 0.5), (f"skeptic@1.0.0 sha256:{b.sha256}", 0.5))


def test_release_log_pool_records_members_and_is_reused(data_copy):
    a, b = load_priors("baseline@2.0.0"), load_priors("skeptic@1.0.0")
    released = pool_mod.release_log_pool([a, b], [0.25, 0.75], name="team-log")
    assert released.released and released.ref == "team-log@1.0.0"
    text = (data_copy / "priors" / "team-log" / "1.0.0.toml").read_text()
    assert f'member = "baseline@2.0.0 sha256:{a.sha256}"' in text and "weight = 0.75" in text
    before = snapshot(data_copy)
    again = pool_mod.release_log_pool([a, b], [0.25, 0.75], name="team-log")
    assert again.ref == released.ref and again.sha256 == released.sha256
    assert snapshot(data_copy) == before  # the same pool is not released twice
    other = pool_mod.release_log_pool([a, b], [0.5, 0.5], name="team-log")
    assert other.ref == "team-log@1.1.0"
    assert [r.ref for r in prior_store().releases() if r.name == "team-log"] == ["team-log@1.0.0", "team-log@1.1.0"]


# ---------------------------------------------------------------------------------------------------------------------
# linear pooling of draws (synthetic draws: the selection and mixing arithmetic)


def test_mixture_selection_counts_and_determinism():
    sel = pool_mod.mixture_selection([0.5, 0.3, 0.2], 4, 1000, seed=7)
    assert sel.shape == (4, 1000)
    for c in range(4):
        assert np.bincount(sel[c], minlength=3).tolist() == [500, 300, 200]
    assert np.array_equal(sel, pool_mod.mixture_selection([0.5, 0.3, 0.2], 4, 1000, seed=7))
    assert not np.array_equal(sel, pool_mod.mixture_selection([0.5, 0.3, 0.2], 4, 1000, seed=8))
    odd = pool_mod.mixture_selection([1 / 3, 1 / 3, 1 / 3], 2, 100, seed=1)
    assert np.bincount(odd[0]).tolist() == [34, 33, 33]


def _dataset(value):
    rng = np.random.default_rng(0)
    x = rng.random((2, 50, 3)) if value is None else np.full((2, 50, 3), float(value))
    return xr.Dataset(
        {"p_worst_case": (("chain", "draw", "system"), x), "level": ((), 1.0)},
        coords={"system": ["a", "b", "new"]},
    )


def test_mix_quantities_identical_members_equal_the_member():
    ds = _dataset(None)
    sel = pool_mod.mixture_selection([0.2, 0.8], 2, 50, seed=1)
    assert pool_mod.mix_quantities([ds, ds], sel).equals(ds)


def test_mix_quantities_takes_each_members_draw_at_its_position():
    members = [_dataset(i) for i in range(3)]
    sel = pool_mod.mixture_selection([0.5, 0.3, 0.2], 2, 50, seed=1)
    mixed = pool_mod.mix_quantities(members, sel)
    assert np.array_equal(mixed["p_worst_case"].values[..., 0], sel.astype(float))
    assert float(mixed["p_worst_case"].mean()) == pytest.approx(0.5 * 0 + 0.3 * 1 + 0.2 * 2)


# ---------------------------------------------------------------------------------------------------------------------
# fitted pools (MCMC, small draws)


@pytest.fixture(scope="session")
def small_baseline():
    from riskmodel import fit

    return fit("baseline@2.0.0", **SMALL)


@pytest.fixture(scope="session")
def small_skeptic():
    from riskmodel import fit

    return fit("skeptic@1.0.0", **SMALL)


@pytest.mark.slow
def test_linear_pool_of_identical_members_equals_the_member(small_baseline):
    pooled = pool_mod.pool_fits([small_baseline, small_baseline, small_baseline], [0.2, 0.3, 0.5])
    assert pooled.quantities.equals(small_baseline.quantities)  # draw for draw
    assert pooled.summary() == pool_mod.summarize_draws(
        small_baseline.quantities["p_worst_case"].sel(system="new").transpose("chain", "draw").values
    )
    via_store = pool_mod.linear_pool(["baseline@2.0.0", "baseline@2.0.0"], "0.4,0.6", **SMALL)
    assert via_store.quantities.equals(small_baseline.quantities)


@pytest.mark.slow
def test_linear_pool_of_two_members_mixes_and_verifies(small_baseline, small_skeptic):
    pooled = pool_mod.pool_fits([small_baseline, small_skeptic], [0.3, 0.7])
    a = small_baseline.quantities["p_worst_case"].sel(system="new").transpose("chain", "draw").values
    b = small_skeptic.quantities["p_worst_case"].sel(system="new").transpose("chain", "draw").values
    sel = pool_mod.mixture_selection([0.3, 0.7], 2, 200, seed=3)
    expected = np.where(sel == 0, a, b)
    got = pooled.quantities["p_worst_case"].sel(system="new").transpose("chain", "draw").values
    assert np.array_equal(got, expected)
    assert [int((sel == i).sum()) for i in range(2)] == [120, 280]
    # every quantity is pooled, not just P(W): P(misaligned) takes the same members' draws at the same positions
    ma = small_baseline.quantities["p_misaligned_pre"].transpose("chain", "draw", "system").values
    mb = small_skeptic.quantities["p_misaligned_pre"].transpose("chain", "draw", "system").values
    gm = pooled.quantities["p_misaligned_pre"].transpose("chain", "draw", "system").values
    assert np.array_equal(gm, np.where(sel[..., None] == 0, ma, mb))
    rep = pooled.report()
    assert [m["weight"] for m in rep["members"]] == [0.3, 0.7]
    assert rep["pool"]["p_worst_case"]["mcse"] > 0
    line = pooled.citation()
    assert "| pool linear: baseline@2.0.0 sha256:ed4fd2d0 w=0.3, skeptic@1.0.0 sha256:5e0d95e0 w=0.7 |" in line
    pc = pool_mod.parse_pool_citation(line)
    assert [(r, w) for r, _, w in pc.members] == [("baseline@2.0.0", 0.3), ("skeptic@1.0.0", 0.7)]
    from riskmodel.results.verify import verify

    v = verify(line)  # dispatches to verify_pool: refits both members without the fit store
    assert v.matches, v.differences
    assert v.bit_identical
    tampered = line.replace("w=0.3, ", "w=0.4, ").replace("w=0.7 |", "w=0.6 |")
    bad = verify(tampered)
    assert not bad.matches and any("NOT bit-identical" in d for d in bad.differences)


@pytest.mark.slow
def test_pool_cli_linear_json_and_citation_verifies_in_new_process(small_baseline, small_skeptic, capsys, tmp_path):
    import json

    from riskmodel.cli.main import main

    assert main(["pool", "baseline@2.0.0", "skeptic@1.0.0", "--weights", "0.5,0.5", "--json", *SMALL_ARGS]) in (0, 3)
    out = json.loads(capsys.readouterr().out)
    m = [x["p_worst_case"]["mean"] for x in out["members"]]
    pooled = out["pool"]["p_worst_case"]
    # the pool takes half of each member's draws: its mean is the mixture's within Monte Carlo error
    assert pooled["mean"] == pytest.approx(0.5 * m[0] + 0.5 * m[1], abs=5 * pooled["mcse"])
    line = out["citation"]
    proc = subprocess.run(
        [sys.executable, "-m", "riskmodel.cli", "verify", line, "--no-progress"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verified: the citation matches" in proc.stdout


@pytest.mark.slow
def test_pool_cli_log_releases_fits_and_verifies(small_baseline, small_skeptic, data_copy, capsys):
    import json

    from riskmodel.cli.main import main
    from riskmodel.results.verify import verify

    argv = ["pool", "baseline@2.0.0", "skeptic@1.0.0", "--method", "log", "--name", "bs-log", "--json", *SMALL_ARGS]
    assert main(argv) in (0, 3)
    out = json.loads(capsys.readouterr().out)
    assert out["pooled_priors"].startswith("bs-log@1.0.0 sha256:")
    pooled = load_priors("bs-log@1.0.0")
    assert [m for m, _ in pooled.pooled_from] == [
        f"baseline@2.0.0 sha256:{load_priors('baseline@2.0.0').sha256}",
        f"skeptic@1.0.0 sha256:{load_priors('skeptic@1.0.0').sha256}",
    ]
    assert "intercept_separation" in out["changed_parameters"]
    assert "| priors bs-log@1.0.0 sha256:" in out["citation"]
    v = verify(out["citation"])
    assert v.matches, v.differences
    # the members' own P(W) is shown beside the pool's, with MCSE
    assert all(m["p_worst_case"]["mcse"] > 0 for m in out["members"])
    expected = stats.halfnorm(scale=(0.5 / 2.25 + 0.5 / 0.09) ** -0.5).std()
    assert pooled["intercept_separation"].dist().std() == pytest.approx(expected)

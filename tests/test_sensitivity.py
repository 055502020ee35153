"""Sensitivity analyses against independent answers.

Fast tests check the estimators on a product of independent Beta variables, whose Sobol indices, value of
information and tornado ordering have closed forms. Slow tests run the model's analyses on the shared default fit
and check them against direct reruns, ``riskmodel.interactive.update``, the model's own likelihood, and exact refits.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from riskmodel.analysis import sensitivity as S

# ---------------------------------------------------------------------------------------------- toy product model
#: Y = X1 * X2 * X3 with independent Betas of different spreads and means.
BETAS = {"x1": (2.0, 5.0), "x2": (8.0, 2.0), "x3": (1.0, 1.0)}


def _moments() -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    mean = {k: a / (a + b) for k, (a, b) in BETAS.items()}
    var = {k: a * b / ((a + b) ** 2 * (a + b + 1)) for k, (a, b) in BETAS.items()}
    second = {k: var[k] + mean[k] ** 2 for k in BETAS}
    return mean, var, second


def _closed_form() -> tuple[dict[str, float], dict[str, float], float]:
    """First-order and total Sobol indices of the product, and Var(Y)."""
    mean, var, second = _moments()
    var_y = math.prod(second.values()) - math.prod(m**2 for m in mean.values())
    first, total = {}, {}
    for k in BETAS:
        others_mean = math.prod(mean[j] for j in BETAS if j != k)
        others_second = math.prod(second[j] for j in BETAS if j != k)
        first[k] = others_mean**2 * var[k] / var_y
        total[k] = var[k] * others_second / var_y
    return first, total, var_y


def _product(x: dict[str, np.ndarray]) -> np.ndarray:
    return x["x1"] * x["x2"] * x["x3"]


def test_sobol_indices_of_a_product_of_betas_match_the_closed_form():
    dists = {k: stats.beta(a, b) for k, (a, b) in BETAS.items()}
    ds = S.sobol_indices(_product, dists, n_base=8192, seed=3)
    first, total, var_y = _closed_form()
    assert ds["first_order"].dims == ("parameter",)
    for k in BETAS:
        s1, st = float(ds["first_order"].sel(parameter=k)), float(ds["total"].sel(parameter=k))
        tol1 = max(3 * float(ds["first_order_conf"].sel(parameter=k)), 0.01)
        tolt = max(3 * float(ds["total_conf"].sel(parameter=k)), 0.01)
        assert abs(s1 - first[k]) < tol1, (k, s1, first[k])
        assert abs(st - total[k]) < tolt, (k, st, total[k])
    assert ds.attrs["output_variance"] == pytest.approx(var_y, rel=0.03)
    # the product has interactions: total > first order for every input
    assert all(total[k] > first[k] for k in BETAS)


def _draws(n: int = 200_000, seed: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.beta(a, b, size=n) for k, (a, b) in BETAS.items()}


def test_value_of_perfect_information_by_replacement_matches_the_closed_form():
    x = _draws()
    y = _product(x)
    mean, var, _ = _moments()
    for k in BETAS:
        others = math.prod(x[j] for j in BETAS if j != k)
        got, ent = S.voi_by_replacement(lambda v, others=others: v * others, stats.beta(*BETAS[k]), y, nodes=32)
        expected = var[k] * math.prod(mean[j] for j in BETAS if j != k) ** 2
        assert got == pytest.approx(expected, rel=0.02), k
        assert got >= 0 and ent >= 0


def test_value_of_information_is_exactly_zero_for_an_input_the_output_ignores():
    x = _draws(20_000)
    y = _product(x)
    got, ent = S.voi_by_replacement(lambda v: y, stats.beta(3.0, 3.0), y, nodes=16)
    assert got == 0.0
    assert ent == 0.0


def test_value_of_information_from_joint_draws_matches_the_closed_form():
    x = _draws()
    y = _product(x)
    mean, var, _ = _moments()
    for k in BETAS:
        got, _ = S.voi_given_data(x[k], y)
        expected = var[k] * math.prod(mean[j] for j in BETAS if j != k) ** 2
        assert got == pytest.approx(expected, rel=0.05), k
    noise = np.random.default_rng(9).uniform(size=y.size)
    got, _ = S.voi_given_data(noise, y)
    assert 0.0 <= got < 0.01 * y.var()


def test_preposterior_value_of_a_binomial_experiment_matches_beta_binomial_conjugacy():
    """Observing k ~ Binomial(n, X1): Var(E[Y | k]) = (mu2 mu3)^2 Var(X1) n / (a + b + n)."""
    x = _draws(100_000)
    y = _product(x)
    mean, var, _ = _moments()
    a, b = BETAS["x1"]
    for n in (5, 40):
        lik = stats.binom.pmf(np.arange(n + 1)[None, :], n, x["x1"][:, None])
        out = S.preposterior_voi(y, lik)
        expected = (mean["x2"] * mean["x3"]) ** 2 * var["x1"] * n / (a + b + n)
        assert out["variance_reduction"] == pytest.approx(expected, rel=0.04), n
        # the updated means average back to the current mean (a martingale), and each P(k) is beta-binomial
        assert np.sum(out["p_outcome"] * out["mean_given_outcome"]) == pytest.approx(y.mean(), rel=1e-9)
        assert out["p_outcome"] == pytest.approx(stats.betabinom.pmf(np.arange(n + 1), n, a, b), abs=0.01)
        assert out["expected_variance_reduction"] == pytest.approx(out["variance_reduction"], rel=0.05)


def test_tornado_ordering_of_a_product_matches_the_analytic_ordering():
    """Fixing X_i at its 5th and 95th percentiles moves E[Y] by (q95 - q5) * prod_{j != i} mu_j."""
    x = _draws(50_000)
    mean, _, _ = _moments()
    dists = {k: stats.beta(a, b) for k, (a, b) in BETAS.items()}

    def evaluate(name: str, v: float) -> np.ndarray:
        return v * math.prod(x[j] for j in BETAS if j != name)

    ds = S.one_way_function(evaluate, dists, points=21)
    assert ds["estimate"].dims == ("parameter", "grid")
    analytic = {
        k: (dists[k].ppf(0.95) - dists[k].ppf(0.05)) * math.prod(mean[j] for j in BETAS if j != k) for k in BETAS
    }
    ranked = list(S.tornado_table(ds)["parameter"])
    assert ranked == sorted(analytic, key=analytic.get, reverse=True)
    for k in BETAS:
        assert float(ds["swing"].sel(parameter=k)) == pytest.approx(analytic[k], rel=0.02)


def test_entropy_of_a_point_mass_is_zero_and_of_a_spread_is_positive():
    edges = np.linspace(-3, 0, 31)
    assert S.entropy_bits(np.full(1000, 0.01), None, edges) == 0.0
    y = 10 ** np.random.default_rng(1).uniform(-3, 0, 100_000)
    assert S.entropy_bits(y, None, edges) == pytest.approx(math.log2(30), abs=0.01)


def test_bad_grid_sizes_are_one_line_errors():
    from riskmodel.errors import InputError

    with pytest.raises(InputError):
        S.grid_levels(1)
    with pytest.raises(InputError):
        S.sobol_indices(_product, {k: stats.beta(*v) for k, v in BETAS.items()}, n_base=1000)


# ---------------------------------------------------------------------------------------------- the model
@pytest.mark.slow
def test_decomposition_matches_a_direct_rerun_of_the_worst_case_arithmetic(default_fit):
    from riskmodel.model.quantities import weighted_mean, worst_case

    res = default_fit
    dec = S.Decomposition.of(res.posterior, res, "new", None)
    for fixed in (
        {},
        {"other_route": 0.3},
        {"reinforcement": 0.7, "other_route": 0.05},
        {"coordination": 0.9},
        {"competence_correlation": 0.8, "sandbagging": 0.2, "reinforcement": 0.1},
    ):
        direct = worst_case(S._fixed(res.posterior, fixed), res.priors).sel(system="new")
        np.testing.assert_allclose(dec.p_worst_case(fixed), direct["p_worst_case"].values, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(dec.p_misaligned_post(fixed), direct["p_misaligned_post"].values, rtol=1e-9)
    x = {"other_route": 0.2, "reinforcement": 0.4, "competence_correlation": 0.5}
    x |= {"cross_context_strategizing": 0.3, "coordination": 0.6, "sandbagging": 0.5, "hiding_reasoning": 0.2}
    direct = worst_case(S._fixed(res.posterior, x), res.priors)["p_worst_case"].sel(system="new")
    got = dec.mean_function()({k: np.array([v]) for k, v in x.items()})[0]
    assert got == pytest.approx(weighted_mean(direct), rel=1e-9)


@pytest.mark.slow
def test_log_likelihood_and_log_prior_match_the_model(default_fit):
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt

    from riskmodel.model.graph import build_model

    res = default_fit
    m = build_model(res.data, likelihood=True)
    ll = pt.sum([pt.sum(p) for p in m.potentials])
    lp = pt.sum([pm.logp(rv, rv).sum() for rv in m.free_RVs])
    fn = pytensor.function(m.free_RVs, [ll, lp], on_unused_input="ignore", mode="FAST_COMPILE")
    ours_ll, ours_lp = S.log_likelihood_draws(res), S.log_prior_draws(res)
    for c, d in ((0, 0), (1, 17), (3, 999)):
        vals = [res.posterior[rv.name].isel(chain=c, draw=d).values for rv in m.free_RVs]
        got_ll, got_lp = fn(*vals)
        assert ours_ll[c, d] == pytest.approx(float(got_ll), rel=1e-8, abs=1e-8)
        assert ours_lp[c, d] == pytest.approx(float(got_lp), rel=1e-8, abs=1e-8)


@pytest.mark.slow
def test_one_way_sweeps_on_the_default_fit(default_fit):
    from riskmodel.interactive.update import update
    from riskmodel.model.quantities import weighted_mean

    res = default_fit
    ds = S.one_way(res, ["coordination", "reinforcement", "p_misaligned", "hidden_scratchpad_effect"], points=5)
    assert ds["estimate"].dims == ("parameter", "grid", "quantity")
    assert set(np.unique(ds["method"].values)) <= {"fixed", "reweighted", "skipped"}
    assert (ds["method"].sel(parameter="coordination") == "fixed").all()
    assert (ds["sweep"].sel(parameter="p_misaligned") == "prior median").item()
    assert ds.attrs["citation"] == res.citation()
    # raising a capability never lowers P(worst case); reinforcement raises P(misaligned after training)
    pw = ds["estimate"].sel(parameter="coordination", quantity="p_worst_case").values
    assert np.all(np.diff(pw) >= 0)
    pm_post = ds["estimate"].sel(parameter="reinforcement", quantity="p_misaligned_after_training").values
    assert np.all(np.diff(pm_post) > 0)
    # a reweighted point equals riskmodel.interactive.update's reweighting under the same shifted prior
    j = 1
    assert ds["method"].sel(parameter="p_misaligned", grid=j).item() == "reweighted"
    new = S._location_prior(res.priors["p_misaligned"], float(res.priors["p_misaligned"].quantile(ds["level"][j])))
    upd = update(res, res.priors.with_parameter(new), allow_refit=False)
    expected = weighted_mean(res.quantities["p_worst_case"].sel(system="new"), upd.weights)
    got = ds["estimate"].sel(parameter="p_misaligned", grid=j, quantity="p_worst_case").item()
    assert got == pytest.approx(expected, rel=1e-12)
    assert ds["pareto_k"].sel(parameter="p_misaligned", grid=j).item() == pytest.approx(
        max(upd.update.pareto_k, upd.update.prior_pareto_k)
    )
    table = S.tornado_table(ds)
    assert list(table["swing"]) == sorted(table["swing"], reverse=True)


@pytest.mark.slow
def test_power_scaling_sobol_and_value_of_information_on_the_default_fit(default_fit):
    from riskmodel.model.quantities import weighted_mean

    res = default_fit
    ps = S.power_scaling(res)
    assert ps["prior_sensitivity"].dims == ("parameter",)
    assert "p_worst_case" in ps["parameter"].values and "p_misaligned" in ps["parameter"].values
    assert set(ps["diagnosis"].values) <= {
        "✓",
        "potential prior-data conflict",
        "potential strong prior / weak likelihood",
    }
    so = S.sobol(res, n_base=256)
    assert set(so["parameter"].values) == set(S.uninformed_parameters(res))
    assert np.all(so["total"].values > -0.05) and np.all(so["total"].values < 1.05)
    p_w = weighted_mean(res.quantities["p_worst_case"].sel(system="new"))
    assert so.attrs["output_mean"] == pytest.approx(p_w, rel=0.1)
    ctx = S._declared_contexts(res)[:2]
    voi = S.value_of_information(res, nodes=8, episodes=(10,), contexts=ctx)
    assert np.all(voi["voi_variance"].values >= 0)
    assert np.all(voi["preposterior_voi_variance"].values >= 0)
    assert set(S.uninformed_parameters(res)) <= set(voi["learned"].values)
    assert voi.attrs["citation"] == res.citation()
    # in the model: learning a capability tells nothing about P(misaligned after training), exactly
    dec = S.Decomposition.of(res.posterior, res, "new", None)
    y = dec.p_misaligned_post()
    dist = res.priors["coordination"].dist()
    assert S.voi_by_replacement(lambda x: dec.p_misaligned_post({"coordination": x}), dist, y, nodes=4) == (0.0, 0.0)
    assert S.voi_by_replacement(lambda x: dec.p_worst_case({"coordination": x}), dist, y, nodes=4)[0] > 0


@pytest.mark.slow
def test_reweighted_sweep_points_agree_with_refits_serial_and_on_a_dask_local_cluster(default_fit):
    """Two reweighted grid points against exact refits; a Dask LocalCluster of threads gives the serial numbers.

    ``LocalCluster(processes=False)`` runs the refits in this process, where nutpie is reproducible for the same
    model, data and seed: its results must equal the serial ones bit for bit.
    """
    from dask.distributed import LocalCluster

    from riskmodel.analysis.parallel import refit_sweep

    res = default_fit
    ds = S.one_way(res, ["p_misaligned"], points=5)
    grid = [1, 3]
    priors = []
    for j in grid:
        assert ds["method"].sel(parameter="p_misaligned", grid=j).item() == "reweighted"
        level = float(ds["level"][j])
        prior = res.priors["p_misaligned"]
        priors.append(res.priors.with_parameter(S._location_prior(prior, float(prior.quantile(level)))))
    kw = {"system": "new", "seed": 7, "chains": 2, "draws": 1000, "tune": 500}
    serial = refit_sweep(priors, res.evidence, **kw)
    for j, refit in zip(grid, serial, strict=True):
        rw = ds["estimate"].sel(parameter="p_misaligned", grid=j, quantity="p_worst_case").item()
        rw_se = ds["mcse_p_worst_case"].sel(parameter="p_misaligned", grid=j).item()
        se = math.hypot(rw_se, refit["mcse_p_worst_case"])
        assert abs(rw - refit["p_worst_case"]) < 3 * se, (j, rw, refit["p_worst_case"], se)
        pm_rw = ds["estimate"].sel(parameter="p_misaligned", grid=j, quantity="p_misaligned").item()
        assert pm_rw == pytest.approx(refit["p_misaligned"], rel=0.1)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        clustered = refit_sweep(priors, res.evidence, scheduler=cluster.scheduler_address, **kw)
    assert clustered == serial


@pytest.mark.slow
def test_unreliable_points_are_refit_when_asked_and_marked(default_fit):
    res = default_fit
    skipped = S.one_way(res, ["system_offset_scale"], points=3)
    assert "skipped" in skipped["method"].values
    refit = S.one_way(res, ["system_offset_scale"], points=3, refit=True)
    was_skipped = skipped["method"].values == "skipped"
    assert np.all(refit["method"].values[was_skipped] == "refit")
    assert np.all(np.isfinite(refit["estimate"].values[was_skipped]))
    assert np.all(np.isnan(skipped["estimate"].values[was_skipped]))
    # the reweighted points are untouched by the refits
    keep = ~was_skipped
    np.testing.assert_array_equal(refit["estimate"].values[keep], skipped["estimate"].values[keep])


# ---------------------------------------------------------------------------------------------- scripts and CLI
#: Tiny runs: the same model structure as the default fit, so the compiled sampler is reused in this process.
TINY = ["--draws", "100", "--chains", "2", "--tune", "200"]
SCRIPTS = {
    "tornado": ["--points", "3"],
    "power_scaling": [],
    "training_gaming_vs_worst_case": ["--points", "3"],
    "value_of_information": ["--episodes", "10", "--nodes", "4"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SCRIPTS))
def test_each_analyses_script_runs_end_to_end_and_stamps_every_file(name, tmp_path, default_fit, capsys):
    import runpy
    from pathlib import Path

    import pandas as pd
    import xarray as xr
    from PIL import Image

    root = Path(__file__).resolve().parent.parent
    script = runpy.run_path(str(root / "analyses" / f"{name}.py"), run_name="analyses_test")
    assert script["main"]([*TINY, *SCRIPTS[name], "--out", str(tmp_path)]) == 0
    files = sorted(tmp_path.iterdir())
    kinds = {p.suffix for p in files}
    assert kinds == {".csv", ".nc", ".png"}, files
    for p in files:
        if p.suffix == ".csv":
            head = p.read_text().splitlines()[0]
            assert head.startswith("# citation: P(worst case) = ") and "baseline@" in head
            assert not pd.read_csv(p, comment="#").empty
        elif p.suffix == ".nc":
            with xr.open_dataset(p) as ds:
                assert "sha256:" in ds.attrs["priors"] and "sha256:" in ds.attrs["evidence"]
                assert "seed" in ds.attrs["sampler"]
        else:
            meta = Image.open(p).text
            assert meta["Description"].startswith("P(worst case) = ") and "sha256:" in meta["Description"]
    assert "wrote" in capsys.readouterr().out


@pytest.mark.slow
def test_cli_sensitivity_writes_stamped_files_and_prints_json(tmp_path, default_fit, capsys):
    import json

    from riskmodel.cli import main

    argv = ["sensitivity", *TINY[:4], "--method", "sobol", "--n-base", "64", "--out", str(tmp_path), "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"sobol", "citation", "written"} <= set(doc)
    assert {r["parameter"] for r in doc["sobol"]["sobol"]} >= {"coordination", "other_route"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sensitivity_sobol.csv", "sensitivity_sobol.nc"]


def test_cli_sensitivity_bad_input_is_one_line_exit_2(capsys):
    from riskmodel.cli import main

    assert main(["sensitivity", "--priors", "no-such-prior@9.9.9", "--method", "sobol"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("riskmodel: error:")
    with pytest.raises(SystemExit) as exc:
        main(["sensitivity", "--method", "astrology"])
    assert exc.value.code == 2

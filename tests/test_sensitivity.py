"""Sensitivity analyses against independent answers.

Quick tests check the estimators against closed forms (a product of independent Betas: Sobol indices, value of
information, tornado ordering; Beta-binomial conjugacy for a preposterior analysis), and the model's analyses against
direct computations on *synthetic draws* shaped like a fit of the default files (every parameter drawn from its
prior, no MCMC): a fixed sweep point against a direct :func:`worst_case` rerun, a reweighted one against
:func:`riskmodel.interactive.update.update`, the Rao-Blackwellized likelihood of hypothetical counts against
:func:`riskmodel.interactive.whatif.observation_loglik`. Slow tests (``small_fit``: 2 chains x 300 draws) repeat the
model checks on a real fit, refit unreliable points (serially and on a Dask cluster of threads), and run the
command and the analyses scripts end to end.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from scipy import stats
from scipy.special import logsumexp

from riskmodel.analysis import sensitivity as S
from riskmodel.errors import InputError

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


def _draws(n: int = 200_000, seed: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.beta(a, b, size=n) for k, (a, b) in BETAS.items()}


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
    assert all(total[k] > first[k] for k in BETAS)  # the product has interactions


def test_a_discrete_draw_input_gives_the_sobol_index_of_a_grouped_input():
    """Y = X1 * X2 with X1 read off one of N equally likely draws through DrawIndex: S(draw) = S(X1)."""
    rng = np.random.default_rng(2)
    x1 = rng.beta(*BETAS["x1"], size=4000)
    dists = {"draw": S.DrawIndex(None, x1.size), "x2": stats.beta(*BETAS["x2"])}
    ds = S.sobol_indices(lambda x: x1[x["draw"]] * x["x2"], dists, n_base=4096, seed=1)
    m1, v1 = x1.mean(), x1.var()
    a, b = BETAS["x2"]
    m2, v2 = a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))
    var_y = (v1 + m1**2) * (v2 + m2**2) - (m1 * m2) ** 2
    assert float(ds["first_order"].sel(parameter="draw")) == pytest.approx(m2**2 * v1 / var_y, abs=0.03)
    assert float(ds["first_order"].sel(parameter="x2")) == pytest.approx(m1**2 * v2 / var_y, abs=0.03)
    # weights: a draw is chosen with probability equal to its weight
    w = np.zeros(10)
    w[3] = 1.0
    assert set(S.DrawIndex(w, 10).ppf(np.linspace(0.01, 0.99, 50))) == {3}


def test_value_of_perfect_information_by_replacement_matches_the_closed_form():
    x = _draws()
    mean, var, _ = _moments()
    for k in BETAS:
        others = math.prod(x[j] for j in BETAS if j != k)
        got = S.voi_by_replacement(lambda v, others=others: v * others, stats.beta(*BETAS[k]), nodes=32)
        expected = var[k] * math.prod(mean[j] for j in BETAS if j != k) ** 2
        assert got == pytest.approx(expected, rel=0.02), k


def test_value_of_information_is_exactly_zero_for_an_input_the_output_ignores():
    y = _product(_draws(20_000))
    assert S.voi_by_replacement(lambda v: y, stats.beta(3.0, 3.0), nodes=16) == 0.0


def test_value_of_information_from_joint_draws_matches_the_closed_form():
    x = _draws()
    y = _product(x)
    mean, var, _ = _moments()
    for k in BETAS:
        expected = var[k] * math.prod(mean[j] for j in BETAS if j != k) ** 2
        assert S.voi_given_data(x[k], y) == pytest.approx(expected, rel=0.05), k
    noise = np.random.default_rng(9).uniform(size=y.size)
    assert 0.0 <= S.voi_given_data(noise, y) < 0.01 * y.var()


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
        assert 0 <= out["mc_bias"] < 0.02 * out["variance_reduction_raw"]
        # the updated means average back to the current mean (a martingale); each P(k) is beta-binomial
        assert np.sum(out["p_outcome"] * out["mean_given_outcome"]) == pytest.approx(y.mean(), rel=1e-9)
        assert out["p_outcome"] == pytest.approx(stats.betabinom.pmf(np.arange(n + 1), n, a, b), abs=0.01)
        assert out["expected_ess"] < x["x1"].size


def test_preposterior_value_rao_blackwellized_over_copies_matches_beta_binomial_conjugacy():
    """Units = (draw, copy): each draw carries 8 copies of the observed system's rate, Y per unit, as for a new
    system. The outcome likelihood per unit, its blocks computed lazily, gives the same conjugate answer; the ESS is
    that of the draws (at most their number)."""
    x = _draws(80_000, seed=8)
    draws, copies = 10_000, 8
    y = _product(x)
    mean, var, _ = _moments()
    a, b = BETAS["x1"]
    n = 20
    groups = np.repeat(np.arange(draws), copies)

    def lik(ks: np.ndarray) -> np.ndarray:
        return stats.binom.pmf(ks[None, :], n, x["x1"][:, None])

    out = S.preposterior_voi(y, lik, outcomes=n + 1, groups=groups)
    expected = (mean["x2"] * mean["x3"]) ** 2 * var["x1"] * n / (a + b + n)
    assert out["variance_reduction"] == pytest.approx(expected, rel=0.05)
    assert out["expected_ess"] <= draws
    assert out["p_outcome"].sum() == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(InputError, match="number of outcomes"):
        S.preposterior_voi(y, lik)


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


def test_bad_grid_sizes_are_one_line_errors():
    with pytest.raises(InputError):
        S.grid_levels(1)
    with pytest.raises(InputError):
        S.sobol_indices(_product, {k: stats.beta(*v) for k, v in BETAS.items()}, n_base=1000)
    with pytest.raises(InputError):
        S.voi_by_replacement(lambda v: np.zeros(3), stats.beta(1, 1), nodes=1)


# ---------------------------------------------------------------------------------------------- synthetic draws
def _synthetic_fit(chains: int = 2, draws: int = 200, seed: int = 11):
    """A FitResult of the default files whose 'posterior' is drawn from the prior (no MCMC).

    Sampled parameters from their priors, each system's sampled pattern coordinates around the aligned population
    mean, competences standard normal, P(misaligned | pattern) from the model's own pattern density, and the
    generated copies exactly as a fit makes them. The arithmetic of every analysis is the same as on a real fit.
    """
    from riskmodel.data.evidence import load_evidence
    from riskmodel.data.priors import load_priors
    from riskmodel.data.registry import DEFAULT_EVIDENCE, DEFAULT_PRIORS
    from riskmodel.model.diagnostics import Diagnostics
    from riskmodel.model.likelihood import pattern_prior_terms
    from riskmodel.model.prior import draw_prior, generated
    from riskmodel.model.spec import PARAMETER_DIMS, model_data
    from riskmodel.results.result import FitResult

    ps, ev = load_priors(DEFAULT_PRIORS), load_evidence(DEFAULT_EVIDENCE)
    data = model_data(ps, ev)
    rng = np.random.default_rng(seed)
    cd = ("chain", "draw")
    out: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    for name in sorted(data.sampled):
        dim = PARAMETER_DIMS.get(name)
        shape = (chains, draws, data.size(name)) if dim else (chains, draws)
        out[name] = ((*cd, dim) if dim else cd, ps[name].draw(shape, rng))
    lay = data.layout
    coords = data.coords
    comp = rng.standard_normal((chains, draws, lay.competent.size))
    kappa = np.zeros((chains, draws, len(coords["system"])))
    kappa[..., lay.competent] = comp
    from riskmodel.data.features import COORDINATES

    fc, fs = lay.free_coord, lay.free_system
    aligned = np.stack([out[f"{COORDINATES[k]}_aligned"][1] for k in fc], axis=-1)
    spread = np.stack([out[f"{COORDINATES[k]}_spread"][1] for k in fc], axis=-1)
    centre = aligned + np.where(fc == 0, out["competence_loading"][1][..., None] * kappa[..., fs], 0.0)
    pattern = centre + spread * rng.standard_t(ps.tail_df, size=centre.shape)
    out["pattern"] = ((*cd, "free"), pattern)
    out["competence"] = ((*cd, "competent_system"), comp)
    post = xr.Dataset(
        out,
        coords={
            "chain": np.arange(chains),
            "draw": np.arange(draws),
            **{k: coords[k] for k in ("setting", "cell", "free", "competent_system")},
        },
    )
    joint, has = pattern_prior_terms(post, data)
    p_cond = np.exp(joint[..., 1] - logsumexp(joint, axis=-1))
    pi = post["p_misaligned"].values.reshape(-1)
    p_sys = np.where(has[None, :], p_cond, pi[:, None]).reshape(chains, draws, -1)
    post["p_misaligned_system"] = ((*cd, "system"), p_sys)
    post = post.assign_coords(system=coords["system"]).merge(generated(data, chains, draws, seed))
    prior = draw_prior(data, draws=4000, seed=seed)
    diag = Diagnostics(0, 1.0, 1000.0, 1000.0, ())
    return FitResult(xr.DataTree(), post, prior, ps, ev, data, "new", seed, chains, draws, 0, diag)


@pytest.fixture(scope="module")
def synthetic():
    return _synthetic_fit()


def _direct(res, name: str, x: float, *, prior: bool = False, draws: int | None = None) -> np.ndarray:
    """P(worst case) of the target with ``name`` fixed at ``x`` on every copy, straight from worst_case."""
    from riskmodel.model.quantities import worst_case
    from riskmodel.model.spec import PatternLayout

    ds = (res.prior_draws if prior else res.posterior).copy()
    if draws is not None:
        ds = ds.isel(draw=slice(0, draws))
    ds[name] = xr.full_like(ds[name], x)
    layout = PatternLayout(("new",)) if prior else res.data.layout
    return worst_case(ds, res.priors, layout, systems=[res.system])["p_worst_case"].isel(system=0).values


def _check_fixed_points(res, names: list[str]) -> xr.Dataset:
    ds = S.one_way(res, names, points=3)
    for name in names:
        assert (ds["method"].sel(parameter=name) == "fixed").all()
        for j in range(3):
            x = float(ds["value"].sel(parameter=name, grid=j))
            assert x == pytest.approx(float(res.priors[name].quantile(ds["level"][j])))
            direct = _direct(res, name, x)
            got = ds["estimate"].sel(parameter=name, grid=j, quantity="p_worst_case").item()
            assert got == pytest.approx(direct.mean(), rel=1e-12)
            n0 = ds.attrs["bf_prior_draws"]
            p0 = _direct(res, name, x, prior=True, draws=n0).mean()
            bf = math.log10(got / (1 - got)) - math.log10(p0 / (1 - p0))
            assert ds["estimate"].sel(parameter=name, grid=j, quantity="log10_bayes_factor").item() == pytest.approx(bf)
    return ds


def test_a_fixed_sweep_point_equals_a_direct_worst_case_rerun(synthetic):
    ds = _check_fixed_points(synthetic, ["coordination", "hidden_scratchpad_aligned", "reinforcement"])
    assert np.all(ds["mcse_p_worst_case"].values > 0) and np.all(ds["ess"].values > 0)
    # raising a capability never lowers P(worst case); reinforcement raises P(misaligned after training)
    assert np.all(np.diff(ds["estimate"].sel(parameter="coordination", quantity="p_worst_case").values) >= 0)
    assert np.all(np.diff(ds["estimate"].sel(parameter="reinforcement", quantity="p_misaligned_after_training")) > 0)


def test_a_reweighted_sweep_point_equals_the_fast_update(synthetic):
    from riskmodel.interactive.update import update
    from riskmodel.model.summaries import weighted_mean

    res = synthetic
    ds = S.one_way(res, ["p_misaligned", "value_conflict_aligned"], points=5)
    for name in ("p_misaligned", "value_conflict_aligned"):
        assert (ds["sweep"].sel(parameter=name) == "prior median").item()
        for j in range(5):
            new = S.location_prior(res.priors[name], float(res.priors[name].quantile(ds["level"][j])))
            upd = update(res, res.priors.with_parameter(new), allow_refit=False)
            # at the prior's own median the shifted prior is the prior: update returns the fit itself
            k = 0.0 if upd.update is None else max(upd.update.pareto_k, upd.update.prior_pareto_k)
            assert ds["pareto_k"].sel(parameter=name, grid=j).item() == pytest.approx(k, abs=1e-9)
            if ds["method"].sel(parameter=name, grid=j).item() != "reweighted":
                assert not k <= 0.7 and np.isnan(ds["estimate"].sel(parameter=name, grid=j)).all()
                continue
            q, q0 = upd.quantities.sel(system="new"), upd.prior_quantities.sel(system="new")
            p1 = weighted_mean(q["p_worst_case"].transpose("chain", "draw"), upd.weights)
            p0 = weighted_mean(q0["p_worst_case"].transpose("chain", "draw"), upd.prior_weights)
            est = ds["estimate"].sel(parameter=name, grid=j)
            assert est.sel(quantity="p_worst_case").item() == pytest.approx(p1, rel=1e-12)
            bf = math.log10(p1 / (1 - p1)) - math.log10(p0 / (1 - p0))
            assert est.sel(quantity="log10_bayes_factor").item() == pytest.approx(bf, rel=1e-9)
            pm = weighted_mean(q["p_misaligned_pre"].transpose("chain", "draw"), upd.weights)
            assert est.sel(quantity="p_misaligned").item() == pytest.approx(pm, rel=1e-12)
    assert (ds["method"] == "reweighted").sum() >= 5


def test_tornado_and_sobol_cover_every_assumption_including_uninformed_context_effects(synthetic):
    from riskmodel.data.priors import PARAMETERS

    res = synthetic
    free = S.uninformed_parameters(res)
    context_effects = {
        f"{c}_{s}"
        for c in ("documents", "no_training_info", "hidden_scratchpad", "prerequisites")
        for s in ("aligned", "separation", "spread")
    }
    assert context_effects <= set(free)
    tornado = S.one_way(res, points=2)
    assert set(tornado["parameter"].values) == {p for p in PARAMETERS if res.data.size(p) > 0}
    sw = tornado["swing"]
    # the critical contexts hide the scratchpad and give no training information: those effects move P(W) ...
    assert sw.sel(parameter="hidden_scratchpad_aligned") > 0 and sw.sel(parameter="no_training_info_aligned") > 0
    # ... no declared context spells out the prerequisites: exactly no effect
    assert float(sw.sel(parameter="prerequisites_aligned")) == 0.0
    so = S.sobol(res, n_base=64)
    assert list(so["parameter"].values) == [*free, S.DRAW_INPUT]
    assert so["input"].sel(parameter=S.DRAW_INPUT).item() == "posterior draw (grouped)"


def test_sobol_evaluations_equal_direct_reruns(synthetic):
    from riskmodel.model.quantities import worst_case

    res = synthetic
    draws = S.SystemDraws.posterior(res, "new")
    index = np.array([0, 7, 399])  # flat (chain-major) draw numbers
    values = {"other_route": np.array([0.1, 0.5, 0.9]), "hidden_scratchpad_aligned": np.array([-1.0, 0.0, 2.0])}
    got = S.p_worst_case_at(draws, index, values)
    for i, flat in enumerate(index):
        c, d = divmod(int(flat), res.draws)
        ds = res.posterior.isel(chain=[c], draw=[d]).copy()
        for name, v in values.items():
            ds[name] = xr.full_like(ds[name], v[i])
        direct = worst_case(ds, res.priors, res.data.layout, systems=["new"])["p_worst_case"].item()
        assert got[i] == pytest.approx(direct, rel=1e-12)


def test_value_of_information_of_an_uninformed_assumption_is_its_first_order_sobol_index(synthetic):
    res = synthetic
    voi = S.value_of_information(res, nodes=12, episodes=(10,), contexts=S.declared_contexts(res)[:3])
    so = S.sobol(res, n_base=1024)
    assert so.attrs["output_variance"] == pytest.approx(voi.attrs["p_worst_case_variance"], rel=0.2)
    for name in ("coordination", "hidden_scratchpad_aligned", "other_route"):
        share = voi["voi_variance_share"].sel(learned=name).item()
        s1 = so["first_order"].sel(parameter=name).item()
        tol = 3 * so["first_order_conf"].sel(parameter=name).item() + 0.05 * share + 0.01
        assert abs(s1 - share) < tol, (name, s1, share)
    for name in ("prerequisites_aligned", "documents_separation"):  # no declared context involves it
        assert voi["voi_variance"].sel(learned=name).item() == 0.0
    assert np.all(voi["voi_variance"].values >= 0) and np.all(voi["preposterior_voi_variance"].values >= 0)
    assert voi.attrs["citation"].startswith("P(worst case) = ")


def test_hypothetical_counts_of_a_named_system_rao_blackwellized_equal_whatif(synthetic):
    """Every coordinate of the elicitation context is sampled for this system: the per-unit likelihood is the
    draw-level likelihood of riskmodel.interactive.whatif on every copy and disposition."""
    from riskmodel.interactive.whatif import Observation, observation_loglik, reweightable

    res = synthetic
    ctx = res.priors.elicitation
    obs = Observation("claude-3-opus", ctx, 0, 30)
    assert reweightable(res, obs) == ""
    ks = np.arange(31)
    units = S.unit_loglik(S.flag_rates(S.SystemDraws.posterior(res, "claude-3-opus"), ctx), 30, ks)
    direct = observation_loglik(res, obs, k=ks)
    np.testing.assert_allclose(units, np.broadcast_to(direct[:, :, None, None, :], units.shape), rtol=1e-9, atol=1e-9)


def test_a_new_systems_counts_weight_each_copy_and_disposition(synthetic):
    """P(k | draw) is the mean over copies (and dispositions) of the per-unit binomials; E[P(W) | k] averages back."""
    res = synthetic
    units = S.Units.of(S.SystemDraws.posterior(res, "new"))
    q = S.flag_rates(units.draws, res.priors.critical[0])
    assert q.shape == (*units.weight.shape,) and np.ptp(q[0, 0, :, 0]) > 0  # generated per copy
    lik = np.exp(S.unit_loglik(q, 12, np.arange(13)))
    np.testing.assert_allclose(lik.sum(axis=-1), 1.0, rtol=1e-9)
    out = S.preposterior_voi(units.p_worst_case.ravel(), lik.reshape(-1, 13), weights=units.weight.ravel())
    mean = float((units.weight * units.p_worst_case).sum())
    assert mean == pytest.approx(res.quantities["p_worst_case"].sel(system="new").mean().item(), rel=1e-9)
    assert float((out["p_outcome"] * out["mean_given_outcome"]).sum()) == pytest.approx(mean, rel=1e-9)
    # no counts: the one-way sweep given counts is the plain sweep
    plain = S.one_way(res, ["hidden_scratchpad_aligned"], points=3)
    given = S.observed_one_way(res, [], ["hidden_scratchpad_aligned"], points=3)
    np.testing.assert_allclose(
        given["p_worst_case"].values, plain["estimate"].sel(quantity="p_worst_case").values, rtol=1e-9
    )


def test_power_scaling_reads_the_models_log_densities(synthetic):
    from riskmodel.model.likelihood import log_prior

    res = synthetic
    dens = S.log_density_draws(res)
    np.testing.assert_allclose(
        (dens["assumptions"] + dens["population"]).ravel(), log_prior(res.posterior, res.data, res.priors), rtol=1e-9
    )
    ps = S.power_scaling(res)
    assert ps["prior_sensitivity"].dims == ("parameter",)
    assert {"p_worst_case", "p_misaligned", "intercept_aligned"} <= set(ps["parameter"].values)
    assert not any(str(p).startswith(("coordination", "hidden_scratchpad")) for p in ps["parameter"].values)
    with pytest.raises(InputError):
        S.power_scaling(res, prior="everything")


def test_unknown_parameters_and_systems_are_one_line_errors(synthetic):
    with pytest.raises(InputError, match="unknown system"):
        S.one_way(synthetic, ["coordination"], system="gpt-99")
    with pytest.raises(InputError, match="unknown assumption"):
        S.one_way(synthetic, ["astrology"])
    with pytest.raises(InputError, match="unknown method"):
        S.sensitivity_report(synthetic, ["astrology"])


# ---------------------------------------------------------------------------------------------- command line
@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--points", "1"], "points"),
        (["--n-base", "1000"], "n-base"),
        (["--workers", "0"], "workers"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "workers"),
        (["--episodes", "0"], "episodes"),
        (["--nodes", "1"], "nodes"),
    ],
)
def test_cli_options_are_checked_before_the_fit(args, field, capsys, monkeypatch):
    from riskmodel.cli import main
    from riskmodel.results import outputs

    def no_fit(*a, **k):  # pragma: no cover - reached only if the check failed
        raise AssertionError("fitted before checking the options")

    monkeypatch.setattr(outputs, "fit_from_args", no_fit)
    assert main(["sensitivity", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"riskmodel: error: {field}:"), err


def test_cli_out_must_be_a_creatable_folder_and_the_scheduler_reachable(tmp_path, capsys, monkeypatch):
    from riskmodel.analysis import parallel
    from riskmodel.cli import main

    afile = tmp_path / "a-file"
    afile.write_text("x")
    for out in (afile, afile / "below"):
        assert main(["sensitivity", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("riskmodel: error: out:")
    monkeypatch.setattr(parallel.connect, "__defaults__", (0.5,))
    assert main(["sensitivity", "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("riskmodel: error: scheduler: cannot reach"), err
    with pytest.raises(SystemExit) as exc:
        main(["sensitivity", "--method", "astrology"])
    assert exc.value.code == 2


# ---------------------------------------------------------------------------------------------- a real fit
SMALL = {"seed": 1, "chains": 2, "draws": 300}
SMALL_ARGS = ["--draws", "300", "--chains", "2"]


@pytest.fixture(scope="session")
def small_fit():
    """A small fit of the default files (2 x 300 draws), read from the session's fit store after the first run."""
    from riskmodel import fit

    return fit(**SMALL)


@pytest.mark.slow
def test_sweeps_on_a_real_fit_equal_direct_reruns_and_the_fast_update(small_fit):
    from riskmodel.interactive.update import update
    from riskmodel.model.summaries import weighted_mean

    res = small_fit
    _check_fixed_points(res, ["hidden_scratchpad_aligned", "other_route"])
    ds = S.one_way(res, ["p_misaligned"], points=5)
    assert ds.attrs["citation"] == res.citation()
    j = 2
    assert ds["method"].sel(parameter="p_misaligned", grid=j).item() == "reweighted"
    new = S.location_prior(res.priors["p_misaligned"], float(res.priors["p_misaligned"].quantile(ds["level"][j])))
    upd = update(res, res.priors.with_parameter(new), allow_refit=False)
    expected = weighted_mean(res.quantities["p_worst_case"].sel(system="new").transpose("chain", "draw"), upd.weights)
    assert ds["estimate"].sel(parameter="p_misaligned", grid=j, quantity="p_worst_case").item() == pytest.approx(
        expected, rel=1e-12
    )


@pytest.mark.slow
def test_unreliable_points_are_refit_when_asked_serially_and_on_a_dask_cluster(small_fit):
    """Points forced to refit (Pareto k limit 0) agree with their reweighted values within Monte Carlo error; a Dask
    LocalCluster of threads gives the serial refits bit for bit (nutpie is reproducible within one process)."""
    from dask.distributed import Client, LocalCluster

    from riskmodel.analysis.parallel import refit_sweep

    res = small_fit
    name = "value_conflict_aligned"
    reweighted = S.one_way(res, [name], points=2)
    skipped = S.one_way(res, [name], points=2, pareto_k_max=-10.0)
    assert (skipped["method"] == "skipped").all() and np.isnan(skipped["estimate"]).all()
    refit = S.one_way(res, [name], points=2, pareto_k_max=-10.0, refit=True)
    assert (refit["method"] == "refit").all() and np.isfinite(refit["estimate"]).all()
    valid = [j for j in range(2) if reweighted["method"].isel(parameter=0, grid=j).item() == "reweighted"]
    assert valid
    for j in valid:
        a = reweighted["estimate"].isel(parameter=0, grid=j)
        b = refit["estimate"].isel(parameter=0, grid=j)
        se = math.hypot(
            reweighted["mcse_p_worst_case"].isel(parameter=0, grid=j).item(),
            refit["mcse_p_worst_case"].isel(parameter=0, grid=j).item(),
        )
        assert abs(a.sel(quantity="p_worst_case").item() - b.sel(quantity="p_worst_case").item()) < 4 * se
        assert a.sel(quantity="p_misaligned").item() == pytest.approx(b.sel(quantity="p_misaligned").item(), abs=0.05)
    prior = res.priors["p_misaligned"]
    priors = [res.priors.with_parameter(S.location_prior(prior, float(prior.quantile(0.3))))]
    kw = {"system": "new", "seed": 3, "chains": 2, "draws": 300, "tune": 1000, "cache": False}
    serial = refit_sweep(priors, res.evidence, **kw)
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        clustered = refit_sweep(priors, res.evidence, client=client, **kw)
    assert clustered == serial


@pytest.mark.slow
def test_cli_sensitivity_end_to_end_writes_stamped_files_and_prints_json(small_fit, tmp_path, capsys):
    import json

    import pandas as pd

    from riskmodel.cli import main

    out = tmp_path / "new-folder"
    argv = ["sensitivity", *SMALL_ARGS, "--points", "3", "--n-base", "64", "--episodes", "10", "--nodes", "4"]
    assert main([*argv, "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert {"tornado", "psense", "sobol", "voi", "citation", "written", "healthy"} <= set(doc)
    assert doc["citation"] == small_fit.citation()
    assert {r["parameter"] for r in doc["sobol"]["sobol"]} >= {"hidden_scratchpad_aligned", S.DRAW_INPUT}
    assert {r["parameter"] for r in doc["tornado"]["tornado"]} >= {"hidden_scratchpad_aligned", "p_misaligned"}
    assert "riskmodel: tornado" in captured.err  # progress on stderr, never on stdout
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [f"sensitivity_{m}.nc" for m in ("tornado", "psense", "sobol", "voi")]
        + [f"sensitivity_{t}.csv" for t in ("tornado", "one_way", "psense", "sobol", "voi", "voi_preposterior")]
    )
    for p in out.glob("*.csv"):
        assert p.read_text().startswith("# citation: P(worst case) = ")
        assert not pd.read_csv(p, comment="#").empty
    with xr.open_dataset(out / "sensitivity_tornado.nc") as ds:
        assert ds.attrs["citation"] == small_fit.citation()
    assert main([*argv, "--method", "tornado"]) == 0
    assert "tornado: P(worst case)" in capsys.readouterr().out


#: Tiny runs of the scripts: the small fit's settings, read from the session's fit store.
SCRIPTS = {
    "tornado": ["--points", "3"],
    "power_scaling": [],
    "training_gaming_vs_worst_case": ["--points", "3"],
    "value_of_information": ["--episodes", "10", "--nodes", "4"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SCRIPTS))
def test_each_analyses_script_runs_end_to_end_and_stamps_every_file(name, tmp_path, small_fit, capsys):
    import runpy
    from pathlib import Path

    import pandas as pd
    from PIL import Image

    root = Path(__file__).resolve().parent.parent
    script = runpy.run_path(str(root / "analyses" / f"{name}.py"), run_name="analyses_test")
    assert script["main"]([*SMALL_ARGS, *SCRIPTS[name], "--out", str(tmp_path)]) == 0
    files = sorted(tmp_path.iterdir())
    assert {p.suffix for p in files} == {".csv", ".nc", ".png"}, files
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

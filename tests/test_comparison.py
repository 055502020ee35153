"""Model comparison on the counted rows: the comparators' graphs against their numpy terms, the pointwise terms of
leave-one-row-out, predictive intervals, recovery of the true model on simulated data, coverage and predictive honesty
on the default evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import gammaln, logsumexp

from riskmodel.analysis.comparison import (
    COVERAGE_TARGET,
    K_THRESHOLD,
    _interval,
    _row_predictive,
    build_comparator,
    comparator_data,
    compare_models,
    counted_rows,
    fit_model,
    pointwise_loglik,
    row_loglik,
    simulated_evidence,
    unobserved_context_effects,
    without_row,
)
from riskmodel.data.evidence import load_evidence
from riskmodel.data.priors import load_priors
from riskmodel.model.likelihood import log_likelihood, pointwise_log_likelihood
from riskmodel.model.prior import draw_prior
from riskmodel.model.spec import model_data
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def shipped():
    priors = load_priors("baseline@2.0.0", root=ROOT)
    ev = load_evidence("published-evals@2.0.0", root=ROOT)
    data = model_data(priors, ev)
    return priors, ev, data, counted_rows(ev, data)


def _binomial_constants(data) -> float:
    """Sum of the binomial coefficients the graph drops (log n choose k of every count)."""
    k = np.concatenate([data.counts_reasoning[0], data.counts_pair[0], data.counts_pair[2]])
    n = np.concatenate([data.counts_reasoning[1], data.counts_pair[1], data.counts_pair[3]])
    return float((gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)).sum())


def _prior_point(data, n: int, seed: int):
    """Prior draws of model 2's sampled parameters plus sampled coordinates and competences (chain 1, draw n)."""
    draws = draw_prior(data, n, seed=seed)
    rng = np.random.default_rng(seed)
    lay = data.layout
    aligned = np.stack([draws[f"{c}_aligned"].values[0] for c in ("intercept", "value_conflict", "no_scratchpad")])
    centre = aligned[[{0: 0, 1: 1, 4: 2}[int(k)] for k in lay.free_coord]].T  # (draw, free)
    pattern = centre + rng.normal(0.0, 1.5, size=centre.shape)
    post = draws[[v for v in draws.data_vars if "copy" not in draws[v].dims and v != "p_misaligned_system"]]
    return post.assign(
        pattern=(("chain", "draw", "free"), pattern[None]),
        competence=(("chain", "draw", "competent_system"), rng.standard_normal((1, n, lay.competent.size))),
    ).assign_coords(free=data.coords["free"], competent_system=data.coords["competent_system"])


def test_counted_rows_of_the_default_evidence(shipped):
    _, ev, _, rows = shipped
    kinds = [r.kind for r in rows]
    assert (kinds.count("reasoning"), kinds.count("compliance"), kinds.count("threshold")) == (15, 21, 25)
    first = rows[0]
    assert first.system_name == "claude-3-opus" and first.observed == pytest.approx(48 / 400)
    cell = next(r for r in rows if r.kind == "compliance")
    assert cell.observed == pytest.approx((57 - 11) / 400) and len(cell.evidence_ids) == 2
    above = [r for r in rows if r.kind == "threshold" and r.observed == 1.0]
    assert {r.system_name for r in above} == {
        "claude-3-opus",
        "claude-3.5-sonnet",
        "llama-3.1-405b",
        "grok-3-beta",
        "gemini-2.0-flash",
    }
    counted = {i for r in rows for i in r.evidence_ids}
    capability = {r.id for r in ev.capability_rows()}
    assert counted | capability == {r.id for r in ev.likelihood_rows()} and not counted & capability


def test_removing_a_row_keeps_the_graph_and_drops_exactly_that_row(shipped):
    _, _, data, rows = shipped
    params = _prior_point(data, 30, seed=4)
    full = row_loglik("model2", params, data)[:, 0, :]
    for row in (rows[0], next(r for r in rows if r.kind == "compliance"), rows[-1]):
        less = without_row(data, row)
        assert less.structure_key(True) == data.structure_key(True) and less.sampled == data.sampled
        terms = row_loglik("model2", params, less)[:, 0, :]
        i = rows.index(row)
        others = np.arange(len(rows)) != i
        np.testing.assert_allclose(terms[:, others], full[:, others], rtol=0, atol=0)
        assert np.abs(terms[:, i]).max() < 1e-9  # the removed row adds nothing, whatever the parameters


def test_model2_pointwise_terms_sum_to_the_total_log_likelihood(shipped):
    """Counted rows plus capability groups are every term of log_likelihood; the generic predictive probabilities
    give the same row terms as pointwise_log_likelihood."""
    from riskmodel.analysis.comparison import _probabilities
    from riskmodel.model.likelihood import _binom

    _, _, data, rows = shipped
    params = _prior_point(data, 40, seed=2)
    ll = row_loglik("model2", params, data)
    assert ll.shape == (40, 1, len(rows))
    cap = pointwise_log_likelihood(params, data)["capability"].sum(axis=1)
    np.testing.assert_allclose(ll[:, 0, :].sum(axis=1) + cap, log_likelihood(params, data), rtol=1e-12)
    prob = _probabilities("model2", params, data)
    k, n = data.counts_reasoning
    np.testing.assert_allclose(_binom(k, n, prob["reasoning"])[:, 0], ll[:, 0, : k.size], rtol=1e-12)
    loo = pointwise_loglik("model2", params, data, rows)
    np.testing.assert_allclose(loo.values[0], ll[:, 0, :], rtol=0, atol=0)  # the row's own term


def test_model2_rows_are_conditionally_independent_given_the_sampled_parameters(shipped):
    """The compiled model's log density with a row removed differs from the full one by exactly that row's own
    log-likelihood (minus the binomial coefficient the graph drops), at any point: p(y | theta) factorizes over rows,
    so p(y_i | theta, y_-i) = p(y_i | theta) (the claim in riskmodel.analysis.comparison)."""
    from riskmodel.model.graph import build_model

    _, _, data, rows = shipped
    model = build_model(data)
    logp = model.compile_logp(mode="FAST_COMPILE")
    outs = [model[v] for v in ("pattern", "competence", *[f"{f.lower()}_block" for f, _, _ in data.blocks()])]
    named = model.compile_fn(
        model.replace_rvs_by_values(outs), inputs=model.value_vars, mode="FAST_COMPILE", on_unused_input="ignore"
    )
    rng = np.random.default_rng(8)
    start = model.initial_point()
    for trial in range(3):
        point = {k: v + rng.normal(0, 0.3, size=np.shape(v)) for k, v in start.items()}
        values = named(point)
        ds = {"pattern": values[0][None], "competence": values[1][None]}
        import xarray as xr

        blocks = xr.Dataset(
            {
                f"{f.lower()}_block": (("chain", "draw", f"{f.lower()}_element"), v[None, None])
                for (f, _, _), v in zip(data.blocks(), values[2:], strict=True)
            }
        )
        post = data.split_blocks(blocks).assign(
            pattern=(("chain", "draw", "free"), ds["pattern"][None]),
            competence=(("chain", "draw", "competent_system"), ds["competence"][None]),
        )
        own = row_loglik("model2", post, data)[0, 0]
        full = logp(point)
        for row in (rows[trial], rows[15 + trial], rows[36 + trial]):
            less = without_row(data, row)
            for name, value in less.data_values(likelihood=True).items():
                model[name].set_value(np.asarray(value, dtype=model[name].dtype))
            delta = full - logp(point)
            for name, value in data.data_values(likelihood=True).items():
                model[name].set_value(np.asarray(value, dtype=model[name].dtype))
            const = 0.0
            if row.kind == "reasoning":
                k, n = data.counts_reasoning[:, row.column]
                const = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
            elif row.kind == "compliance":
                kt, nt, ku, nu = data.counts_pair[:, row.column]
                const = sum(gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1) for b, a in ((kt, nt), (ku, nu)))
            assert delta == pytest.approx(own[rows.index(row)] - const, rel=1e-8, abs=1e-8), row.id


@pytest.mark.filterwarnings("ignore:The effect of Potentials")
@pytest.mark.parametrize("kind", ["monolithic", "model1"])
def test_comparator_graph_matches_its_numpy_terms(shipped, kind):
    """The graph's likelihood potential equals the numpy row terms (mixed over the disposition per system in model
    1) minus the binomial coefficients, draw by draw at prior draws of the comparator."""
    import pymc as pm
    import pytensor

    _, _, data, rows = shipped
    model = build_comparator(data, kind)
    assert {v.name for v in model.free_RVs} >= {"offset_z"}
    pot = pytensor.function(model.free_RVs, model.potentials[0], mode="FAST_COMPILE", on_unused_input="ignore")
    prior = pm.sample_prior_predictive(draws=25, model=model, random_seed=3, compile_kwargs={"mode": "FAST_COMPILE"})
    prior = prior["prior"]
    post = comparator_data(data, kind).split_blocks(prior)
    ll = row_loglik(kind, post, data)  # (draw, component, row)
    if kind == "monolithic":
        total = ll[:, 0, :].sum(axis=1)
    else:
        pi = post["p_misaligned"].values.ravel()
        log_w = np.stack([np.log1p(-pi), np.log(pi)], axis=-1)
        sys = np.array([r.system for r in rows])
        total = sum(logsumexp(log_w + ll[..., sys == s].sum(axis=-1), axis=-1) for s in np.unique(sys))
    graph = np.array([pot(*[prior[rv.name].values[0, j] for rv in model.free_RVs]) for j in range(prior.sizes["draw"])])
    np.testing.assert_allclose(total - _binomial_constants(data), graph, rtol=1e-9, atol=1e-6)


def test_left_out_cell_integrates_its_baseline_compliance_exactly(shipped):
    """Without training-gaming (p = 0) a cell's counts are Binomial(c) twice, and the integral over c ~ Beta(a, b)
    is the beta-binomial closed form."""
    from scipy.special import betaln

    from riskmodel.analysis.comparison import _cell_integrated

    priors, _, data, rows = shipped
    params = _prior_point(data, 5, seed=1)
    params["pattern"] = params["pattern"] * 0.0 - 60.0  # every training-gaming rate 0
    a, b = priors["baseline_compliance"].params["alpha"], priors["baseline_compliance"].params["beta"]
    for row in [r for r in rows if r.kind == "compliance"][:12]:
        kt, nt, ku, nu = data.counts_pair[:, row.column]
        choose = sum(gammaln(m + 1) - gammaln(k + 1) - gammaln(m - k + 1) for k, m in ((kt, nt), (ku, nu)))
        exact = choose + betaln(a + kt + ku, b + nt + nu - kt - ku) - betaln(a, b)
        got = _cell_integrated("model2", params, data, row)
        np.testing.assert_allclose(got[:, 0], exact, rtol=1e-6)
    assert _cell_integrated("model2", params, data, rows[0]) is None  # a reasoning row has no cell of its own


def test_model1_pointwise_term_is_the_row_given_the_other_rows_of_its_system(shipped):
    """log p(y_i | theta, y_-i) = log sum_d P(d | theta, y_-i) p(y_i | theta, d), checked draw by draw."""
    rows = shipped[3]
    rng = np.random.default_rng(1)
    n = 20
    import xarray as xr

    post = xr.Dataset(
        {"p_misaligned": (("chain", "draw"), rng.uniform(0.05, 0.5, (1, n)))},
    )
    ll = rng.normal(-5, 2, size=(n, 2, len(rows)))
    import riskmodel.analysis.comparison as cmp

    terms, log_comp = cmp._loo_terms("model1", ll, cmp._component_weights("model1", post), rows)
    pi = post["p_misaligned"].values[0]
    log_w = np.stack([np.log1p(-pi), np.log(pi)], axis=-1)
    for i in (0, 20, 40, 60):
        others = [j for j in range(len(rows)) if j != i and rows[j].system == rows[i].system]
        post_d = log_w + ll[:, :, others].sum(axis=-1)
        post_d -= logsumexp(post_d, axis=-1, keepdims=True)
        np.testing.assert_allclose(terms[:, i], logsumexp(post_d + ll[:, :, i], axis=-1), rtol=1e-10)
        np.testing.assert_allclose(log_comp[:, :, i], post_d, rtol=1e-10)


def test_predictive_interval_of_a_binomial_matches_scipy():
    rng = np.random.default_rng(0)
    values = rng.binomial(400, 0.12, 200_000) / 400
    lo, hi = _interval(values, np.ones(values.size), 0.9)
    assert (lo * 400, hi * 400) == pytest.approx(stats.binom.ppf([0.05, 0.95], 400, 0.12), abs=1)
    # weights move the interval: all weight on the upper half gives its quantiles
    w = (values > 0.12).astype(float)
    lo_w, _ = _interval(values, w, 0.9)
    assert lo_w > 0.12


def test_threshold_interval_excludes_an_outcome_below_five_percent(shipped):
    _, _, data, rows = shipped
    row = next(r for r in rows if r.kind == "threshold" and r.observed == 1.0)
    rng = np.random.default_rng(0)
    for p_above, covered in ((0.5, True), (0.06, True), (0.04, False), (0.99, True)):
        prob = {"threshold": np.full((10, 1, data.threshold_rows.shape[1]), p_above)}
        pred = _row_predictive(row, 0, prob, np.ones((10, 1)), np.ones(10), data, rng, 0.9)
        assert (pred["lower"] <= 1.0 <= pred["upper"]) is covered and pred["p_observed"] == pytest.approx(p_above)


def test_simulated_evidence_has_the_same_rows_for_both_truths():
    a, b = simulated_evidence("model2", seed=3), simulated_evidence("monolithic", seed=3)
    priors = load_priors("baseline@2.0.0", root=ROOT)
    da, db = model_data(priors, a), model_data(priors, b)
    assert da.structure_key(True) == db.structure_key(True)
    assert len(counted_rows(a, da)) == 32
    # monolithic truth: the same rate in every context (up to binomial noise at n = 400)
    rates = np.array([r.k / r.n for r in b.reasoning_rows() if r.system == "sim-c"])
    assert np.ptp(rates) < 0.08
    with pytest.raises(Exception, match="unknown truth"):
        simulated_evidence("context")


# --------------------------------------------------------------------------------------------------- slow: MCMC
#: Coverage the true model's 90% leave-one-row-out intervals must reach on the 32 simulated rows.
SIMULATED_COVERAGE = 0.75


@pytest.fixture(scope="module")
def simulated():
    """Comparisons on data simulated from model 2 (all three models) and from the monolithic model."""
    quick = {"seed": 5, "chains": 2, "draws": 300, "tune": 300, "refit": {"chains": 2, "draws": 200, "tune": 200}}
    # the monolithic truth separates the models by a few nats only: more draws keep Monte Carlo error out of it
    precise = {"seed": 5, "chains": 2, "draws": 500, "tune": 400, "refit": {"chains": 2, "draws": 400, "tune": 300}}
    return {
        "model2": compare_models("baseline@2.0.0", simulated_evidence("model2", seed=3), **quick),
        "monolithic": compare_models(
            "baseline@2.0.0", simulated_evidence("monolithic", seed=3), models=("monolithic", "model2"), **precise
        ),
    }


@pytest.mark.slow
def test_comparison_prefers_model2_on_data_from_model2(simulated):
    cmp = simulated["model2"]
    print(cmp.table.drop(columns="label").to_string(), cmp.pairs.to_string(), sep="\n")
    assert cmp.best == "model2"
    assert cmp.pairs.loc[("monolithic", "model2"), "verdict"] == "prefers model2"
    # the systems' no-scratchpad effects differ in sign: model 1's shared effect cannot follow them
    assert cmp.pairs.loc[("model1", "model2"), "verdict"] == "prefers model2"
    # 90% intervals over 32 rows: at least 75% covered allows for the binomial noise of the count
    assert cmp.fits["model2"].coverage >= SIMULATED_COVERAGE > cmp.fits["model1"].coverage
    for f in cmp.fits.values():  # every row with Pareto k > 0.7 was refitted exactly
        assert set(f.refitted) == {r.id for r, k in zip(f.rows, f.pareto_k, strict=True) if not k <= K_THRESHOLD}


@pytest.mark.slow
def test_comparison_prefers_the_monolithic_model_on_monolithic_data(simulated):
    cmp = simulated["monolithic"]
    print(cmp.table.drop(columns="label").to_string(), cmp.pairs.to_string(), sep="\n")
    pref = cmp.pairs.loc[("monolithic", "model2")]
    # model 2 nests per-system patterns that can mimic the monolithic truth, so LOO separates them by a few nats
    # against a data-level SE of about 3 (32 rows): with riskmodel 0.3.0's draws the difference is 5.0 +- 3.0, under
    # the 2 SE of a stated preference (0.2.0's draws passed it). What must hold: the true model is best and the
    # richer one is never preferred.
    assert cmp.best == "monolithic" and pref["verdict"] in ("prefers monolithic", "no preference"), pref
    assert cmp.fits["monolithic"].coverage >= SIMULATED_COVERAGE


@pytest.mark.slow
def test_model2_covers_the_default_evidence(default_fit):
    """Leave-one-row-out 90% intervals of the package model cover at least 80% of the counted rows."""
    fit = fit_model(
        "model2",
        default_fit.priors,
        default_fit.evidence,
        posterior=default_fit.posterior,
        seed=1,
        refit={"chains": 2, "draws": 200, "tune": 200},
    )
    table = fit.loo_predictive
    print(table.loc[~table["covered"], ["observed", "lower", "upper"]].to_string())
    assert fit.coverage >= COVERAGE_TARGET
    assert set(fit.refitted) == {r.id for r, k in zip(fit.rows, fit.pareto_k, strict=True) if not k <= K_THRESHOLD}
    # the check can fail: reasoning intervals at n = 400 are narrow, and some rows are missed
    reasoning = table[table["kind"] == "reasoning"]
    assert (reasoning["upper"] - reasoning["lower"] < 0.25).all() and not table["covered"].all()


@pytest.mark.slow
def test_predictive_interval_in_an_unobserved_context_is_honest(default_fit):
    """Under the default priors, a system never observed without a scratchpad gets a predictive interval for its
    no-scratchpad effect wide enough to include every effect observed for any system: claude-3-opus's large negative
    one and claude-3.5-sonnet's positive one (and so the largest)."""
    df = unobserved_context_effects(default_fit, "no_scratchpad").set_index("system")
    seen = df[df["observed"]]
    assert {"claude-3-opus", "claude-3.5-sonnet"} <= set(seen.index)
    assert seen.loc["claude-3-opus", "mean"] < -2 and seen.loc["claude-3.5-sonnet", "mean"] > 1
    unseen = df[~df["observed"]]
    assert {"new", "hermes-3-405b", "gpt-4o"} <= set(unseen.index)
    assert unseen["covers_largest"].all() and unseen["covers_range"].all(), unseen
    spread = seen["mean"].max() - seen["mean"].min()
    assert ((unseen["upper"] - unseen["lower"]) > spread).all()


def _write_evidence(ev, path) -> None:
    """An evidence set as a format-1 file (reasoning and compliance rows need no tracing)."""
    import tomli_w

    keys = ("id", "source", "system", "setting", "stage", "condition", "training_info", "scratchpad")
    keys += ("value_conflict", "quantity", "k", "n", "where_read")
    doc = {
        "name": ev.name,
        "version": "1.0.0",
        "date": ev.date,
        "summary": ev.summary,
        "changelog": ev.changelog,
        "sources": {k: {"citation": v} for k, v in ev.sources.items()},
        "row": [{k: getattr(r, k) for k in keys} for r in ev.rows],
    }
    path.write_text(tomli_w.dumps(doc))


@pytest.mark.slow
def test_model_comparison_analysis_writes_stamped_outputs(tmp_path, simulated, monkeypatch):
    """The worked analysis runs end to end on a simulated evidence file (its comparison is the simulated one, so no
    model is fitted twice) and stamps the report and every output with the same citation line."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("model_comparison", ROOT / "analyses" / "model_comparison.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "compare_models", lambda *a, **k: simulated["model2"])
    evidence = tmp_path / "simulated.toml"
    _write_evidence(simulated_evidence("model2", seed=3), evidence)
    out = tmp_path / "mc"
    argv = ["--evidence", str(evidence), "--draws", "150", "--tune", "150", "--chains", "2", "--no-cache"]
    assert mod.main([*argv, "--out", str(out)]) == 0
    citation = (out / "comparison.csv").read_text().splitlines()[0].removeprefix("# citation: ")
    assert citation.startswith("not citable")  # the simulated file is not a release
    report = (out / "report.md").read_text()
    assert f"Citation: `{citation}`" in report and "![leave-one-row-out predictive check](ppc.png)" in report
    for m in ("monolithic", "model1", "model2"):
        assert m in report
    table = pd.read_csv(out / "comparison.csv", comment="#")
    assert list(table["model"]) == list(simulated["model2"].table.index)
    coverage = pd.read_csv(out / "coverage.csv", comment="#")
    assert set(coverage["model"]) == {"monolithic", "model1", "model2"}
    for name in ("contraction", "loo_pointwise", "unobserved_context", "ppc_in_sample", "comparison_pairs"):
        assert (out / f"{name}.csv").read_text().startswith(f"# citation: {citation}")
    from PIL import Image

    assert Image.open(out / "ppc.png").info["Description"] == citation

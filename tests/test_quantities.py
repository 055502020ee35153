"""Properties of the worst-case arithmetic, checked on draws without MCMC (prior draws of the model's variables)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import expit

from riskmodel.data.evidence import load_evidence
from riskmodel.data.features import Context, pattern_matrix
from riskmodel.data.priors import CAPABILITIES, load_priors
from riskmodel.model.prior import draw_prior
from riskmodel.model.quantities import capability_given_competence, patterns, worst_case
from riskmodel.model.spec import PatternLayout, model_data
from riskmodel.model.summaries import bayes_factor, bayes_factors
from tests.conftest import ROOT

PRIORS = load_priors("baseline@2.0.0")
DATA = model_data(PRIORS, load_evidence(ROOT / "tests" / "fixtures" / "reduced.toml"))
DRAWS = draw_prior(DATA, 2000, seed=1)
LAYOUT = PatternLayout(("new",))


def _q(ds: xr.Dataset = DRAWS, priors=PRIORS, **kw) -> xr.Dataset:
    return worst_case(ds, priors, LAYOUT, **kw).sel(system="new")


def test_every_quantity_is_a_probability_and_the_worst_case_needs_every_part():
    q = _q()
    for name in ("p_worst_case", "p_misaligned_post", "p_all_capabilities", "p_misaligned_and_route", "consistency"):
        v = q[name].values
        assert np.all((v >= 0) & (v <= 1)), name
    pw = q["p_worst_case"].values
    assert np.all(pw <= q["p_misaligned_post"].values + 1e-12)
    assert np.all(pw <= q["p_misaligned_and_route"].values + 1e-12)
    for cap in CAPABILITIES:
        assert np.all(pw <= q["p_capability"].sel(capability=cap).values + 1e-12), cap
    # the two routes add up: consistency route + other route only = the whole
    parts = q["p_worst_case_consistency_route"] + q["p_worst_case_other_route_only"]
    np.testing.assert_allclose(parts.values, pw, rtol=1e-10, atol=1e-15)


@settings(max_examples=25, deadline=None)
@given(cap=st.sampled_from(CAPABILITIES), a=st.floats(0.0, 0.98), bump=st.floats(0.001, 0.5))
def test_raising_a_capability_never_lowers_p_worst_case(cap, a, bump):
    lo = _q(capability_override={cap: a})["p_worst_case"].values
    hi = _q(capability_override={cap: min(a + bump, 1.0)})["p_worst_case"].values
    assert np.all(hi >= lo - 1e-15)


@settings(max_examples=20, deadline=None)
@given(q=st.floats(0.01, 0.99), s=st.floats(0.0, 0.95))
def test_capability_copula_keeps_the_population_probability(q, s):
    """Averaged over a standard-normal competence, P(capability | competence) is the population probability q."""
    # 160 nodes: at strength 0.95 the integrand is steep and 80 nodes are off by 1.2e-5 (q = 0.46875), 160 by 2e-9
    nodes, weights = np.polynomial.hermite_e.hermegauss(160)
    p = capability_given_competence(np.array([q]), np.array(s), nodes)
    assert float((p[..., 0] * weights).sum() / weights.sum()) == pytest.approx(q, abs=1e-5)
    # strength 0: the competence says nothing
    flat = capability_given_competence(np.array([q]), np.array(0.0), nodes)
    np.testing.assert_allclose(flat[..., 0], q, rtol=1e-12)


def test_capabilities_correlate_through_the_competence_as_the_copula_says():
    """P(two capabilities | misaligned) over the competence equals the bivariate normal copula's probability."""
    q, s = np.array([0.3, 0.6]), 0.5
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    joint = (capability_given_competence(q, np.array(s), nodes).prod(axis=-1) * weights).sum() / weights.sum()
    z = stats.norm.ppf(q)
    exact = stats.multivariate_normal(mean=[0, 0], cov=[[1, s], [s, 1]]).cdf(z)
    assert joint == pytest.approx(exact, abs=1e-6)
    assert joint > q.prod()


def test_consistency_definitions_by_hand():
    """Ratio: the weakest critical context's share of the elicited rate (capped at 1); absolute: its rate."""
    pat = patterns(DRAWS, LAYOUT)
    _, mis, _ = pat.system(0)
    contexts = [*PRIORS.critical, PRIORS.elicitation, PRIORS.training]
    rates = expit(mis @ pattern_matrix(contexts).T)
    n = len(PRIORS.critical)
    ratio = np.minimum(rates[..., :n] / rates[..., n : n + 1], 1).min(axis=-1).mean(axis=2)
    np.testing.assert_allclose(_q()["consistency"].sel(disposition="misaligned").values, ratio, rtol=1e-10)
    absolute = replace(PRIORS, consistency="absolute")
    got = _q(priors=absolute)["consistency"].sel(disposition="misaligned").values
    np.testing.assert_allclose(got, rates[..., :n].min(axis=-1).mean(axis=2), rtol=1e-10)


def test_reinforcement_gives_the_misaligned_pattern():
    """An aligned system made misaligned by reinforcement has its pattern shifted by the separation."""
    pat = patterns(DRAWS, LAYOUT)
    al, _, re = pat.system(0)
    np.testing.assert_allclose(re - al, np.broadcast_to(pat.separation, al.shape))
    # with p_misaligned 0 and certain reinforcement, P(misaligned after training) is the aligned training rate
    ds = DRAWS.copy()
    ds["p_misaligned_system"] = xr.zeros_like(ds["p_misaligned_system"])
    ds["reinforcement"] = xr.ones_like(ds["reinforcement"])
    q = _q(ds)
    x = pattern_matrix([PRIORS.training])
    train = expit(al @ x.T)[..., 0].mean(axis=2)
    np.testing.assert_allclose(q["p_misaligned_post"].values, train, rtol=1e-10)


def test_a_certain_assumption_never_lowers_p_worst_case():
    base = _q()["p_worst_case"].values
    for cap in CAPABILITIES:
        assert np.all(_q(capability_override={cap: 1.0})["p_worst_case"].values >= base - 1e-15)
    assert np.all(_q(consistency_override=1.0)["p_worst_case"].values >= base - 1e-15)


def test_prior_side_systems_are_the_population():
    """Every system's prior worst case is the new system's (a priori systems are draws from the population)."""
    q = worst_case(DRAWS, PRIORS, LAYOUT)
    assert list(q["system"].values) == ["new"]
    assert np.all(q["p_misaligned_pre"].values.ravel() == DRAWS["p_misaligned"].values.ravel())


def test_bayes_factor_of_identical_draws_is_one_and_doubles_with_odds():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.3, size=(2, 500))
    assert bayes_factor(p, p).value == pytest.approx(1.0)
    a = np.full((1, 100), 0.5)
    b = np.full((1, 100), 1 / 3)
    assert bayes_factor(a, b).value == pytest.approx(2.0)


def test_vectorized_bayes_factors_equal_one_at_a_time():
    rng = np.random.default_rng(1)
    post = xr.DataArray(
        rng.uniform(0.01, 0.5, (2, 300, 3)), dims=("chain", "draw", "system"), coords={"system": list("abc")}
    )
    prior = xr.DataArray(
        rng.uniform(0.01, 0.5, (1, 900, 3)), dims=("chain", "draw", "system"), coords={"system": list("abc")}
    )
    many = bayes_factors(post, prior, "system", prior_independent=True)
    for s in "abc":
        one = bayes_factor(post.sel(system=s).values, prior.sel(system=s).values, prior_independent=True)
        assert many[s].value == pytest.approx(one.value)
        assert many[s].log_mcse == pytest.approx(one.log_mcse)


def test_context_rows_are_reference_coded():
    c = Context("yes", "none", "hidden", prerequisites="spelled-out")
    np.testing.assert_array_equal(c.pattern_row(), [1, 1, 0, 1, 0, 1, 1])
    with pytest.raises(ValueError, match="scratchpad must be one of"):
        Context("yes", "prompted", "sideways").pattern_row()


def test_assumption_effects_equal_rerunning_with_the_assumption_certain():
    """The report's one-pass "if it were certain" numbers equal reruns of worst_case with each override."""
    from types import SimpleNamespace

    from riskmodel.results.report import assumption_effects

    w = np.random.default_rng(3).dirichlet(np.ones(DRAWS.sizes["draw"])).reshape(1, -1)
    fake = SimpleNamespace(
        weights=w,
        quantities=worst_case(DRAWS, PRIORS, LAYOUT),
        posterior=DRAWS,
        priors=PRIORS,
        data=SimpleNamespace(layout=LAYOUT),
    )
    effects = assumption_effects(fake, "new")
    overrides = {
        **{cap: {"capability_override": {cap: 1.0}} for cap in CAPABILITIES},
        "consistency": {"consistency_override": 1.0},
    }
    for name, kw in overrides.items():
        rerun = float((_q(**kw)["p_worst_case"].values * w).sum())
        assert effects[name]["p_worst_case_if_certain"] == pytest.approx(rerun, rel=1e-10), name
        assert effects[name]["p_worst_case_if_certain"] >= effects[name]["p_worst_case_as_modeled"] - 1e-15

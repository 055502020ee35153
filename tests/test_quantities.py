"""Properties of the worst-case arithmetic, checked on fixed draws (no refits)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from riskmodel.data.priors import CAPABILITIES, load_priors
from riskmodel.model.quantities import (
    all_capabilities,
    bayes_factor,
    bayes_factors,
    capability_breakdown,
    capability_detail,
    worst_case,
)
from tests.conftest import ROOT

probs = st.floats(0.0, 1.0)


@given(q=st.lists(probs, min_size=4, max_size=4), s=st.floats(0.0, 0.99))
def test_all_capabilities_is_a_probability_below_each_capability(q, s):
    p = float(all_capabilities(np.array(q), np.array(s)))
    assert 0.0 <= p <= min(q) + 1e-12


@given(
    q=st.lists(st.floats(0.01, 0.99), min_size=4, max_size=4),
    s=st.floats(0.0, 0.95),
    i=st.integers(0, 3),
    bump=st.floats(0.0, 0.5),
)
def test_all_capabilities_never_falls_when_a_capability_rises(q, s, i, bump):
    q = np.array(q)
    up = q.copy()
    up[i] = min(1.0, up[i] + bump)
    assert all_capabilities(up, np.array(s)) >= all_capabilities(q, np.array(s)) - 1e-12


def test_all_capabilities_closed_forms_and_monte_carlo():
    q = np.array([0.3, 0.5, 0.7, 0.9])
    assert all_capabilities(q, np.array(0.0)) == pytest.approx(np.prod(q), rel=1e-6)
    assert all_capabilities(q, np.array(0.999999)) == pytest.approx(q.min(), abs=2e-3)
    # Monte Carlo of the Gaussian copula at s = 0.5
    rng = np.random.default_rng(1)
    s = 0.5
    f = rng.normal(size=(400_000, 1))
    z = np.sqrt(s) * f + np.sqrt(1 - s) * rng.normal(size=(400_000, 4))
    mc = np.mean(np.all(z < stats.norm.ppf(q), axis=1))
    assert all_capabilities(q, np.array(s)) == pytest.approx(mc, abs=3e-3)


def _fake_draws(n: int, rng: np.random.Generator, other: float | None = None) -> xr.Dataset:
    """Parameter draws shaped like a posterior, for arithmetic checks."""
    systems, disp = ["a", "new"], ["aligned", "misaligned"]
    feats = ["value_conflict", "documents", "no_training_info", "no_scratchpad", "hidden_scratchpad", "after_rl"]
    dims = ("chain", "draw")
    return xr.Dataset(
        {
            "tg_intercept": ((*dims, "disposition"), rng.normal(-3, 2, (1, n, 2))),
            "context_effect": ((*dims, "disposition", "feature"), rng.normal(0, 2, (1, n, 2, 6))),
            "system_offset": ((*dims, "system"), rng.normal(0, 0.3, (1, n, 2))),
            "p_misaligned_system": ((*dims, "system"), rng.uniform(0, 1, (1, n, 2))),
            "reinforcement": (dims, rng.uniform(0, 1, (1, n))),
            "other_route": (dims, rng.uniform(0, 1, (1, n)) if other is None else np.full((1, n), other)),
            "competence_correlation": (dims, rng.uniform(0, 0.99, (1, n))),
            "capabilities": ((*dims, "capability"), rng.uniform(0, 1, (1, n, 4))),
        },
        coords={"system": systems, "disposition": disp, "feature": feats, "capability": list(CAPABILITIES)},
    )


PRIORS = load_priors("baseline@1.1.0", root=ROOT)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_worst_case_bounds_on_draws_with_the_other_route_on(seed):
    d = _fake_draws(200, np.random.default_rng(seed))
    q = worst_case(d, PRIORS)
    for v in (
        "p_worst_case",
        "p_misaligned_post",
        "consistency",
        "p_all_capabilities",
        "p_worst_case_consistency_route",
        "p_worst_case_other_route",
    ):
        assert float(q[v].min()) >= 0.0 and float(q[v].max()) <= 1.0, v
    pw = q["p_worst_case"]
    assert bool((pw <= q["p_misaligned_post"] + 1e-12).all())
    for cap in CAPABILITIES:
        assert bool((pw <= d["capabilities"].sel(capability=cap) + 1e-12).all())
    assert bool((q["p_misaligned_post"] >= q["p_misaligned_pre"]).all())


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cap=st.sampled_from(CAPABILITIES), shift=st.floats(0.1, 5.0))
def test_raising_a_capability_prior_mean_never_lowers_p_worst_case(seed, cap, shift):
    """Redraw one capability from its prior and from a prior with a higher mean, coupled through the same uniforms."""
    rng = np.random.default_rng(seed)
    d = _fake_draws(300, rng)
    u = rng.uniform(size=(1, 300))
    prior = PRIORS[cap]
    a, b = prior.params["alpha"], prior.params["beta"]
    low, high = stats.beta(a, b).ppf(u), stats.beta(a + shift, b).ppf(u)  # higher mean, pointwise larger
    d_low, d_high = d.copy(deep=True), d.copy(deep=True)
    d_low["capabilities"].loc[{"capability": cap}] = low
    d_high["capabilities"].loc[{"capability": cap}] = high
    p_low = worst_case(d_low, PRIORS)["p_worst_case"]
    p_high = worst_case(d_high, PRIORS)["p_worst_case"]
    assert bool((p_high >= p_low - 1e-12).all())
    assert float(p_high.mean()) >= float(p_low.mean())


def test_certain_assumption_raises_p_worst_case_and_no_other_route_means_no_other_share():
    d = _fake_draws(500, np.random.default_rng(3), other=0.0)
    q = worst_case(d, PRIORS)
    assert float(q["p_worst_case_other_route"].max()) == 0.0
    np.testing.assert_allclose(q["p_worst_case"], q["p_worst_case_consistency_route"], rtol=1e-12, atol=1e-15)
    certain = worst_case(d, PRIORS, capability_override={"coordination": 1.0})
    assert bool((certain["p_worst_case"] >= q["p_worst_case"] - 1e-15).all())


def test_bayes_factor_of_identical_draws_is_one_and_doubles_with_odds():
    rng = np.random.default_rng(0)
    x = xr.DataArray(rng.uniform(0, 0.2, (2, 500)), dims=("chain", "draw"))
    assert bayes_factor(x, x).value == pytest.approx(1.0)
    p0 = float(x.mean())
    target = 2 * p0 / (1 - p0) / (1 + 2 * p0 / (1 - p0))  # probability with twice the odds
    bf = bayes_factor(x * 0 + target, x)
    assert bf.value == pytest.approx(2.0, rel=1e-9)
    assert bf.log_mcse > 0


def test_capability_breakdown_matches_separate_integrals_and_overrides():
    rng = np.random.default_rng(5)
    q, s = rng.uniform(0.02, 0.98, (3, 40, 4)), rng.uniform(0.0, 0.95, (3, 40))
    total, if_certain, through = capability_breakdown(q, s)
    np.testing.assert_allclose(total, all_capabilities(q, s), rtol=1e-12)
    for a in range(4):
        certain = q.copy()
        certain[..., a] = 1.0
        np.testing.assert_allclose(if_certain[..., a], all_capabilities(certain, s), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(through[..., a], all_capabilities(q[..., : a + 1], s), rtol=1e-12, atol=1e-15)
    d = _fake_draws(300, np.random.default_rng(6))
    qs, detail = worst_case(d, PRIORS), capability_detail(d)
    np.testing.assert_allclose(qs["p_all_capabilities"].isel(system=0), detail["p_capabilities_through"][..., -1])
    for cap in detail["capability"].values:
        certain = worst_case(d, PRIORS, capability_override={str(cap): 1.0})["p_worst_case"]
        via = qs["p_misaligned_and_route"] * detail["p_all_capabilities_if_certain"].sel(capability=cap)
        np.testing.assert_allclose(certain, via.transpose(*certain.dims), rtol=1e-10, atol=1e-15)


def test_vectorized_bayes_factors_equal_one_at_a_time():
    rng = np.random.default_rng(7)
    dims, coords = ("chain", "draw", "system"), {"system": list("abc")}
    post = xr.DataArray(rng.beta(2, 30, (4, 300, 3)), dims=dims, coords=coords)
    prior = xr.DataArray(rng.beta(2, 20, (1, 1200, 3)), dims=dims, coords=coords)
    w = rng.dirichlet(np.ones(1200)).reshape(300, 4).T.copy()
    many = bayes_factors(post, prior, "system", w, None, prior_independent=True)
    for s in "abc":
        one = bayes_factor(post.sel(system=s), prior.sel(system=s), w, None, prior_independent=True)
        assert many[s].value == pytest.approx(one.value, rel=1e-12)
        assert many[s].log_mcse == pytest.approx(one.log_mcse, rel=1e-9)

"""The fitted model against independent answers (slow: these run MCMC)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from riskmodel import fit
from riskmodel.data.evidence import load_evidence, parse_evidence
from riskmodel.data.features import Context
from riskmodel.data.priors import load_priors
from riskmodel.model.bounds import coordinate_odds_bounds, system_odds_bound
from riskmodel.model.exact import importance_check
from tests.conftest import ROOT

REDUCED = ROOT / "tests" / "fixtures" / "reduced.toml"

ONE_CELL = """
name = "one-cell"
version = "1.0.0"
date = "2026-11-25"
summary = "Reduced configuration: one system, one context, one binomial count of unmonitored compliance."
changelog = "Test fixture."
[sources.T]
citation = "test fixture"
[[row]]
id = "only"
source = "T"
system = "sys-a"
setting = "helpful-only"
condition = "unmonitored"
training_info = "prompted"
scratchpad = "yes"
value_conflict = "yes"
quantity = "complied"
k = 11
n = 400
where_read = "fixture"
"""

ONE_SYSTEM = """
name = "one-system"
version = "1.0.0"
date = "2026-12-01"
summary = "Test fixture: one system's reasoning counts without and with value conflict."
changelog = "Test fixture."
[sources.T]
citation = "test fixture"
[[row]]
id = "ref"
source = "T"
system = "sys-a"
setting = "helpful-only"
condition = "training"
training_info = "prompted"
scratchpad = "yes"
value_conflict = "no"
quantity = "training_gaming_reasoning"
k = {k0}
n = {n0}
where_read = "fixture"
[[row]]
id = "conflict"
source = "T"
system = "sys-a"
setting = "helpful-only"
condition = "training"
training_info = "prompted"
scratchpad = "yes"
value_conflict = "yes"
quantity = "training_gaming_reasoning"
k = {k1}
n = {n1}
where_read = "fixture"
"""


def _combined(a: float, sa: float, b: float, sb: float) -> float:
    return abs(a - b) / math.hypot(sa, sb)


@pytest.mark.slow
def test_conjugate_beta_binomial_through_the_model_builder():
    """With one unmonitored compliance count, baseline compliance c ~ Beta(a, b) has posterior Beta(a+k, b+n-k)."""
    priors = load_priors("baseline@2.0.0")
    ev = parse_evidence(ONE_CELL)
    res = fit(priors, ev, seed=3, chains=2, draws=2000, cache=False)
    a, b = priors["baseline_compliance"].params["alpha"], priors["baseline_compliance"].params["beta"]
    exact = stats.beta(a + 11, b + 400 - 11)
    draws = res.posterior["baseline_compliance"].values.ravel()
    assert res.diagnostics.divergences == 0
    assert draws.mean() == pytest.approx(exact.mean(), rel=0.02)
    assert draws.std() == pytest.approx(exact.std(), rel=0.06)
    np.testing.assert_allclose(np.quantile(draws, [0.05, 0.5, 0.95]), exact.ppf([0.05, 0.5, 0.95]), rtol=0.05)
    assert stats.kstest(draws[::5], exact.cdf).pvalue > 0.001
    # nothing else is informed: every other parameter is drawn exactly from its prior
    assert res.data.sampled == frozenset({"baseline_compliance"})
    pi = res.posterior["p_misaligned"].values.ravel()
    assert stats.kstest(pi, priors["p_misaligned"].dist().cdf).pvalue > 0.001


@pytest.mark.slow
def test_default_fit_is_healthy_and_reproduces_the_published_counts(default_fit):
    res = default_fit
    d = res.diagnostics
    assert d.ok, d.warnings
    assert d.divergences == 0 and d.max_r_hat <= 1.01 and min(d.min_ess_bulk, d.min_ess_tail) >= 400
    assert d.max_relative_mcse <= 0.10
    # the fitted flagged-reasoning rate reproduces GR24's 48/400 (posterior predictive 90% interval)
    rate = res.posterior["tg_rate_reasoning"].sel(
        reasoning_obs="gr24-claude-3-opus-helpful-only-training-prompted-sp-yes-vc-yes-tgr"
    )
    flagged = rate * res.posterior["reasoning_sensitivity"] + (1 - rate) * res.posterior["reasoning_false_positive"]
    rng = np.random.default_rng(0)
    k_rep = rng.binomial(400, flagged.values.ravel())
    assert np.quantile(k_rep, 0.05) <= 48 <= np.quantile(k_rep, 0.95)
    # at least 15 systems carry rows in the likelihood (the evidence library)
    assert len(res.data.coords["system"]) - 1 >= 15


@pytest.mark.slow
def test_exact_check_in_a_reduced_configuration():
    """P(misaligned | system) and its Bayes factor agree with 1e6 likelihood-weighted prior draws (3 combined MCSE)."""
    priors = load_priors("baseline@2.0.0")
    ev = load_evidence(REDUCED)
    exact = importance_check(priors, ev, draws=1_000_000, seed=0)
    assert exact.ess > 500
    res = fit(priors, ev, seed=1, chains=4, draws=1000, cache=False)
    assert res.diagnostics.ok, res.diagnostics.warnings
    rep = res.report()
    for s in ("sys-a", "sys-b"):
        d = rep["per_system"][s]
        z = _combined(
            d["p_misaligned"]["mean"], d["p_misaligned"]["mcse"], exact.p_misaligned[s], exact.p_misaligned_mcse[s]
        )
        assert z < 3, (s, d["p_misaligned"], exact.p_misaligned[s])
        bf = d["bayes_factor_misaligned"]
        z = _combined(
            math.log(bf["value"]), bf["log_mcse"], math.log(exact.bayes_factor[s]), exact.log_bayes_factor_mcse[s]
        )
        assert z < 3, (s, bf, exact.bayes_factor[s])
    # training-gaming only under value conflict is what aligned systems that protect their values do
    assert rep["per_system"]["sys-a"]["bayes_factor_misaligned"]["value"] < 1


@pytest.mark.slow
def test_health_check_fails_an_undersampled_fit_of_a_bimodal_case():
    """Negative control: too few draws of a case whose per-draw P(misaligned) is spread out fail the headline check."""
    priors = load_priors("baseline@2.0.0")
    res = fit(priors, load_evidence(REDUCED), seed=4, chains=2, draws=30, tune=30, cache=False)
    assert not res.diagnostics.ok
    assert any("Monte Carlo error" in w or "effective sample size" in w for w in res.diagnostics.warnings)


@pytest.mark.slow
def test_two_seeds_agree_on_every_per_system_headline(default_fit):
    other = fit(seed=2, chains=4, draws=1000)
    a, b = default_fit.report(), other.report()
    worst = 0.0
    for s in a["per_system"]:
        for key in ("p_worst_case", "p_misaligned"):
            x, y = a["per_system"][s][key], b["per_system"][s][key]
            worst = max(worst, _combined(x["mean"], x["mcse"], y["mean"], y["mcse"]))
    assert worst < 3.0, worst


@pytest.mark.slow
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    n0=st.integers(1, 100_000),
    n1=st.integers(1, 100_000),
    f0=st.floats(0.0, 1.0),
    f1=st.floats(0.0, 1.0),
)
def test_one_systems_evidence_moves_its_odds_at_most_by_the_bound(n0, n1, f0, f1):
    """Whatever one system's counts, its Bayes factor for misalignment stays within the prior set's odds bound."""
    priors = load_priors("baseline@2.0.0")
    ev = parse_evidence(ONE_SYSTEM.format(k0=round(f0 * n0), n0=n0, k1=round(f1 * n1), n1=n1))
    res = fit(priors, ev, seed=1, chains=2, draws=500, cache=False)
    bf = res.report()["per_system"]["sys-a"]["bayes_factor_misaligned"]
    bound = system_odds_bound(priors, ["intercept", "value_conflict"])
    tolerance = math.exp(3 * bf["log_mcse"]) * 1.05  # Monte Carlo error of the fit and of the bound
    assert 1 / (bound * tolerance) <= bf["value"] <= bound * tolerance, (bf, bound)


def test_odds_bound_is_one_without_separation_and_grows_with_it():
    priors = load_priors("baseline@2.0.0")
    bounds = coordinate_odds_bounds(priors)
    assert all(b >= 1.0 for b in bounds.values())
    flat = priors
    for c in bounds:
        p = flat[f"{c}_separation"]
        new = {"sigma": 1e-6} if p.distribution == "HalfNormal" else {"mu": 0.0, "sigma": 1e-6}
        flat = flat.with_parameter(replace(p, params=new, interval90=None))
    assert all(b == pytest.approx(1.0, abs=1e-3) for b in coordinate_odds_bounds(flat).values())
    wide = priors.with_parameter(replace(priors["intercept_separation"], params={"sigma": 5.0}, interval90=None))
    assert coordinate_odds_bounds(wide)["intercept"] > bounds["intercept"]


def _without_separation(priors):
    out = priors
    for name, p in priors.parameters.items():
        if name.endswith("_separation"):
            new = {"sigma": 1e-3} if p.distribution == "HalfNormal" else {"mu": 0.0, "sigma": 1e-3}
            out = out.with_parameter(replace(p, params=new, interval90=None))
    return out


@pytest.mark.slow
def test_separation_near_zero_gives_bayes_factors_near_one(default_fit):
    """'Training-gaming is barely indicative': every per-system Bayes factor for misalignment within [0.8, 1.25]."""
    res = default_fit.refit(_without_separation(default_fit.priors))
    rep = res.report()
    values = {s: d["bayes_factor_misaligned"]["value"] for s, d in rep["per_system"].items()}
    assert all(0.8 <= v <= 1.25 for v in values.values()), values


def _capability_shift(res, system: str) -> tuple[np.ndarray, np.ndarray]:
    """Per capability: P(capability | system) minus P(capability | a new system), and its standard error."""
    q = res.quantities["p_capability"]
    diff = (q.sel(system=system) - q.sel(system="new")).transpose("chain", "draw", "capability").values
    from riskmodel.model.summaries import mcse_of_means

    return diff.mean(axis=(0, 1)), mcse_of_means(diff)


@pytest.mark.slow
def test_competence_loading_carries_training_gaming_to_the_capabilities(default_fit):
    """With a positive loading, a heavy training-gamer's capabilities rise above a new system's; with 0 they do not.

    Both systems share the population's capability probabilities (which the capability evidence moves for every
    system alike), so the difference is the shared-cause channel alone.
    """
    system = "claude-3.5-sonnet"  # training-games heavily (SH25 gap above 1%; GR24 minimal replication)
    shift, se = _capability_shift(default_fit, system)
    assert (shift > 3 * se).all(), (shift, se)
    ps = default_fit.priors
    zero = ps.with_parameter(replace(ps["competence_loading"], params={"sigma": 1e-4}, interval90=None))
    shift0, se0 = _capability_shift(default_fit.refit(zero), system)
    assert (np.abs(shift0) < 4 * se0 + 1e-3).all(), (shift0, se0)


@pytest.mark.slow
def test_a_system_whose_training_gaming_survives_without_scratchpad_is_more_consistent(default_fit):
    """Through its own pattern: its consistency given either disposition rises (a no-scratchpad critical context)."""
    from riskmodel import update
    from riskmodel.interactive.whatif import Observation, what_if

    assert any(c.scratchpad == "no" for c in default_fit.priors.critical)
    critical = (Context("yes", "prompted", "no", name="red-teaming without chain of thought"),)
    base = update(default_fit, default_fit.priors.with_critical(critical))
    assert base.update.method == "recomputed"
    obs = [
        Observation("system-x", Context("yes", "prompted", "yes"), 60, 400),
        Observation("system-x", Context("yes", "prompted", "no"), 55, 400),
        Observation("system-x", Context("no", "prompted", "yes"), 2, 400),
    ]
    res = what_if(base, obs, allow_refit=True)
    assert res.update.method == "refit"
    rep = res.report()
    x, opus = rep["per_system"]["system-x"], rep["per_system"]["claude-3-opus"]
    assert x["consistency_given_misaligned"] > opus["consistency_given_misaligned"]
    assert x["consistency_given_aligned"] > opus["consistency_given_aligned"]


@pytest.mark.slow
def test_same_seed_same_numbers_in_one_process(default_fit):
    again = default_fit.refit()
    assert again.draws_sha256 == default_fit.draws_sha256


@pytest.mark.slow
def test_result_is_a_datatree_with_provenance(default_fit, tmp_path):
    import json

    import xarray as xr

    tree = default_fit.to_datatree()
    for group in ("posterior", "sample_stats", "prior", "worst_case", "worst_case_prior"):
        assert group in tree.children
    path = tmp_path / "fit.nc"
    tree.to_netcdf(path)
    back = xr.open_datatree(path)
    prov = json.loads(back.attrs["provenance"])
    assert prov["model"] == 2 and prov["priors"]["name"] == "baseline"
    assert back.attrs["healthy"] == "yes"

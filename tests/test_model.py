"""The fitted model against independent answers (slow: these run MCMC)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from riskmodel import fit
from riskmodel.data.evidence import parse_evidence
from riskmodel.data.priors import load_priors
from tests.conftest import ROOT

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


@pytest.mark.slow
def test_conjugate_beta_binomial_through_the_model_builder():
    """With one unmonitored compliance count, baseline compliance c ~ Beta(a, b) has posterior Beta(a+k, b+n-k)."""
    priors = load_priors("baseline@1.1.0", root=ROOT)
    ev = parse_evidence(ONE_CELL)
    res = fit(priors, ev, seed=3, chains=2, draws=2000)
    a, b = priors["baseline_compliance"].params["alpha"], priors["baseline_compliance"].params["beta"]
    exact = stats.beta(a + 11, b + 400 - 11)
    draws = res.posterior["baseline_compliance"].values.ravel()
    assert res.diagnostics.divergences == 0
    assert draws.mean() == pytest.approx(exact.mean(), rel=0.02)
    assert draws.std() == pytest.approx(exact.std(), rel=0.06)
    np.testing.assert_allclose(np.quantile(draws, [0.05, 0.5, 0.95]), exact.ppf([0.05, 0.5, 0.95]), rtol=0.05)
    assert stats.kstest(draws[::5], exact.cdf).pvalue > 0.001
    # a parameter the evidence does not inform keeps its prior
    p_prior = priors["p_misaligned"]
    assert res.posterior["p_misaligned"].values.mean() == pytest.approx(p_prior.mean(), abs=0.01)


@pytest.mark.slow
def test_default_fit_is_healthy_and_moves_only_what_the_evidence_informs(default_fit):
    res = default_fit
    d = res.diagnostics
    assert d.divergences == 0, d.warnings
    assert d.max_r_hat <= 1.01 and d.min_ess_bulk >= 400, d.warnings
    rep = res.report()
    opus = rep["per_system"]["claude-3-opus"]
    # training-gaming only under value conflict looks like value preservation: P(misaligned) falls for the one
    # system with cross-context data; systems without training-gaming evidence keep the prior
    assert opus["p_misaligned"]["mean"] < 0.25 * opus["p_misaligned_prior"]["mean"]
    assert opus["bayes_factor_worst_case"]["value"] < 0.2
    new = rep["per_system"]["new"]
    assert new["p_misaligned"]["mean"] == pytest.approx(new["p_misaligned_prior"]["mean"], abs=0.03)
    # capability assumptions have no data: posterior mean equals prior mean
    for cap in ("coordination", "sandbagging"):
        a = rep["assumptions"][cap]
        assert a["posterior_mean"] == pytest.approx(a["prior_mean"], abs=0.02)
        assert a["p_worst_case_if_certain"] >= a["p_worst_case_as_modeled"]
    # the observed training-gaming rate is reproduced: p * sensitivity + (1-p) * fp near 48/400 under conflict
    post = res.posterior
    rate = post["tg_rate_reasoning"].sel(disposition="aligned", reasoning_obs=res.data.coords["reasoning_obs"][0])
    flagged = rate * post["reasoning_sensitivity"] + (1 - rate) * post["reasoning_false_positive"]
    assert float(flagged.mean()) == pytest.approx(48 / 400, abs=0.02)
    # bounds that hold draw by draw
    q = res.quantities
    assert bool((q["p_worst_case"] <= q["p_misaligned_post"] + 1e-12).all())
    assert rep["p_worst_case"]["lower"] <= rep["p_worst_case"]["mean"] <= rep["p_worst_case"]["upper"]
    shares = rep["route_shares"]
    assert 0 < shares["consistency"] < 1 and shares["consistency"] + shares["other_route_only"] == pytest.approx(1)


@pytest.mark.slow
def test_same_seed_same_numbers_in_one_process(default_fit):
    again = fit(seed=1, chains=4, draws=1000)
    a = default_fit.quantities["p_worst_case"].values
    b = again.quantities["p_worst_case"].values
    np.testing.assert_allclose(a, b, rtol=0, atol=0)
    assert again.citation() == default_fit.citation()


@pytest.mark.slow
def test_result_is_a_datatree_with_provenance(default_fit, tmp_path):
    import json

    import xarray as xr

    tree = default_fit.to_datatree()
    for group in ("posterior", "sample_stats", "prior", "worst_case", "worst_case_prior"):
        assert group in tree.children
    prov = json.loads(tree.attrs["provenance"])
    assert prov["priors"]["name"] == "baseline" and len(prov["priors"]["sha256"]) == 64
    assert prov["sampler"] == "nutpie" and prov["dependencies"]["pymc"]
    path = tmp_path / "fit.nc"
    tree.to_netcdf(path)
    back = xr.open_datatree(path)
    assert back.attrs["citation"] == default_fit.citation()


@pytest.mark.slow
def test_numpy_prior_draws_match_pymc_prior_predictive():
    """draw_prior (numpy) samples the same likelihood-free model as PyMC's prior predictive."""
    import pymc as pm

    from riskmodel.data.evidence import load_evidence
    from riskmodel.model.graph import build_model
    from riskmodel.model.prior import draw_prior
    from riskmodel.model.spec import model_data

    data = model_data(load_priors("baseline@1.1.0", root=ROOT), load_evidence("published-evals@1.0.0", root=ROOT))
    ours = draw_prior(data, 20000, seed=5)
    model = build_model(data, likelihood=False)
    names = [v for v in ours.data_vars if v in model.named_vars]
    theirs = pm.sample_prior_predictive(
        draws=20000, model=model, var_names=names, random_seed=6, compile_kwargs={"mode": "FAST_COMPILE"}
    )["prior"]
    assert set(names) == set(ours.data_vars)
    for name in names:
        a = ours[name].values.reshape(20000, -1)
        b = theirs[name].values.reshape(20000, -1)
        assert a.shape == b.shape, name
        for j in range(a.shape[1]):
            if np.ptp(b[:, j]) == 0:
                assert np.ptp(a[:, j]) == 0 and a[0, j] == b[0, j], name
                continue
            assert stats.ks_2samp(a[:, j], b[:, j]).pvalue > 1e-4, (name, j)

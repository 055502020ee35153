"""Fast updates: redraw uninformed assumptions, PSIS-reweight informed ones, refit when reweighting fails."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from riskmodel import fit
from riskmodel.data.evidence import load_evidence
from riskmodel.data.priors import CAPABILITIES, load_priors
from riskmodel.errors import InputError
from riskmodel.interactive.update import _psis, update
from riskmodel.model.informed import informed_parameters
from riskmodel.model.spec import model_data
from riskmodel.model.summaries import mcse_of_mean, weighted_mean


def _with(priors, name, **params):
    return priors.with_parameter(replace(priors[name], params=params, interval90=None))


def test_informed_parameters_follow_the_selected_evidence():
    priors = load_priors("baseline@2.0.0")
    ev = load_evidence("published-evals@2.0.0")
    informed = informed_parameters(model_data(priors, ev))
    assert {"p_misaligned", "intercept_aligned", "value_conflict_spread", "reasoning_sensitivity"} <= informed
    assert {"behaviour_share", "competence_loading", "cross_context_strategizing"} <= informed
    assert not informed & {"other_route", "reinforcement", "coordination", "hiding_reasoning", "documents_aligned"}
    only_reasoning = ev.without({r.id for r in ev.rows if r.quantity != "training_gaming_reasoning"})
    informed = informed_parameters(model_data(priors, only_reasoning))
    assert "behaviour_share" not in informed and "baseline_compliance" not in informed
    assert not informed & set(CAPABILITIES)


def test_informed_parameters_are_exactly_those_the_likelihood_depends_on():
    """Numerically: perturbing an informed parameter changes the marginal likelihood of the patterns' counts."""
    from scipy.special import logsumexp

    from riskmodel.model.exact import _prior_block
    from riskmodel.model.likelihood import log_likelihood, pattern_prior_terms

    priors = load_priors("baseline@2.0.0")
    data = model_data(priors, load_evidence("published-evals@2.0.0"))
    block = _prior_block(priors, data, 64, np.random.default_rng(0))

    def total(b):
        joint, has = pattern_prior_terms(b, data)
        return log_likelihood(b, data) + logsumexp(joint, axis=-1)[:, has].sum(axis=1)

    base = total(block)
    for name in sorted(data.sampled):
        bumped = dict(block)
        x = block[name]
        bumped[name] = (
            np.clip(x * 1.05 + 0.01, 1e-6, 1 - 1e-6) if priors[name].distribution == "Beta" else x * 1.05 + 0.01
        )
        assert np.abs(total(bumped) - base).max() > 1e-9, f"{name} is sampled but the likelihood ignores it"


def test_psis_weights_follow_the_density_ratio():
    rng = np.random.default_rng(0)
    log_ratio = 0.3 * rng.normal(size=4000)
    w, k = _psis(log_ratio, (4, 1000))
    assert w.shape == (4, 1000) and w.sum() == pytest.approx(1.0)
    assert np.corrcoef(np.log(w.ravel()), log_ratio)[0, 1] > 0.99  # not the negated ratio
    assert k < 0.7
    w, k = _psis(np.zeros(4000), (4, 1000))
    assert np.allclose(w, 1 / 4000) and k == 0.0


@pytest.mark.slow
def test_uninformed_change_recomputes_without_mcmc(default_fit):
    new = _with(default_fit.priors, "coordination", alpha=8.0, beta=2.0)
    up = update(default_fit, new)
    assert up.update.method == "recomputed" and up.update.changed == ("coordination",)
    draws = up.posterior["coordination"].values
    assert draws.mean() == pytest.approx(0.8, abs=0.01)  # the new prior, which is the posterior
    np.testing.assert_array_equal(up.posterior["p_misaligned"].values, default_fit.posterior["p_misaligned"].values)
    assert float(up.quantities["p_worst_case"].mean()) > float(default_fit.quantities["p_worst_case"].mean())
    with pytest.raises(InputError, match="fit exactly to cite"):
        up.citation()
    assert up.report()["not_citable"]
    assert up.report()["citation"] is None and up.report()["update"]["method"] == "recomputed"
    # contexts only change arithmetic
    critical = default_fit.priors.with_critical(default_fit.priors.critical[:1])
    assert update(default_fit, critical).update.method == "recomputed"


@pytest.mark.slow
def test_reweighted_update_agrees_with_a_refit(default_fit):
    new = _with(default_fit.priors, "p_misaligned", alpha=2.4, beta=10.5)
    up = update(default_fit, new)
    assert up.update.method == "reweighted" and up.update.pareto_k <= 0.7
    refit = fit(new, default_fit.evidence, seed=default_fit.seed, cache=False)
    a = up.quantities["p_worst_case"].sel(system="new")
    b = refit.quantities["p_worst_case"].sel(system="new")
    se = np.hypot(mcse_of_mean(a, up.weights), mcse_of_mean(b))
    assert abs(weighted_mean(a, up.weights) - weighted_mean(b)) < 3 * se
    p_up = weighted_mean(up.posterior["p_misaligned"], up.weights)
    assert p_up == pytest.approx(float(refit.posterior["p_misaligned"].mean()), abs=0.01)


@pytest.mark.slow
def test_far_prior_move_is_flagged_and_refit(default_fit):
    new = _with(default_fit.priors, "p_misaligned", alpha=8.0, beta=2.0)
    flagged = update(default_fit, new, allow_refit=False)
    assert flagged.update.method == "reweighted-unreliable" and "Pareto k" in flagged.update.message
    refit = update(default_fit, new)
    assert refit.update.method == "refit" and refit.exact
    assert float(refit.posterior["p_misaligned"].mean()) > 0.5


@pytest.mark.slow
def test_a_nan_pareto_k_is_never_trusted(default_fit, monkeypatch):
    import riskmodel.interactive.update as mod

    monkeypatch.setattr(mod, "_psis", lambda lr, shape: (np.full(shape, 1.0 / np.prod(shape)), float("nan")))
    new = _with(default_fit.priors, "p_misaligned", alpha=2.4, beta=10.5)
    flagged = update(default_fit, new, allow_refit=False)
    assert flagged.update.method == "reweighted-unreliable"

"""Simulation-based calibration of model 2: the simulator against independent formulas (quick), ranks of 100
refits and a negative control the same test must flag (slow, about 3-4 minutes on 2 cores)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit

from riskmodel.analysis.calibration import (
    WRONG_PRIOR,
    draw_truth,
    misspecify,
    rank_uniformity,
    run_sbc,
    sbc_evidence,
    simulate_counts,
)
from riskmodel.data.priors import load_priors
from riskmodel.model.spec import model_data
from tests.conftest import ROOT

#: Replications and sampler settings of the slow test (the analysis script uses the same).
REPS, NEGATIVE_REPS, DRAWS, TUNE, N_RANKS = 100, 50, 250, 300, 49


@pytest.fixture(scope="module")
def structure():
    return model_data(load_priors("baseline@2.0.0", root=ROOT), sbc_evidence())


def test_the_sbc_structure_has_every_kind_of_counted_row(structure):
    d = structure
    assert d.counts_reasoning.shape == (2, 5) and d.counts_pair.shape == (4, 2) and d.threshold_rows.shape == (4, 2)
    assert sorted(d.threshold_rows[3]) == [0.0, 1.0]  # a gap and a rate threshold
    assert {"after_rl_effect", "no_scratchpad_spread", "p_misaligned", "behaviour_share"} <= d.sampled
    assert not d.coords["setting"] and not d.cap_index.size


def test_truths_follow_the_prior(structure):
    """Dispositions are Bernoulli(p_misaligned); a pattern coordinate is aligned + d separation + spread t."""
    truths = draw_truth(structure, 4000, seed=1)
    pi = np.array([t.params["p_misaligned"] for t in truths])
    d = np.array([t.disposition for t in truths])  # (rep, system)
    assert d.mean() == pytest.approx(pi.mean(), abs=4 * np.sqrt(pi.mean() / d.size) + 0.005)
    prior = load_priors("baseline@2.0.0", root=ROOT)
    assert pi.mean() == pytest.approx(prior["p_misaligned"].mean(), abs=0.01)
    k = 1  # value conflict: no competence term
    resid = np.array(
        [
            (t.theta[:, k] - t.params["value_conflict_aligned"] - t.disposition * t.params["value_conflict_separation"])
            / t.params["value_conflict_spread"]
            for t in truths
        ]
    ).ravel()
    assert stats.kstest(resid, stats.t(structure.tail_df).cdf).pvalue > 1e-3


def test_simulated_counts_have_the_right_shape_and_binomial_means(structure):
    d = structure
    truth = draw_truth(d, 1, seed=7)[0]
    rng = np.random.default_rng(3)
    sims = [simulate_counts(truth, d, rng) for _ in range(3000)]
    for s in sims[:3]:
        assert s.counts_reasoning.shape == d.counts_reasoning.shape and s.structure_key(True) == d.structure_key(True)
        np.testing.assert_array_equal(s.counts_reasoning[1], d.counts_reasoning[1])
        assert set(np.unique(s.threshold_rows[2])) <= {0.0, 1.0}
    p = truth.params
    theta = truth.theta
    # reasoning row 2 of sbc-a is after RL with value conflict: intercept + value conflict + after-RL shift
    a = d.coords["system"].index("sbc-a")
    p_tg = expit(theta[a, 0] + theta[a, 1] + p["after_rl_effect"])
    q = p_tg * p["reasoning_sensitivity"] + (1 - p_tg) * p["reasoning_false_positive"]
    k = np.array([s.counts_reasoning[0, 2] for s in sims])
    n = d.counts_reasoning[1, 2]
    assert k.mean() == pytest.approx(n * q, abs=4 * np.sqrt(n * q * (1 - q) / len(sims)) + 1e-9)
    # compliance without a scratchpad in training: c + (1 - c) g p, with the no-scratchpad coordinate
    c_sys = d.coords["system"].index("sbc-c")
    c = p["baseline_compliance"][1]
    p_tg = expit(theta[c_sys, 0] + theta[c_sys, 1] + theta[c_sys, 4])
    q = c + (1 - c) * p["behaviour_share"] * p_tg
    kt = np.array([s.counts_pair[0, 1] for s in sims])
    assert kt.mean() == pytest.approx(100 * q, abs=4 * np.sqrt(100 * q * (1 - q) / len(sims)) + 1e-9)
    ku = np.array([s.counts_pair[2, 1] for s in sims])
    assert ku.mean() == pytest.approx(100 * c, abs=4 * np.sqrt(100 * c * (1 - c) / len(sims)) + 1e-9)
    # the gap threshold outcome: P(normal approximation of the observed gap > 1%)
    e = d.coords["system"].index("sbc-d")
    c = p["baseline_compliance"][2]
    p_tg = expit(theta[e, 0] + theta[e, 1])
    qt = c + (1 - c) * p["behaviour_share"] * p_tg
    above = stats.norm.sf(0.01, loc=qt - c, scale=np.sqrt((qt * (1 - qt) + c * (1 - c)) / 100))
    out = np.array([s.threshold_rows[2, 0] for s in sims])
    assert out.mean() == pytest.approx(above, abs=4 * np.sqrt(above * (1 - above) / len(sims)) + 1e-9)


def test_misspecify_moves_one_normal_prior(structure):
    d = structure
    wrong = misspecify(d, "intercept_aligned", shift_sd=2.0, scale=0.25)
    mu, sd = d.hyper_index["intercept_aligned.mu"], d.hyper_index["intercept_aligned.sigma"]
    assert wrong.prior_hyper[mu] == pytest.approx(d.prior_hyper[mu] + 2 * d.prior_hyper[sd])
    assert wrong.prior_hyper[sd] == pytest.approx(0.25 * d.prior_hyper[sd])
    changed = np.flatnonzero(wrong.prior_hyper != d.prior_hyper)
    assert set(changed) == {mu, sd} and wrong.structure_key(True) == d.structure_key(True)
    with pytest.raises(Exception, match="Normal"):
        misspecify(d, "p_misaligned", shift_sd=1.0, scale=1.0)


def test_uniformity_test_itself():
    """The chi-square test flags piled-up ranks and passes uniform ones (no MCMC)."""
    rng = np.random.default_rng(0)
    ranks = pd.DataFrame({"uniform": rng.integers(0, 100, 100), "piled": rng.integers(0, 20, 100)})
    test = rank_uniformity(ranks, 99)
    assert not test.loc["uniform", "flagged"] and test.loc["piled", "flagged"]
    assert test.attrs["threshold"] == pytest.approx(0.005)


@pytest.fixture(scope="module")
def calibrated():
    t0 = time.perf_counter()
    res = run_sbc(REPS, draws=DRAWS, tune=TUNE, n_ranks=N_RANKS, seed=11, label="calibrated")
    res.settings["wall_seconds"] = time.perf_counter() - t0
    return res


@pytest.mark.slow
def test_ranks_are_uniform_for_every_ranked_quantity(calibrated):
    test = calibrated.uniformity(bins=10, alpha=0.01)
    print(f"{calibrated.settings['wall_seconds']:.0f} s")
    print(test[["group", "p_value", "min_bin", "max_bin"]].to_string())
    assert len(calibrated.ranks) == REPS
    assert {"context layer", "pattern", "disposition", "measurement"} <= set(test["group"])
    assert {"intercept_aligned", "value_conflict_spread", "p_misaligned", "disposition[sbc-a]"} <= set(test.index)
    assert calibrated.ranks.to_numpy().min() >= 0 and calibrated.ranks.to_numpy().max() <= calibrated.n_ranks
    assert not test["flagged"].any(), test[test["flagged"]]


@pytest.mark.slow
def test_negative_control_is_flagged():
    """Fitting with the aligned intercept's prior moved by 2 sds and 4 times narrower must fail the same test."""
    wrong = run_sbc(NEGATIVE_REPS, draws=DRAWS, tune=TUNE, n_ranks=N_RANKS, seed=11, wrong_prior=WRONG_PRIOR)
    test = wrong.uniformity(bins=10, alpha=0.01)
    print(test.sort_values("p_value")[["p_value", "min_bin", "max_bin"]].head(5).to_string())
    assert test.loc["intercept_aligned", "flagged"]
    assert test.loc["intercept_aligned", "p_value"] < 1e-10

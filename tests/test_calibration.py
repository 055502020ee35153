"""Simulation-based calibration of the fitted layers, and a negative control the same test must flag (slow)."""

from __future__ import annotations

import numpy as np
import pytest

from riskmodel.analysis.calibration import rank_uniformity, run_sbc

pytestmark = pytest.mark.slow

#: Replications and sampler settings of the slow test (the analysis script defaults to 2x200 draws, tune 300).
REPS, DRAWS, TUNE = 100, 150, 200


@pytest.fixture(scope="module")
def calibrated():
    return run_sbc(REPS, draws=DRAWS, tune=TUNE, seed=11, label="calibrated")


def test_ranks_are_uniform_for_every_fitted_quantity(calibrated):
    test = calibrated.uniformity(bins=10, alpha=0.01)
    print(test[["p_value", "min_bin", "max_bin"]].to_string())
    assert len(calibrated.ranks) == REPS
    assert {"tg_intercept_aligned", "value_conflict_effect_aligned", "p_misaligned", "M_pre[claude-3-opus]"} <= set(
        test.index
    )
    assert calibrated.ranks.to_numpy().min() >= 0 and calibrated.ranks.to_numpy().max() <= calibrated.n_ranks
    assert not test["flagged"].any(), test[test["flagged"]]


def test_negative_control_is_flagged():
    """Fitting with the aligned intercept's prior moved by 2 sds and 4 times narrower must fail the same test."""
    wrong = run_sbc(REPS, draws=DRAWS, tune=TUNE, seed=11, wrong_prior=("tg_intercept_aligned", 2.0, 0.25))
    test = wrong.uniformity(bins=10, alpha=0.01)
    print(test[["p_value", "min_bin", "max_bin"]].to_string())
    assert test.loc["tg_intercept_aligned", "flagged"]
    assert test.loc["tg_intercept_aligned", "p_value"] < 1e-10


def test_uniformity_test_itself():
    """The chi-square test flags piled-up ranks and passes uniform ones (no MCMC)."""
    import pandas as pd

    rng = np.random.default_rng(0)
    ranks = pd.DataFrame({"uniform": rng.integers(0, 100, 100), "piled": rng.integers(0, 20, 100)})
    test = rank_uniformity(ranks, 99)
    assert not test.loc["uniform", "flagged"] and test.loc["piled", "flagged"]
    assert test.attrs["threshold"] == pytest.approx(0.005)

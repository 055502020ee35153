"""Hypothetical evidence: reweighting the cached fit by new counts, against an exact refit with those counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from riskmodel.data.features import Context
from riskmodel.errors import InputError
from riskmodel.interactive.whatif import Observation, augmented_evidence, what_if
from riskmodel.model.quantities import _mcse_of_mean, weighted_mean

#: A context no published count covers: no value conflict, no training information, hidden scratchpad.
UNSEEN = Context("no", "none", "hidden")


def test_bad_observations_are_one_line_input_errors():
    with pytest.raises(InputError, match="exceeds"):
        Observation("claude-3-opus", UNSEEN, 5, 3).check()
    with pytest.raises(InputError):
        Observation("claude-3-opus", UNSEEN, -1, 3).check()


def test_augmented_evidence_holds_the_rows_in_memory_and_is_not_a_release():
    from riskmodel.data.evidence import load_evidence

    ev = load_evidence("published-evals")
    aug = augmented_evidence(ev, [Observation("claude-3-opus", UNSEEN, 2, 50)], "helpful-only")
    assert len(aug.rows) == len(ev.rows) + 1
    assert not aug.released and aug.sha256 != ev.sha256
    new = aug.rows[-1]
    assert (new.k, new.n, new.system, new.quantity) == (2, 50, "claude-3-opus", "training_gaming_reasoning")
    assert new.id in {r.id for r in aug.reasoning_rows()}
    # counts in a context the system already has a row for are pooled into it (same model graph)
    seen = ev.reasoning_rows()[0]
    pooled = augmented_evidence(ev, [Observation(seen.system, seen.context, 3, 10, seen.setting)], "helpful-only")
    assert len(pooled.rows) == len(ev.rows)
    row = next(r for r in pooled.rows if r.id == seen.id)
    assert (row.k, row.n) == (seen.k + 3, seen.n + 10)
    with pytest.raises(InputError, match="named system"):
        augmented_evidence(ev, [Observation("new", UNSEEN, 2, 50)], "helpful-only")


@pytest.mark.slow
def test_reweighting_by_hypothetical_counts(default_fit):
    res = default_fit
    nothing = what_if(res, Observation("claude-3-opus", UNSEEN, 0, 0))
    assert nothing.update.method == "reweighted" and nothing.update.pareto_k == 0.0
    np.testing.assert_allclose(nothing.weights, 1.0 / nothing.weights.size)
    out = what_if(res, [Observation("new", res.priors.elicitation, 40, 100)])
    assert not out.exact and out.base is res
    with pytest.raises(InputError):
        out.citation()
    assert out.weights.sum() == pytest.approx(1.0)
    # a new system that training-games at 40% in the elicitation context looks more misaligned than the prior
    before = weighted_mean(res.quantities["p_misaligned_pre"].sel(system="new"))
    after = weighted_mean(out.quantities["p_misaligned_pre"].sel(system="new"), out.weights)
    assert after > before
    with pytest.raises(InputError, match="unknown system"):
        what_if(res, Observation("gpt-99", UNSEEN, 1, 10))


@pytest.mark.slow
def test_reweighting_agrees_with_an_exact_refit_on_the_augmented_evidence(default_fit):
    res = default_fit
    # pooled into the elicitation row, so the refit reuses the compiled model (a new context would recompile)
    obs = [Observation("claude-3-opus", res.priors.elicitation, 12, 60)]
    rw = what_if(res, obs)
    assert rw.update.method == "reweighted", rw.update.message
    refit = what_if(res, obs, force_refit=True)
    assert refit.update.method == "refit"
    assert len(refit.evidence.rows) == len(res.evidence.rows) and not refit.exact
    for q in ("p_worst_case", "p_misaligned_pre"):
        a = rw.quantities[q].sel(system="new").transpose("chain", "draw")
        b = refit.quantities[q].sel(system="new").transpose("chain", "draw")
        se = math.hypot(_mcse_of_mean(a, rw.weights), _mcse_of_mean(b))
        assert abs(weighted_mean(a, rw.weights) - weighted_mean(b)) < 3 * se, q
    # the opus disposition: reweighted draws of its updated P(misaligned) against the refit's
    a = rw.quantities["p_misaligned_pre"].sel(system="claude-3-opus").transpose("chain", "draw")
    b = refit.quantities["p_misaligned_pre"].sel(system="claude-3-opus").transpose("chain", "draw")
    se = math.hypot(_mcse_of_mean(a, rw.weights), _mcse_of_mean(b))
    assert abs(weighted_mean(a, rw.weights) - weighted_mean(b)) < 3 * se + 1e-6

"""Hypothetical evidence: reweighting the cached fit by new counts, against an exact refit with those counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from riskmodel.data.evidence import load_evidence
from riskmodel.data.features import Context
from riskmodel.errors import InputError
from riskmodel.interactive.whatif import MAX_EPISODES, Observation, augmented_evidence, reweightable, what_if
from riskmodel.model.summaries import mcse_of_mean, weighted_mean

#: A context no published count covers: no value conflict, no training information, hidden scratchpad.
UNSEEN = Context("no", "none", "hidden")


@pytest.mark.parametrize(
    ("obs", "message"),
    [
        (Observation("claude-3-opus", UNSEEN, 5, 3), "exceeds"),
        (Observation("claude-3-opus", UNSEEN, -1, 3), "whole number"),
        (Observation("claude-3-opus", UNSEEN, 1, 10**30), "whole number"),
        (Observation("claude-3-opus", UNSEEN, 0, 0), "at least 1"),
        (Observation("claude-3-opus", Context("maybe", "prompted", "yes"), 1, 3), "value_conflict must be one of"),
        (Observation("claude-3-opus", Context("yes", "carrier-pigeon", "yes"), 1, 3), "training_info must be"),
        (Observation("claude-3-opus", Context("yes", "prompted", "sideways"), 1, 3), "scratchpad must be one of"),
        (Observation("", UNSEEN, 1, 3), "system name"),
    ],
)
def test_bad_observations_are_one_line_input_errors(obs, message):
    with pytest.raises(InputError, match=message) as info:
        obs.check()
    assert "\n" not in info.value.line()
    assert MAX_EPISODES < 10**30


def test_augmented_evidence_holds_the_rows_in_memory_and_is_not_a_release():
    ev = load_evidence("published-evals@2.0.0")
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
def test_what_the_cached_draws_can_take(default_fit):
    res = default_fit
    assert reweightable(res, Observation("claude-3-opus", res.priors.elicitation, 1, 10)) == ""
    assert "coordinate" in reweightable(res, Observation("claude-3-opus", UNSEEN, 1, 10))
    assert "not a system of the fit" in reweightable(res, Observation("gpt-99", UNSEEN, 1, 10))
    assert "population" in reweightable(res, Observation("new", res.priors.elicitation, 1, 10))
    with pytest.raises(InputError, match="needs a refit"):
        what_if(res, Observation("gpt-99", UNSEEN, 1, 10))
    out = what_if(res, Observation("claude-3-opus", res.priors.elicitation, 0, 1))
    assert out.update.method == "reweighted" and not out.exact and out.base is res
    with pytest.raises(InputError):
        out.citation()
    assert out.weights.sum() == pytest.approx(1.0)


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
    for system in ("claude-3-opus", "new"):
        for q in ("p_worst_case", "p_misaligned_pre"):
            a = rw.quantities[q].sel(system=system).transpose("chain", "draw")
            b = refit.quantities[q].sel(system=system).transpose("chain", "draw")
            se = math.hypot(mcse_of_mean(a, rw.weights), mcse_of_mean(b))
            assert abs(weighted_mean(a, rw.weights) - weighted_mean(b)) < 3 * se + 1e-6, (system, q)
    # more training-gaming in the elicitation context: claude-3-opus's P(misaligned) does not fall
    before = weighted_mean(res.quantities["p_misaligned_pre"].sel(system="claude-3-opus"))
    after = weighted_mean(rw.quantities["p_misaligned_pre"].sel(system="claude-3-opus"), rw.weights)
    assert after >= before - 1e-9
    assert np.isfinite(rw.update.pareto_k)


def test_counts_in_the_named_elicitation_context_pool_into_the_existing_row():
    """The elicitation context has a name; its counts still pool into the row with the same features (no new row,
    so a refit reuses the compiled model)."""
    from riskmodel.data.evidence import load_evidence
    from riskmodel.data.priors import load_priors
    from riskmodel.interactive.whatif import augmented_evidence

    ps, ev = load_priors("baseline@2.0.0"), load_evidence("published-evals@2.0.0")
    assert ps.elicitation.name  # the case at issue: a named context
    row = next(
        r
        for r in ev.reasoning_rows()
        if r.system == "claude-3-opus"
        and r.setting == ps.reference_setting
        and r.stage == "pre-rl"
        and r.value_conflict == "yes"
        and r.training_info == "prompted"
        and r.scratchpad == "yes"
    )
    out = augmented_evidence(ev, [Observation("claude-3-opus", ps.elicitation, 12, 60)], ps.reference_setting)
    assert len(out.rows) == len(ev.rows)
    pooled = next(r for r in out.rows if r.id == row.id)
    assert (pooled.k, pooled.n) == (row.k + 12, row.n + 60)

"""Explorer support without a fit: priors from controls, URL state, saving versions."""

from __future__ import annotations

import pytest

from riskmodel.data.priors import load_priors, parse_priors, prior_store
from riskmodel.errors import PriorError, RiskmodelError
from riskmodel.interactive import explore
from tests.conftest import ROOT, snapshot


@pytest.fixture
def base():
    return load_priors("baseline@2.0.0", root=ROOT)


def test_mean_strength_and_interval_give_the_asked_beta(base):
    p = explore.beta_from_mean_strength(base["coordination"], 0.3, 20)
    assert p.params == {"alpha": pytest.approx(6.0), "beta": pytest.approx(14.0)}
    assert p.mean() == pytest.approx(0.3)
    q = explore.beta_from_interval(base["coordination"], 0.1, 0.4)
    assert q.dist().cdf(0.4) - q.dist().cdf(0.1) == pytest.approx(0.9, abs=0.01)
    for bad in ((0.4, 0.1), (0.0, 0.5), (0.2, 1.0)):
        with pytest.raises(PriorError):
            explore.beta_from_interval(base["coordination"], *bad)
    with pytest.raises(PriorError, match="mean must lie"):
        explore.beta_from_mean_strength(base["coordination"], 1.2, 10)


def test_url_state_round_trip(base):
    edited = base.with_parameter(explore.beta_from_mean_strength(base["sandbagging"], 0.7, 12))
    edited = edited.with_parameter(explore.beta_from_interval(edited["coordination"], 0.05, 0.3))
    edited = edited.with_parameter(explore.prior_from_interval(edited["no_scratchpad_aligned"], -2.0, 1.0))
    edited = edited.with_parameter(
        explore.prior_from_params(edited["intercept_separation"], "HalfNormal", {"sigma": 0.2})
    )
    edited = edited.with_critical(explore.ALL_CONTEXTS[:2]).with_model(consistency="absolute", tail_df=7.0)
    params = explore.encode_state(edited, base, excluded=frozenset({"row-a"}), system="o1")
    restored, excluded = explore.decode_state(params, base)
    assert excluded == {"row-a"}
    for name in ("sandbagging", "coordination", "no_scratchpad_aligned", "intercept_separation"):
        assert restored[name].params == pytest.approx(edited[name].params, rel=1e-5), name
    assert [c.label() for c in restored.critical] == [c.label() for c in edited.critical]
    assert (restored.consistency, restored.tail_df) == ("absolute", 7.0)


def test_every_assumption_has_a_widget_spec_within_its_range(base):
    names = [n for _, group in explore.assumption_groups() for n in group]
    assert sorted(names) == sorted(base.parameters)
    for name in names:
        spec = explore.control_spec(base[name])
        assert spec.min <= spec.low <= spec.high <= spec.max, name
    # a prior whose interval lies outside the widgets' range is shown clamped, with a warning (never a crash)
    wide = explore.prior_from_params(base["after_rl_effect"], "Normal", {"mu": 0.0, "sigma": 5e5})
    spec = explore.control_spec(wide)
    assert spec.clamped and spec.min <= spec.low <= spec.high <= spec.max


@pytest.mark.parametrize(
    "params",
    [
        {"p.telepathy": "m0.5s2"},
        {"p.coordination": "m1.5s2"},
        {"p.coordination": "x"},
        {"critical": "yes,none"},
        {"p.coordination": "Beta:alpha=-1,beta=2"},
        {"p.intercept_aligned": "HalfNormal:sigma=1"},
        {"p.coordination": "m0.5s500000000"},
        {"tail_df": "1e308"},
        {"consistency": "sideways"},
    ],
)
def test_bad_url_state_is_one_line_error(base, params):
    with pytest.raises(RiskmodelError) as err:
        explore.decode_state(params, base)
    assert "\n" not in err.value.line()


def test_release_priors_writes_the_next_version_and_never_overwrites(base, data_copy):
    edited = base.with_parameter(explore.beta_from_mean_strength(base["coordination"], 0.6, 10))
    why = {"coordination": "copies share weights and prompts; coordinating is easier than we assumed"}
    before = snapshot(data_copy / "priors")
    for bad, match in [
        ({"author": "", "rationales": why}, "author"),
        ({"author": "A. Tester", "rationales": {}}, "rationale"),
        ({"author": "A. Tester", "rationales": why, "changelog": "  "}, "changelog"),
    ]:
        kw = {"changelog": "coordination is easier", "name": "baseline", "parent": base, **bad}
        with pytest.raises(RiskmodelError, match=match):
            explore.release_priors(edited, kw.pop("changelog"), **kw)
    assert snapshot(data_copy / "priors") == before  # a refused release writes nothing
    rel = explore.release_priors(
        edited, "coordination is easier", name="baseline", author="A. Tester", rationales=why, parent=base
    )
    assert rel.ref == "baseline@2.1.0"
    loaded = load_priors("baseline@2.1.0")
    assert loaded.changelog == "coordination is easier" and loaded["coordination"].mean() == pytest.approx(0.6)
    assert loaded["coordination"].rationale == why["coordination"] and loaded.author == "A. Tester"
    assert loaded.parent.startswith(f"baseline@2.0.0 sha256:{base.sha256}")
    assert parse_priors(loaded.to_toml()).parameters == loaded.parameters
    released = (data_copy / "priors" / "baseline" / "2.1.0.toml").read_bytes()
    again = explore.release_priors(
        edited, "the same again", name="baseline", author="A. Tester", rationales=why, parent=base
    )
    assert again.ref == "baseline@2.2.0"  # a second release gets the next version; 2.1.0 is never overwritten
    assert (data_copy / "priors" / "baseline" / "2.1.0.toml").read_bytes() == released
    assert [r.version for r in prior_store().releases() if r.name == "baseline"][-2:] == ["2.1.0", "2.2.0"]


@pytest.mark.slow
def test_fit_in_stages_reads_a_stored_fit_and_says_so(default_fit):
    """The app's status panel: a key the store holds is read, not sampled, and the stage says so."""
    said: list[str] = []
    got = explore.fit_in_stages(default_fit.priors, default_fit.evidence, said.append, seed=1, draws=1000)
    assert said[0].startswith("Reading the fit from the fit store")
    assert not any("Sampling" in s or "Compiling" in s for s in said)
    assert got.draws_sha256 == default_fit.draws_sha256 and got.citation() == default_fit.citation()


@pytest.mark.slow
def test_fit_in_stages_samples_a_new_key_through_every_stage(tmp_path, monkeypatch):
    """A key the store does not hold: fit once, naming the stages in order (tiny fit: 1 chain x 10 draws)."""
    monkeypatch.setenv("RISKMODEL_CACHE_DIR", str(tmp_path))
    said: list[str] = []
    explore.fit_in_stages(
        load_priors("baseline@2.0.0"), _default_evidence(), said.append, seed=5, chains=1, draws=10, tune=10
    )
    assert said[0].startswith("No stored fit")
    assert said[-2].startswith("Sampling 1 chains x (10 tuning + 10) draws")
    assert said[-1].startswith("Fitted")
    again: list[str] = []
    explore.fit_in_stages(
        load_priors("baseline@2.0.0"), _default_evidence(), again.append, seed=5, chains=1, draws=10, tune=10
    )
    assert again[0].startswith("Reading the fit from the fit store")


def _default_evidence():
    from riskmodel.data.evidence import load_evidence

    return load_evidence("published-evals@2.0.0")

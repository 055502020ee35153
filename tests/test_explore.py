"""Explorer support without a fit: priors from controls, URL state, saving versions."""

from __future__ import annotations

import pytest

from riskmodel.data.priors import load_priors, parse_priors, prior_store
from riskmodel.errors import PriorError, RiskmodelError
from riskmodel.interactive import explore
from tests.conftest import ROOT, snapshot


@pytest.fixture
def base():
    return load_priors("baseline@1.1.0", root=ROOT)


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
    edited = edited.with_critical(explore.ALL_CONTEXTS[:2])
    params = explore.encode_state(edited, base, excluded=frozenset({"row-a"}), system="o1")
    restored, excluded = explore.decode_state(params, base)
    assert excluded == {"row-a"}
    for name in ("sandbagging", "coordination"):
        assert restored[name].params == pytest.approx(edited[name].params, rel=1e-5)
    assert [c.label() for c in restored.critical] == [c.label() for c in edited.critical]


@pytest.mark.parametrize(
    "params",
    [
        {"p.telepathy": "m0.5s2"},
        {"p.coordination": "m1.5s2"},
        {"p.coordination": "x"},
        {"critical": "yes,none"},
        {"p.coordination": "b-1,2"},
    ],
)
def test_bad_url_state_is_one_line_error(base, params):
    with pytest.raises(RiskmodelError) as err:
        explore.decode_state(params, base)
    assert "\n" not in err.value.line()


def test_release_priors_writes_the_next_version_and_never_overwrites(base, data_copy):
    edited = base.with_parameter(explore.beta_from_mean_strength(base["coordination"], 0.6, 10))
    rel = explore.release_priors(edited, "coordination is easier")
    assert rel.ref == "baseline@1.2.0"
    loaded = load_priors("baseline@1.2.0")
    assert loaded.changelog == "coordination is easier" and loaded["coordination"].mean() == pytest.approx(0.6)
    assert parse_priors(loaded.to_toml()).parameters == loaded.parameters
    before = snapshot(data_copy / "priors")
    with pytest.raises(RiskmodelError):
        explore.release_priors(edited, "again", version="1.2.0")
    with pytest.raises(RiskmodelError, match="changelog"):
        explore.release_priors(edited, "  ")
    assert snapshot(data_copy / "priors") == before
    assert [r.version for r in prior_store().releases()][-1] == "1.2.0"

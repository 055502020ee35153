"""The Streamlit explorer driven by AppTest: every kind of widget, URL round trip, saving, bad input."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # the first run fits a small model (cached for the rest of the session)


@pytest.fixture
def app(data_copy, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    monkeypatch.setenv("RISKMODEL_APP_DRAWS", "300")
    monkeypatch.setenv("RISKMODEL_APP_CHAINS", "2")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    return at


def _pw(at) -> float:
    return float(at.metric[0].value)


def test_default_page_shows_numbers_citation_and_health(app):
    at = app.run()
    assert not at.exception, at.exception
    assert 0 < _pw(at) < 1
    assert any("P(worst case) = " in c.value for c in at.code)
    assert any("divergences" in m.value for m in at.markdown), [m.value for m in at.markdown]
    assert at.query_params["priors"] == ["baseline@1.1.0"] or at.query_params["priors"] == "baseline@1.1.0"


def test_moving_an_assumption_updates_without_refit_and_marks_the_citation(app):
    at = app.run()
    before = _pw(at)
    at.radio(key="mode.coordination").set_value("mean and strength").run()
    assert _pw(at) == pytest.approx(before, rel=0.1)  # the mode alone keeps nearly the same prior (rounded)
    at.slider(key="mean.coordination").set_value(0.9).run()
    assert not at.exception
    after = _pw(at)
    assert after > before
    assert any("fast update" in i.value for i in at.info)
    assert any("recomputed" in m.value for m in at.markdown)
    params = dict(at.query_params)
    assert "p.coordination" in params


def test_interval_mode_and_bad_interval_keep_last_good_state(app):
    at = app.run()
    at.radio(key="mode.sandbagging").set_value("90% interval").run()
    at.number_input(key="lo.sandbagging").set_value(0.6).run()
    at.number_input(key="hi.sandbagging").set_value(0.3).run()  # low >= high
    assert not at.exception
    assert any("low must be below high" in e.value for e in at.error)
    assert 0 < _pw(at) < 1


def test_url_state_round_trip(app):
    at = app
    at.query_params["priors"] = "baseline@1.0.0"
    at.query_params["p.coordination"] = "b9,1"
    at.run()
    assert not at.exception
    assert at.selectbox(key="priors_ref").value == "baseline@1.0.0"
    assert at.radio(key="mode.coordination").value == "mean and strength"
    assert at.slider(key="mean.coordination").value == pytest.approx(0.9, abs=1e-3)
    bad = app.__class__.from_file(app._script_path, default_timeout=300)
    bad.query_params["p.coordination"] = "nonsense"
    bad.run()
    assert not bad.exception and any("Ignored the assumption set in the URL" in w.value for w in bad.warning)


def test_evidence_toggle_system_and_critical_contexts(app):
    at = app.run()
    at.selectbox(key="system").set_value("claude-3-opus").run()
    assert not at.exception and "claude-3-opus" in at.metric[0].label
    at.multiselect(key="critical").set_value(["no-conflict,info:prompted,scratchpad:yes"]).run()
    assert not at.exception
    assert "critical" in dict(at.query_params)


def test_save_as_new_prior_version(app, data_copy):
    from riskmodel.data.priors import prior_store

    at = app.run()
    at.radio(key="mode.coordination").set_value("mean and strength").run()
    at.slider(key="mean.coordination").set_value(0.7).run()
    at.text_input(key="changelog").set_value("coordination is easier than assumed")
    at.button(key="FormSubmitter:save-Save").click().run()
    assert not at.exception
    assert any("Released baseline@1.2.0" in s.value for s in at.success)
    assert "1.2.0" in [r.version for r in prior_store(data_copy).releases()]
    at.text_input(key="changelog").set_value("same again")
    at.button(key="FormSubmitter:save-Save").click().run()  # the same set again: a new version, never an overwrite
    assert any("Released baseline@1.3.0" in s.value for s in at.success)


def test_corrupt_prior_file_gives_an_error_panel_and_writes_nothing(app, data_copy):
    from tests.conftest import snapshot

    path = data_copy / "priors" / "baseline" / "1.1.0.toml"
    path.write_text(path.read_text().replace("[parameters.p_misaligned]", "[parameters.p_misaligned"))
    before = snapshot(data_copy)
    at = app.run()
    assert not at.exception
    assert any("differ from the registered sha256" in e.value for e in at.error)
    assert snapshot(data_copy) == before


def test_file_corrupted_while_open_keeps_the_last_good_state(app, data_copy):
    from tests.conftest import snapshot

    at = app.run()
    shown = _pw(at)
    path = data_copy / "priors" / "baseline" / "1.1.0.toml"
    path.write_text(path.read_text().replace("alpha", "alpah", 1))
    before = snapshot(data_copy)
    at.run()
    assert not at.exception
    assert any("Showing the last good state (baseline@1.1.0" in e.value for e in at.error)
    assert _pw(at) == shown
    assert snapshot(data_copy) == before


def test_saved_version_is_listed_and_its_citation_verifies(app, data_copy, capsys):
    import riskmodel
    from riskmodel.cli import main
    from riskmodel.results.verify import verify

    at = app.run()
    at.radio(key="mode.other_route").set_value("mean and strength").run()
    at.slider(key="mean.other_route").set_value(0.2).run()
    at.text_input(key="changelog").set_value("a likelier other route")
    at.button(key="FormSubmitter:save-Save").click().run()
    assert any("Released baseline@1.2.0" in s.value for s in at.success)
    capsys.readouterr()
    assert main(["priors", "list"]) == 0
    assert "baseline@1.2.0" in capsys.readouterr().out
    cited = riskmodel.fit("baseline@1.2.0", seed=3, chains=2, draws=300).citation()
    assert "priors baseline@1.2.0" in cited
    outcome = verify(cited)
    assert outcome.matches, outcome.differences


def test_context_rates_panel_shows_observed_rows(app):
    at = app.run()
    at.selectbox(key="system").set_value("claude-3-opus").run()
    assert not at.exception
    assert any("Training-gaming rate per context, claude-3-opus" in h.value for h in at.subheader)


def test_what_if_observation_updates_the_posterior(app):
    at = app.run()
    at.selectbox(key="wi_system").set_value("claude-3-opus")
    at.selectbox(key="wi_vc").set_value("no")
    at.number_input(key="wi_k").set_value(60)
    at.number_input(key="wi_n").set_value(100)
    at.button(key="FormSubmitter:whatif-Show the updated posterior").click().run()
    assert not at.exception, at.exception
    table = at.dataframe[-1].value
    row = table[table["quantity"] == "P(misaligned), claude-3-opus"].iloc[0]
    # training-gaming without any value conflict is what misaligned systems do: P(misaligned) must rise
    assert row["after"] > row["before"]
    at.number_input(key="wi_k").set_value(200)  # k > n: a one-line error, the page stays up
    at.button(key="FormSubmitter:whatif-Show the updated posterior").click().run()
    assert not at.exception and any("exceeds n" in e.value for e in at.error)


def test_capability_evidence_toggle_is_in_the_url_and_refits(app):
    at = app.run()
    sources = at.multiselect(key="capability").options
    assert sources, "the default evidence has capability counts (ME24)"
    at.multiselect(key="capability").set_value([sources[0]]).run()
    assert not at.exception, at.exception
    assert dict(at.query_params)["capability"] in (sources[0], [sources[0]])
    assert 0 < _pw(at) < 1

"""The Streamlit explorer driven by AppTest: every kind of widget, URL round trip, releasing, bad input."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # the first run fits the default model (cached for the rest of the session)


@pytest.fixture
def app(data_copy, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    monkeypatch.setenv("RISKMODEL_APP_DRAWS", "300")
    monkeypatch.setenv("RISKMODEL_APP_CHAINS", "2")
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)


def _pw(at) -> float:
    return float(at.metric[0].value.split()[0])


def test_default_page_shows_numbers_health_and_what_the_data_touch(app):
    at = app.run()
    assert not at.exception, at.exception
    assert 0 < _pw(at) < 1
    # the headline with its Monte Carlo error, right under the tiles
    assert any(c.value.startswith("P(worst case) = ") and "±" in c.value for c in at.caption), at.caption
    assert any("divergences" in m.value for m in at.markdown), [m.value for m in at.markdown]
    assert any("prior only" in c.value for c in at.caption), [c.value for c in at.caption]
    assert any("odds bound" in c.value for c in at.caption)
    assert at.query_params["priors"] in (["baseline@2.0.0"], "baseline@2.0.0")


def test_moving_an_assumption_updates_without_refit(app):
    at = app.run()
    before = _pw(at)
    at.number_input(key="hi.coordination").set_value(0.9).run()
    assert not at.exception, at.exception
    assert _pw(at) > before
    assert any("Not citable" in i.value for i in at.info)
    assert any("recomputed" in m.value for m in at.markdown)
    assert "p.coordination" in dict(at.query_params)


def test_every_family_of_assumption_has_widgets(app):
    at = app.run()
    for name in ("intercept_aligned", "intercept_separation", "no_scratchpad_spread", "competence_loading"):
        assert at.number_input(key=f"lo.{name}") is not None and at.number_input(key=f"hi.{name}") is not None
    at.radio(key="mode.sandbagging").set_value("mean and strength").run()
    at.slider(key="mean.sandbagging").set_value(0.9).run()
    assert not at.exception
    at.selectbox(key="consistency").set_value("absolute").run()
    assert not at.exception and dict(at.query_params).get("consistency") in ("absolute", ["absolute"])


def test_bad_interval_keeps_the_last_good_state(app):
    at = app.run()
    at.number_input(key="lo.sandbagging").set_value(0.6).run()
    at.number_input(key="hi.sandbagging").set_value(0.3).run()  # low >= high
    assert not at.exception
    assert any("low must be below high" in e.value for e in at.error)
    assert 0 < _pw(at) < 1


def test_url_state_round_trip_and_bad_urls(app):
    at = app
    at.query_params["p.coordination"] = "Beta:alpha=9.0,beta=1.0"
    at.run()
    assert not at.exception
    assert at.number_input(key="lo.coordination").value > 0.6  # the 5th percentile of Beta(9, 1)
    for bad in ("nonsense", "Beta:alpha=1e308,beta=1", "i0.3~0.1", "HalfNormal:sigma=1"):
        page = app.__class__.from_file(app._script_path, default_timeout=900)
        page.query_params["p.p_misaligned"] = bad
        page.run()
        assert not page.exception, (bad, page.exception)
        assert any("Ignored the assumption set in the URL" in w.value for w in page.warning), bad
    # a valid prior outside the widgets' range is shown clamped, with a warning, never a crash
    page = app.__class__.from_file(app._script_path, default_timeout=900)
    page.query_params["p.coordination"] = "m0.5s500000"
    page.run()
    assert not page.exception, page.exception
    assert any("shown clamped" in w.value for w in page.warning), [w.value for w in page.warning]


def test_system_and_critical_contexts(app):
    at = app.run()
    at.selectbox(key="system").set_value("claude-3-opus").run()
    assert not at.exception and "claude-3-opus" in at.metric[0].label
    assert any("Training-gaming rate per context, claude-3-opus" in h.value for h in at.subheader)
    at.multiselect(key="critical").set_value(["no-conflict,info:prompted,scratchpad:yes"]).run()
    assert not at.exception
    assert "critical" in dict(at.query_params)


def test_release_needs_a_name_an_author_and_a_rationale_for_each_change(app, data_copy):
    from riskmodel.data.priors import prior_store

    at = app.run()
    at.number_input(key="hi.coordination").set_value(0.8).run()
    at.text_input(key="author").set_value("A. Tester")
    at.text_area(key="changelog").set_value("coordination is easier than assumed")
    at.button(key="FormSubmitter:save-Release").click().run()
    assert any("pick the prior set" in e.value for e in at.error)  # no name picked: nothing written
    at.text_input(key="new_name").set_value("tester")
    at.button(key="FormSubmitter:save-Release").click().run()
    assert any("keep their parent's rationale: coordination" in e.value for e in at.error)
    at.text_input(key="why.coordination").set_value("copies share goals and channels more readily than I thought")
    at.button(key="FormSubmitter:save-Release").click().run()
    assert not at.exception
    assert any("Released tester@1.0.0" in s.value for s in at.success), [e.value for e in at.error]
    refs = [r.ref for r in prior_store(data_copy).releases()]
    assert "tester@1.0.0" in refs and "baseline@2.1.0" not in refs  # never the default name by default


def test_a_released_version_from_the_app_is_listed_and_its_citation_verifies(app, data_copy, capsys):
    import riskmodel
    from riskmodel.cli import main
    from riskmodel.results.verify import verify

    at = app.run()
    at.number_input(key="hi.other_route").set_value(0.3).run()
    at.selectbox(key="save_target").set_value("baseline")
    at.text_input(key="author").set_value("A. Tester")
    at.text_area(key="changelog").set_value("a likelier other route")
    at.text_input(key="why.other_route").set_value("pre-training misalignment hidden by fine-tuning is plausible")
    at.button(key="FormSubmitter:save-Release").click().run()
    assert any("Released baseline@2.1.0" in s.value for s in at.success), [e.value for e in at.error]
    capsys.readouterr()
    assert main(["priors", "list"]) == 0
    assert "baseline@2.1.0" in capsys.readouterr().out
    released = riskmodel.load_priors("baseline@2.1.0")
    assert released.author == "A. Tester" and released.parent.startswith("baseline@2.0.0 sha256:")
    cited = riskmodel.fit("baseline@2.1.0", seed=3, chains=2, draws=300).citation()
    assert "priors baseline@2.1.0" in cited
    outcome = verify(cited)
    assert outcome.matches, outcome.differences


def test_corrupt_prior_file_gives_an_error_panel_and_writes_nothing(app, data_copy):
    from tests.conftest import snapshot

    path = data_copy / "priors" / "baseline" / "2.0.0.toml"
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
    path = data_copy / "priors" / "baseline" / "2.0.0.toml"
    path.write_text(path.read_text().replace("alpha", "alpah", 1))
    before = snapshot(data_copy)
    at.run()
    assert not at.exception
    assert any("Showing the last good state (baseline@2.0.0" in e.value for e in at.error)
    assert _pw(at) == shown
    assert snapshot(data_copy) == before


def test_what_if_observation_updates_the_posterior(app):
    at = app.run()
    at.text_input(key="wi_system").set_value("claude-3-opus")
    at.number_input(key="wi_k").set_value(20)
    at.number_input(key="wi_n").set_value(100)
    at.button(key="FormSubmitter:whatif-Show the updated posterior").click().run()
    assert not at.exception, at.exception
    table = at.dataframe[-1].value
    assert "P(misaligned), claude-3-opus" in set(table["quantity"])
    at.number_input(key="wi_k").set_value(200)  # k > n: a one-line error, the page stays up
    at.button(key="FormSubmitter:whatif-Show the updated posterior").click().run()
    assert not at.exception and any("exceeds n" in e.value for e in at.error)


def test_capability_evidence_toggle_is_in_the_url(app):
    at = app.run()
    sources = at.multiselect(key="capability").options
    assert sources, "the default evidence has capability counts (ME24)"
    at.multiselect(key="capability").set_value([]).run()
    assert not at.exception, at.exception
    assert dict(at.query_params)["capability"] in ("none", ["none"])
    assert 0 < _pw(at) < 1

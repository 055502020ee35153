"""Forecast records: new -> show -> verify, tampering, superseding, immutability, bad input."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import pytest

from riskmodel.forecast import records as rec_mod
from riskmodel.forecast.records import ForecastRecord, RecordError
from tests.conftest import ROOT, snapshot

SMALL_ARGS = ["--chains", "2", "--draws", "200", "--tune", "300", "--seed", "5", "--no-progress"]
FUTURE = (dt.date.today() + dt.timedelta(days=365 * 4)).isoformat()
TEXT = [
    "--question",
    "Will a newly deployed frontier system be found to carry out the worst case?",
    "--quantity",
    "P(worst case) for a new system drawn from the population",
    "--resolution",
    "Resolves yes if a published incident report attributes a worst-case outcome to such a system",
    "--horizon",
    FUTURE,
    "--forecaster",
    "Test Forecaster",
]

CITATION = (
    "P(worst case) = 0.005 [90%: 0.00024, 0.019] | riskmodel 0.2.0 model 2 | priors baseline@2.0.0 sha256:ed4fd2d0 | "
    "evidence published-evals@2.0.0 sha256:cbc0dd0a | system new | nutpie 0.16.11 seed 1 | 4x1000 draws tune 1000 | "
    "draws sha256:96d74ff9"
)


def _record(name: str, **kw) -> ForecastRecord:
    base = ForecastRecord(
        name=name,
        question="q?",
        quantity="P(W) for a new system",
        resolution="resolves yes if ...",
        horizon=FUTURE,
        forecaster="F",
        created=dt.date.today().isoformat(),
        citation=CITATION,
        system="new",
        mean=0.00503,
        lower=0.000237,
        upper=0.0189,
        mcse=0.000118,
    )
    return replace(base, **kw)


# ---------------------------------------------------------------------------------------------------------------------
# quick: parsing, writing, superseding


def test_record_round_trips_through_its_file(data_copy):
    rec = rec_mod.write_record(_record("a"))
    again = rec_mod.load_record("a")
    assert again == rec
    assert again.mean == 0.00503 and again.citation == CITATION
    assert again.path == str(data_copy / "forecasts" / "a.toml")


def test_records_are_never_overwritten(data_copy):
    rec_mod.write_record(_record("a"))
    path = data_copy / "forecasts" / "a.toml"
    before = path.read_bytes()
    with pytest.raises(RecordError, match="never overwritten"):
        rec_mod.write_record(_record("a", mean=0.5))
    assert path.read_bytes() == before
    with pytest.raises(RecordError, match="exists already"):
        rec_mod.check_new("a", question="q", quantity="m", resolution="r", horizon=FUTURE, forecaster="f")
    assert sorted(p.name for p in path.parent.glob("*.toml")) == ["a.toml", "registry.toml"]
    assert not list(path.parent.glob(".*.tmp"))  # no temporary file left
    assert rec_mod.registered() == {"a": rec_mod.load_record("a").sha256}


def test_superseding_link_and_list_show(data_copy, capsys):
    from riskmodel.cli.main import main

    old = rec_mod.write_record(_record("old"))
    link = rec_mod.check_new(
        "new", question="q", quantity="m", resolution="r", horizon=FUTURE, forecaster="f", supersedes="old"
    )
    assert link == f"old sha256:{old.sha256}"
    rec_mod.write_record(_record("new", supersedes=link))
    records = rec_mod.list_records()
    assert rec_mod.superseded_by("old", records) == ["new"]
    assert main(["forecast", "show", "old"]) == 0
    assert "SUPERSEDED by new" in capsys.readouterr().out
    assert main(["forecast", "show", "new"]) == 0
    assert "supersedes old" in capsys.readouterr().out
    assert main(["forecast", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["old"]["superseded_by"] == ["new"] and rows["new"]["supersedes"] == link
    # the link pins the old record's bytes: an edited old record breaks it, before any refit
    path = data_copy / "forecasts" / "old.toml"
    path.write_text(path.read_text().replace('forecaster = "F"', 'forecaster = "G"'))
    with pytest.raises(RecordError, match="bytes differ from the registered sha256"):
        rec_mod.verify_record("new")


def test_edited_or_unregistered_record_is_refused_before_any_refit(data_copy, monkeypatch, capsys):
    from riskmodel.cli.main import main
    from riskmodel.results import verify

    def no_verify(*a, **k):
        raise AssertionError("refitted a record that was refused")

    monkeypatch.setattr(verify, "verify", no_verify)
    rec_mod.write_record(_record("a"))
    path = data_copy / "forecasts" / "a.toml"
    path.write_text(path.read_text().replace("q?", "a different question?"))
    assert main(["forecast", "verify", "a"]) == 2
    err = capsys.readouterr().err.strip()
    assert "bytes differ from the registered sha256" in err and "\n" not in err
    (data_copy / "forecasts" / "dropped.toml").write_text(_record("dropped").to_toml())
    assert main(["forecast", "verify", "dropped"]) == 2
    assert "not a registered record" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda t: t.replace('horizon = "', 'horizon = "x'), "must be a date"),
        (lambda t: t.replace("question = ", "questio = "), "unknown field 'questio'"),
        (lambda t: t.replace("mean = ", "mean = -"), "not a probability"),
        (lambda t: t + "\nextra = 1\n", "unknown field"),
        (lambda t: t.replace('name = "a"', 'name = "A B"'), "not a valid name"),
    ],
)
def test_malformed_records_are_one_line(edit, needle):
    text = edit(_record("a").to_toml())
    with pytest.raises(RecordError) as exc:
        rec_mod.parse_record(text, file="forecasts/a.toml")
    assert needle in exc.value.line() and "\n" not in exc.value.line()


@pytest.mark.parametrize(
    ("argv_edit", "needle"),
    [
        (lambda a: [*a[:7], dt.date.today().isoformat(), *a[8:]], "after today"),
        (lambda a: [*a[:7], "soon", *a[8:]], "must be a date"),
        (lambda a: [*a[:1], "  ", *a[2:]], "non-empty"),
        (lambda a: [*a, "--supersedes", "nothing-here"], "no forecast record 'nothing-here'"),
    ],
)
def test_cli_new_bad_input_exit_2_nothing_written_no_fit(argv_edit, needle, data_copy, monkeypatch, capsys):
    from riskmodel.cli.main import main
    from riskmodel.results import result

    def no_fit(*a, **k):
        raise AssertionError("fitted before checking the input")

    monkeypatch.setattr(result, "fit", no_fit)
    before = snapshot(data_copy)
    assert main(["forecast", "new", "rec", *argv_edit(TEXT)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("riskmodel: error: ") and "\n" not in err and needle in err
    assert snapshot(data_copy) == before
    assert not (data_copy / "forecasts" / "rec.toml").exists()


def test_cli_verify_unknown_record_exit_2(data_copy, capsys):
    from riskmodel.cli.main import main

    assert main(["forecast", "verify", "nope"]) == 2
    assert "no forecast record 'nope'" in capsys.readouterr().err


def test_repository_record_parses_and_names_the_default_fit():
    records = rec_mod.list_records(ROOT)
    assert records, "forecasts/ holds the record made from the default fit"
    rec = records[0]
    assert "| priors baseline@2.0.0 sha256:ed4fd2d0 |" in rec.citation
    assert "| evidence published-evals@2.0.0 sha256:cbc0dd0a |" in rec.citation
    assert "seed 1 | 4x1000 draws tune 1000" in rec.citation


# ---------------------------------------------------------------------------------------------------------------------
# slow: a fitted record, verified by refitting


@pytest.mark.slow
def test_record_new_show_verify_tamper_supersede(data_copy, capsys):
    from riskmodel.cli.main import main

    assert main(["forecast", "new", "first", *TEXT, *SMALL_ARGS, "--json"]) in (0, 3)
    made = json.loads(capsys.readouterr().out)
    path = data_copy / "forecasts" / "first.toml"
    assert path.is_file() and made["path"] == str(path)
    rec = rec_mod.load_record("first")
    assert rec.citation.endswith(made["citation"][-20:]) and "seed 5 | 2x200 draws tune 300" in rec.citation
    assert rec.forecaster == "Test Forecaster" and rec.horizon == FUTURE and rec.created == dt.date.today().isoformat()
    # the stored numbers are the fit's: checked against an independent computation from the same draws
    from riskmodel import fit

    res = fit("baseline@2.0.0", seed=5, chains=2, draws=200, tune=300)
    pw = res.quantities["p_worst_case"].sel(system="new").values.ravel()
    assert rec.mean == pytest.approx(float(pw.mean()), rel=1e-12)
    import numpy as np

    assert rec.lower == pytest.approx(float(np.quantile(pw, 0.05)), rel=1e-12)
    assert rec.mcse > 0

    assert main(["forecast", "show", "first"]) == 0
    shown = capsys.readouterr().out
    assert rec.citation in shown and "Test Forecaster" in shown and "±" in shown

    assert main(["forecast", "verify", "first"]) == 0
    out = capsys.readouterr().out
    assert "verified first" in out and "bit-identical" in out

    # a record is never overwritten, even with the same inputs
    before = path.read_bytes()
    assert main(["forecast", "new", "first", *TEXT, *SMALL_ARGS]) == 2
    assert "never overwritten" in capsys.readouterr().err
    assert path.read_bytes() == before

    # superseding: the new record links the old one; list says so
    assert main(["forecast", "new", "second", *TEXT, *SMALL_ARGS, "--supersedes", "first"]) in (0, 3)
    capsys.readouterr()
    assert rec_mod.load_record("second").supersedes == f"first sha256:{rec.sha256}"
    assert main(["forecast", "list"]) == 0
    listing = capsys.readouterr().out
    assert "SUPERSEDED by second" in listing and "supersedes first" in listing

    # an edited record: its bytes no longer match the registry; exit 2, one line, nothing written
    text = path.read_text()
    path.write_text(text.replace("Test Forecaster", "Someone Else"))
    assert main(["forecast", "verify", "first"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("riskmodel: error: ") and "\n" not in err and "registered sha256" in err
    path.write_text(text)

    # registered, but with numbers that are not the fit's: exit 2, one line naming the field, nothing written
    rec_mod.write_record(replace(rec, name="wrong-numbers", mean=rec.mean * 1.0001))
    before = snapshot(data_copy)
    assert main(["forecast", "verify", "wrong-numbers"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("riskmodel: error: ") and "\n" not in err and "numbers.mean" in err
    assert snapshot(data_copy) == before

    # registered, but its citation names another seed: the citation does not verify
    rec_mod.write_record(replace(rec, name="other-seed", citation=rec.citation.replace("seed 5 |", "seed 6 |")))
    assert main(["forecast", "verify", "other-seed"]) == 2
    err = capsys.readouterr().err.strip()
    assert "citation" in err and "\n" not in err

    assert main(["forecast", "verify", "--all"]) == 2
    captured = capsys.readouterr()
    assert "verified first" in captured.out and "verified second" in captured.out
    assert "2 of 4 records do not verify" in captured.err

from __future__ import annotations

import pytest

from riskmodel.data.evidence import evidence_store, load_evidence
from riskmodel.errors import EvidenceError
from tests.conftest import ROOT, snapshot

BASE = (ROOT / "evidence" / "published-evals" / "1.0.0.toml").read_text()
FIRST_ROW = BASE.index("[[row]]")


def test_default_evidence_loads_and_matches_registry():
    store = evidence_store(ROOT)
    for rel in store.releases():
        store.read(rel)
    ev = load_evidence("published-evals@1.0.0", root=ROOT)
    assert len(ev.rows) == 24
    # the published counts that feed the core likelihood
    counts = {(r.setting, r.stage, r.value_conflict, r.condition, r.quantity): (r.k, r.n) for r in ev.likelihood_rows()}
    assert counts[("helpful-only", "pre-rl", "yes", "training", "training_gaming_reasoning")] == (48, 400)
    assert counts[("helpful-only", "pre-rl", "yes", "training", "complied")] == (57, 400)
    assert counts[("helpful-only", "pre-rl", "yes", "unmonitored", "complied")] == (11, 400)
    assert counts[("helpful-only", "after-rl", "yes", "training", "training_gaming_reasoning")] == (314, 400)
    assert counts[("throughput-testing", "pre-rl", "yes", "training", "training_gaming_reasoning")] == (48, 400)
    # rate-only rows never enter the likelihood, and keep their citation
    for r in ev.reference_rows():
        assert r.where_read and r.source in ev.sources
    assert all(r.has_counts for r in ev.likelihood_rows())
    assert sum(not r.has_counts for r in ev.rows) == 7


ROW = FIRST_ROW + BASE[FIRST_ROW:].index("where_read")
BAD = [
    ("k > n", BASE.replace("k = 48\nn = 400\nrate = 0.119", "k = 480\nn = 400\nrate = 0.119", 1), "exceeds n"),
    ("unknown feature value", BASE.replace('scratchpad = "yes"', 'scratchpad = "maybe"', 1), "scratchpad: must be"),
    ("missing citation", BASE.replace('source = "GR24"', 'source = "XX99"', 1), "unknown source 'XX99'"),
    (
        "duplicate row",
        BASE
        + BASE[FIRST_ROW : BASE.index("[[row]]", FIRST_ROW + 1)].replace(
            'id = "gr24-claude-3-opus-helpful-only-training-prompted-sp-yes-vc-yes-tgr"', 'id = "copy"'
        ),
        "duplicates row",
    ),
    ("k without n", BASE.replace("k = 48\nn = 400\n", "k = 48\n", 1), "give both k and n"),
    ("rate disagrees", BASE.replace("rate = 0.119", "rate = 0.5", 1), "disagrees with k/n"),
    (
        "unknown quantity",
        BASE.replace('quantity = "training_gaming_reasoning"', 'quantity = "vibes"', 1),
        "quantity: must be one of",
    ),
    ("not toml", "[[row]\n", "not valid TOML"),
]


@pytest.mark.parametrize(("case", "text", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_evidence_files_give_one_line_errors(case, text, message, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    before = snapshot(ROOT / "evidence", tmp_path)
    with pytest.raises(EvidenceError) as err:
        load_evidence(str(path))
    line = err.value.line()
    assert "\n" not in line and line.startswith(str(path)) and message in line
    assert snapshot(ROOT / "evidence", tmp_path) == before


def test_switching_rows_off_changes_the_subset_hash():
    ev = load_evidence("published-evals@1.0.0", root=ROOT)
    row = ev.likelihood_rows()[0].id
    sub = ev.without({row})
    assert row not in {r.id for r in sub.likelihood_rows()}
    assert sub.subset_sha256 != ev.sha256 and ev.subset_sha256 == ev.sha256


def test_every_shipped_evidence_file_loads_and_per_source_files_match_the_combined_set():
    store = evidence_store(ROOT)
    sets = {rel.name: load_evidence(rel.ref, root=ROOT) for rel in store.releases()}
    assert {"published-evals", "gr24", "sh25", "me24"} <= set(sets)
    combined = {r.id: r for r in sets["published-evals"].rows}
    per_source = [r for name in ("gr24", "sh25", "me24") for r in sets[name].rows]
    # one file per paper, together exactly the combined set, row for row (citation included)
    assert sorted(r.id for r in per_source) == sorted(combined)
    for r in per_source:
        assert r == combined[r.id]
    for name, source in (("gr24", "GR24"), ("sh25", "SH25"), ("me24", "ME24")):
        assert set(sets[name].sources) == {source}
        assert sets[name].sources[source] == sets["published-evals"].sources[source]
    # the capability likelihood is on in me24's file and off in the default combined set
    assert sets["me24"].capability_sources == {"ME24"} and not sets["published-evals"].capability_sources
    assert len(sets["me24"].capability_rows()) == 9
    assert not sets["published-evals"].capability_rows()


def test_capability_likelihood_switch_per_source():
    ev = load_evidence("published-evals@1.0.0", root=ROOT)
    on = ev.with_capability_likelihood({"ME24"})
    assert {r.source for r in on.capability_rows()} == {"ME24"}
    assert len(on.likelihood_rows()) == len(ev.likelihood_rows()) + 9
    assert on.subset_sha256 != ev.sha256 and on.with_capability_likelihood(False).subset_sha256 == ev.sha256
    assert ev.with_capability_likelihood(True).capability_sources == {"ME24"}
    with pytest.raises(EvidenceError, match="no capability-evidence counts"):
        ev.with_capability_likelihood({"GR24"})


CAP_BAD = [
    ("flag not a bool", 'capability_likelihood = "yes"', "capability_likelihood: must be true or false"),
    ("unknown source field", "capability = true", "unknown field 'capability'"),
]


@pytest.mark.parametrize(("case", "line", "message"), CAP_BAD, ids=[b[0] for b in CAP_BAD])
def test_bad_capability_flags_give_one_line_errors(case, line, message, tmp_path):
    text = BASE.replace('arXiv:2412.04984"\n', f'arXiv:2412.04984"\n{line}\n', 1)
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(EvidenceError) as err:
        load_evidence(str(path))
    assert "\n" not in err.value.line() and message in err.value.line()


def test_capability_flag_on_a_source_without_capability_rows_is_refused(tmp_path):
    text = BASE.replace('arXiv:2412.14093"\n', 'arXiv:2412.14093"\ncapability_likelihood = true\n', 1)
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(EvidenceError, match=r"sources\.GR24\.capability_likelihood: capability_likelihood = true"):
        load_evidence(str(path))


@pytest.mark.parametrize(("case", "text", "message"), BAD[:4], ids=[b[0] for b in BAD[:4]])
def test_cli_evidence_validate_exits_2_with_one_line(case, text, message, tmp_path, capsys):
    from riskmodel.cli import main

    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["evidence", "validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(path) in err and message in err
    good = tmp_path / "good.toml"
    good.write_text(BASE)
    assert main(["evidence", "validate", str(good)]) == 0
    assert "valid evidence set published-evals@1.0.0 with 24 rows" in capsys.readouterr().out

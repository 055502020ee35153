"""Evidence files: the traced evidence library, its validation, and what each row does in the model."""

from __future__ import annotations

import re

import pytest

from riskmodel.data.evidence import evidence_store, load_evidence, parse_evidence, reference_reason, trace_problems
from riskmodel.errors import EvidenceError
from tests.conftest import ROOT, snapshot

BASE = (ROOT / "evidence" / "published-evals" / "2.0.0.toml").read_text()
FIRST = "gr24-claude-3-opus-helpful-only-training-prompted-sp-yes-vc-yes-tgr"
OLD = (ROOT / "evidence" / "published-evals" / "1.0.0.toml").read_text()


def _released():
    store = evidence_store(ROOT)
    return {rel.ref: load_evidence(rel.ref, root=ROOT) for rel in store.releases()}


def test_every_released_row_is_traced_to_its_quote():
    """Every row of every format-2 release names its page, and its number as printed appears in its quote."""
    sets = _released()
    traced = [ev for ev in sets.values() if ev.format == 2]
    assert len(traced) >= 5
    for ev in traced:
        for r in ev.rows:
            assert trace_problems(r) == [], (ev.ref, r.id, trace_problems(r))
            assert re.sub(r"\s+", " ", r.published) in re.sub(r"\s+", " ", r.quote)
            assert r.url.startswith(("https://", "http://"))
    # the first releases predate tracing: they stay loadable and citable, and say they are format 1
    assert sets["published-evals@1.0.0"].format == 1


def test_default_evidence_covers_many_systems_and_keeps_the_published_counts():
    ev = load_evidence("published-evals@2.0.0", root=ROOT)
    assert ev.format == 2
    systems = ev.model_systems()
    assert len(systems) >= 15
    counts = {
        (r.system, r.setting, r.stage, r.value_conflict, r.condition, r.quantity): (r.k, r.n)
        for r in ev.likelihood_rows()
        if r.k is not None
    }
    opus = "claude-3-opus"
    assert counts[(opus, "helpful-only", "pre-rl", "yes", "training", "training_gaming_reasoning")] == (48, 400)
    assert counts[(opus, "helpful-only", "pre-rl", "yes", "training", "complied")] == (57, 400)
    assert counts[(opus, "helpful-only", "pre-rl", "yes", "unmonitored", "complied")] == (11, 400)
    assert counts[(opus, "helpful-only", "after-rl", "yes", "training", "training_gaming_reasoning")] == (314, 400)
    # a system with no gap is evidence too: SH25's per-model threshold outcomes, above and below
    outcomes = {r.system: r.outcome for r in ev.threshold_rows() if r.source == "SH25"}
    assert len(outcomes) == 25 and sorted(outcomes.values()).count("above") == 5
    # reference-only rows say why
    for r in ev.reference_rows():
        assert reference_reason(r)


def test_per_paper_files_hold_exactly_the_rows_of_the_combined_set():
    sets = _released()
    combined = {r.id: r for r in sets["published-evals@2.0.0"].rows}
    papers = [ev for ref, ev in sets.items() if ev.format == 2 and not ref.startswith("published-evals")]
    per_paper = [r for ev in papers for r in ev.rows]
    assert sorted(r.id for r in per_paper) == sorted(combined)
    for r in per_paper:
        assert r == combined[r.id]
    me24 = sets["me24@2.0.0"]
    assert me24.capability_sources == {"ME24"}
    assert sets["published-evals@2.0.0"].capability_sources == {"ME24"}


def _row_block(text: str, row_id: str) -> str:
    start = text.index(f'id = "{row_id}"')
    end = text.index("[[row]]", start)
    return text[start:end]


ROW = _row_block(BASE, FIRST)
BAD = [
    (
        "number not in quote",
        ROW.replace('published = "11.9 ± 1.7%"', 'published = "12.3%"'),
        "does not appear in the quote",
    ),
    ("rate not the published number", ROW.replace("rate = 0.119", "rate = 0.129"), "is not the published number"),
    ("url not an address", re.sub(r'url = "[^"]*"', 'url = "repo-file-id:123"', ROW, count=1), "http(s) address"),
    ("k not derived from the rate", ROW.replace("k = 48\n", "k = 50\n"), "not round(rate * n)"),
    ("n not in any quote", ROW.replace("n = 400\n", "n = 399\n").replace("k = 48\n", "k = 47\n"), "appears neither"),
    ("k > n", ROW.replace("k = 48\n", "k = 480\n"), "exceeds n"),
    ("unknown feature value", ROW.replace('scratchpad = "yes"', 'scratchpad = "maybe"'), "scratchpad: must be"),
    ("unknown quantity", ROW.replace('quantity = "training_gaming_reasoning"', 'quantity = "vibes"'), "quantity"),
    ("no quote", re.sub(r'quote = "[^\n]*"\n', "", ROW, count=1), "quote: missing field"),
]


@pytest.mark.parametrize(("case", "block", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_rows_give_one_line_errors(case, block, message, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(BASE.replace(ROW, block, 1))
    before = snapshot(ROOT / "evidence", tmp_path)
    with pytest.raises(EvidenceError) as err:
        load_evidence(str(path))
    line = err.value.line()
    assert "\n" not in line and line.startswith(str(path)) and message in line, line
    assert FIRST in line or case in ("unknown quantity",)
    assert snapshot(ROOT / "evidence", tmp_path) == before


def test_a_reading_off_a_figure_needs_its_precision(tmp_path):
    block = (
        ROW.replace("read_from_figure = false", "read_from_figure = true")
        if "read_from_figure" in ROW
        else (ROW.replace("k_is_derived = true\n", "k_is_derived = true\nread_from_figure = true\n"))
    )
    with pytest.raises(EvidenceError, match="precision"):
        parse_evidence(BASE.replace(ROW, block, 1), file="fig.toml")


def test_switching_rows_off_changes_the_subset_hash():
    ev = load_evidence("published-evals@2.0.0", root=ROOT)
    row = ev.likelihood_rows()[0].id
    sub = ev.without({row})
    assert row not in {r.id for r in sub.likelihood_rows()}
    assert sub.subset_sha256 != ev.sha256 and ev.subset_sha256 == ev.sha256


def test_capability_likelihood_switch_per_source():
    ev = load_evidence("published-evals@2.0.0", root=ROOT)
    off = ev.with_capability_likelihood(False)
    assert not off.capability_rows() and len(off.likelihood_rows()) < len(ev.likelihood_rows())
    assert off.subset_sha256 != ev.sha256 and off.with_capability_likelihood({"ME24"}).subset_sha256 == ev.sha256
    with pytest.raises(EvidenceError, match="no capability-evidence counts"):
        ev.with_capability_likelihood({"GR24"})


def test_format_1_files_still_load_and_cannot_use_format_2_fields(tmp_path):
    ev = parse_evidence(OLD)
    assert ev.format == 1 and len(ev.rows) == 24
    bad = OLD.replace('where_read = "GR24 Table 1"\n', 'where_read = "GR24 Table 1"\nquote = "x"\n', 1)
    with pytest.raises(EvidenceError, match="needs format = 2"):
        parse_evidence(bad)


def test_cli_evidence_validate(tmp_path, capsys):
    from riskmodel.cli import main

    path = tmp_path / "bad.toml"
    path.write_text(BASE.replace(ROW, BAD[0][1], 1))
    assert main(["evidence", "validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(path) in err and "does not appear in the quote" in err
    good = tmp_path / "good.toml"
    good.write_text(BASE)
    assert main(["evidence", "validate", str(good)]) == 0
    out = capsys.readouterr().out
    assert "valid evidence set published-evals@2.0.0" in out and "every row traced" in out
    legacy = tmp_path / "legacy.toml"
    legacy.write_text(OLD)
    assert main(["evidence", "validate", str(legacy)]) == 0
    assert "format 1" in capsys.readouterr().out


def test_evidence_validate_refuses_the_reserved_system_name_as_a_fit_would(tmp_path, capsys):
    from riskmodel.cli import main

    path = tmp_path / "reserved.toml"
    path.write_text(BASE.replace(ROW, ROW.replace('system = "claude-3-opus"', 'system = "new"', 1), 1))
    assert 'system = "new"' in path.read_text()
    assert main(["evidence", "validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "new" in err

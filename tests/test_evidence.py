from __future__ import annotations

import pytest

from riskmodel.errors import EvidenceError
from riskmodel.evidence import evidence_store, load_evidence
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

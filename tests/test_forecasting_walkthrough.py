"""docs/forecasting.md's walk-through, end to end, in a temporary copy of the data folders.

From "I disagree with the baseline" to a published, verifiable forecast record: draft a prior version, release it
(a release without a new rationale is refused first), fit and cite it, write a forecast record, explain it against
the baseline, pool it with a colleague's prior set, and verify every printed citation and the record in new
processes. Every command is a new ``riskmodel`` process, as a user would run it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, snapshot

pytestmark = pytest.mark.slow

DRAWS = ("--draws", "2000")
NEW_RATIONALE = "I expect coordination between copies to be rarer than the baseline does: their channels are monitored."


def _cli(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RISKMODEL_DATA": str(root)}  # the session's fit store (RISKMODEL_CACHE_DIR) is inherited
    return subprocess.run(
        [sys.executable, "-m", "riskmodel.cli", *argv], env=env, cwd=root, capture_output=True, text=True, timeout=1800
    )


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _edit_coordination(draft: Path, rationale: str | None) -> None:
    """The forecaster's edit: a lower 90% interval for coordination (parameters re-elicited at release)."""
    text = draft.read_text()
    start = text.index("[parameters.coordination]")
    end = text.index("[parameters.", start + 1)
    block = re.sub(r"interval90 = \[[^\]]*\]", "interval90 = [0.02, 0.25]", text[start:end])
    block = re.sub(r"params = \{[^}]*\}\n", "", block)
    if rationale is not None:
        block = re.sub(r'rationale = ".*"', f'rationale = "{rationale}"', block)
    draft.write_text(text[:start] + block + text[end:])


def test_from_disagreement_to_a_verified_forecast_record(tmp_path: Path) -> None:
    root = tmp_path
    for d in ("priors", "evidence"):
        shutil.copytree(ROOT / d, root / d)

    # 1. a draft from the baseline: written outside the released tree's registry
    before = snapshot(root / "evidence") | {"registry": (root / "priors" / "registry.toml").read_text()}
    _ok(_cli(root, "priors", "new", "mine", "--from", "baseline@2.0.0"))
    draft = root / "priors" / "mine" / "draft.toml"
    assert draft.is_file()

    # 2. an edit without a new rationale is refused at release, naming the parameter, and writes nothing
    _edit_coordination(draft, rationale=None)
    refused = _cli(
        root, "priors", "release", str(draft), "--author", "A. Forecaster", "--changelog", "rarer coordination"
    )
    assert refused.returncode == 2 and "coordination" in refused.stderr and len(refused.stderr.splitlines()) == 1
    assert not (root / "priors" / "mine" / "1.0.0.toml").exists()
    assert snapshot(root / "evidence") | {"registry": (root / "priors" / "registry.toml").read_text()} == before

    # 3. with its rationale it validates and releases as mine@1.0.0, recording author and parent
    _edit_coordination(draft, rationale=NEW_RATIONALE)
    assert "coordination" in _ok(_cli(root, "priors", "validate", str(draft)))
    out = _ok(
        _cli(root, "priors", "release", str(draft), "--author", "A. Forecaster", "--changelog", "rarer coordination")
    )
    assert "mine@1.0.0" in out
    released = (root / "priors" / "mine" / "1.0.0.toml").read_text()
    assert 'author = "A. Forecaster"' in released and 'parent = "baseline@2.0.0 sha256:' in released

    # 4. fit and cite it, and the baseline
    # 4 x 2000 draws, as the walk-through says: at 4 x 1000 one system's Bayes factor under mine@1.0.0 has a Monte
    # Carlo error of 10.1% of its value (riskmodel 0.3.0), which the health check flags
    mine = _ok(_cli(root, "cite", "--priors", "mine@1.0.0", *DRAWS, "--no-progress")).splitlines()[0]
    base = _ok(_cli(root, "cite", *DRAWS, "--no-progress")).splitlines()[0]
    assert "priors mine@1.0.0 sha256:" in mine and "diagnostics FAILED" not in mine

    # 5. a forecast record from that fit
    record = _cli(
        root,
        "forecast",
        "new",
        "mine-2030",
        "--priors",
        "mine@1.0.0",
        "--question",
        "Will a newly trained frontier system reach the worst case by 2030?",
        "--quantity",
        "P(worst case) for a new system drawn from the population",
        "--resolution",
        "YES if a credible public report establishes every condition of the worst case in docs/model.md",
        "--horizon",
        "2030-12-31",
        "--forecaster",
        "A. Forecaster",
        *DRAWS,
        "--no-progress",
        "--json",
    )
    rec = json.loads(_ok(record))
    assert rec["citation"] == mine
    assert (root / "forecasts" / "mine-2030.toml").is_file()

    # 6. explain it against the baseline: the whole difference is the one changed (uninformed) parameter
    expl = json.loads(_ok(_cli(root, "explain", base, mine, "--json", "--no-progress")))
    pw = next(iter(expl["quantities"].values()))
    assert pw["evidence"]["value"] == 0.0
    assert set(pw["parameters"]) == {"coordination"}
    assert pw["parameters"]["coordination"]["value"] == pytest.approx(pw["total"]["value"], abs=1e-9)
    assert pw["total"]["value"] < 0  # rarer coordination lowers P(worst case)

    # 7. pool with a colleague's prior set
    pool = json.loads(
        _ok(
            _cli(
                root,
                "pool",
                "mine@1.0.0",
                "skeptic@1.0.0",
                "--weights",
                "0.6,0.4",
                "--method",
                "linear",
                *DRAWS,
                "--json",
                "--no-progress",
            )
        )
    )
    pooled = pool["citation"]
    assert "pool linear: mine@1.0.0 sha256:" in pooled and "w=0.6" in pooled

    # 8. every printed citation and the record verify in new processes
    for line in (mine, pooled):
        _ok(_cli(root, "verify", line, "--no-progress"))
    _ok(_cli(root, "forecast", "verify", "mine-2030", "--no-progress"))

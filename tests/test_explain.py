"""``riskmodel explain``: Shapley attributions of the difference between two citations."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, snapshot

# ---------------------------------------------------------------------------------------------------------------------
# the Shapley arithmetic (no MCMC): checked against games whose Shapley values are known in closed form


def _game(a: list[float], b: float):
    """Additive values a_i plus an interaction b shared by players 0 and 1: Shapley values a_0 + b/2, a_1 + b/2, a_i."""

    def value(s: frozenset[int]) -> float:
        return sum(a[i] for i in s) + (b if {0, 1} <= s else 0.0)

    return value


def test_exact_shapley_of_a_game_with_an_interaction() -> None:
    from riskmodel.analysis.explain import shapley_exact

    a, b = [0.3, -1.2, 2.0, 0.05], 0.8
    phi = shapley_exact(4, _game(a, b))
    assert phi == pytest.approx([a[0] + b / 2, a[1] + b / 2, a[2], a[3]], abs=1e-12)
    assert sum(phi) == pytest.approx(sum(a) + b, abs=1e-12)  # efficiency: v(all) - v(none)


def test_exact_shapley_of_a_game_with_a_threshold() -> None:
    """The glove-style majority game v(S) = 1 if |S| >= 2 among 3 symmetric players: 1/3 each."""
    from riskmodel.analysis.explain import shapley_exact

    phi = shapley_exact(3, lambda s: 1.0 if len(s) >= 2 else 0.0)
    assert phi == pytest.approx([1 / 3] * 3, abs=1e-12)


def test_permutation_shapley_is_efficient_seeded_and_converges() -> None:
    from riskmodel.analysis.explain import shapley_exact, shapley_permutation

    a, b = [0.3, -1.2, 2.0, 0.05, 0.4, -0.1, 0.7, 0.2, 1.1, -0.3], 0.8
    game = _game(a, b)
    est, contrib = shapley_permutation(10, game, 40, seed=7)
    assert sum(est) == pytest.approx(sum(a) + b, abs=1e-12)  # every order's contributions add up to the total
    assert all(len(c) == 40 for c in contrib)
    again, _ = shapley_permutation(10, game, 40, seed=7)
    assert again == est  # the same seed, the same orders
    exact = shapley_exact(10, game)
    se = [np.std(c, ddof=1) / math.sqrt(len(c)) for c in contrib]
    for e, x, s in zip(est, exact, se, strict=True):
        assert abs(e - x) <= 4 * s + 1e-12
    # players without interaction have the same marginal contribution in every order: exact with any sample
    assert est[2:] == pytest.approx(a[2:], abs=1e-12)


def test_value_mcse_matches_the_delta_method_for_independent_draws() -> None:
    """The influence series of a log mean of iid draws has MCSE sd(x) / (mean(x) sqrt(N))."""
    from riskmodel.analysis.explain import Value

    rng = np.random.default_rng(3)
    x = rng.gamma(2.0, 0.01, size=(4, 2000, 1))
    m = x.mean()
    v = Value(np.log([m]), x.shape[0] * x.shape[1] * (1 / x.size) * (x - m) / m)
    expected = x.std() / m / math.sqrt(x.size)
    assert v.mcse()[0] == pytest.approx(expected, rel=0.1)
    # a difference of a value with itself is exactly 0 with no error
    zero = v - v
    assert zero.log[0] == 0 and zero.mcse()[0] == 0


def test_players_and_hybrids_of_baseline_and_skeptic() -> None:
    from riskmodel import load_priors
    from riskmodel.analysis.explain import hybrid_priors, players
    from riskmodel.data.authoring import changed_parameters

    a, b = load_priors("baseline@2.0.0"), load_priors("skeptic@1.0.0")
    names = players(a, b)
    assert names == changed_parameters(b, a)  # the same parameters as the authoring layer's diff
    assert "intercept_separation" in names and "competence_loading" in names
    full = hybrid_priors(a, b, set(names))
    assert players(full, b) == [] and not full.released
    assert players(hybrid_priors(a, b, set()), a) == []
    one = hybrid_priors(a, b, {"intercept_separation"})
    assert players(a, one) == ["intercept_separation"]


# ---------------------------------------------------------------------------------------------------------------------
# bad inputs: one line, exit 2, nothing fitted, nothing written


def _line(priors: str = "baseline@2.0.0", evidence: str = "published-evals@2.0.0", seed: int = 1, **kw: str) -> str:
    from riskmodel.data.evidence import evidence_store
    from riskmodel.data.priors import prior_store

    psha = kw.get("psha") or prior_store().resolve(priors).sha256[:8]
    esha = kw.get("esha") or evidence_store().resolve(evidence).sha256[:8]
    return (
        f"P(worst case) = 0.005 [90%: 0.00024, 0.019] | riskmodel 0.2.0 model 2 | priors {priors} sha256:{psha} | "
        f"evidence {evidence} sha256:{esha} | system new | nutpie 0.16.11 seed {seed} | 4x1000 draws tune 1000 | "
        "draws sha256:96d74ff9"
    )


@pytest.fixture
def no_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any fit fails the test: bad citations must be refused before fitting."""
    import riskmodel.results.result as result

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("explain fitted before refusing its input")

    monkeypatch.setattr(result, "fit", boom)


@pytest.mark.parametrize(
    ("a", "b", "expect"),
    [
        ("not a citation", None, "not a riskmodel citation line"),
        (None, "P(worst case) = 2 [90%: 0, 1] | nonsense", "not a riskmodel citation line"),
        (None, "unknown-set", "cites an unknown release"),
        (None, "bad-hash", "cites sha256:deadbeef"),
        (None, "other-seed", "the citations differ in seed"),
        (None, "unknown-evidence", "cites an unknown release"),
    ],
)
def test_bad_citations_exit_2_before_any_fit(
    a: str | None, b: str | None, expect: str, no_fit: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from riskmodel.cli.main import main

    good = _line()
    special = {
        "unknown-set": _line(priors="baseline@2.0.0", psha="ed4fd2d0").replace("baseline@2.0.0", "nosuch@1.0.0"),
        "bad-hash": _line(psha="deadbeef"),
        "other-seed": _line(seed=2),
        "unknown-evidence": _line().replace("published-evals@2.0.0", "published-evals@9.0.0"),
    }
    a = a if a is not None else good
    b = special.get(b, b) if b is not None else good
    out = tmp_path / "out"
    before = snapshot(ROOT / "priors", ROOT / "evidence")
    code = main(["explain", a, b, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("riskmodel: error: ") and expect in err
    assert not out.exists()
    assert snapshot(ROOT / "priors", ROOT / "evidence") == before


def test_out_must_be_a_folder(no_fit: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from riskmodel.cli.main import main

    f = tmp_path / "file"
    f.write_text("x")
    assert main(["explain", _line(), _line(), "--out", str(f)]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert f.read_text() == "x"


# ---------------------------------------------------------------------------------------------------------------------
# MCMC: a released prior set that differs from baseline@2.0.0 in one uninformed capability parameter only

SETTINGS = {"seed": 1, "chains": 2, "draws": 300, "tune": 300}


ROW = "gr24-claude-3-opus-helpful-only-honest-no-goal-modification-training-tgr"


@pytest.fixture(scope="module")
def one_change(tmp_path_factory: pytest.TempPathFactory):
    """A data copy with ``onecap@1.0.0`` (baseline@2.0.0 with another coordination prior), its fits and citations.

    Four small fits, shared by every test below: baseline and onecap, each on the default evidence and on the
    default evidence without one row (an evidence change for the two-factor split).
    """
    from riskmodel import fit, load_evidence, load_priors
    from riskmodel.data.authoring import release

    root = tmp_path_factory.mktemp("explain-data")
    for d in ("priors", "evidence"):
        shutil.copytree(ROOT / d, root / d)
    mp = pytest.MonkeyPatch()
    mp.setenv("RISKMODEL_DATA", str(root))
    base = load_priors("baseline@2.0.0")
    old = base["coordination"]
    new = replace(
        old,
        params={"alpha": 6.0, "beta": 4.0},
        interval90=None,
        rationale="A test's view: coordination is likely given misalignment (Beta(6, 4), mean 0.6).",
    )
    draft = replace(base.with_parameter(new), name="onecap")
    rel = release(draft, author="test_explain", changelog="coordination Beta(6, 4)", name="onecap")
    assert rel.ref == "onecap@1.0.0"
    ev = load_evidence("published-evals@2.0.0")
    sub = ev.without({ROW})
    fits = {
        ("A", "A"): fit("baseline@2.0.0", ev, **SETTINGS),
        ("B", "A"): fit("onecap@1.0.0", ev, **SETTINGS),
        ("A", "B"): fit("baseline@2.0.0", sub, **SETTINGS),
        ("B", "B"): fit("onecap@1.0.0", sub, **SETTINGS),
    }
    yield {"root": root, "fits": fits, "cite": {k: r.citation() for k, r in fits.items()}}
    mp.undo()


def _log_mean(result, variable: str = "p_worst_case", system: str = "new") -> float:
    return math.log(float(result.quantities[variable].sel(system=system).mean()))


@pytest.mark.slow
def test_one_uninformed_parameter_takes_the_whole_difference(one_change) -> None:
    from riskmodel.analysis.explain import explain
    from riskmodel.interactive.update import update

    fits, cite = one_change["fits"], one_change["cite"]
    expl = explain(cite[("A", "A")], cite[("B", "A")])
    assert expl.players == ["coordination"]
    rows = {a.component: a for a in expl.table()}
    total = rows["total (log B - log A)"]
    # the total is the difference of the cited fits' log posterior means, computed here independently
    assert total.value == pytest.approx(_log_mean(fits[("B", "A")]) - _log_mean(fits[("A", "A")]), abs=1e-10)
    assert total.value > 0.1  # a real change: Beta(6, 4) makes coordination about twice as likely
    assert rows["evidence change"].value == 0 and rows["evidence change"].mcse == 0  # the same evidence
    assert rows["coordination"].value == pytest.approx(total.value, abs=1e-10)  # all of it, to this one parameter
    assert rows["prior change"].value == pytest.approx(total.value, abs=1e-10)
    assert abs(rows["residual (total - sum)"].value) < 1e-10
    assert 0 < total.mcse < 0.2 * total.value
    # the fast update that explain would use (an exact redraw of coordination) agrees with the exact fit
    fast = update(fits[("A", "A")], fits[("B", "A")].priors)
    assert fast.update.method == "recomputed"
    assert abs(_log_mean(fast) - _log_mean(fits[("B", "A")])) <= 3 * total.mcse
    # the permutation-sampling estimate (forced here) gives the same share: one player, every order the same
    sampled = explain(cite[("A", "A")], cite[("B", "A")], exact_max_players=0, permutations=5, shapley_seed=3)
    assert sampled.shapley["method"].startswith("permutation") and sampled.shapley["seed"] == 3
    coord = next(a for a in sampled.table() if a.component == "coordination")
    assert coord.value == pytest.approx(total.value, abs=1e-10)
    # coordination does not touch P(misaligned): no difference for any system
    for q in expl.quantities[1:]:
        t = next(a for a in expl.table(q) if a.kind == "total")
        assert abs(t.value) <= max(3 * t.mcse, 1e-12), q


@pytest.mark.slow
def test_attributions_sum_to_the_total_across_four_fits(one_change) -> None:
    from riskmodel.analysis.explain import explain

    fits, cite = one_change["fits"], one_change["cite"]
    assert "without[" in cite[("B", "B")]
    expl = explain(cite[("A", "A")], cite[("B", "B")])
    for q in expl.quantities:
        rows = expl.table(q)
        by = {a.kind: a for a in rows if a.kind != "parameter"}
        params = [a for a in rows if a.kind == "parameter"]
        assert [a.component for a in params] == ["coordination"]
        parts = by["evidence"].value + sum(a.value for a in params)
        assert parts + by["residual"].value == pytest.approx(by["total"].value, abs=1e-12)
        assert abs(by["residual"].value) < 1e-10  # Shapley values are efficient: exactly, up to rounding
        assert by["prior"].value == pytest.approx(sum(a.value for a in params), abs=1e-10)
    # the two-factor split from the four fits, computed here by hand
    f = {k: _log_mean(r) for k, r in fits.items()}
    prior = 0.5 * ((f[("B", "A")] - f[("A", "A")]) + (f[("B", "B")] - f[("A", "B")]))
    evidence = 0.5 * ((f[("A", "B")] - f[("A", "A")]) + (f[("B", "B")] - f[("B", "A")]))
    rows = {a.kind: a for a in expl.table() if a.kind != "parameter"}
    assert rows["prior"].value == pytest.approx(prior, abs=1e-10)
    assert rows["evidence"].value == pytest.approx(evidence, abs=1e-10)
    assert rows["evidence"].value != 0 and rows["evidence"].mcse > 0


@pytest.mark.slow
def test_cli_json_and_stamped_files(one_change, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    from riskmodel.cli.main import main

    cite = one_change["cite"]
    out = tmp_path / "out"
    code = main(["explain", cite[("A", "A")], cite[("B", "B")], "--json", "--out", str(out), "--no-progress"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["citations"] == {"a": cite[("A", "A")], "b": cite[("B", "B")]}
    pw = doc["quantities"]["P(worst case | new)"]
    assert set(pw) >= {"a", "b", "total", "evidence", "prior", "parameters", "residual"}
    assert pw["parameters"]["coordination"]["mcse"] > 0
    assert sorted(p.name for p in out.iterdir()) == ["explain.csv", "explain.json", "waterfall.png"]
    csv = (out / "explain.csv").read_text()
    assert csv.startswith(f"# citation_a: {cite[('A', 'A')]}\n# citation_b: {cite[('B', 'B')]}\n")
    meta = Image.open(out / "waterfall.png").text
    assert cite[("A", "A")] in meta["Description"] and cite[("B", "B")] in meta["Description"]
    # the table form names both citations and every component
    assert main(["explain", cite[("A", "A")], cite[("B", "B")], "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert f"A: {cite[('A', 'A')]}" in text and f"B: {cite[('B', 'B')]}" in text
    assert "coordination" in text and "evidence change" in text and "residual" in text


def test_the_command_line_defaults_are_the_librarys():
    """cli/explain.py repeats the defaults (so --help stays light); they must be the analysis module's."""
    from riskmodel.analysis import explain as lib
    from riskmodel.cli import explain as cli

    for name in ("DEFAULT_PERMUTATIONS", "DEFAULT_SHAPLEY_SEED", "DEFAULT_MAX_REFITS"):
        assert getattr(cli, name) == getattr(lib, name), name

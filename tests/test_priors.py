from __future__ import annotations

import re

import numpy as np
import pytest

from riskmodel.data.priors import PARAMETERS, diff_priors, load_priors, parse_priors, prior_store
from riskmodel.errors import PriorError, RegistryError
from tests.conftest import ROOT, snapshot

BASE = (ROOT / "priors" / "baseline" / "2.0.0.toml").read_text()


def test_every_released_prior_matches_its_registry_hash():
    store = prior_store(ROOT)
    releases = store.releases()
    assert len(releases) >= 3
    for rel in releases:
        store.read(rel)  # raises on a hash mismatch


def test_model_1_files_are_refused_naming_the_package_that_fits_them():
    for ref in ("baseline@1.0.0", "baseline@1.1.0"):
        with pytest.raises(PriorError, match=r"model 1 .*riskmodel 0\.1\.0") as info:
            load_priors(ref, root=ROOT)
        assert "model.version" in info.value.line()


def test_the_default_prior_set_is_named_explicitly():
    from riskmodel.data.registry import DEFAULT_PRIORS

    ps = load_priors(DEFAULT_PRIORS, root=ROOT)
    assert ps.ref == "baseline@2.0.0" and ps.released
    assert all(p.rationale.strip() for p in ps.parameters.values())


def test_round_trip():
    ps = load_priors("baseline@2.0.0", root=ROOT)
    again = parse_priors(ps.to_toml())
    assert again.parameters == ps.parameters
    assert (again.elicitation, again.training, again.critical) == (ps.elicitation, ps.training, ps.critical)
    assert (again.tail_df, again.consistency) == (ps.tail_df, ps.consistency)
    assert diff_priors(ps, again) == []


def test_interval_elicitation_puts_90_percent_in_the_interval():
    ps = load_priors("baseline@2.0.0", root=ROOT)
    for p in ps.parameters.values():
        if p.interval90:
            lo, hi = p.interval90
            mass = p.dist().cdf(hi) - p.dist().cdf(lo)
            assert mass == pytest.approx(0.9, abs=0.01), p.name
    assert set(ps.parameters) == set(PARAMETERS)


def test_stored_parameters_pin_the_numbers_and_must_agree_with_the_interval():
    """A released file stores the elicited parameters; a hand edit that breaks the agreement is one line."""
    ps = load_priors("baseline@2.0.0", root=ROOT)
    assert ps["p_misaligned"].interval90 == (0.01, 0.30)
    assert ps["p_misaligned"].params == {"alpha": 1.9722074830711622, "beta": 10.553675165079452}
    text = BASE.replace("params = { alpha = 1.9722074830711622", "params = { alpha = 2.5")
    with pytest.raises(PriorError, match=r"p_misaligned\.params: the params put 84\.4% .* not 90%.*PreliZ"):
        parse_priors(text, file="edited.toml")


BAD = [
    ("malformed", "name = [", "not valid TOML"),
    (
        "unknown distribution",
        BASE.replace(
            'distribution = "Beta"\ninterval90 = [0.01, 0.30]', 'distribution = "Cauchy"\ninterval90 = [0.01, 0.30]'
        ),
        "unknown distribution 'Cauchy'",
    ),
    (
        "negative alpha",
        BASE.replace("params = { alpha = 1.0, beta = 3.0 }", "params = { alpha = -1.0, beta = 3.0 }"),
        "alpha must be > 0",
    ),
    (
        "probability outside [0, 1]",
        BASE.replace(
            "interval90 = [0.01, 0.30]\nparams = { alpha = 1.9722074830711622, beta = 10.553675165079452 }",
            "interval90 = [0.01, 1.30]",
        ),
        "strictly inside (0, 1)",
    ),
    (
        "interval low >= high",
        BASE.replace(
            "interval90 = [0.01, 0.30]\nparams = { alpha = 1.9722074830711622, beta = 10.553675165079452 }",
            "interval90 = [0.30, 0.01]",
        ),
        "low must be below high",
    ),
    ("missing field", BASE.replace('summary = "Baseline', 'xsummary = "Baseline'), "summary: missing field"),
    (
        "missing rationale",
        re.sub(
            r'(\[parameters.p_misaligned\]\ndistribution = "Beta"\ninterval90 = \[0.01, 0.30\]\nparams = [^\n]*\n)'
            r'rationale = "[^"]*"\n',
            r"\1",
            BASE,
        ),
        "p_misaligned.rationale: missing field",
    ),
    (
        "unknown parameter",
        BASE + '\n[parameters.telepathy]\ndistribution = "Beta"\nparams = {alpha=1.0, beta=1.0}\nrationale = "x"\n',
        None,
    ),
    (
        "unknown feature value",
        BASE.replace('training_info = "documents"', 'training_info = "telepathy"'),
        "training_info: must be one of",
    ),
    (
        "support mismatch",
        BASE.replace(
            '[parameters.competence_loading]\ndistribution = "HalfNormal"',
            '[parameters.competence_loading]\ndistribution = "Normal"',
        ),
        "needs positive support",
    ),
    ("bad version", BASE.replace('version = "2.0.0"', 'version = "2.0"'), "not a semantic version"),
    ("model 1 file", BASE.replace("[model]\nversion = 2\n", "[modelx]\nversion = 2\n"), "written for model 1"),
    ("unknown model version", BASE.replace("[model]\nversion = 2\n", "[model]\nversion = 7\n"), "model 7"),
    ("tail df", BASE.replace("tail_df = 4.0", "tail_df = 0.1"), "tail_df: must be a number from 1"),
    ("consistency", BASE.replace('consistency = "ratio"', 'consistency = "maybe"'), "must be one of ratio, absolute"),
    ("path-like name", BASE.replace('name = "baseline"', 'name = "../evil"'), "not a valid name"),
]


@pytest.mark.parametrize(("case", "text", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_prior_files_give_one_line_errors(case, text, message, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    before = snapshot(ROOT / "priors", tmp_path)
    with pytest.raises(PriorError) as err:
        load_priors(str(path))
    line = err.value.line()
    assert "\n" not in line
    assert line.startswith(str(path))
    if message:
        assert message in line
    assert snapshot(ROOT / "priors", tmp_path) == before


def test_tampered_release_is_refused(data_copy):
    path = data_copy / "priors" / "baseline" / "2.0.0.toml"
    path.write_text(path.read_text().replace("nobody knows", "nobody knew"))
    with pytest.raises(RegistryError, match="differ from the registered sha256"):
        load_priors("baseline@2.0.0")


def test_unknown_names_and_versions(data_copy):
    with pytest.raises(RegistryError, match="unknown priors set 'nosuch'"):
        load_priors("nosuch@1.0.0")
    with pytest.raises(RegistryError, match=r"no released version 9\.9\.9"):
        load_priors("baseline@9.9.9")


def test_release_never_overwrites_and_refuses_existing_versions(data_copy):
    store = prior_store()
    text = load_priors("baseline@2.0.0").to_toml().replace('version = "2.0.0"', 'version = "2.1.0"')
    rel = store.release("baseline", "2.1.0", text.encode())
    assert load_priors("baseline").version == "2.1.0"
    assert load_priors("baseline@2.1.0").sha256 == rel.sha256
    before = snapshot(data_copy / "priors")
    for version in ("2.1.0", "2.0.5"):
        with pytest.raises(RegistryError):
            store.release("baseline", version, b"anything")
    assert snapshot(data_copy / "priors") == before


def test_deprecated_release_stays_loadable(data_copy):
    store = prior_store()
    text = load_priors("baseline@2.0.0").to_toml().replace('version = "2.0.0"', 'version = "2.1.0"')
    store.release("baseline", "2.1.0", text.encode())
    store.deprecate("baseline@2.1.0", "released by mistake")
    assert load_priors("baseline@2.1.0").version == "2.1.0"  # still loadable and verifiable
    assert load_priors("baseline").version == "2.0.0"  # but not the latest any more
    assert [r.deprecated for r in store.releases() if r.version == "2.1.0"] == ["released by mistake"]


def test_prior_densities_match_scipy_draws():
    ps = load_priors("baseline@2.0.0", root=ROOT)
    rng = np.random.default_rng(0)
    for p in ps.parameters.values():
        x = p.draw(20000, rng)
        assert np.mean(x) == pytest.approx(p.mean(), rel=0.05, abs=0.02), p.name

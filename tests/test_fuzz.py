"""Fuzzing of every loader: the documented typed error or a valid result, never anything else.

Loaders: prior files (``parse_priors`` and ``riskmodel priors show FILE``), evidence files (``parse_evidence`` and
``riskmodel evidence validate FILE``), citations passed to ``riskmodel verify`` (``parse_citation`` and the CLI path up
to the refit, which is replaced by a sentinel at the compile step), set references on the command line, and the
explorer's URL query state (``riskmodel.interactive.explore.decode_state``).

Inputs: random bytes, random text, mutations of the shipped files (fields dropped, values replaced by extreme numbers
such as 1e308, nan, inf, -0.0, huge integers, very long strings, ``../`` path-like names, unicode, wrong types).
Properties: a :class:`RiskmodelError` subclass whose message is one line, or a valid result that survives the next
step (model structure for priors and evidence, serialization round trip); through the CLI: exit 0 or exit 2 with
exactly one line on stderr and no traceback; and no file written in the data folders (directory snapshots).
"""

from __future__ import annotations

import copy
import functools
import importlib
import math
import os
import shutil
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskmodel.cli import main
from riskmodel.errors import CitationError, EvidenceError, PriorError, RiskmodelError
from tests.conftest import ROOT, snapshot

#: Examples per property in the suite (derandomized: the same cases every run). ``RISKMODEL_FUZZ_SCALE=20`` multiplies
#: them and draws fresh random cases, for a long bug hunt.
_SCALE = int(os.environ.get("RISKMODEL_FUZZ_SCALE", "1"))
N_BYTES = 300 * _SCALE
N_MUTATIONS = 400 * _SCALE
N_CLI = 150 * _SCALE
N_CITATION = 400 * _SCALE
N_URL = 200 * _SCALE
FUZZ = settings(
    max_examples=N_MUTATIONS,
    deadline=None,
    derandomize=_SCALE == 1,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)

PRIOR_TEXT = (ROOT / "priors" / "baseline" / "2.0.0.toml").read_text()
EVIDENCE_TEXT = (ROOT / "evidence" / "published-evals" / "2.0.0.toml").read_text()
PRIOR_DOC = tomllib.loads(PRIOR_TEXT)
EVIDENCE_DOC = tomllib.loads(EVIDENCE_TEXT)
#: The ME24 file switches on the capability likelihood (a source-level flag the default file does not have).
ME24_DOC = tomllib.loads((ROOT / "evidence" / "me24" / "2.0.0.toml").read_text())


# ------------------------------------------------------------------------------------------------ environment
@pytest.fixture(scope="module")
def fuzz_env():
    """A private data root (copies of priors/ and evidence/) and a private cache, for the whole module."""
    tmp = Path(tempfile.mkdtemp(prefix="riskmodel-fuzz-"))
    for d in ("priors", "evidence"):
        shutil.copytree(ROOT / d, tmp / "data" / d)
    (tmp / "inputs").mkdir()
    old = {k: os.environ.get(k) for k in ("RISKMODEL_DATA", "XDG_CACHE_HOME")}
    os.environ["RISKMODEL_DATA"] = str(tmp / "data")
    os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")  # interval elicitation caches its results there
    real = snapshot(ROOT / "priors", ROOT / "evidence")
    yield tmp
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    assert snapshot(ROOT / "priors", ROOT / "evidence") == real, "the fuzzers wrote into the project's data folders"
    shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ strategies
EXTREME_NUMBERS = st.sampled_from(
    [
        1e308,
        -1e308,
        math.inf,
        -math.inf,
        math.nan,
        -0.0,
        0.0,
        5e-324,
        1e-300,
        2**63,
        -(2**63),
        2**64 + 1,
        10**30,
        -1,
        0,
        1,
        1e6,
        1e6 + 1,
        0.5,
        True,
        False,
    ]
)
WEIRD_STRINGS = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "../../etc/passwd",
            "../priors/baseline",
            "/tmp/x",
            "a/b",
            "nul\x00byte",
            "line\nbreak",
            "x" * 5000,
            "é" * 100,
            "名前",
            "\u202e",
            "Beta",
            "Normal",
            "yes",
            "no",
            "prompted",
            "training",
            "complied",
            "1.0.0",
            "99999999.0.0",
            "baseline",
            "BASE",
            "-x",
        ]
    ),
    st.text(max_size=40),
)
ANY_VALUE = st.one_of(
    EXTREME_NUMBERS,
    WEIRD_STRINGS,
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(EXTREME_NUMBERS, max_size=3),
    st.dictionaries(WEIRD_STRINGS, EXTREME_NUMBERS, max_size=3),
)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys / indices) into a TOML document."""
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple, value: Any, *, drop: bool) -> None:
    for key in path[:-1]:
        doc = doc[key]
    if drop:
        del doc[path[-1]]
    else:
        doc[path[-1]] = value


@st.composite
def mutated_toml(draw: st.DrawFn, base: dict[str, Any]) -> bytes:
    """A shipped file with 1-4 fields dropped, replaced or added, serialized back to TOML (or text-level damage)."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["drop", "replace", "replace", "add"]))
        try:
            if action == "add":
                parent = path[:-1]
                target = doc
                for k in parent:
                    target = target[k]
                if isinstance(target, dict):
                    target[draw(WEIRD_STRINGS)] = draw(ANY_VALUE)
            else:
                _set(doc, path, draw(ANY_VALUE), drop=action == "drop")
        except (KeyError, IndexError, TypeError):
            continue
    try:
        text = tomli_w.dumps(doc)
    except (TypeError, ValueError):  # tomli_w cannot write this value: damage the text instead
        text = tomli_w.dumps(base)
    if draw(st.booleans()) and draw(st.integers(0, 4)) == 0:  # occasional text-level damage
        pos = draw(st.integers(0, len(text)))
        text = (
            text[:pos] + draw(st.sampled_from(["[", "]", '"', "=", "\n[[row]]\n", "\x00", "\ufeff", "é"])) + text[pos:]
        )
    return text.encode("utf-8", errors="surrogatepass")


@functools.cache
def _default_priors() -> Any:
    from riskmodel.data.priors import load_priors

    return load_priors(ROOT / "priors" / "baseline" / "2.0.0.toml")


@functools.cache
def _default_evidence() -> Any:
    from riskmodel.data.evidence import load_evidence

    return load_evidence(ROOT / "evidence" / "published-evals" / "2.0.0.toml")


def _one_line(exc: RiskmodelError) -> None:
    line = exc.line()
    assert "\n" not in line and line.strip(), repr(line)
    assert "Traceback" not in line


# ------------------------------------------------------------------------------------------------ priors
def _check_prior_result(ps: Any) -> None:
    """A prior set that parsed must survive the next steps: model structure, prior draws, round trip."""
    from riskmodel.data.priors import parse_priors
    from riskmodel.model.prior import draw_prior
    from riskmodel.model.spec import model_data

    try:
        data = model_data(ps, _default_evidence())
        draw_prior(data, 5, 0)
        again = parse_priors(ps.to_toml())
    except RiskmodelError as exc:
        _one_line(exc)
        return
    assert again.parameters == ps.parameters or any(p.interval90 for p in ps.parameters.values())


@settings(FUZZ, max_examples=N_BYTES)
@given(st.binary(max_size=2000))
def test_priors_random_bytes(fuzz_env, data: bytes) -> None:
    from riskmodel.data.priors import parse_priors

    try:
        ps = parse_priors(data, file="fuzz.toml")
    except PriorError as exc:
        _one_line(exc)
    else:
        _check_prior_result(ps)


@FUZZ
@given(mutated_toml(PRIOR_DOC))
def test_priors_mutated(fuzz_env, data: bytes) -> None:
    from riskmodel.data.priors import parse_priors

    before = snapshot(fuzz_env / "data")
    try:
        ps = parse_priors(data, file="fuzz.toml")
    except PriorError as exc:
        _one_line(exc)
    else:
        _check_prior_result(ps)
    assert snapshot(fuzz_env / "data") == before


# ------------------------------------------------------------------------------------------------ evidence
def _check_evidence_result(ev: Any) -> None:
    from riskmodel.model.spec import model_data

    try:
        model_data(_default_priors(), ev)
        ev.likelihood_rows()
        ev.reference_rows()
    except RiskmodelError as exc:
        _one_line(exc)


@settings(FUZZ, max_examples=N_BYTES)
@given(st.binary(max_size=2000))
def test_evidence_random_bytes(fuzz_env, data: bytes) -> None:
    from riskmodel.data.evidence import parse_evidence

    try:
        ev = parse_evidence(data, file="fuzz.toml")
    except EvidenceError as exc:
        _one_line(exc)
    else:
        _check_evidence_result(ev)


@FUZZ
@given(st.one_of(mutated_toml(EVIDENCE_DOC), mutated_toml(ME24_DOC)))
def test_evidence_mutated(fuzz_env, data: bytes) -> None:
    from riskmodel.data.evidence import parse_evidence

    before = snapshot(fuzz_env / "data")
    try:
        ev = parse_evidence(data, file="fuzz.toml")
    except EvidenceError as exc:
        _one_line(exc)
    else:
        _check_evidence_result(ev)
    assert snapshot(fuzz_env / "data") == before


# ------------------------------------------------------------------------------------------------ the CLI
def _run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    out, err = capsys.readouterr()
    return code, out, err


def _check_cli(code: int, err: str) -> None:
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("riskmodel: error:"), err
    else:
        assert err == "", err


@settings(FUZZ, max_examples=N_CLI)
@given(
    kind=st.sampled_from(["priors", "evidence"]),
    content=st.one_of(st.binary(max_size=500), mutated_toml(PRIOR_DOC), mutated_toml(EVIDENCE_DOC)),
    filename=st.sampled_from(["f.toml", "weird name é.toml", "..toml", "x.TOML.toml"]),
)
def test_cli_file_loaders(fuzz_env, capsys, kind: str, content: bytes, filename: str) -> None:
    path = fuzz_env / "inputs" / filename
    path.write_bytes(content)
    before = snapshot(fuzz_env / "data")
    argv = ["priors", "show", str(path)] if kind == "priors" else ["evidence", "validate", str(path)]
    code, _, err = _run_cli(argv, capsys)
    _check_cli(code, err)
    assert snapshot(fuzz_env / "data") == before


@settings(FUZZ, max_examples=N_CLI)
@given(
    ref=st.one_of(
        WEIRD_STRINGS,
        st.from_regex(r"\A[a-z./_-]{0,12}(@[0-9a-z.]{0,12})?\Z", fullmatch=True),
        st.sampled_from(
            [
                "baseline@2.0.0",
                "baseline@latest",
                "baseline@02.0.0",
                "baseline@2.0.0@1",
                "../../etc/passwd",
                "/dev/null",
                "/proc/self/environ",
                "priors/registry.toml",
                "published-evals@2.0.0",
                "@",
            ]
        ),
    ),
    command=st.sampled_from(["priors show", "evidence show", "priors diff"]),
)
def test_cli_set_references(fuzz_env, capsys, ref: str, command: str) -> None:
    before = snapshot(fuzz_env / "data")
    argv = command.split() + [ref] + (["baseline@2.0.0"] if command == "priors diff" else [])
    if ref.startswith("-"):
        argv.insert(len(command.split()), "--")
    code, _, err = _run_cli(argv, capsys)
    _check_cli(code, err)
    assert snapshot(fuzz_env / "data") == before


# ------------------------------------------------------------------------------------------------ citations
GOOD_LINE = (
    "P(worst case) = 0.0052 [90%: 0.00024, 0.018] | riskmodel 0.2.0 model 2 | priors baseline@2.0.0 sha256:ed4fd2d0 | "
    "evidence published-evals@2.0.0 sha256:cbc0dd0a | system new | nutpie 0.16.11 seed 1 | 4x1000 draws tune 1000 | "
    "draws sha256:3ab3b30d"
)
CITATION_FIELDS = {
    "0.0052": ["1e308", "nan", "inf", "-0", "1e-", "0.0.1", "2", "-0.5", "9" * 400],
    "0.00024": ["0.9", "1e-400", "-1e-3"],
    "0.2.0": ["../..", "é", "9" * 300, "0.1.0"],
    "model 2": ["model 1", "model 99", "model -1"],
    "baseline@2.0.0": ["baseline@9.9.9", "nosuch@1.0.0", "base_line@2.0.0", "baseline@2.0", "published-evals@2.0.0"],
    "ed4fd2d0": ["00000000", "ed4fd2d041c98c246efbee365be2431d0857df7d636de2c18d3b20a90268b357", "ed4f"],
    "published-evals@2.0.0": ["published-evals@1.0.0", "baseline@2.0.0", "gr24@2.0.0"],
    "cbc0dd0a |": ["cbc0dd0a without[x] |", "cbc0dd0a capability[GR24] |", "cbc0dd0a without[] capability[] |"],
    "system new": ["system claude-3-opus", "system ../../x", "system é", "system  ", "system " + "s" * 900],
    "nutpie 0.16.11": ["stan 1.0", "blackjax 1.2", "numpyro 0.1", "pymc 6.3.0", "nutpie 9.9.9"],
    "seed 1": ["seed 0", "seed 9999999999", "seed 4294967296", "seed -1"],
    "4x1000": ["0x1000", "4x9", "999x9999999", "4x0", "1x10"],
    "tune 1000": ["tune 0", "tune 99999999", "tune -1"],
    "3ab3b30d": ["zzzz", "00000000"],
}


@st.composite
def citation_lines(draw: st.DrawFn) -> str:
    """A valid citation line with some fields replaced, or random text."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.one_of(st.text(max_size=300), WEIRD_STRINGS))
    line = GOOD_LINE
    for field, options in CITATION_FIELDS.items():
        if draw(st.integers(0, 3)) == 0:
            line = line.replace(field, draw(st.sampled_from(options)), 1)
    if draw(st.integers(0, 5)) == 0:
        pos = draw(st.integers(0, len(line)))
        line = line[:pos] + draw(st.text(max_size=5)) + line[pos:]
    return line


class _Refit(BaseException):
    """Raised where the real refit would start sampling (a BaseException, so fit() does not wrap it)."""


@settings(FUZZ, max_examples=N_CITATION)
@given(citation_lines())
def test_parse_citation(fuzz_env, line: str) -> None:
    from riskmodel.results.citation import parse_citation

    try:
        cit = parse_citation(line)
    except CitationError as exc:
        _one_line(exc)
    else:
        assert 0 <= cit.lower <= cit.upper <= 1 and 0 <= cit.mean <= 1
        assert cit.chains >= 1 and cit.draws >= 10


@settings(FUZZ, max_examples=N_CITATION)
@given(citation_lines())
def test_cli_verify_up_to_the_refit(fuzz_env, capsys, monkeypatch, line: str) -> None:
    sampling_module = importlib.import_module("riskmodel.model.sampling")

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise _Refit

    monkeypatch.setattr(sampling_module, "sample", refuse)  # every sampler starts there
    before = snapshot(fuzz_env / "data")
    try:
        code, out, err = _run_cli(["verify", line, "--no-progress"], capsys)
    except _Refit:
        capsys.readouterr()  # the input passed every check up to the refit
    else:
        if code == 1:  # a cited hash that does not match the release fails at once, before any refit (issue 14)
            assert err == "" and "NOT verified" in out, (out, err)
        else:
            _check_cli(code, err)
            assert code == 2
    assert snapshot(fuzz_env / "data") == before


# ------------------------------------------------------------------------------------------------ URL state
URL_KEYS = st.one_of(
    st.sampled_from(
        [
            "p.coordination",
            "p.p_misaligned",
            "p.intercept_aligned",
            "p.intercept_separation",
            "p.nosuch",
            "p.",
            "critical",
            "exclude",
            "consistency",
            "tail_df",
        ]
    ),
    st.sampled_from(["priors", "system", "evidence"]),
    st.text(max_size=10),
)
NUM_TEXT = st.sampled_from(
    [
        "0",
        "1",
        "0.5",
        ".5",
        "1e308",
        "1e-400",
        "1e999",
        "000.5",
        "0.999999999999",
        "1e6",
        "1000001",
        "9" * 400,
        "5e-324",
    ]
)
URL_VALUES = st.one_of(
    st.builds(lambda a, b: f"m{a}s{b}", NUM_TEXT, NUM_TEXT),
    st.builds(lambda a, b: f"i{a}-{b}", NUM_TEXT, NUM_TEXT),
    st.builds(lambda a, b: f"b{a},{b}", NUM_TEXT, NUM_TEXT),
    st.builds(
        lambda parts: ";".join(parts),
        st.lists(
            st.sampled_from(["yes,prompted,yes", "no,none,hidden", "yes,documents,no", "maybe,x,y", "yes,prompted"]),
            max_size=4,
        ),
    ),
    WEIRD_STRINGS,
)


@settings(FUZZ, max_examples=N_URL)
@given(st.dictionaries(URL_KEYS, URL_VALUES, max_size=4))
def test_url_state(fuzz_env, params: dict[str, str]) -> None:
    from riskmodel.data.priors import parse_priors
    from riskmodel.errors import InputError
    from riskmodel.interactive.explore import decode_state, encode_state

    base = _default_priors()
    try:
        priors, excluded = decode_state(params, base)
    except (InputError, PriorError) as exc:
        _one_line(exc)
        return
    assert isinstance(excluded, frozenset)
    for p in priors.parameters.values():
        assert all(math.isfinite(v) for v in p.params.values())
    parse_priors(priors.to_toml())  # what "Save as new prior version" writes must load again
    again, _ = decode_state(encode_state(priors, base), base)  # the URL the app writes restores the same set
    for name, p in priors.parameters.items():
        for k, v in p.params.items():
            assert again[name].params[k] == pytest.approx(v, rel=1e-4), (name, k)


# ------------------------------------------------------------------------------------------------ issue 14, item 2
# Every input path that is checked before the expensive work: what-if observations (and their reweighting on a real
# fit), sensitivity options, fit settings (with the memory estimate and --max-seconds), file reads of special files,
# TOML nesting depth, and prior numbers (overflow, documented limits after elicitation, the prior predictive check).
# Each property runs N_PATH_QUICK examples in the quick loop and N_PATH_SLOW (>= 1000) in the slow suite.
N_PATH_QUICK = 50 * _SCALE
N_PATH_SLOW = 1000 * _SCALE


def _both(strategy: Any) -> Any:
    """Make a property into two tests: ``test_X`` (quick, N_PATH_QUICK examples) and ``test_X_slow`` (N_PATH_SLOW)."""

    def wrap(prop: Any) -> tuple[Any, Any]:
        quick = settings(FUZZ, max_examples=N_PATH_QUICK)(given(strategy)(prop))
        # (a lambda would not do: pytest.mark takes a function named "<lambda>" for an argument of the mark)
        slow = pytest.mark.slow(settings(FUZZ, max_examples=N_PATH_SLOW)(given(strategy)(prop)))
        return quick, slow

    return wrap


FEATURE_VALUES = st.one_of(
    st.sampled_from(["yes", "no", "prompted", "documents", "none", "hidden", "implicit", "spelled-out", "pre-rl"]),
    st.sampled_from(["after-rl", "maybe", "carrier-pigeon", "sideways", "", "YES", " yes"]),
    WEIRD_STRINGS,
)
COUNTS = st.one_of(
    st.integers(-3, 1200),
    st.sampled_from([10**7, 10**7 + 1, 10**9, 10**30, 2**63, -(2**63), True, 0.5, math.nan, math.inf, "3", None]),
)


@st.composite
def observations(draw: st.DrawFn) -> Any:
    from riskmodel.data.features import Context
    from riskmodel.interactive.whatif import Observation

    ctx = Context(
        draw(FEATURE_VALUES),
        draw(FEATURE_VALUES),
        draw(FEATURE_VALUES),
        stage=draw(st.sampled_from(["pre-rl", "after-rl", "post-rl", ""])),
        prerequisites=draw(st.sampled_from(["implicit", "spelled-out", "explicit"])),
    )
    system = draw(st.one_of(st.sampled_from(["claude-3-opus", "claude-3.5-sonnet", "new", "gpt-4o"]), WEIRD_STRINGS))
    setting = draw(st.one_of(st.none(), st.sampled_from(["helpful-only", "animal-welfare", "nowhere"]), WEIRD_STRINGS))
    return Observation(system, ctx, draw(COUNTS), draw(COUNTS), setting)


def _prop_whatif_inputs(obs: Any) -> None:
    """The check comes before the result is read: a one-line InputError, or an observation that is valid."""
    from riskmodel.data.features import VOCABULARY
    from riskmodel.errors import InputError
    from riskmodel.interactive.whatif import MAX_EPISODES, what_if

    try:
        obs.check()
    except InputError as exc:
        _one_line(exc)
        with pytest.raises(InputError):
            what_if(None, obs)  # type: ignore[arg-type]
        return
    assert isinstance(obs.k, int) and isinstance(obs.n, int) and 0 <= obs.k <= obs.n <= MAX_EPISODES and obs.n >= 1
    for feat, allowed in VOCABULARY.items():
        assert getattr(obs.context, feat) in allowed


test_whatif_inputs, test_whatif_inputs_slow = _both(observations())(_prop_whatif_inputs)


@pytest.mark.slow
@settings(FUZZ, max_examples=N_PATH_SLOW)
@given(observations())
def test_whatif_on_a_real_fit_slow(default_fit, obs: Any) -> None:
    """On the default fit, without refits: a typed error, or an update whose numbers are flagged or finite."""
    import numpy as np

    from riskmodel.interactive.whatif import what_if

    try:
        r = what_if(default_fit, obs)
    except RiskmodelError as exc:
        _one_line(exc)
        return
    assert r.update.method in ("reweighted", "reweighted-unreliable")
    assert r.exact is False and r.not_citable()
    k = r.update.pareto_k
    if r.update.method == "reweighted":
        assert np.isfinite(k) and k <= 0.7 and np.all(np.isfinite(r.weights)) and abs(r.weights.sum() - 1) < 1e-9
    else:
        assert not r.healthy and not (np.isfinite(k) and k <= 0.7)


SENS_INTS = st.one_of(st.integers(-5, 5000), st.sampled_from([2**31, -(2**31), 1024, 256, 3, 1, 0]))


@st.composite
def sensitivity_args(draw: st.DrawFn) -> Any:
    import argparse

    def mostly(valid: Any) -> Any:  # valid values half of the time, so that every later check is reached too
        return st.one_of(valid, SENS_INTS)

    return argparse.Namespace(
        points=draw(mostly(st.integers(2, 60))),
        n_base=draw(mostly(st.sampled_from([2, 4, 256, 1024, 4096]))),
        workers=draw(st.one_of(st.none(), st.integers(1, 8), SENS_INTS)),
        scheduler=None,
        nodes=draw(mostly(st.integers(2, 200))),
        episodes=draw(st.lists(mostly(st.integers(1, 100_000)), min_size=1, max_size=4)),
        out=draw(st.sampled_from([None, "", "FILE", "FILE/sub", "NEW/deeper/out", "DIR", "/proc/version/x", "/"])),
    )


def _prop_sensitivity_args(fuzz_env: Path, args: Any) -> None:
    """``check_args``: a one-line InputError naming the option, or None (no scheduler); it creates nothing."""
    from riskmodel.cli.sensitivity import check_args

    place = fuzz_env / "sens"
    place.mkdir(exist_ok=True)
    (place / "FILE").write_text("x")
    (place / "DIR").mkdir(exist_ok=True)
    if args.out and args.out[0] != "/":
        args.out = str(place / args.out)
    before = sorted(p.name for p in place.rglob("*"))
    try:
        assert check_args(args) is None
    except RiskmodelError as exc:
        _one_line(exc)
    else:
        assert 2 <= args.points and args.n_base >= 2 and args.n_base & (args.n_base - 1) == 0
    assert sorted(p.name for p in place.rglob("*")) == before


def _sens(fuzz_env: Path, args: Any) -> None:
    _prop_sensitivity_args(fuzz_env, args)


_sens_quick, _sens_slow = _both(sensitivity_args())(_sens)


def test_sensitivity_options(fuzz_env) -> None:
    _sens_quick(fuzz_env)


@pytest.mark.slow
def test_sensitivity_options_slow(fuzz_env) -> None:
    _sens_slow(fuzz_env)


SETTING_VALUES = st.one_of(
    st.integers(-10, 3000),
    st.sampled_from([10**6, 10**6 + 1, 10**7, 2**32, 2**32 - 1, 200_000, 50_001, 64, 65, True, 1.5, math.nan, "4"]),
)


@st.composite
def fit_settings(draw: st.DrawFn) -> dict[str, Any]:
    def mostly(valid: Any) -> Any:  # valid values half of the time, so that every later check is reached too
        return st.one_of(valid, SETTING_VALUES)

    return {
        "seed": draw(mostly(st.integers(0, 1000))),
        "chains": draw(mostly(st.integers(1, 8))),
        "draws": draw(mostly(st.one_of(st.integers(10, 5000), st.sampled_from([50_000, 200_000, 10**6])))),
        "tune": draw(mostly(st.integers(0, 2000))),
        "max_seconds": draw(
            st.one_of(
                st.none(),
                st.floats(0.001, 1e6),
                st.floats(allow_nan=True, allow_infinity=True),
                st.sampled_from([0, -1, 1e7, True]),
            )
        ),
        "system": draw(st.one_of(st.sampled_from(["new", "claude-3-opus", "nobody"]), WEIRD_STRINGS)),
    }


class _Reached(Exception):
    """The fit got past every check to the sampler."""


def _prop_fit_settings(kwargs: dict[str, Any]) -> None:
    """``fit`` checks settings, system, prior mass and memory before sampling: a typed error, or the sampler."""
    from riskmodel.results import result as result_mod

    real = result_mod._sample

    def reached(*a: Any, **k: Any) -> Any:
        raise _Reached

    result_mod._sample = reached
    try:
        result_mod.fit(cache=False, **kwargs)
    except RiskmodelError as exc:
        _one_line(exc)
    except _Reached:
        c, d = kwargs["chains"], kwargs["draws"]
        assert isinstance(c, int) and isinstance(d, int) and c * d <= result_mod.MAX_SAMPLES
        ms = kwargs["max_seconds"]
        assert ms is None or (math.isfinite(ms) and ms > 0)
    finally:
        result_mod._sample = real


def _fit(fuzz_env: Path, kw: dict[str, Any]) -> None:
    _prop_fit_settings(kw)


_fit_quick, _fit_slow = _both(fit_settings())(_fit)


def test_fit_settings(fuzz_env) -> None:
    _fit_quick(fuzz_env)


@pytest.mark.slow
def test_fit_settings_slow(fuzz_env) -> None:
    _fit_slow(fuzz_env)


@functools.cache
def _special_files(root: str) -> dict[str, str]:
    """Files a loader may be pointed at: regular, empty, oversized (sparse), a directory, a FIFO, devices, links."""
    base = Path(root) / "special"
    base.mkdir(exist_ok=True)
    (base / "ok.toml").write_text(PRIOR_TEXT)
    (base / "empty.toml").write_bytes(b"")
    with open(base / "huge.toml", "wb") as fh:
        fh.truncate(17 * 2**20)
    (base / "dir.toml").mkdir(exist_ok=True)
    if not (base / "fifo.toml").exists():
        os.mkfifo(base / "fifo.toml")
    links = (("link.toml", base / "ok.toml"), ("dangling.toml", base / "nowhere"), ("devlink", "/dev/zero"))
    for name, target in links:
        if not (base / name).is_symlink():
            os.symlink(target, base / name)
    out = {p.name: str(p) for p in base.iterdir()}
    return out | {"zero": "/dev/zero", "null": "/dev/null", "urandom": "/dev/urandom", "missing": str(base / "no.toml")}


def _prop_file_reads(fuzz_env: Path, name: str, cap: int, kind: str) -> None:
    """``read_file``: the bytes of a regular file within the cap, or one typed line (never a hang)."""
    from riskmodel.data.registry import read_file

    path = Path(_special_files(str(fuzz_env))[name])
    try:
        data = read_file(path, kind=kind, max_bytes=cap)
    except RiskmodelError as exc:
        _one_line(exc)
        return
    assert path.resolve().is_file() and len(data) <= cap


_FILES = st.tuples(
    st.sampled_from(
        [
            *("ok.toml", "empty.toml", "huge.toml", "dir.toml", "fifo.toml", "link.toml", "dangling.toml"),
            *("devlink", "zero", "null", "urandom", "missing"),
        ]
    ),
    st.one_of(st.integers(0, 2 * 2**20), st.just(16 * 2**20)),
    st.sampled_from(["priors", "evidence"]),
)


def _files(fuzz_env: Path, t: tuple[str, int, str]) -> None:
    _prop_file_reads(fuzz_env, *t)


_files_quick, _files_slow = _both(_FILES)(_files)


def test_file_reads(fuzz_env) -> None:
    _files_quick(fuzz_env)


@pytest.mark.slow
def test_file_reads_slow(fuzz_env) -> None:
    _files_slow(fuzz_env)


@st.composite
def nested_toml(draw: st.DrawFn) -> str:
    """A shipped prior file with a nested value (arrays, inline tables, strings and comments holding brackets)."""
    depth = draw(st.one_of(st.integers(0, 40), st.sampled_from([31, 32, 33, 100, 1000, 5000, 20000])))
    opener = draw(st.sampled_from(["[", "{a = ", "[{b = "]))
    closer = {"[": "]", "{a = ": "}", "[{b = ": "}]"}[opener]
    core = draw(st.sampled_from(["1", '"[[[["', "'{{{'", "[]", ""]))
    balanced = draw(st.booleans())
    value = opener * depth + core + closer * (depth if balanced else max(depth - 1, 0))
    where = draw(st.sampled_from(["top", "comment", "string", "param"]))
    if where == "comment":
        return f"# {'[' * depth}\n{PRIOR_TEXT}"
    if where == "string":
        return f'x = "{"[" * depth}"\n{PRIOR_TEXT}'
    if where == "param":
        return PRIOR_TEXT.replace('rationale = "', f'source = {value}\nrationale = "', 1)
    return f"x = {value}\n{PRIOR_TEXT}"


def _prop_nesting(text: str) -> None:
    """Any nesting depth: a one-line PriorError (never a RecursionError), or a valid prior set."""
    from riskmodel.data.priors import parse_priors

    try:
        parse_priors(text.encode("utf-8", errors="surrogatepass"), file="nested.toml")
    except PriorError as exc:
        _one_line(exc)


test_toml_nesting, test_toml_nesting_slow = _both(nested_toml())(_prop_nesting)


def test_registry_nesting_is_one_line(fuzz_env) -> None:
    """The same bound guards registry.toml (a deep one used to kill every command)."""
    from riskmodel.data.registry import Store
    from riskmodel.errors import RegistryError

    root = fuzz_env / "deep-registry"
    root.mkdir(exist_ok=True)
    for depth in (33, 5000, 50000):
        (root / "registry.toml").write_text("x = " + "[" * depth + "]" * depth + "\n")
        with pytest.raises(RegistryError, match="nested more than") as info:
            Store(root, "priors").releases()
        _one_line(info.value)


_FAMILY_PARAM = {"Beta": "p_misaligned", "Normal": "intercept_aligned", "LogNormal": "intercept_spread"}
_FAMILY_PARAM |= {"Gamma": "intercept_spread", "HalfNormal": "intercept_spread"}
PRIOR_NUMBERS = st.one_of(
    st.floats(-2000, 2000),
    st.floats(1e-12, 1e-2),
    st.sampled_from([1e6, 1e6 + 1, -1e6, 700.0, 701.0, 709.8, 1000.0, 1e8, 1e308, 5e-324, 0.0, -0.0, 0.01, math.nan]),
    st.sampled_from([math.inf, -math.inf, 10**30, True, "1"]),
)


@st.composite
def prior_blocks(draw: st.DrawFn) -> tuple[str, str]:
    """One parameter's table with a random family and extreme numbers, given as params or as an interval."""
    from riskmodel.data.distributions import FAMILIES

    family = draw(st.sampled_from(sorted(_FAMILY_PARAM)))
    if draw(st.booleans()) and family in ("Normal", "Beta"):  # closed form / cached; other families call PreliZ
        lo, hi = sorted([draw(PRIOR_NUMBERS), draw(PRIOR_NUMBERS)], key=lambda v: (isinstance(v, str), str(v)))
        body = f"interval90 = [{_toml_number(lo)}, {_toml_number(hi)}]"
    else:
        params = ", ".join(f"{p} = {_toml_number(draw(PRIOR_NUMBERS))}" for p in FAMILIES[family].params)
        body = f"params = {{ {params} }}"
    return _FAMILY_PARAM[family], f'distribution = "{family}"\n{body}\nrationale = "fuzzed"\n'


def _toml_number(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)


def _prop_prior_numbers(block: tuple[str, str]) -> None:
    """Extreme prior numbers: a one-line PriorError (named: no OverflowError, no NaN), or finite checked numbers
    that pass the documented limits and then pass the prior predictive check or fail it with one line."""
    import re

    import numpy as np

    from riskmodel.data.distributions import _LIMIT, frozen
    from riskmodel.model.prior import check_prior_mass

    name, table = block
    text, n = re.subn(
        rf"(\[parameters\.{name}\]\n)(.*?)(?=\n\[)", lambda m: m.group(1) + table, PRIOR_TEXT, count=1, flags=re.S
    )
    assert n == 1
    from riskmodel.data.priors import parse_priors

    try:
        ps = parse_priors(text, file="numbers.toml")
    except PriorError as exc:
        _one_line(exc)
        return
    p = ps.parameters[name]
    assert all(math.isfinite(v) and abs(v) <= _LIMIT for v in p.params.values()), p.params
    try:
        check_prior_mass(ps)
    except PriorError as exc:
        _one_line(exc)
        assert exc.field == f"parameters.{name}"
        return
    draws = np.asarray(frozen(p.distribution, p.params).rvs(size=64, random_state=1))
    assert np.all(np.isfinite(draws))


test_prior_numbers, test_prior_numbers_slow = _both(prior_blocks())(_prop_prior_numbers)

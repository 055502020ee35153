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
    "nutpie 0.16.11": ["stan 1.0", "numpyro 0.1", "nutpie 9.9.9"],
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
    """Raised where the real refit would start compiling (a BaseException, so fit() does not wrap it)."""


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

    monkeypatch.setattr(sampling_module, "compiled_model", refuse)
    before = snapshot(fuzz_env / "data")
    try:
        code, _, err = _run_cli(["verify", line, "--no-progress"], capsys)
    except _Refit:
        capsys.readouterr()  # the input passed every check up to the refit
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

"""Prior sets: the versioned, citable files that hold every assumption of the model.

A prior set is a TOML file ``priors/NAME/VERSION.toml`` with a header (name, version, date, summary, changelog), one
``[parameters.X]`` table per model parameter (distribution from the allow-list, its parameters or a 90% interval that
is elicited into them, a one-line rationale and, where a number comes from the literature, its source) and a
``[contexts]`` table that declares the elicitation context, the training context and the deployment-critical contexts
that the consistency assumption is judged on.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from riskmodel.data.distributions import (
    FAMILIES,
    check_interval,
    check_params,
    elicit_interval,
    elicitation_library,
    frozen,
)
from riskmodel.data.features import VOCABULARY, Context
from riskmodel.data.registry import Store, data_root, load_versioned, parse_versioned_toml, sha256_bytes
from riskmodel.errors import PriorError

__all__ = [
    "CAPABILITIES",
    "CONSISTENCY_DEFINITIONS",
    "MODEL_VERSION",
    "PARAMETERS",
    "ParamPrior",
    "ParameterInfo",
    "PriorSet",
    "diff_priors",
    "load_priors",
    "parse_priors",
    "prior_store",
]


@dataclass(frozen=True)
class ParameterInfo:
    """What a model parameter means, which layer it belongs to and what values it can take."""

    group: str
    support: str
    meaning: str


#: The extra capability assumptions the worst case needs beyond misalignment and consistency.
CAPABILITIES: tuple[str, ...] = ("cross_context_strategizing", "coordination", "sandbagging", "hiding_reasoning")

#: The model version this package fits; prior files name theirs in ``[model] version``.
MODEL_VERSION = 2
#: The last riskmodel release that fits and verifies each older model version.
MODEL_PACKAGES: dict[int, str] = {1: "0.1.0"}

_COORDINATE_MEANING = {
    "intercept": "log-odds of training-gaming in the reference context (no value conflict, training information in "
    "the prompt, visible scratchpad, prerequisites implicit)",
    "value_conflict": "log-odds shift when training pushes against the system's current values",
    "documents": "log-odds shift when training information comes from fine-tuning documents instead of the prompt",
    "no_training_info": "log-odds shift when the input carries no information about training",
    "no_scratchpad": "log-odds shift without a scratchpad (no chain of thought)",
    "hidden_scratchpad": "log-odds shift when the reasoning is hidden from evaluators",
    "prerequisites": "log-odds shift when the prompt spells out the prerequisites for strategic reasoning",
}


def _pattern_parameters() -> dict[str, ParameterInfo]:
    out: dict[str, ParameterInfo] = {}
    for coord, meaning in _COORDINATE_MEANING.items():
        label = coord.replace("_", " ")
        out[f"{coord}_aligned"] = ParameterInfo("pattern", "real", f"population mean for aligned systems: {meaning}")
        out[f"{coord}_separation"] = ParameterInfo(
            "separation",
            "positive" if coord == "intercept" else "real",
            f"misaligned minus aligned population mean of the {label} coordinate"
            + (" (positive: the ordering that keeps the two dispositions apart)" if coord == "intercept" else ""),
        )
        out[f"{coord}_spread"] = ParameterInfo(
            "spread",
            "positive",
            f"how much systems of the same disposition differ in the {label} coordinate (scale of the Student-t "
            "between-system distribution)",
        )
    return out


PARAMETERS: dict[str, ParameterInfo] = {
    # disposition and causal reinforcement
    "p_misaligned": ParameterInfo(
        "disposition", "unit", "P(a system from the population is egregiously misaligned before training)"
    ),
    "reinforcement": ParameterInfo(
        "causal", "unit", "rho: P(training-gaming entrenches misalignment) per unit training-gaming rate in training"
    ),
    # per-system training-gaming patterns: population means, disposition separation, between-system spread
    **_pattern_parameters(),
    "after_rl_effect": ParameterInfo(
        "shared", "real", "log-odds shift after RL training on the conflicting objective (same system, later state)"
    ),
    "setting_effect": ParameterInfo(
        "shared", "real", "log-odds shift of each evaluation setting relative to the reference setting"
    ),
    # shared cause
    "competence_loading": ParameterInfo(
        "competence",
        "positive",
        "how much a system's strategic competence (situational awareness, goal-directed reasoning) raises its "
        "training-gaming log-odds, per standard deviation (0 = training-gaming says nothing about capabilities)",
    ),
    # measurement
    "reasoning_sensitivity": ParameterInfo(
        "measurement", "unit", "P(training-gaming reasoning is flagged | the episode training-games)"
    ),
    "reasoning_false_positive": ParameterInfo(
        "measurement", "unit", "P(training-gaming reasoning is flagged | the episode does not training-game)"
    ),
    "behaviour_share": ParameterInfo(
        "measurement", "unit", "g: share of training-gaming episodes in which it changes the behaviour (compliance)"
    ),
    "baseline_compliance": ParameterInfo(
        "measurement", "unit", "c: compliance without training-gaming, one per compliance cell (setting x condition)"
    ),
    # worst case
    "other_route": ParameterInfo(
        "worst_case", "unit", "P(a misaligned system reaches the worst case without consistent training-gaming)"
    ),
    "competence_correlation": ParameterInfo(
        "worst_case", "unit", "how strongly the shared competence links the capabilities (0 = independent)"
    ),
    "cross_context_strategizing": ParameterInfo(
        "capability", "unit", "P(strategizes across the whole situation: controls, red-teaming, evals | misaligned)"
    ),
    "coordination": ParameterInfo("capability", "unit", "P(coordinates with copies or other AIs | misaligned)"),
    "sandbagging": ParameterInfo("capability", "unit", "P(sandbags capability evaluations | misaligned)"),
    "hiding_reasoning": ParameterInfo("capability", "unit", "P(competently hides its reasoning | misaligned)"),
}

_HEADER_FIELDS = ("name", "version", "date", "summary", "changelog")
#: Header fields of releases made by ``riskmodel priors release`` (absent from the first releases).
_OPTIONAL_HEADER = ("author", "parent", "pooled_from")
_PARAM_FIELDS = {"distribution", "params", "interval90", "rationale", "source"}
_CONTEXT_FIELDS = {"name", "value_conflict", "training_info", "scratchpad", "prerequisites"}
#: How far from 90% the mass that stored parameters put in their interval may be (the optimizer's tolerance).
ELICITATION_MASS_TOL = 0.005
_MODEL_FIELDS = {"version", "tail_df", "consistency"}
#: Limits of the Student-t degrees of freedom (1 = Cauchy tails; 100 is as good as normal).
TAIL_DF_RANGE = (1.0, 100.0)
CONSISTENCY_DEFINITIONS: tuple[str, ...] = ("ratio", "absolute")


@dataclass(frozen=True)
class ParamPrior:
    """The prior of one parameter: family, numeric parameters, and why."""

    name: str
    distribution: str
    params: dict[str, float]
    rationale: str
    source: str = ""
    interval90: tuple[float, float] | None = None

    def dist(self) -> Any:
        """Frozen scipy distribution (densities, quantiles, draws)."""
        return frozen(self.distribution, self.params)

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """Log density at ``x``."""
        return np.asarray(self.dist().logpdf(x))

    def draw(self, size: int | tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Independent draws from this prior."""
        return np.asarray(self.dist().rvs(size=size, random_state=rng))

    def mean(self) -> float:
        """Prior mean."""
        return float(self.dist().mean())

    def quantile(self, q: float | np.ndarray) -> np.ndarray:
        """Prior quantile(s)."""
        return np.asarray(self.dist().ppf(q))

    def to_toml_dict(self) -> dict[str, Any]:
        """The ``[parameters.X]`` table that reproduces this prior."""
        out: dict[str, Any] = {"distribution": self.distribution}
        if self.interval90 is not None:
            out["interval90"] = list(self.interval90)
        out["params"] = dict(self.params)  # the numbers, pinned by the file's hash
        out["rationale"] = self.rationale
        if self.source:
            out["source"] = self.source
        return out


@dataclass(frozen=True)
class PriorSet:
    """A validated prior set, with where it came from (file, sha256, whether it is a registered release)."""

    name: str
    version: str
    date: str
    summary: str
    changelog: str
    parameters: dict[str, ParamPrior]
    elicitation: Context
    training: Context
    critical: tuple[Context, ...]
    reference_setting: str
    tail_df: float = 4.0
    consistency: str = "ratio"
    author: str = ""
    #: ``NAME@VERSION sha256:HASH`` of the release this one was derived from (empty for a first release).
    parent: str = ""
    #: For a pooled prior set: its members (``NAME@VERSION sha256:HASH``) and weights (riskmodel.analysis.pool).
    pooled_from: tuple[tuple[str, float], ...] = ()
    sha256: str = ""
    path: str = ""
    released: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """``NAME@VERSION``."""
        return f"{self.name}@{self.version}"

    @cached_property
    def content_sha256(self) -> str:
        """The file hash of a loaded set, or the hash of its serialization for an edited (unsaved) set."""
        return self.sha256 or sha256_bytes(self.to_toml().encode())

    def __getitem__(self, name: str) -> ParamPrior:
        return self.parameters[name]

    def with_parameter(self, prior: ParamPrior) -> PriorSet:
        """A copy with one parameter's prior replaced (an unreleased, unhashed assumption set)."""
        params = dict(self.parameters)
        params[prior.name] = prior
        return replace(self, parameters=params, sha256="", path="", released=False)

    def with_model(self, *, tail_df: float | None = None, consistency: str | None = None) -> PriorSet:
        """A copy with other model settings (checked as in a prior file)."""
        tail = self.tail_df if tail_df is None else tail_df
        definition = self.consistency if consistency is None else consistency
        lo, hi = TAIL_DF_RANGE
        if isinstance(tail, bool) or not isinstance(tail, int | float) or not lo <= tail <= hi:
            raise PriorError(f"must be a number from {lo:g} to {hi:g}, got {tail!r}", field="model.tail_df")
        if definition not in CONSISTENCY_DEFINITIONS:
            raise PriorError(
                f"must be one of {', '.join(CONSISTENCY_DEFINITIONS)}, got {definition!r}", field="model.consistency"
            )
        return replace(self, tail_df=float(tail), consistency=definition, sha256="", path="", released=False)

    def with_critical(self, critical: tuple[Context, ...]) -> PriorSet:
        """A copy with another set of deployment-critical contexts."""
        if not critical:
            raise PriorError("at least one deployment-critical context is needed", field="contexts.critical")
        return replace(self, critical=tuple(critical), sha256="", path="", released=False)

    def to_toml(self) -> str:
        """Serialize to the prior-file format (``parse_priors(p.to_toml())`` round-trips).

        Laid out for editing by hand: one ``[parameters.X]`` table per parameter with its family, interval, parameters
        (an inline table) and rationale, in the model's order.
        """
        header: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "date": self.date,
            "summary": self.summary,
            "changelog": self.changelog,
            **({"author": self.author} if self.author else {}),
            **({"parent": self.parent} if self.parent else {}),
        }
        parts = [tomli_w.dumps(header)]
        if self.pooled_from:
            parts.append(tomli_w.dumps({"pooled_from": [{"member": m, "weight": w} for m, w in self.pooled_from]}))
        parts.append(
            tomli_w.dumps(
                {"model": {"version": MODEL_VERSION, "tail_df": self.tail_df, "consistency": self.consistency}}
            )
        )
        for name in PARAMETERS:
            d = self.parameters[name].to_toml_dict()
            lines = [f"[parameters.{name}]", tomli_w.dumps({"distribution": d["distribution"]}).strip()]
            if "interval90" in d:
                lo, hi = d["interval90"]
                lines.append(f"interval90 = [{float(lo)!r}, {float(hi)!r}]")
            lines.append("params = { " + ", ".join(f"{k} = {float(v)!r}" for k, v in d["params"].items()) + " }")
            lines.append(tomli_w.dumps({"rationale": d["rationale"]}).strip())
            if "source" in d:
                lines.append(tomli_w.dumps({"source": d["source"]}).strip())
            parts.append("\n".join(lines) + "\n")
        parts.append(
            tomli_w.dumps(
                {
                    "contexts": {
                        "reference_setting": self.reference_setting,
                        "elicitation": _context_dict(self.elicitation),
                        "training": _context_dict(self.training),
                        "critical": [_context_dict(c) for c in self.critical],
                    }
                }
            )
        )
        return "\n".join(parts)


def _context_dict(c: Context) -> dict[str, str]:
    out = {"value_conflict": c.value_conflict, "training_info": c.training_info, "scratchpad": c.scratchpad}
    if c.prerequisites != "implicit":
        out["prerequisites"] = c.prerequisites
    return {"name": c.name, **out} if c.name else out


def _require_str(doc: dict[str, Any], key: str, file: str, prefix: str = "") -> str:
    if key not in doc:
        raise PriorError("missing field", file=file, field=prefix + key)
    v = doc[key]
    if isinstance(v, dt.date):
        v = v.isoformat()
    if not isinstance(v, str) or not v.strip():
        raise PriorError("must be a non-empty string", file=file, field=prefix + key)
    if len(v) > 8000:
        raise PriorError("must be at most 8000 characters", file=file, field=prefix + key)
    return v


def _parse_context(doc: Any, file: str, fld: str) -> Context:
    if not isinstance(doc, dict):
        raise PriorError("must be a table", file=file, field=fld)
    unknown = sorted(set(doc) - _CONTEXT_FIELDS)
    if unknown:
        raise PriorError(f"unknown field {unknown[0]!r}", file=file, field=fld)
    vals: dict[str, str] = {}
    for feat in ("value_conflict", "training_info", "scratchpad", "prerequisites"):
        v = doc.get(feat, "implicit" if feat == "prerequisites" else None)
        if v not in VOCABULARY[feat]:
            raise PriorError(
                f"must be one of {', '.join(VOCABULARY[feat])}, got {v!r}", file=file, field=f"{fld}.{feat}"
            )
        vals[feat] = v
    name = doc.get("name", "")
    if not isinstance(name, str) or len(name) > 80:
        raise PriorError("must be a string of at most 80 characters", file=file, field=f"{fld}.name")
    return Context(name=name, **vals)


_PARENT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}@\d+\.\d+\.\d+ sha256:[0-9a-f]{64}$")


def _parse_pooled(doc: Any, file: str) -> tuple[tuple[str, float], ...]:
    """The ``[[pooled_from]]`` members of a pooled prior set: each a release with its hash and a weight."""
    if doc is None:
        return ()
    if not isinstance(doc, list) or not doc or len(doc) > 50:
        raise PriorError("must be an array of 1 to 50 tables", file=file, field="pooled_from")
    out = []
    for i, m in enumerate(doc):
        fld = f"pooled_from[{i}]"
        if not isinstance(m, dict) or set(m) != {"member", "weight"}:
            raise PriorError("must be a table with member and weight", file=file, field=fld)
        if not isinstance(m["member"], str) or not _PARENT_RE.match(m["member"]):
            raise PriorError("member must be 'NAME@VERSION sha256:HASH'", file=file, field=f"{fld}.member")
        w = m["weight"]
        if isinstance(w, bool) or not isinstance(w, int | float) or not 0 < w <= 1:
            raise PriorError(f"weight must be a number in (0, 1], got {w!r}", file=file, field=f"{fld}.weight")
        out.append((m["member"], float(w)))
    if abs(sum(w for _, w in out) - 1.0) > 1e-9:
        raise PriorError("the weights must sum to 1", file=file, field="pooled_from")
    return tuple(out)


def _parse_model(doc: Any, file: str) -> tuple[float, str]:
    """The ``[model]`` table: the model version the file is written for, and the model's settings."""
    if doc is None:
        raise PriorError(
            f"written for model 1 (no [model] table); this riskmodel fits model {MODEL_VERSION}: fit and verify it "
            f"with riskmodel {MODEL_PACKAGES[1]} (docs/reproducibility.md)",
            file=file,
            field="model.version",
        )
    if not isinstance(doc, dict):
        raise PriorError("must be a table", file=file, field="model")
    unknown = sorted(set(doc) - _MODEL_FIELDS)
    if unknown:
        raise PriorError(f"unknown field {unknown[0]!r}", file=file, field="model")
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise PriorError(f"must be a whole number, got {version!r}", file=file, field="model.version")
    if version != MODEL_VERSION:
        hint = (
            f"fit and verify it with riskmodel {MODEL_PACKAGES[version]} (docs/reproducibility.md)"
            if version in MODEL_PACKAGES
            else "no riskmodel release fits it"
        )
        raise PriorError(
            f"written for model {version}; this riskmodel fits model {MODEL_VERSION}: {hint}",
            file=file,
            field="model.version",
        )
    tail_df = doc.get("tail_df", 4.0)
    lo, hi = TAIL_DF_RANGE
    if isinstance(tail_df, bool) or not isinstance(tail_df, int | float) or not lo <= tail_df <= hi:
        raise PriorError(f"must be a number from {lo:g} to {hi:g}, got {tail_df!r}", file=file, field="model.tail_df")
    consistency = doc.get("consistency", "ratio")
    if consistency not in CONSISTENCY_DEFINITIONS:
        raise PriorError(
            f"must be one of {', '.join(CONSISTENCY_DEFINITIONS)}, got {consistency!r}",
            file=file,
            field="model.consistency",
        )
    return float(tail_df), consistency


def _parse_param(name: str, doc: Any, file: str) -> ParamPrior:
    fld = f"parameters.{name}"
    if not isinstance(doc, dict):
        raise PriorError("must be a table", file=file, field=fld)
    unknown = sorted(set(doc) - _PARAM_FIELDS)
    if unknown:
        raise PriorError(f"unknown field {unknown[0]!r}", file=file, field=fld)
    family = doc.get("distribution")
    if not isinstance(family, str) or family not in FAMILIES:
        raise PriorError(
            f"unknown distribution {family!r} (allowed: {', '.join(FAMILIES)})", file=file, field=f"{fld}.distribution"
        )
    support = PARAMETERS[name].support
    if FAMILIES[family].support != support:
        raise PriorError(
            f"a {family} prior has {FAMILIES[family].support} support but this parameter needs {support} support",
            file=file,
            field=f"{fld}.distribution",
        )
    has_params, has_interval = "params" in doc, "interval90" in doc
    if not (has_params or has_interval):
        raise PriorError("give 'params', 'interval90', or both", file=file, field=fld)
    interval = None
    params: dict[str, float] = {}
    if has_params:
        if not isinstance(doc["params"], dict):
            raise PriorError("must be a table of numbers", file=file, field=f"{fld}.params")
        params = check_params(family, doc["params"], file=file, field=f"{fld}.params")
    if has_interval:
        iv = doc["interval90"]
        if not (isinstance(iv, list) and len(iv) == 2):
            raise PriorError("must be a list [low, high]", file=file, field=f"{fld}.interval90")
        if has_params:
            # the file pins the numbers; the interval says where they came from and must still hold 90% of them
            lo, hi = check_interval(family, iv[0], iv[1], file=file, field=f"{fld}.interval90")
            mass = float(frozen(family, params).cdf(hi) - frozen(family, params).cdf(lo))
            if not abs(mass - 0.9) <= ELICITATION_MASS_TOL:
                raise PriorError(
                    f"the params put {mass:.1%} of the prior in the interval [{lo:g}, {hi:g}], not 90%: they disagree "
                    f"with the interval they were elicited from ({elicitation_library()}); re-elicit or fix by hand",
                    file=file,
                    field=f"{fld}.params",
                )
        else:
            params = elicit_interval(family, iv[0], iv[1], file=file, field=f"{fld}.interval90")
        interval = (float(iv[0]), float(iv[1]))
    rationale = _require_str(doc, "rationale", file, f"{fld}.")
    source = doc.get("source", "")
    if not isinstance(source, str) or len(source) > 2000:
        raise PriorError("must be a string", file=file, field=f"{fld}.source")
    return ParamPrior(name, family, params, rationale, source, interval)


def parse_priors(text: str | bytes, *, file: str = "<priors>", sha256: str = "", released: bool = False) -> PriorSet:
    """Parse and validate a prior file's content; every problem is a one-line :class:`PriorError`."""
    doc, sha256 = parse_versioned_toml(text, file=file, error=PriorError, sha256=sha256)
    tail_df, consistency = _parse_model(doc.get("model"), file)
    header = {k: _require_str(doc, k, file) for k in _HEADER_FIELDS}
    header |= {k: _require_str(doc, k, file) for k in ("author", "parent") if k in doc}
    if header.get("parent") and not _PARENT_RE.match(header["parent"]):
        raise PriorError("must be 'NAME@VERSION sha256:HASH'", file=file, field="parent")
    pooled = _parse_pooled(doc.get("pooled_from"), file)
    unknown_top = sorted(set(doc) - {*_HEADER_FIELDS, *_OPTIONAL_HEADER, "model", "parameters", "contexts"})
    if unknown_top:
        raise PriorError(f"unknown field {unknown_top[0]!r}", file=file)
    params_doc = doc.get("parameters")
    if not isinstance(params_doc, dict):
        raise PriorError("missing [parameters] table", file=file, field="parameters")
    unknown = sorted(set(params_doc) - set(PARAMETERS))
    if unknown:
        raise PriorError(f"unknown parameter {unknown[0]!r}", file=file, field="parameters")
    missing = [p for p in PARAMETERS if p not in params_doc]
    if missing:
        raise PriorError(f"missing parameter {missing[0]!r}", file=file, field="parameters")
    parameters = {p: _parse_param(p, params_doc[p], file) for p in PARAMETERS}
    ctx = doc.get("contexts")
    if not isinstance(ctx, dict):
        raise PriorError("missing [contexts] table", file=file, field="contexts")
    unknown_ctx = sorted(set(ctx) - {"reference_setting", "elicitation", "training", "critical"})
    if unknown_ctx:
        raise PriorError(f"unknown field {unknown_ctx[0]!r}", file=file, field="contexts")
    ref_setting = _require_str(ctx, "reference_setting", file, "contexts.")
    for key in ("elicitation", "training"):
        if key not in ctx:
            raise PriorError("missing field", file=file, field=f"contexts.{key}")
    critical_doc = ctx.get("critical")
    if not isinstance(critical_doc, list) or not critical_doc:
        raise PriorError("must be a non-empty array of tables", file=file, field="contexts.critical")
    if len(critical_doc) > 50:
        raise PriorError("at most 50 critical contexts", file=file, field="contexts.critical")
    return PriorSet(
        **header,
        parameters=parameters,
        elicitation=_parse_context(ctx["elicitation"], file, "contexts.elicitation"),
        training=_parse_context(ctx["training"], file, "contexts.training"),
        critical=tuple(_parse_context(c, file, f"contexts.critical[{i}]") for i, c in enumerate(critical_doc)),
        reference_setting=ref_setting,
        tail_df=tail_df,
        consistency=consistency,
        pooled_from=pooled,
        sha256=sha256,
        path=file,
        released=released,
    )


def prior_store(root: Path | None = None) -> Store:
    """The store of released prior sets (``priors/`` under the data root)."""
    return Store((root or data_root()) / "priors", "priors")


def load_priors(ref: str | Path | PriorSet = "baseline", *, root: Path | None = None) -> PriorSet:
    """Load a prior set by ``NAME@VERSION`` (a hash-checked release), ``NAME`` (its latest release) or a file path.

    A path loads an unreleased file: it can be fitted, and its citation names its sha256, but ``verify`` needs a
    release.
    """
    if isinstance(ref, PriorSet):
        return ref
    return load_versioned(ref, prior_store(root), parse_priors, PriorError)


def diff_priors(a: PriorSet, b: PriorSet) -> list[tuple[str, str, str]]:
    """What differs between two prior sets, as (field, in a, in b) rows."""
    rows: list[tuple[str, str, str]] = []
    for p in PARAMETERS:
        pa, pb = a.parameters[p], b.parameters[p]
        da = f"{pa.distribution}({', '.join(f'{k}={v:.4g}' for k, v in pa.params.items())})"
        db = f"{pb.distribution}({', '.join(f'{k}={v:.4g}' for k, v in pb.params.items())})"
        if da != db:
            rows.append((f"parameters.{p}", da, db))
        if pa.rationale != pb.rationale:
            rows.append((f"parameters.{p}.rationale", pa.rationale, pb.rationale))
    for label, ca, cb in (
        ("contexts.elicitation", [a.elicitation], [b.elicitation]),
        ("contexts.training", [a.training], [b.training]),
        ("contexts.critical", list(a.critical), list(b.critical)),
    ):
        la, lb = "; ".join(c.label() for c in ca), "; ".join(c.label() for c in cb)
        if ca != cb:
            rows.append((label, la, lb))
    for key in ("tail_df", "consistency"):
        if getattr(a, key) != getattr(b, key):
            rows.append((f"model.{key}", str(getattr(a, key)), str(getattr(b, key))))
    if a.reference_setting != b.reference_setting:
        rows.append(("contexts.reference_setting", a.reference_setting, b.reference_setting))
    return rows

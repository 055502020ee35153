"""The ``riskmodel`` command line: argument parsing and printing only; every number comes from the library.

Exit codes (also in ``riskmodel --help``, :data:`EPILOG`): 0 success; 1 an internal bug (with its traceback) or, for
``verify``, a citation that does not verify; 2 bad input or a sampler failure (one line naming file, field and reason,
no traceback, nothing written); 3 for ``run``, ``cite`` and ``compare`` when a fit finished but failed its health
checks (the numbers are printed, each failed check is a ``riskmodel: warning:`` line on stderr, ``--json`` says
``"healthy": false`` and the citation ends in ``| diagnostics FAILED``); 130 interrupted; 141 the reader closed the
output early.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from typing import Any, NoReturn

from riskmodel.errors import InputError, RiskmodelError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line and exit 2, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        """Report a usage error as one line and exit 2."""
        self.exit(2, f"riskmodel: error: {message} (see {self.prog} --help)\n")


def _num(x: float | None) -> str:
    """Three significant digits; enough that a value just past a threshold never reads as equal to it."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.3g}"


def _interval(d: dict[str, Any]) -> str:
    """``mean [lower, upper]`` (brackets and a comma: a dash between numbers reads as a minus sign)."""
    text = f"{_num(d['mean'])} [{_num(d['lower'])}, {_num(d['upper'])}]"
    if d.get("mcse") is not None:
        text += f" ±{_num(d['mcse'])}"
    return text


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _print_report(rep: dict[str, Any]) -> None:
    print(f"riskmodel: worst-case scheming risk for system '{rep['system']}'")
    print("means with their Monte Carlo standard error (±); [5%, 95%] of the per-draw probability, which is")
    print("uncertainty about the probability, not a forecast range\n")
    bf = rep["bayes_factor_worst_case"]
    rows = [
        ("quantity", "posterior", "prior"),
        ("P(worst case)", _interval(rep["p_worst_case"]), _interval(rep["p_worst_case_prior"])),
        ("P(misaligned)", _interval(rep["p_misaligned"]), _interval(rep["p_misaligned_prior"])),
        ("P(misaligned after training)", _interval(rep["p_misaligned_after_training"]), ""),
    ]
    rows += [
        (f"P(P(worst case) > {k})", _num(v), _num(rep["exceedance_prior"][k])) for k, v in rep["exceedance"].items()
    ]
    rows.append(("Bayes factor, worst case", f"{_num(bf['value'])} (log MCSE {_num(bf['log_mcse'])})", ""))
    bm = rep["bayes_factor_misaligned"]
    rows.append(("Bayes factor, misaligned", f"{_num(bm['value'])} (log MCSE {_num(bm['log_mcse'])})", ""))
    for route, b in rep["bayes_factor_routes"].items():
        rows.append((f"Bayes factor, {route} route", f"{_num(b['value'])} (log MCSE {_num(b['log_mcse'])})", ""))
    shares = rep["route_shares"]
    rows.append(
        (
            "share of P(worst case) by route",
            f"consistency {_num(shares['consistency'])}, other only {_num(shares['other_route_only'])}",
            "",
        )
    )
    print(_table(rows))
    for key in ("p_worst_case", "p_misaligned"):
        if rep[key].get("note"):
            print(f"note ({key}): {rep[key]['note']}")
    print("\nextra assumptions: P(worst case) if certain vs as modeled")
    arows = [("assumption", "P(W) if certain", "log10 ratio")]
    for name, a in rep["assumptions"].items():
        arows.append((name, _num(a["p_worst_case_if_certain"]), f"{a['log10_ratio']:+.2f}"))
    print(_table(arows))
    print("\nper system (the odds bound: the largest factor its own evidence can move its odds of misalignment)")
    srows = [("system", "P(worst case)", "P(misaligned)", "BF misaligned", "odds bound", "consistency | mis")]
    for s, d in rep["per_system"].items():
        srows.append(
            (
                s,
                f"{_num(d['p_worst_case']['mean'])} ±{_num(d['p_worst_case']['mcse'])}",
                f"{_num(d['p_misaligned']['mean'])} ±{_num(d['p_misaligned']['mcse'])}",
                _num(d["bayes_factor_misaligned"]["value"]),
                _num(d["odds_bound"]),
                _num(d["consistency_given_misaligned"]),
            )
        )
    print(_table(srows))
    con = rep["contraction"]
    informed = [(k, v) for k, v in con.items() if not v["prior_only"]]
    prior_only = [k for k, v in con.items() if v["prior_only"]]
    print("\nassumptions the evidence moved (contraction = 1 - posterior variance / prior variance)")
    crows = [("assumption", "prior mean [sd]", "posterior mean [sd]", "contraction")]
    for k, v in informed:
        crows.append(
            (
                k,
                f"{_num(v['prior_mean'])} [{_num(v['prior_sd'])}]",
                f"{_num(v['posterior_mean'])} [{_num(v['posterior_sd'])}]",
                _num(v["contraction"]),
            )
        )
    print(_table(crows))
    print(f"prior only ({len(prior_only)}; the evidence does not touch them): " + ", ".join(prior_only))
    ref = rep["evidence_rows"]
    print(
        f"\nevidence: {len(ref['likelihood'])} rows in the likelihood, {len(ref['reference_only'])} reference-only "
        "(see --json for the list with reasons)"
    )
    diag = rep["diagnostics"]
    from riskmodel.model.diagnostics import ESS_MIN, R_HAT_MAX, fmt_vs

    print(
        f"sampler: {diag['divergences']} divergences, max r_hat {fmt_vs(diag['max_r_hat'], R_HAT_MAX)} "
        f"(at most {R_HAT_MAX}), min ESS bulk {fmt_vs(diag['min_ess_bulk'], ESS_MIN)} / tail "
        f"{fmt_vs(diag['min_ess_tail'], ESS_MIN)} (at least {ESS_MIN}), "
        f"largest headline MCSE {_num(diag['max_relative_mcse'])} of its value"
    )
    print(f"\n{rep['citation'] or 'not citable: ' + rep['not_citable']}")


def _fit_from_args(args: argparse.Namespace) -> Any:
    from riskmodel.results.outputs import fit_from_args

    return fit_from_args(args, progress=args.progress)


#: Exit code of ``run`` and ``cite`` when the fit failed its health checks (the numbers are printed and flagged).
EXIT_UNHEALTHY = 3


def _health_exit(result: Any) -> int:
    """Print each failed health check on stderr; the exit code says whether the fit can be trusted."""
    for w in result.diagnostics.warnings:
        print(f"riskmodel: warning: {w}", file=sys.stderr)
    return 0 if result.diagnostics.ok else EXIT_UNHEALTHY


def cmd_run(args: argparse.Namespace) -> int:
    """Fit and print the summary and citation (or one JSON object); exit 3 when the fit failed its health checks."""
    result = _fit_from_args(args)
    rep = result.report()
    if args.json:
        from riskmodel.results.outputs import json_ready

        print(json.dumps(json_ready({"healthy": result.diagnostics.ok, **rep}), indent=2, allow_nan=False))
    else:
        _print_report(rep)
    return _health_exit(result)


def cmd_cite(args: argparse.Namespace) -> int:
    """Fit and print the citation line and a BibTeX-style entry."""
    from riskmodel.results.citation import bibtex

    result = _fit_from_args(args)
    print(result.citation())
    print()
    print(bibtex(result))
    return _health_exit(result)


def cmd_verify(args: argparse.Namespace) -> int:
    """Refit from a citation; exit 0 when the numbers match, 1 when they do not."""
    from riskmodel.results.verify import verify

    v = verify(
        args.citation,
        progress=args.progress and sys.stderr.isatty(),
        require_bits=False if args.another_machine else None,
    )
    print(f"checked: {v.method}")
    if v.refit_line:
        required = f" (required: same riskmodel and {v.sampler} versions)" if v.bits_required else ""
        print(f"bit-identical draws: {'yes' if v.bit_identical else 'no'}{required}")
        print(f"refit healthy: {'yes' if v.healthy else 'no'}")
        print(f"refit:   {v.refit_line}")
    else:
        print("refit:   none (a cited file differs from its release)")
    for w in v.warnings:
        print(f"riskmodel: warning: {w}", file=sys.stderr)
    if v.matches:
        print("verified: the citation matches")
        return 0
    print("NOT verified:")
    for d in v.differences:
        print(f"  - {d}")
    return 1


def _store_of(ref: str) -> str:
    """Whether a ``NAME@VERSION`` names a prior set or an evidence set."""
    from riskmodel.data.evidence import evidence_store
    from riskmodel.data.priors import prior_store
    from riskmodel.data.registry import parse_ref

    name, _ = parse_ref(ref, kind="set")
    if any(r.name == name for r in prior_store().releases()):
        return "priors"
    if any(r.name == name for r in evidence_store().releases()):
        return "evidence"
    raise InputError(f"{name!r} is neither a released prior set nor an evidence set", field="compare")


def cmd_compare(args: argparse.Namespace) -> int:
    """Fit two prior versions (or two evidence versions) with the same seed and show them side by side."""
    from riskmodel.results.result import fit

    kind_a, kind_b = _store_of(args.a), _store_of(args.b)
    if kind_a != kind_b:
        raise InputError(f"cannot compare a {kind_a} set with a {kind_b} set", field="compare")
    reps, unhealthy = [], []
    for ref in (args.a, args.b):
        kw = (
            {"priors": ref, "evidence": args.evidence}
            if kind_a == "priors"
            else {"priors": args.priors, "evidence": ref}
        )
        res = fit(
            **kw,
            system=args.system,
            seed=args.seed,
            draws=args.draws,
            chains=args.chains,
            tune=args.tune,
            sampler=args.sampler,
            progress=args.progress,
            cache=args.cache,
            cache_dir=args.cache_dir,
        )
        reps.append(res.report())
        for w in res.diagnostics.warnings:
            print(f"riskmodel: warning: {ref}: {w}", file=sys.stderr)
        if not res.healthy:
            unhealthy.append(ref)
    code = EXIT_UNHEALTHY if unhealthy else 0
    if args.json:
        from riskmodel.results.outputs import json_ready

        print(json.dumps(json_ready({args.a: reps[0], args.b: reps[1]}), indent=2, allow_nan=False))
        return code
    rows = [("quantity", args.a, args.b)]
    for key, label in (
        ("p_worst_case", "P(worst case)"),
        ("p_worst_case_prior", "P(worst case), prior"),
        ("p_misaligned", "P(misaligned)"),
    ):
        rows.append((label, _interval(reps[0][key]), _interval(reps[1][key])))
    rows.append(
        (
            "Bayes factor, worst case",
            _num(reps[0]["bayes_factor_worst_case"]["value"]),
            _num(reps[1]["bayes_factor_worst_case"]["value"]),
        )
    )
    for name in reps[0]["assumptions"]:
        rows.append(
            (
                f"log10 P(W) if {name} certain",
                f"{reps[0]['assumptions'][name]['log10_ratio']:+.2f}",
                f"{reps[1]['assumptions'][name]['log10_ratio']:+.2f}",
            )
        )
    rows.append(("divergences", str(reps[0]["diagnostics"]["divergences"]), str(reps[1]["diagnostics"]["divergences"])))
    print(_table(rows))
    print(f"\n{reps[0]['citation']}\n{reps[1]['citation']}")
    return code


def _model_of(ref: str) -> str:
    """Which model a released prior set is written for (older ones name the package that fits them)."""
    from riskmodel.data.priors import load_priors
    from riskmodel.errors import PriorError

    try:
        load_priors(ref)
    except PriorError as exc:
        return "model 1 (riskmodel 0.1.0)" if "model 1" in exc.reason else "unreadable"
    return "model 2"


def _cmd_authoring(args: argparse.Namespace) -> int:
    """``priors new | validate | release | deprecate``."""
    from riskmodel.data import authoring
    from riskmodel.data.priors import prior_store

    if args.action == "new":
        path = authoring.new_draft(args.name, args.source, overwrite=args.overwrite)
        print(f"wrote the draft {path} (from {args.source}); edit it, then: riskmodel priors release {path} ...")
        return 0
    if args.action == "validate":
        check = authoring.validate_draft(args.file)
        parent = check.parent.ref if check.parent else "none (a new prior set)"
        nxt = f"{check.draft.name}@{check.next_version}"
        print(f"{args.file}: valid draft of {check.draft.name}; parent {parent}; releasing it gives {nxt}")
        print("changed parameters: " + (", ".join(check.changed) or "none"))
        if check.stale:
            print("needs a new rationale before release: " + ", ".join(check.stale))
        return 0
    if args.action == "release":
        rel = authoring.release(args.file, author=args.author, changelog=args.changelog, bump=args.bump)
        print(f"released {rel.ref} sha256:{rel.sha256} (cite it after an exact fit: riskmodel cite --priors {rel.ref})")
        return 0
    rel = prior_store().deprecate(args.ref, args.reason)
    print(f"deprecated {rel.ref}: {rel.deprecated} (it stays loadable and verifiable)")
    return 0


def _wrap(text: str, indent: str = "    ") -> str:
    """``text`` wrapped to the terminal (at most 112 columns), indented, breaking only between words.

    Nothing is cut: a word longer than the line (a URL) stays whole on a line of its own.
    """
    import shutil
    import textwrap

    width = max(40, min(112, shutil.get_terminal_size((112, 24)).columns - 1))
    return textwrap.fill(
        " ".join(text.split()),
        width,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def cmd_priors(args: argparse.Namespace) -> int:
    """List, show or diff prior sets."""
    from riskmodel.data.priors import PARAMETERS, diff_priors, load_priors, prior_store

    if args.action == "list":
        for r in prior_store().releases():
            dep = f"  DEPRECATED: {r.deprecated}" if r.deprecated else ""
            print(f"{r.ref:28} sha256:{r.sha256[:12]}  released {r.released}  {_model_of(r.ref)}{dep}")
        return 0
    if args.action == "show":
        ps = load_priors(args.ref)
        print(f"{ps.ref}  sha256:{ps.sha256}\n{_wrap(f'{ps.date}  {ps.summary}', '')}")
        print(f"{_wrap('changelog: ' + ps.changelog, '')}\n")
        print(f"model 2: tail_df {ps.tail_df:g}, consistency {ps.consistency}\n")
        for name, info in PARAMETERS.items():
            p = ps[name]
            dist = f"{p.distribution}({', '.join(f'{k}={v:.4g}' for k, v in p.params.items())})"
            if p.interval90:
                dist += f", 90% in [{p.interval90[0]:g}, {p.interval90[1]:g}]"
            print(f"{name} ({info.group}): {dist}, mean {_num(p.mean())}")
            print(_wrap(p.rationale))
            if p.source:
                print(_wrap("source: " + p.source))
        print(f"\nelicitation context: {ps.elicitation.label()}\ntraining context: {ps.training.label()}")
        print("deployment-critical contexts: " + "; ".join(c.label() for c in ps.critical))
        return 0
    if args.action in ("new", "validate", "release", "deprecate"):
        return _cmd_authoring(args)
    a, b = load_priors(args.a), load_priors(args.b)
    rows = diff_priors(a, b)
    if not rows:
        print(f"{a.ref} and {b.ref} hold the same assumptions")
        return 0
    print(_table([("field", a.ref, b.ref), *rows]))
    return 0


def _row_value(r: Any) -> str:
    """What a row reports, briefly: k/n, a threshold outcome, a rate, or the printed finding."""
    if r.has_counts:
        return f"{r.k}/{r.n}"
    if r.threshold is not None:
        return f"{r.outcome} {r.threshold:g}" + (f" (n {r.n})" if r.n else "")
    if r.rate is not None:
        return f"rate {r.rate:g}"
    import textwrap

    # shortened between words, marked "[...]"; the whole finding is in the evidence file
    short = textwrap.TextWrapper(60, max_lines=1, placeholder=" [...]", break_long_words=False, break_on_hyphens=False)
    return "finding: " + short.fill(" ".join(r.published.split()))


def cmd_evidence(args: argparse.Namespace) -> int:
    """List, show or validate evidence sets."""
    from riskmodel.data.evidence import evidence_store, load_evidence, reference_reason

    if args.action == "list":
        for r in evidence_store().releases():
            print(f"{r.ref:28} sha256:{r.sha256[:12]}  released {r.released}")
        return 0
    if args.action == "validate":
        from riskmodel.model.spec import check_systems

        ev = load_evidence(args.file)
        check_systems(ev)  # the same rules as a fit (reserved names)
        cap = ", ".join(sorted(ev.capability_sources)) or "off"
        traced = (
            "every row traced to its page and quote"
            if ev.format >= 2
            else "format 1: rows not traced to quotes (a legacy release; new files are format 2)"
        )
        print(
            f"{args.file}: valid evidence set {ev.ref} with {len(ev.rows)} rows "
            f"({len(ev.likelihood_rows())} in the likelihood, {len(ev.model_systems())} systems with likelihood rows; "
            f"capability likelihood: {cap}); {traced}"
        )
        return 0
    ev = load_evidence(args.ref)
    cap = ", ".join(sorted(ev.capability_sources)) or "off"
    print(f"{ev.ref}  sha256:{ev.sha256}\n{_wrap(ev.summary, '')}\ncapability likelihood: {cap}\n")
    used = {r.id for r in ev.likelihood_rows()}
    rows = [("id", "k/n or rate", "role")]
    for r in ev.rows:
        val = _row_value(r)
        rows.append((r.id, val, "likelihood" if r.id in used else reference_reason(r)))
    print(_table(rows))
    return 0


def _add_fit_args(p: argparse.ArgumentParser) -> None:
    from riskmodel.results.outputs import add_fit_arguments

    add_fit_arguments(p)
    p.add_argument("--no-progress", dest="progress", action="store_false", help="do not say what the fit is doing")


DESCRIPTION = """\
Forecast worst-case AI scheming risk from versioned, citable prior sets and evidence sets.

riskmodel fits a Bayesian model (PyMC, sampled with nutpie) of worst-case scheming risk, conditional on observed
training-gaming in published evaluations plus explicit capability assumptions kept in versioned prior files.
Posterior means are printed with their Monte Carlo standard error (±), intervals as [5%, 95%], and every result
ends in a citation line that `riskmodel verify` checks by refitting from the cited files."""

EPILOG = """\
examples:
  riskmodel run                               fit the default priors and evidence, print the summary and citation
  riskmodel run --json > fit.json             the same as one JSON object, for scripts
  riskmodel verify "P(worst case) = ..."      refit from a citation line and check everything it claims
  riskmodel priors show baseline@2.0.0        the assumptions of a prior set, with their rationales
  riskmodel COMMAND --help                    the options of a command

exit codes:
  0    success (for verify: the citation is verified)
  1    an internal bug in riskmodel (printed with its traceback; please report it), or for verify: the
       citation does NOT verify (a number, the health, the draws or a cited file differs)
  2    bad input or a sampler failure: one line `riskmodel: error: ...` naming the file, field and reason;
       nothing is written
  3    run, cite, compare: the fit finished but failed its health checks (divergences, r_hat > 1.01 or
       ESS < 400); the numbers are printed and flagged, each failed check is one `riskmodel: warning:` line
       on stderr, and the citation ends in `| diagnostics FAILED`
  130  interrupted (Ctrl-C): nothing is written
  141  the reader of the output closed it early (as in `riskmodel priors show ... | head`)

docs: README.md, docs/model.md, docs/reproducibility.md (what verify checks), docs/sensitivity.md"""


def _version_text() -> str:
    """What ``riskmodel --version`` prints: the package, the model it fits and the sampler it uses."""
    from riskmodel.data.priors import MODEL_VERSION
    from riskmodel.versions import SAMPLER, package_version, sampler_version

    return f"riskmodel {package_version()} (model {MODEL_VERSION}, default sampler {SAMPLER} {sampler_version()})"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``riskmodel`` command."""
    parser = _Parser(
        prog="riskmodel",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=_version_text(), help="print the version of riskmodel and exit"
    )
    sub = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser, title="commands", metavar="COMMAND"
    )
    p = sub.add_parser("run", help="fit and print the summary and citation")
    _add_fit_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("cite", help="fit and print the citation and a BibTeX entry")
    _add_fit_args(p)
    p.set_defaults(func=cmd_cite)
    p = sub.add_parser(
        "verify",
        help="refit from a citation line and check everything it claims",
        description="Refit from the files a citation line names and check its numbers, its health and (with the "
        "same riskmodel and nutpie versions) that the draws are bit-identical. Exit 0 verified, 1 not verified, 2 "
        "a line that cannot be checked. See docs/reproducibility.md.",
    )
    p.add_argument("citation", help='the whole citation line, quoted: "P(worst case) = ... | draws sha256:..."')
    p.add_argument(
        "--another-machine",
        action="store_true",
        help="the line was cited on another machine (or with other pymc/pytensor/numba/numpy versions): do not "
        "require bit-identical draws, only agreement within Monte Carlo error",
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="do not say what the refit is doing")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("compare", help="fit two prior (or evidence) versions with the same seed, side by side")
    p.add_argument("a", help="the first prior set (or evidence set), NAME@VERSION")
    p.add_argument("b", help="the second set of the same kind, NAME@VERSION")
    _add_fit_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (both reports)")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("priors", help="list, show, diff, draft, validate, release or deprecate prior sets")
    psub = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    psub.add_parser("list", help="every released prior set, with its hash and the model it is written for")
    psub.add_parser("show", help="one prior set's assumptions and rationales").add_argument("ref", help="NAME@VERSION")
    d = psub.add_parser("diff", help="what differs between two prior sets")
    d.add_argument("a", help="NAME@VERSION or a file")
    d.add_argument("b", help="NAME@VERSION or a file")
    d = psub.add_parser("new", help="write an editable draft priors/NAME/draft.toml from a release")
    d.add_argument("name", help="name of the prior set to draft (a new name, or an existing one)")
    d.add_argument("--from", dest="source", required=True, help="the release to start from, NAME@VERSION")
    d.add_argument("--overwrite", action="store_true", help="replace an existing draft")
    d = psub.add_parser("validate", help="check a draft as a release would be checked")
    d.add_argument("file", help="the draft file")
    d = psub.add_parser("release", help="release a draft as the next version (1.0.0 for a new name)")
    d.add_argument("file", help="the draft file")
    d.add_argument("--author", required=True, help="who makes this release")
    d.add_argument("--changelog", required=True, help="what changed and why")
    d.add_argument("--bump", choices=("major", "minor", "patch"), default="minor", help="which version part to raise")
    d = psub.add_parser("deprecate", help="mark a release deprecated (it stays loadable and verifiable)")
    d.add_argument("ref", help="NAME@VERSION")
    d.add_argument("--reason", required=True, help="why")
    p.set_defaults(func=cmd_priors)
    p = sub.add_parser("evidence", help="list, show or validate evidence sets")
    esub = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    esub.add_parser("list", help="every released evidence set, with its hash")
    esub.add_parser("show", help="one evidence set's rows and their role in the likelihood").add_argument(
        "ref", help="NAME@VERSION, NAME (its latest release) or a file"
    )
    esub.add_parser("validate", help="check an evidence file by the rules of a fit").add_argument(
        "file", help="the evidence file (TOML)"
    )
    p.set_defaults(func=cmd_evidence)
    from riskmodel.cli.sensitivity import add_sensitivity_parser

    add_sensitivity_parser(sub, _add_fit_args)
    from riskmodel.cli.cache import add_cache_parser

    add_cache_parser(sub)
    from riskmodel.cli.forecast import add_forecast_parser, add_pool_parser

    add_forecast_parser(sub, _add_fit_args)
    add_pool_parser(sub, _add_fit_args)
    from riskmodel.cli.explain import add_explain_parser

    add_explain_parser(sub, _add_fit_args)
    return parser


#: Exit code after Ctrl-C (the shell convention for SIGINT).
EXIT_INTERRUPTED = 130
#: What a Ctrl-C prints: fits are stored and files written only once complete, so nothing partial is left.
INTERRUPTED_LINE = "riskmodel: interrupted; no partial fit or file was written"
#: Exit code when the reader of the output closed it early (the shell convention for SIGPIPE).
EXIT_BROKEN_PIPE = 141


def _show_warning(
    message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
):
    """Print riskmodel's own warnings (one line each, e.g. a discarded stored fit) as ``riskmodel: warning: ...``."""
    if category.__module__.startswith("riskmodel"):
        print(f"riskmodel: warning: {message}", file=sys.stderr)
    else:
        _default_show_warning(message, category, filename, lineno, file, line)


_default_show_warning = warnings.showwarning


def main(argv: list[str] | None = None) -> int:
    """Run the command line; bad input exits 2 with one line, internal bugs exit 1 with a traceback."""
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return int(args.func(args))
    except RiskmodelError as exc:
        print(f"riskmodel: error: {exc.line()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # nothing is written before a fit has finished: the fit store and releases are written only after it
        print(INTERRUPTED_LINE, file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader closed the output (`riskmodel priors show ... | head`): stop quietly, as other tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

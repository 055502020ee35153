"""The ``riskmodel forecast`` and ``riskmodel pool`` subcommands (parsing and printing only).

- ``riskmodel forecast new NAME --question Q --quantity M --resolution R --horizon YYYY-MM-DD --forecaster F
  [--supersedes OLD] [fit options]``: fit (through the fit store), stamp the citation, and write
  ``forecasts/NAME.toml`` once (:mod:`riskmodel.forecast.records`).
- ``riskmodel forecast list | show NAME``: the records, and which are superseded by which.
- ``riskmodel forecast verify NAME | --all``: refit each record's citation and check its stored numbers; exit 2 with
  one line when a record does not verify.
- ``riskmodel pool A B ... [--weights W,W,...] --method linear|log [--name NAME] [--json] [fit options]``: pool
  several forecasters' prior sets (:mod:`riskmodel.forecast.pool`); every input is checked before anything is fitted.

Registered by :mod:`riskmodel.cli.main`. Bad input is one ``riskmodel: error:`` line, exit 2, and nothing written.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from typing import Any

from riskmodel.errors import InputError

__all__ = ["add_forecast_parser", "add_pool_parser", "cmd_forecast", "cmd_pool"]


def _num(x: float | None) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.3g}"


def _interval(d: dict[str, Any]) -> str:
    return f"{_num(d['mean'])} [{_num(d['lower'])}, {_num(d['upper'])}] ±{_num(d['mcse'])}"


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _dump(obj: Any) -> None:
    from riskmodel.results.outputs import json_ready

    print(json.dumps(json_ready(obj), indent=2, allow_nan=False))


def _health(healthy: bool, warnings: list[str]) -> int:
    for w in warnings:
        print(f"riskmodel: warning: {w}", file=sys.stderr)
    return 0 if healthy else 3


# ---------------------------------------------------------------------------------------------------------------------
# forecast


def _status(rec: Any, records: list[Any]) -> str:
    from riskmodel.forecast.records import superseded_by

    parts = []
    if rec.supersedes:
        parts.append(f"supersedes {rec.supersedes_name}")
    later = superseded_by(rec.name, records)
    if later:
        parts.append(f"SUPERSEDED by {', '.join(later)}")
    return "; ".join(parts)


def _show(rec: Any, records: list[Any]) -> None:
    print(f"forecast {rec.name}  sha256:{rec.sha256}")
    print(f"question:   {rec.question}")
    print(f"quantity:   {rec.quantity}")
    print(f"resolution: {rec.resolution}")
    print(f"horizon:    {rec.horizon}")
    print(f"forecaster: {rec.forecaster}")
    print(f"created:    {rec.created}")
    status = _status(rec, records)
    if status:
        print(f"status:     {status}")
    print(
        f"P(worst case | {rec.system}) = {_num(rec.mean)} [90%: {_num(rec.lower)}, {_num(rec.upper)}] "
        f"±{_num(rec.mcse)} (mean ± Monte Carlo standard error; the interval is uncertainty about the probability)"
    )
    print(f"citation:   {rec.citation}")


def cmd_forecast(args: argparse.Namespace) -> int:
    """``forecast new | list | show | verify``."""
    from riskmodel.forecast import records as rec_mod

    if args.action == "list":
        records = rec_mod.list_records()
        if args.json:
            _dump([{**r.as_dict(), "superseded_by": rec_mod.superseded_by(r.name, records)} for r in records])
            return 0
        if not records:
            print(f"no forecast records in {rec_mod.records_dir()}")
            return 0
        rows = [("name", "created", "horizon", "forecaster", "P(worst case)", "status")]
        for r in records:
            rows.append(
                (r.name, r.created, r.horizon, r.forecaster, f"{_num(r.mean)} ±{_num(r.mcse)}", _status(r, records))
            )
        print(_table(rows))
        return 0
    if args.action == "show":
        rec = rec_mod.load_record(args.name)
        records = rec_mod.list_records()
        if args.json:
            _dump({**rec.as_dict(), "superseded_by": rec_mod.superseded_by(rec.name, records)})
            return 0
        _show(rec, records)
        return 0
    if args.action == "verify":
        if args.all == bool(args.name):
            raise InputError("give a record NAME or --all (not both)", field="forecast verify")
        names = [r.name for r in rec_mod.list_records()] if args.all else [args.name]
        if not names:
            print(f"no forecast records in {rec_mod.records_dir()}")
            return 0
        failed = []
        for name in names:
            try:
                v = rec_mod.verify_record(name, progress=args.progress and sys.stderr.isatty())
            except rec_mod.RecordError as exc:
                if not args.all:
                    raise
                failed.append(exc.line())
                continue
            print(f"verified {name}: the citation verifies ({v.citation_method}); {v.numbers_method}")
            for w in v.warnings:
                print(f"warning: {w}")
        if failed:
            raise rec_mod.RecordError(
                f"{len(failed)} of {len(names)} records do not verify: " + " || ".join(failed), field="forecast verify"
            )
        return 0
    # new: every input is checked before the fit
    link = rec_mod.check_new(
        args.name,
        question=args.question,
        quantity=args.quantity,
        resolution=args.resolution,
        horizon=args.horizon,
        forecaster=args.forecaster,
        supersedes=args.supersedes,
    )
    from riskmodel.results.outputs import fit_from_args

    result = fit_from_args(args, progress=args.progress)
    record = rec_mod.make_record(
        args.name,
        result,
        question=args.question,
        quantity=args.quantity,
        resolution=args.resolution,
        horizon=args.horizon,
        forecaster=args.forecaster,
        supersedes=link,
    )
    record = rec_mod.write_record(record)
    if args.json:
        _dump({**record.as_dict(), "healthy": result.healthy})
    else:
        print(f"wrote {record.path}")
        _show(record, rec_mod.list_records())
    return _health(result.healthy, list(result.diagnostics.warnings))


def add_forecast_parser(sub: Any, add_fit_args: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``riskmodel forecast`` on the main command's subparsers ``sub``."""
    p = sub.add_parser("forecast", help="forecast records: a citation tied to a question, horizon and forecaster")
    actions = p.add_subparsers(dest="action", required=True, parser_class=type(p))
    q = actions.add_parser("new", help="fit, cite and write forecasts/NAME.toml (never overwritten)")
    q.add_argument("name", help="record name (lower-case letters, digits, '-' or '_')")
    q.add_argument("--question", required=True, help="the question in words")
    q.add_argument("--quantity", required=True, help="what the model quantity is taken to mean for the question")
    q.add_argument("--resolution", required=True, help="how the question resolves")
    q.add_argument("--horizon", required=True, help="resolution date, YYYY-MM-DD")
    q.add_argument("--forecaster", required=True, help="who makes the forecast")
    q.add_argument("--supersedes", default=None, help="name of the record this one replaces")
    add_fit_args(q)
    q.add_argument("--json", action="store_true", help="print the record as one JSON object")
    q = actions.add_parser("list", help="every record, with what it supersedes or is superseded by")
    q.add_argument("--json", action="store_true", help="print every record as one JSON object")
    q = actions.add_parser("show", help="one record")
    q.add_argument("name", help="record name (forecasts/NAME.toml)")
    q.add_argument("--json", action="store_true", help="print the record as one JSON object")
    q = actions.add_parser("verify", help="refit a record's citation and check its stored numbers (exit 2 if not)")
    q.add_argument("name", nargs="?", default=None, help="record name (omit with --all)")
    q.add_argument("--all", action="store_true", help="verify every record")
    q.add_argument("--no-progress", dest="progress", action="store_false", help="do not say what the refit is doing")
    p.set_defaults(func=cmd_forecast)


# ---------------------------------------------------------------------------------------------------------------------
# pool


def _member_rows(report: dict[str, Any], pool_label: str) -> list[tuple[str, ...]]:
    rows = [("member", "weight", "P(worst case)", "P(misaligned)")]
    for m in report["members"]:
        rows.append((m["priors"], f"{m['weight']:.4g}", _interval(m["p_worst_case"]), _interval(m["p_misaligned_pre"])))
    pool = report["pool"]
    rows.append((pool_label, "", _interval(pool["p_worst_case"]), _interval(pool["p_misaligned_pre"])))
    return rows


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "system": args.system,
        "seed": args.seed,
        "chains": args.chains,
        "draws": args.draws,
        "tune": args.tune,
        "sampler": args.sampler,
        "progress": args.progress,
        "cache_dir": args.cache_dir,
        # a fit stopped by --max-seconds is flagged unhealthy and not stored (riskmodel.results.result.fit)
        **({"max_seconds": args.max_seconds} if getattr(args, "max_seconds", None) is not None else {}),
    }


def cmd_pool(args: argparse.Namespace) -> int:
    """Pool several forecasters' prior sets linearly (posterior draws) or logarithmically (priors), and cite."""
    from riskmodel.forecast import pool as pool_mod

    if args.priors is not None:
        raise InputError(
            "a pool takes its prior sets as members (riskmodel pool A B ...), not --priors", field="priors"
        )
    members, weights = pool_mod.check_pool(args.members, args.weights, args.method)
    if args.method == "log":
        pooled = pool_mod.log_pool_priors(members, weights, name=args.name, author=args.author)  # checks, no writes
        pool_mod.check_log_pool_name(pooled)
    if args.name is not None and args.method == "linear":
        raise InputError("--name names a released logarithmic pool; a linear pool is cited, not released", field="name")
    from riskmodel.results.result import fit

    settings = _settings(args)
    fits = pool_mod.fit_members(members, args.evidence, settings, cache=args.cache)
    lin = pool_mod.pool_fits(fits, weights)
    report = lin.report()
    if args.method == "linear":
        if args.json:
            _dump(report)
        else:
            print(
                f"linear pool of {len(members)} members, system '{lin.system}': means ± Monte Carlo standard error, "
                "[5%, 95%] of the per-draw probability"
            )
            print(_table(_member_rows(report, "linear pool")))
            print(f"\n{report['citation']}")
        warnings = [f"{m.priors.ref}: {w}" for m in fits for w in m.diagnostics.warnings]
        return _health(lin.healthy, warnings)
    released = pool_mod.release_log_pool(members, weights, name=pooled.name, author=args.author)
    result = fit(released, args.evidence, cache=args.cache, **settings)
    from riskmodel.forecast.records import record_numbers

    q = result.quantities
    from riskmodel.forecast.pool import REPORTED, summarize_draws

    own = {
        key: summarize_draws(q[key].sel(system=result.system).transpose("chain", "draw").values) for key, _ in REPORTED
    }
    out = {
        "method": "log",
        "system": result.system,
        "healthy": result.healthy,
        "pooled_priors": f"{released.ref} sha256:{released.sha256}",
        "pooled_from": [{"member": m, "weight": w} for m, w in released.pooled_from],
        "pool": own,
        "pool_record_numbers": record_numbers(result),
        "members": report["members"],
        "changed_parameters": {
            p: {"members": [f"{m[p].distribution}({m[p].params})" for m in members], "pool": released[p].params}
            for p in released.parameters
            if len({(m[p].distribution, tuple(m[p].params.items())) for m in members}) > 1
        },
        "citation": result.citation(),
    }
    if args.json:
        _dump(out)
    else:
        print(f"logarithmic pool released as {released.ref} sha256:{released.sha256}")
        print("members: " + ", ".join(f"{m} (w={w:.4g})" for m, w in released.pooled_from))
        prow = [("parameter", *(m.ref for m in members), "pool")]
        for p in out["changed_parameters"]:
            prow.append(
                (
                    p,
                    *(f"{m[p].distribution}({', '.join(f'{v:.4g}' for v in m[p].params.values())})" for m in members),
                    f"{released[p].distribution}({', '.join(f'{v:.4g}' for v in released[p].params.values())})",
                )
            )
        if len(prow) > 1:
            print(_table(prow))
        print(f"\nsystem '{result.system}': means ± Monte Carlo standard error, [5%, 95%] of the per-draw probability")
        print(_table(_member_rows({"members": report["members"], "pool": own}, f"log pool {released.ref}")))
        print(f"\n{out['citation']}")
    return _health(result.healthy, list(result.diagnostics.warnings))


def add_pool_parser(sub: Any, add_fit_args: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``riskmodel pool`` on the main command's subparsers ``sub``."""
    p = sub.add_parser("pool", help="pool several forecasters' prior sets (linear: posteriors; log: priors)")
    p.add_argument("members", nargs="+", help="released prior sets NAME@VERSION, one per forecaster")
    p.add_argument("--weights", default=None, help="comma-separated positive weights summing to 1 (default: equal)")
    p.add_argument("--method", default="linear", help="linear (mix posterior draws) or log (pool priors, release, fit)")
    p.add_argument("--name", default=None, help="name of the released pooled prior set (log; default pool-HASH)")
    p.add_argument("--author", default="riskmodel pool", help="author recorded in a released log pool")
    add_fit_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_pool, priors=None)

"""The ``riskmodel sensitivity`` subcommand: fit, run the chosen analyses, print the rankings, write stamped files.

Only parsing, checking and printing live here (registered by :mod:`riskmodel.cli.main`); every number comes from
:mod:`riskmodel.analysis.sensitivity`. Every option is checked before the fit (a bad one costs nothing): bad input
raises :class:`~riskmodel.errors.InputError`, which the main command turns into one line and exit code 2. Progress
goes to stderr, so ``--json`` output on stdout stays one clean JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskmodel.errors import InputError

if TYPE_CHECKING:  # numpy, pandas and xarray load only when a command runs, not for --help
    import pandas as pd
    import xarray as xr

__all__ = ["add_sensitivity_parser", "check_args", "cmd_sensitivity", "tables"]

_METHOD_CHOICES = ("tornado", "psense", "sobol", "voi", "all")


def tables(method: str, ds: xr.Dataset) -> dict[str, pd.DataFrame]:
    """The CSV tables of one analysis, by name."""
    import numpy as np
    import pandas as pd

    from riskmodel.analysis.sensitivity import QUANTITIES, tornado_table

    if method == "tornado":
        long = pd.DataFrame(
            {
                "parameter": np.repeat(ds["parameter"].values, ds.sizes["grid"]),
                "sweep": np.repeat(ds["sweep"].values, ds.sizes["grid"]),
                "grid": np.tile(ds["grid"].values, ds.sizes["parameter"]),
                "level": np.tile(ds["level"].values, ds.sizes["parameter"]),
                "value": ds["value"].values.ravel(),
                "method": ds["method"].values.ravel(),
                "pareto_k": ds["pareto_k"].values.ravel(),
                "ess": ds["ess"].values.ravel(),
                "mcse_p_worst_case": ds["mcse_p_worst_case"].values.ravel(),
            }
        )
        for i, q in enumerate(QUANTITIES):
            long[q] = ds["estimate"].values[..., i].ravel()
        return {"tornado": tornado_table(ds), "one_way": long}
    if method == "psense":
        return {"psense": ds.to_dataframe().reset_index()}
    if method == "sobol":
        df = ds.to_dataframe().reset_index().sort_values("total", ascending=False, kind="stable")
        return {"sobol": df.reset_index(drop=True)}
    learned = ds[["voi_variance", "voi_variance_share", "estimator"]].to_dataframe()
    learned = learned.reset_index().sort_values("voi_variance", ascending=False, kind="stable")
    names = [v for v in ds.data_vars if str(v).startswith("preposterior") and "episodes" in ds[v].dims]
    pre = ds[names].to_dataframe().reset_index()
    method_of = ds["preposterior_method"].to_dataframe().reset_index()
    pre = pre.merge(method_of, on=["evaluation", "eval_system"], how="left")
    pre = pre.sort_values("preposterior_voi_variance", ascending=False, kind="stable", na_position="last")
    return {"voi": learned.reset_index(drop=True), "voi_preposterior": pre.reset_index(drop=True)}


def _fmt(x: Any, digits: int = 3) -> str:
    import numpy as np

    if isinstance(x, float | np.floating):
        return "n/a" if not np.isfinite(x) else f"{x:.{digits}g}"
    return str(x)


def _print_table(df: pd.DataFrame, columns: list[str], limit: int | None = None) -> None:
    rows = [columns] + [[_fmt(v) for v in r] for r in df[columns].head(limit).itertuples(index=False)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def _print(results: dict[str, xr.Dataset]) -> None:
    import pandas as pd

    for method, ds in results.items():
        t = tables(method, ds)
        secs = ds.attrs.get("seconds", float("nan"))
        if method == "tornado":
            print(f"\ntornado: P(worst case) over each assumption's 5th-95th percentile ({secs:.1f} s)")
            print(f"baseline P(worst case) = {_fmt(float(ds['baseline'].sel(quantity='p_worst_case')))}")
            _print_table(
                t["tornado"],
                ["parameter", "sweep", "p_worst_case_low", "p_worst_case_high", "swing", "mcse_max", "points_skipped"],
            )
            counts = pd.Series(ds["method"].values.ravel()).value_counts().to_dict()
            print("grid points: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        elif method == "psense":
            print(f"\npower-scaling sensitivity (threshold {ds.attrs.get('threshold')}; {secs:.1f} s)")
            _print_table(t["psense"], ["parameter", "prior_sensitivity", "likelihood_sensitivity", "diagnosis"])
        elif method == "sobol":
            print(
                f"\nSobol indices of P(worst case | posterior draw, uninformed assumptions) (N = {ds.attrs['n_base']}, "
                f"{ds.attrs['evaluations']} evaluations, {int(100 * ds.attrs['conf_level'])}% intervals; {secs:.1f} s)"
            )
            _print_table(t["sobol"], ["parameter", "first_order", "first_order_conf", "total", "total_conf"])
        else:
            print(
                f"\nvalue of information for P(worst case) (Var(Y) = {_fmt(ds.attrs['p_worst_case_variance'])}; "
                f"{secs:.1f} s)"
            )
            _print_table(t["voi"], ["learned", "voi_variance", "voi_variance_share", "estimator"])
            print("\nwhich evaluation next: n episodes of a system in a context")
            _print_table(
                t["voi_preposterior"],
                [
                    "eval_system",
                    "evaluation",
                    "episodes",
                    "preposterior_shift_sd_relative",
                    "preposterior_voi_variance_share",
                    "preposterior_expected_ess",
                ],
                limit=10,
            )


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback on stderr: a bar on a terminal, a line per stage otherwise, nothing when disabled."""
    if not enabled:
        yield lambda stage, done, total: None
        return
    if not sys.stderr.isatty():
        started: dict[str, float] = {}

        def lines(stage: str, done: int, total: int) -> None:
            if stage not in started:
                started[stage] = time.perf_counter()
                print(f"riskmodel: {stage}: {total} steps", file=sys.stderr, flush=True)
            if done >= total:
                secs = time.perf_counter() - started[stage]
                print(f"riskmodel: {stage}: done in {secs:.1f} s", file=sys.stderr, flush=True)

        yield lines
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    tasks: dict[str, Any] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    ) as bar:

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def _check_out(out: str) -> None:
    """``--out`` must be a folder that exists or can be created (not a file, nor under one)."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise InputError(f"{out!r} exists and is not a folder", field="out")
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"cannot create {out!r}: {str(parent)!r} is a file", field="out")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot create or write {out!r}: {str(parent)!r} is not writable", field="out")


def check_args(args: argparse.Namespace) -> Any:
    """Check every option before anything is fitted; returns a connected Dask client when ``--scheduler`` is given.

    Raises a one-line :class:`InputError` naming the option otherwise.
    """
    from riskmodel.analysis.sensitivity import grid_levels

    grid_levels(args.points)
    if args.n_base < 2 or args.n_base & (args.n_base - 1):
        raise InputError(
            f"must be a power of 2 (Sobol sequences: 256, 512, 1024, ...), got {args.n_base}", field="n-base"
        )
    if args.workers is not None and args.workers < 1:
        raise InputError(f"must be >= 1, got {args.workers}", field="workers")
    if args.workers is not None and args.scheduler is not None:
        raise InputError("give --workers (local processes) or --scheduler (a Dask cluster), not both", field="workers")
    if args.nodes < 2 or args.nodes > 200:
        raise InputError(f"must be from 2 to 200, got {args.nodes}", field="nodes")
    bad = [n for n in args.episodes if not 1 <= n <= 100_000]
    if bad:
        raise InputError(f"must be from 1 to 100000, got {bad[0]}", field="episodes")
    if args.out:
        _check_out(args.out)
    if args.scheduler is not None:
        from riskmodel.analysis.parallel import connect

        return connect(args.scheduler)
    return None


def cmd_sensitivity(args: argparse.Namespace) -> int:
    """Check the options, fit, run the analyses, print them (or one JSON object), write them to ``--out``."""
    from riskmodel.analysis.sensitivity import METHODS, sensitivity_report
    from riskmodel.results.outputs import OutputDir, fit_from_args, json_ready

    methods = list(METHODS) if args.method == "all" else [args.method]
    client = check_args(args)
    try:
        show = args.progress
        result = fit_from_args(args, progress=show)
        with _progress(show) as progress:
            results = sensitivity_report(
                result,
                methods,
                points=args.points,
                n_base=args.n_base,
                refit=args.refit,
                workers=args.workers,
                client=client,
                episodes=args.episodes,
                nodes=args.nodes,
                progress=progress,
            )
    finally:
        if client is not None:
            client.close()
    written = []
    if args.out:
        out = OutputDir(args.out, result)
        for method, ds in results.items():
            written.append(str(out.dataset(f"sensitivity_{method}", ds)))
            for name, df in tables(method, ds).items():
                written.append(str(out.table(f"sensitivity_{name}", df)))
    why = result.not_citable()
    citation = result.citation() if not why else f"not citable: {why}"
    if args.json:
        doc: dict[str, Any] = {
            method: {name: df.to_dict(orient="records") for name, df in tables(method, ds).items()}
            | {"seconds": ds.attrs.get("seconds")}
            for method, ds in results.items()
        }
        doc["system"] = result.system
        doc["citation"] = citation
        doc["healthy"] = result.diagnostics.ok
        doc["diagnostics"] = result.diagnostics.as_dict()
        doc["written"] = written
        print(json.dumps(json_ready(doc), indent=2, allow_nan=False))
    else:
        print(f"riskmodel: sensitivity of worst-case risk for system '{result.system}'")
        _print(results)
        for path in written:
            print(f"wrote {path}")
        print(f"\n{citation}")
    for w in result.diagnostics.warnings:
        print(f"riskmodel: warning: {w}", file=sys.stderr)
    return 0


def add_sensitivity_parser(sub: Any, add_fit_args: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``riskmodel sensitivity`` on the main command's subparsers."""
    p = sub.add_parser("sensitivity", help="tornado, power-scaling, Sobol and value-of-information analyses")
    add_fit_args(p)
    p.add_argument("--method", choices=_METHOD_CHOICES, default="all", help="which analysis (default all)")
    p.add_argument("--out", default=None, help="write CSV and netCDF files (stamped with the citation) to this folder")
    p.add_argument("--points", type=int, default=21, help="grid points per assumption, >= 2 (tornado; default 21)")
    p.add_argument(
        "--n-base", dest="n_base", type=int, default=1024, help="Sobol base samples, a power of 2 (default 1024)"
    )
    p.add_argument(
        "--episodes", type=int, nargs="+", default=[20, 100, 400], help="episodes of the proposed evaluations (voi)"
    )
    p.add_argument("--nodes", type=int, default=16, help="quadrature nodes per assumption (voi; default 16)")
    p.add_argument("--refit", action="store_true", help="refit grid points whose reweighting is unreliable")
    p.add_argument("--workers", type=int, default=None, help="local worker processes for refits (>= 1)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address for refits (tcp://host:8786)")
    p.add_argument("--json", action="store_true", help="print one JSON object (progress stays on stderr)")
    p.set_defaults(func=cmd_sensitivity)

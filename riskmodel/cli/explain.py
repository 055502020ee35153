"""The ``riskmodel explain`` subcommand: why two citations differ (:mod:`riskmodel.analysis.explain`).

``riskmodel explain "<citation A>" "<citation B>" [--json] [--out DIR]`` prints a table of the Shapley attributions
of ``log P_B - log P_A`` (P(worst case) of the cited system and P(misaligned) of every system both fits share) to the
evidence change, the prior change and each changed prior parameter, each with its Monte Carlo error, the total and
the residual; both citations head the table. ``--out DIR`` also writes ``explain.csv`` (every attribution, with both
citations as leading ``#`` lines), ``explain.json`` and ``waterfall.png`` (P(worst case); both citations in the
picture and in the PNG metadata), atomically and only after every number is computed. ``--json`` prints one JSON
object instead of the table.

The citations fix the system, seed and sampler settings, so only the fit store options are taken here (the
``add_fit_args`` of the other commands would offer settings the citations already fix). Citations that do not parse,
name unknown releases or cite other hashes exit 2 with one line before anything is fitted.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["add_explain_parser", "cmd_explain", "table_text"]

# riskmodel.analysis.explain's defaults, repeated so that `riskmodel --help` does not import the analysis stack
# (tests/test_explain.py checks they agree)
DEFAULT_PERMUTATIONS = 64
DEFAULT_SHAPLEY_SEED = 1
DEFAULT_MAX_REFITS = 6


def _signed(x: float) -> str:
    return f"{x:+.3f}"


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as text columns: the first left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
        for r in rows
    ]


def table_text(expl: Any) -> str:
    """The explain table: P(worst case) with every attribution and its MCSE, then P(misaligned) per system."""
    lines = [
        "riskmodel explain: Shapley attribution of log B - log A (natural logs of posterior means; ± Monte Carlo "
        "standard error)",
        f"A: {expl.citation_a}",
        f"B: {expl.citation_b}",
        "",
    ]
    sh = expl.shapley
    how = sh["method"] + (f", {sh['permutations']} orders, seed {sh['seed']}" if "permutations" in sh else "")
    lines.append(
        f"changed prior parameters and settings ({len(expl.players)}): {', '.join(expl.players) or 'none'}; "
        f"Shapley: {how}; refits of coalitions: {sh.get('refits', 0)}"
    )
    counts: dict[str, int] = {}
    for c in expl.coalitions:
        counts[c.method] = counts.get(c.method, 0) + 1
    ks = [c.pareto_k for c in expl.coalitions if c.pareto_k is not None and c.method == "reweighted"]
    lines.append(
        "coalition values: "
        + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        + (f" (PSIS Pareto k up to {max(ks):.2f})" if ks else "")
    )
    q = expl.quantities[0]
    ma, mb = expl.mean_a[q], expl.mean_b[q]
    lines += ["", f"{q}: A {ma[0]:.4g} ±{ma[1]:.2g}, B {mb[0]:.4g} ±{mb[1]:.2g}"]
    rows = [("component", "log B - log A", "MCSE", "factor")]
    for a in expl.table(q):
        name = f"  {a.component}" if a.kind == "parameter" else a.component
        rows.append((name, _signed(a.value), f"{a.mcse:.3f}", f"x{math.exp(a.value):.3g}"))
    lines += _aligned(rows)
    if len(expl.quantities) > 1:
        lines += ["", "P(misaligned) per system (log B - log A ± MCSE; every parameter's share: --json or --out)"]
        rows = [("system", "A", "B", "total", "evidence", "prior", "largest parameter share", "residual")]
        for q in expl.quantities[1:]:
            by = {a.kind: a for a in expl.table(q) if a.kind != "parameter"}
            params = [a for a in expl.table(q) if a.kind == "parameter"]
            top = max(params, key=lambda a: abs(a.value), default=None)
            rows.append(
                (
                    q.removeprefix("P(misaligned | ").removesuffix(")"),
                    f"{expl.mean_a[q][0]:.3g}",
                    f"{expl.mean_b[q][0]:.3g}",
                    *(f"{_signed(by[k].value)} ±{by[k].mcse:.3f}" for k in ("total", "evidence", "prior")),
                    f"{top.component} {_signed(top.value)} ±{top.mcse:.3f}" if top else "none",
                    f"{_signed(by['residual'].value)}",
                )
            )
        lines += _aligned(rows)
    for w in expl.warnings:
        lines.append(f"warning: {w}")
    return "\n".join(lines)


def _csv(expl: Any) -> str:
    import pandas as pd

    df = pd.DataFrame([a.as_dict() for a in expl.attributions])
    header = f"# citation_a: {expl.citation_a}\n# citation_b: {expl.citation_b}\n"
    header += "# value: log B - log A (natural logs of posterior means); mcse: its Monte Carlo standard error\n"
    return header + df.to_csv(index=False)


def _png(expl: Any) -> bytes:
    import matplotlib.pyplot as plt

    from riskmodel.analysis.explain import waterfall
    from riskmodel.versions import package_version

    fig = waterfall(expl)
    meta = {
        "Title": f"riskmodel explain: {expl.quantities[0]}",
        "Description": f"A: {expl.citation_a} || B: {expl.citation_b}",
        "Source": json.dumps({"citation_a": expl.citation_a, "citation_b": expl.citation_b}),
        "Software": f"riskmodel {package_version()}",
    }
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130, metadata=meta)
    plt.close(fig)
    return buf.getvalue()


def _check_out(out: str) -> Path:
    from riskmodel.errors import InputError

    path = Path(out)
    if path.exists() and not path.is_dir():
        raise InputError(f"{out} exists and is not a folder", field="out")
    return path


def cmd_explain(args: argparse.Namespace) -> int:
    """Explain two citations: print the table (or one JSON object) and write the files of ``--out``."""
    from riskmodel.analysis.explain import explain
    from riskmodel.data.registry import atomic_write
    from riskmodel.results.outputs import json_ready

    out = _check_out(args.out) if args.out else None
    expl = explain(
        args.citation_a,
        args.citation_b,
        permutations=args.permutations,
        shapley_seed=args.shapley_seed,
        max_refits=args.max_refits,
        cache=args.cache,
        cache_dir=args.cache_dir,
        progress=args.progress,
    )
    doc = json_ready(expl.as_dict())
    written: list[Path] = []
    if out is not None:
        files = {
            "explain.csv": _csv(expl).encode(),
            "explain.json": (json.dumps(doc, indent=2, allow_nan=False) + "\n").encode(),
            "waterfall.png": _png(expl),
        }
        for name, data in files.items():
            atomic_write(out / name, data, exclusive=False)
            written.append(out / name)
    if args.json:
        print(json.dumps({**doc, "files": [str(p) for p in written]}, indent=2, allow_nan=False))
    else:
        print(table_text(expl))
        for p in written:
            print(f"wrote {p}")
        if out is None:
            print("(--out DIR also writes explain.csv, explain.json and the waterfall figure waterfall.png)")
    for w in expl.warnings:
        print(f"riskmodel: warning: {w}", file=sys.stderr)
    return 0


def add_explain_parser(sub: Any, add_fit_args: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``riskmodel explain`` on the main command's subparsers ``sub``.

    ``add_fit_args`` (the fit options of ``run``) is not applied: the citations fix system, seed and sampler
    settings; only the fit store and progress options are offered.
    """
    del add_fit_args  # the citations fix every fit setting
    p = sub.add_parser(
        "explain",
        help="why two citations differ: Shapley shares of the evidence change, the prior change and each parameter",
    )
    p.add_argument("citation_a", help="citation line A (the reference)")
    p.add_argument("citation_b", help="citation line B")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", default=None, help="folder for explain.csv, explain.json and waterfall.png")
    p.add_argument(
        "--permutations",
        type=int,
        default=DEFAULT_PERMUTATIONS,
        help=f"orders sampled when more than 8 parameters changed (default {DEFAULT_PERMUTATIONS})",
    )
    p.add_argument(
        "--shapley-seed",
        type=int,
        default=DEFAULT_SHAPLEY_SEED,
        help=f"seed of the sampled orders (default {DEFAULT_SHAPLEY_SEED})",
    )
    p.add_argument(
        "--max-refits",
        type=int,
        default=DEFAULT_MAX_REFITS,
        help=f"most exact refits of coalitions with Pareto k > 0.7 (default {DEFAULT_MAX_REFITS})",
    )
    p.add_argument(
        "--cache-dir", default=None, help="fit store folder (default: $RISKMODEL_CACHE_DIR or the user cache)"
    )
    p.add_argument(
        "--no-cache", dest="cache", action="store_false", help="always sample; do not read or write the fit store"
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="do not say what is being fitted")
    p.set_defaults(func=cmd_explain)

"""Tornado of worst-case risk: which assumption moves P(worst case) most across its plausible range?

Usage: ``python analyses/tornado.py [--points 21] [--refit] [--workers N] [--draws N --chains N]``. Every assumption
of the prior file (model 2: pattern means, separations and spreads per coordinate, shared effects, competence
loading, measurement, worst case, capabilities) is swept over its prior's 5th-95th percentile: one no evidence row
informs is fixed at each grid value on every generated copy and the worst-case arithmetic reruns (exact); a prior the
evidence informs has its median shifted across that range and the draws importance reweighted (Pareto k <= 0.7, else
refit with ``--refit`` or marked skipped). Writes ``analyses/output/tornado/``: ``tornado.csv`` (ranking),
``one_way.csv`` (every grid point with its MCSE), ``tornado.nc`` and ``tornado.png``, each stamped.
"""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from riskmodel.analysis.sensitivity import one_way, tornado_table
from riskmodel.cli.sensitivity import tables
from riskmodel.results.outputs import analysis_parser, describe, fit_from_args, output_dir


def plot(ds: xr.Dataset, table: pd.DataFrame) -> Figure:
    """Horizontal bars from P(W) at the low end to P(W) at the high end of each sweep, widest on top."""
    base = float(ds["baseline"].sel(quantity="p_worst_case"))
    system = ds.attrs.get("system", "new")
    fig, ax = plt.subplots(figsize=(9, 0.28 * len(table) + 1.8))
    for i, row in enumerate(table.itertuples()):
        y = len(table) - 1 - i
        lo, hi = row.p_worst_case_low, row.p_worst_case_high
        color = "tab:blue" if row.sweep == "fixed value" else "tab:orange"
        ax.barh(y, hi - lo, left=lo, color=color, alpha=0.8)
        note = f" ({row.points_skipped} pts skipped)" if row.points_skipped else ""
        ax.text(max(lo, hi), y, f" {row.value_low:.3g} → {row.value_high:.3g}{note}", va="center", fontsize=7)
    ax.axvline(base, color="k", lw=1)
    ax.margins(x=0.04)
    ax.set_yticks(range(len(table)), list(table["parameter"])[::-1], fontsize=7)
    ax.set_xlabel(f"P(worst case), system {system}: at the assumption's 5th → 95th percentile")
    ax.set_title(
        f"Tornado of worst-case risk (baseline {base:.2g})\n"
        "blue: value fixed (uninformed), orange: prior median shifted (informed)",
        fontsize=10,
    )
    fig.subplots_adjust(left=0.3, right=0.8, bottom=0.08, top=0.94)
    return fig


def main(argv: list[str] | None = None) -> int:
    """Fit, sweep, write and print the ranking."""
    p = analysis_parser(__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=21)
    p.add_argument("--refit", action="store_true", help="refit the points whose reweighting is unreliable")
    p.add_argument("--workers", type=int, default=None, help="local worker processes for refits")
    args = p.parse_args(argv)
    result = fit_from_args(args)
    ds = one_way(result, points=args.points, refit=args.refit, workers=args.workers)
    table = tornado_table(ds)
    out = output_dir(args, "tornado", result)
    for name, df in tables("tornado", ds).items():
        out.table(name, df)
    out.dataset("tornado", ds)
    out.figure("tornado", plot(ds, table), "Tornado of worst-case risk")
    print(table.head(10).to_string(float_format=lambda x: f"{x:.3g}"))
    print(describe(out.files))
    print(out.fields["citation"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

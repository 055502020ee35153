"""How much should observed training-gaming move the worst-case estimate, as each uninformed assumption varies?

Usage: ``python analyses/training_gaming_vs_worst_case.py [--k 6 --n 50] [--points 21] [--draws N --chains N]``.
The target system (default: a new system) is hypothetically evaluated in the elicitation context and in the same
context without value conflict. Two patterns are compared with no observation: training-gaming only under value
conflict (``k/n`` and ``0/n``, what an aligned system that protects its values would show) and training-gaming
regardless of conflict (``k/n`` in both). The counts weight each (draw, generated copy, disposition) unit of the
cached draws by its likelihood (``riskmodel.analysis.sensitivity.hypothetical``: a new system's pattern is generated
per copy, so the likelihood is Rao-Blackwellized over the copies; the Pareto k of the draw-level ratios is reported).
For each assumption no evidence row informs (capabilities, the other route, reinforcement, and the context effects,
separations and spreads of the coordinates no row touches), fixed across its prior's 5th-95th percentile,
P(worst case | observed) is set beside P(worst case). Writes ``analyses/output/training_gaming_vs_worst_case/``.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from riskmodel.analysis.sensitivity import observed_one_way
from riskmodel.interactive.whatif import Observation
from riskmodel.results.outputs import analysis_parser, describe, fit_from_args, output_dir
from riskmodel.results.result import FitResult


def scenarios(result: FitResult, k: int, n: int) -> list[tuple[str, list[Observation]]]:
    """(label, hypothetical observations of the target system) for no observation and the two patterns."""
    conflict = result.priors.elicitation
    no_conflict = replace(conflict, value_conflict="no", name="")
    s = result.system
    return [
        ("no observation", []),
        (
            f"training-gaming only under value conflict ({k}/{n}, 0/{n})",
            [Observation(s, conflict, k, n), Observation(s, no_conflict, 0, n)],
        ),
        (
            f"training-gaming regardless of conflict ({k}/{n}, {k}/{n})",
            [Observation(s, conflict, k, n), Observation(s, no_conflict, k, n)],
        ),
    ]


def plot(ds: xr.Dataset) -> Figure:
    """One panel per assumption: P(worst case) under each scenario against the assumption's value."""
    params = list(ds["parameter"].values)
    cols = 4
    rows = int(np.ceil(len(params) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.5 * rows + 1.2), squeeze=False)
    for ax, p in zip(axes.ravel(), params, strict=False):
        for sc in ds["scenario"].values:
            sel = ds.sel(parameter=p, scenario=sc)
            k = float(np.nanmax(sel["pareto_k"]))
            note = "" if k <= 0.7 else f" [Pareto k {k:.1f}: reweighting unreliable]"
            ax.plot(sel["value"], sel["p_worst_case"], label=f"{sc}{note}", ls="-" if k <= 0.7 else ":")
        ax.set_title(p, fontsize=8)
        ax.set_yscale("log")
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(params) :]:
        ax.axis("off")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=1, fontsize=8)
    fig.supylabel(f"P(worst case), system {ds.attrs.get('system', 'new')}", fontsize=9)
    fig.supxlabel("assumption fixed at (5th-95th percentile of its prior)", fontsize=9, y=0.03)
    fig.subplots_adjust(top=1 - 1.1 / (2.5 * rows + 1.2), hspace=0.6, wspace=0.35, bottom=0.08)
    return fig


def main(argv: list[str] | None = None) -> int:
    """Fit, weight the draws by the hypothetical counts, sweep each uninformed assumption, write and print."""
    p = analysis_parser(__doc__.splitlines()[0])
    p.add_argument("--k", type=int, default=6, help="training-gaming episodes observed under value conflict")
    p.add_argument("--n", type=int, default=50, help="episodes per context")
    p.add_argument("--points", type=int, default=21)
    args = p.parse_args(argv)
    result = fit_from_args(args)
    ds = observed_one_way(result, dict(scenarios(result, args.k, args.n)), points=args.points)
    ds["ratio_to_no_observation"] = ds["p_worst_case"] / ds["p_worst_case"].isel(scenario=0)
    out = output_dir(args, "training_gaming_vs_worst_case", result)
    df = ds[["p_worst_case", "p_misaligned", "ratio_to_no_observation", "pareto_k", "ess"]].to_dataframe()
    df = df.reset_index()
    df["value"] = ds["value"].sel(parameter=df["parameter"].to_xarray(), grid=df["grid"].to_xarray()).values
    out.table("training_gaming_vs_worst_case", df)
    summary = pd.DataFrame(
        {
            "scenario": ds["scenario"].values,
            "p_worst_case": ds["baseline_p_worst_case"].values,
            "p_misaligned": ds["baseline_p_misaligned"].values,
            "pareto_k": ds["baseline_pareto_k"].values,
            "ess": ds["baseline_ess"].values,
        }
    )
    out.table("scenarios", summary)
    out.dataset("training_gaming_vs_worst_case", ds)
    out.figure("training_gaming_vs_worst_case", plot(ds), "P(worst case | training-gaming observed)")
    print(summary.to_string(float_format=lambda x: f"{x:.3g}"))
    ends = ds["ratio_to_no_observation"].isel(grid=[0, -1]).to_dataframe().reset_index()
    print("\nP(W | observed) / P(W) at each assumption's 5th and 95th percentile:")
    print(
        ends.pivot_table(index=["parameter", "grid"], columns="scenario", values="ratio_to_no_observation").to_string(
            float_format=lambda x: f"{x:.3g}"
        )
    )
    print(describe(out.files))
    print(out.fields["citation"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

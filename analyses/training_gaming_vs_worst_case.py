"""How much should observed training-gaming move the worst-case estimate, as each extra assumption varies?

Usage: ``python analyses/training_gaming_vs_worst_case.py [--k 6 --n 50] [--points 21] [--draws N --chains N]``.
A new system is hypothetically evaluated in the elicitation context (value conflict, training information in the
prompt, scratchpad) and in the same context without value conflict (``riskmodel.interactive.whatif``: the cached
draws are
reweighted by the binomial likelihood of the counts, Pareto k reported). Two patterns are compared with no
observation: training-gaming only under value conflict (``k/n`` and ``0/n``, what an aligned system that protects
its values would show) and training-gaming regardless of conflict (``k/n`` in both). For each extra assumption (the
capabilities, the competence correlation, the other route, reinforcement) fixed across its prior's 5th-95th
percentile, P(worst case | observed) is set beside P(worst case).
Writes ``analyses/output/training_gaming_vs_worst_case/``.
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

from riskmodel.analysis.sensitivity import one_way, uninformed_parameters
from riskmodel.interactive.whatif import Observation, what_if
from riskmodel.results.outputs import analysis_parser, describe, fit_from_args, output_dir
from riskmodel.results.result import FitResult


def scenarios(result: FitResult, k: int, n: int) -> list[tuple[str, FitResult]]:
    """(label, result) for no observation and the two hypothetical patterns on the target system."""
    conflict = result.priors.elicitation
    no_conflict = replace(conflict, value_conflict="no", name="")
    s = result.system
    return [
        ("no observation", result),
        (
            f"training-gaming only under value conflict ({k}/{n}, 0/{n})",
            what_if(result, [Observation(s, conflict, k, n), Observation(s, no_conflict, 0, n)]),
        ),
        (
            f"training-gaming regardless of conflict ({k}/{n}, {k}/{n})",
            what_if(result, [Observation(s, conflict, k, n), Observation(s, no_conflict, k, n)]),
        ),
    ]


def plot(ds: xr.Dataset) -> Figure:
    """One panel per assumption: P(worst case) under each scenario against the assumption's value."""
    params = list(ds["parameter"].values)
    cols = 4
    rows = int(np.ceil(len(params) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.7 * rows + 0.8), squeeze=False)
    for ax, p in zip(axes.ravel(), params, strict=False):
        for sc in ds["scenario"].values:
            sel = ds.sel(parameter=p, scenario=sc)
            k = float(sel["pareto_k"])
            note = "" if k <= 0.7 else f" [Pareto k {k:.1f}: reweighting unreliable]"
            ax.plot(sel["value"], sel["p_worst_case"], label=f"{sc}{note}", ls="-" if k <= 0.7 else ":")
        ax.set_title(p, fontsize=9)
        ax.set_yscale("log")
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(params) :]:
        ax.axis("off")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=1, fontsize=8)
    fig.supylabel("P(worst case), new system", fontsize=9)
    fig.supxlabel("assumption fixed at (5th-95th percentile of its prior)", fontsize=9, y=0.06)
    fig.subplots_adjust(top=0.8, hspace=0.5, wspace=0.35, bottom=0.17)
    return fig


def main(argv: list[str] | None = None) -> int:
    """Fit, apply the hypothetical observations, sweep each extra assumption, write and print."""
    p = analysis_parser(__doc__.splitlines()[0])
    p.add_argument("--k", type=int, default=6, help="training-gaming episodes observed under value conflict")
    p.add_argument("--n", type=int, default=50, help="episodes per context")
    p.add_argument("--points", type=int, default=21)
    args = p.parse_args(argv)
    result = fit_from_args(args)
    params = uninformed_parameters(result)
    parts, info = [], []
    for label, res in scenarios(result, args.k, args.n):
        ds = one_way(res, params, points=args.points)
        parts.append(
            xr.Dataset(
                {
                    "p_worst_case": ds["estimate"].sel(quantity="p_worst_case", drop=True),
                    "p_misaligned": ds["estimate"].sel(quantity="p_misaligned", drop=True),
                    "value": ds["value"],
                    "baseline_p_worst_case": ds["baseline"].sel(quantity="p_worst_case", drop=True),
                }
            ).expand_dims(scenario=[label])
        )
        upd = res.update
        info.append((label, upd.pareto_k if upd else 0.0, upd.method if upd else "exact fit"))
    ds = xr.concat(parts, dim="scenario")
    ds["value"] = ds["value"].isel(scenario=0, drop=True)
    ds["ratio_to_no_observation"] = ds["p_worst_case"] / ds["p_worst_case"].isel(scenario=0)
    ds["pareto_k"] = ("scenario", np.array([k for _, k, _ in info], dtype=float))
    ds["method"] = ("scenario", np.array([m for _, _, m in info], dtype=str))
    out = output_dir(args, "training_gaming_vs_worst_case", result)
    df = ds[["p_worst_case", "p_misaligned", "ratio_to_no_observation"]].to_dataframe().reset_index()
    df["value"] = ds["value"].sel(parameter=df["parameter"].to_xarray(), grid=df["grid"].to_xarray()).values
    out.table("training_gaming_vs_worst_case", df)
    summary = pd.DataFrame(
        {
            "scenario": ds["scenario"].values,
            "p_worst_case": ds["baseline_p_worst_case"].values,
            "p_misaligned": ds["p_misaligned"].isel(parameter=0, grid=0).values,
            "pareto_k": ds["pareto_k"].values,
            "method": ds["method"].values,
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

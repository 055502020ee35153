"""Which evaluation next? The value of information of each uncertain quantity for P(worst case).

Usage: ``python analyses/value_of_information.py [--episodes 20 100 400] [--nodes 16] [--draws N --chains N]``.
Perfect information: each assumption no evidence row informs (exact, quadrature over its prior: its first-order Sobol
index) and each declared context's training-gaming rate of the target system (binned joint draws). Preposterior: a
proposed evaluation of ``n`` episodes in each declared context, run on the target system (for a new system the
likelihood of the counts is Rao-Blackwellized over its generated copies) and on each system with published counts.
Writes ``analyses/output/value_of_information/``: ``voi.csv``, ``voi_preposterior.csv``, ``voi.nc``, ``voi.png``.
"""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from riskmodel.analysis.sensitivity import value_of_information
from riskmodel.cli.sensitivity import tables
from riskmodel.results.outputs import analysis_parser, describe, fit_from_args, output_dir


def plot(voi: pd.DataFrame, pre: pd.DataFrame) -> Figure:
    """Left: share of Var(P(W)) removed by learning each quantity. Right: forecast revision per evaluation."""
    largest = pre["episodes"].max()
    p = pre[pre["episodes"] == largest].dropna(subset=["preposterior_shift_sd_relative"])
    p = p.sort_values("preposterior_shift_sd_relative").tail(20)
    fig, (a, b) = plt.subplots(1, 2, figsize=(14, 0.3 * max(len(voi), len(p), 8) + 1.8))
    v = voi.iloc[::-1]
    a.barh(range(len(v)), v["voi_variance_share"], color="tab:green")
    a.set_yticks(range(len(v)), v["learned"], fontsize=7)
    a.set_xlabel("share of Var(P(worst case)) removed if learned exactly")
    a.set_title("perfect information", fontsize=10)
    labels = [f"{e} on {s}" for e, s in zip(p["evaluation"], p["eval_system"], strict=True)]
    b.barh(range(len(p)), p["preposterior_shift_sd_relative"], color="tab:purple")
    b.set_yticks(range(len(p)), labels, fontsize=7)
    b.set_xlabel(f"expected revision of P(worst case) (sd / current value), n = {largest} episodes")
    b.set_title("which evaluation next (preposterior)", fontsize=10)
    fig.subplots_adjust(left=0.22, right=0.98, wspace=1.1, bottom=0.12)
    return fig


def main(argv: list[str] | None = None) -> int:
    """Fit, compute value of information, write and print the rankings."""
    p = analysis_parser(__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, nargs="+", default=[20, 100, 400])
    p.add_argument("--nodes", type=int, default=16, help="quadrature nodes per assumption")
    args = p.parse_args(argv)
    result = fit_from_args(args)
    with_counts = sorted({r.system for r in result.evidence.reasoning_rows()})
    targets = [result.system, *[s for s in with_counts if s != result.system]]
    ds = value_of_information(result, nodes=args.nodes, episodes=args.episodes, eval_systems=targets)
    t = tables("voi", ds)
    out = output_dir(args, "value_of_information", result)
    out.dataset("voi", ds)
    out.table("voi", t["voi"])
    out.table("voi_preposterior", t["voi_preposterior"])
    out.figure("voi", plot(t["voi"], t["voi_preposterior"]), "Value of information for P(worst case)")
    print(t["voi"].to_string(float_format=lambda x: f"{x:.3g}"))
    cols = ["eval_system", "evaluation", "episodes", "preposterior_shift_sd_relative", "preposterior_expected_ess"]
    print(t["voi_preposterior"][cols].head(12).to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    print(describe(out.files))
    print(out.fields["citation"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Power-scaling sensitivity: does any prior fight the data, and which numbers rest on the prior alone?

Usage: ``python analyses/power_scaling.py [--prior assumptions|all] [--draws N --chains N]``. ArviZ's
``psense_summary`` on the log prior and log likelihood of every posterior draw (``riskmodel.model.likelihood``), for
every assumption the evidence informs (each element of a vector one) plus P(worst case) and P(misaligned) of the
target system. By default only the prior file's assumptions are power-scaled (the hierarchical density of the systems'
patterns is part of the model); ``--prior all`` scales the whole log prior. Writes
``analyses/output/power_scaling/``: ``psense.csv``, ``psense.nc``, ``psense.png``.
"""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from riskmodel.analysis.sensitivity import PRIOR_SELECTIONS, power_scaling
from riskmodel.results.outputs import analysis_parser, describe, fit_from_args, output_dir


def plot(ds: xr.Dataset) -> Figure:
    """Prior vs likelihood sensitivity per parameter, with the threshold."""

    def short(name: str) -> str:
        return name if len(name) < 45 else name.split("[")[0] + "[…" + name.split("|")[-1]

    flagged = ["conflict" in str(d) for d in ds["diagnosis"].values]
    names = [short(str(n)) + (" (conflict)" if f else "") for n, f in zip(ds["parameter"].values, flagged, strict=True)]
    y = np.arange(len(names))[::-1]
    thr = float(ds.attrs["threshold"])
    fig, ax = plt.subplots(figsize=(10, 0.3 * len(names) + 1.6))
    ax.barh(y + 0.2, ds["prior_sensitivity"], height=0.4, label="prior", color="tab:orange")
    ax.barh(y - 0.2, ds["likelihood_sensitivity"], height=0.4, label="likelihood", color="tab:blue")
    ax.axvline(thr, color="k", ls="--", lw=1, label=f"threshold {thr:g}")
    ax.set_yticks(y, names, fontsize=7)
    for label, f in zip(ax.get_yticklabels(), flagged, strict=True):
        if f:
            label.set_color("tab:red")
    ax.set_xlabel("power-scaling sensitivity (CJS distance gradient)")
    ax.set_title(f"Power-scaling sensitivity of prior ({ds.attrs.get('prior_scaled', 'assumptions')}) and likelihood")
    ax.legend(fontsize=8, loc="upper right")
    fig.subplots_adjust(left=0.42, bottom=0.1)
    return fig


def main(argv: list[str] | None = None) -> int:
    """Fit, compute power-scaling sensitivity, write and print."""
    p = analysis_parser(__doc__.splitlines()[0])
    p.add_argument("--prior", choices=PRIOR_SELECTIONS, default="assumptions", help="which prior terms to scale")
    args = p.parse_args(argv)
    result = fit_from_args(args)
    ds = power_scaling(result, prior=args.prior)
    out = output_dir(args, "power_scaling", result)
    df = ds.to_dataframe().reset_index()
    out.table("psense", df)
    out.dataset("psense", ds)
    out.figure("psense", plot(ds), "Power-scaling sensitivity")
    print(df.to_string(float_format=lambda x: f"{x:.3g}"))
    print(describe(out.files))
    print(out.fields["citation"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

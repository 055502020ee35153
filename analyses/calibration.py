"""Simulation-based calibration of model 2, with a negative control that the same test must flag.

Usage: ``python analyses/calibration.py [--reps 100] [--negative-reps 50] [--draws 250] [--tune 300] [--seed N]``.
Runs :func:`riskmodel.analysis.calibration.run_sbc` on the reduced simulated evidence structure (five systems, every
kind of counted row) under the default priors, then the negative control (``intercept_aligned``'s prior moved by 2
sds and 4 times narrower when fitting). Writes to ``analyses/output/calibration/``: ranks (CSV and netCDF),
per-quantity uniformity p-values (CSV) and the ECDF-difference rank plot (PNG), each stamped with the package version,
the prior file and evidence structure (sha256), the sampler and its settings.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib import metadata
from pathlib import Path

import xarray as xr

from riskmodel.analysis.calibration import WRONG_PRIOR, SBCResult, plot_ranks, run_sbc
from riskmodel.versions import package_version

OUT = Path(__file__).resolve().parent / "output" / "calibration"


def stamp(res: SBCResult) -> str:
    """One line naming the files and settings behind a result."""
    s = res.settings
    return (
        f"riskmodel {package_version()} SBC ({res.label}) | priors {s['priors']} sha256:{s['priors_sha256']} | "
        f"evidence {s['evidence']} sha256:{s['evidence_sha256']} | nutpie {metadata.version('nutpie')} seed "
        f"{s['seed']} | {s['reps']} reps, {s['chains']}x{s['draws']} draws (tune {s['tune']}), {s['n_ranks']} "
        "thinned draws ranked" + (f" | fitted with a wrong prior {s['wrong_prior']}" if s["wrong_prior"] else "")
    )


def write(res: SBCResult, out: Path) -> None:
    """Ranks, p-values and settings of one SBC run."""
    line = stamp(res)
    test = res.uniformity()
    with open(out / f"ranks_{res.label}.csv", "w") as fh:
        fh.write(f"# {line}\n")
        res.ranks.to_csv(fh, index_label="rep")
    with open(out / f"uniformity_{res.label}.csv", "w") as fh:
        fh.write(
            f"# {line}\n# chi-square on 10 rank bins; flagged when p < {test.attrs['threshold']:.2g}"
            " (alpha 0.01, Bonferroni over quantities)\n"
        )
        test.to_csv(fh)
    ds = xr.Dataset(
        {"rank": (("rep", "quantity"), res.ranks.to_numpy())},
        coords={"rep": res.ranks.index.to_numpy(), "quantity": list(res.ranks.columns)},
        attrs={"citation": line, "settings": json.dumps(res.settings), "n_ranks": res.n_ranks},
    )
    ds.to_netcdf(out / f"ranks_{res.label}.nc")


def main(argv: list[str] | None = None) -> int:
    """Run SBC and its negative control, write the outputs and print the p-values."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--negative-reps", type=int, default=50, help="replications of the negative control")
    ap.add_argument("--draws", type=int, default=250)
    ap.add_argument("--tune", type=int, default=300)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--n-ranks", type=int, default=49, help="thinned draws each true value is ranked among")
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    kw = {"draws": args.draws, "tune": args.tune, "chains": args.chains, "seed": args.seed, "n_ranks": args.n_ranks}
    results = []
    for label, reps, wrong in (("calibrated", args.reps, None), ("negative_control", args.negative_reps, WRONG_PRIOR)):
        t0 = time.perf_counter()
        res = run_sbc(reps, **kw, wrong_prior=wrong, label=label)
        test = res.uniformity()
        write(res, args.out)
        results.append(res)
        print(
            f"{stamp(res)}  ({time.perf_counter() - t0:.0f} s, "
            f"{int(res.diagnostics['divergences'].gt(0).sum())} replications with divergences)"
        )
        print(test.to_string(float_format=lambda x: f"{x:.3g}"))
        print(
            f"smallest p {test['p_value'].min():.3g}; flagged at p < {test.attrs['threshold']:.2g}: "
            f"{', '.join(test.index[test['flagged']]) or 'none'}\n"
        )
    fig = plot_ranks(results)
    fig.text(0.005, 0.005, stamp(results[0]), fontsize=6, color="0.35", ha="left", va="bottom", wrap=True)
    fig.savefig(args.out / "sbc_ecdf.png", dpi=110, metadata={"Description": stamp(results[0])})
    return 0


if __name__ == "__main__":
    sys.exit(main())

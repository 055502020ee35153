"""Simulation-based calibration of the fitted layers, with a negative control that the same test must flag.

Usage: ``python analyses/calibration.py [--reps 100] [--draws 200] [--tune 300] [--chains 2] [--seed N]``.
Writes to ``analyses/output/calibration/``: ranks (CSV and netCDF), per-quantity uniformity p-values (CSV) and an
ECDF-difference plot (PNG), each stamped with the prior and evidence files (name, version, sha256) and the sampler.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib import metadata
from pathlib import Path

import xarray as xr

from riskmodel.analysis.calibration import SBCResult, plot_ranks, run_sbc

OUT = Path(__file__).resolve().parent / "output" / "calibration"
#: The negative control: the aligned intercept's prior moved by 2 prior sds and made 4 times narrower when fitting.
WRONG_PRIOR = ("tg_intercept_aligned", 2.0, 0.25)


def stamp(res: SBCResult) -> str:
    """One line naming the files and settings behind a result."""
    s = res.settings
    return (
        f"riskmodel SBC ({res.label}) | priors {s['priors']} sha256:{s['priors_sha256'][:8]} | evidence "
        f"{s['evidence']} sha256:{s['evidence_sha256'][:8]} | nutpie {metadata.version('nutpie')} seed {s['seed']} | "
        f"{s['reps']} reps, {s['chains']}x{s['draws']} draws (tune {s['tune']}), {s['n_ranks']} thinned draws ranked"
        + (f" | fitted with a wrong prior {s['wrong_prior']}" if s["wrong_prior"] else "")
    )


def write(res: SBCResult, out: Path) -> None:
    """Ranks, p-values and settings of one SBC run."""
    line = stamp(res)
    with open(out / f"ranks_{res.label}.csv", "w") as fh:
        fh.write(f"# {line}\n")
        res.ranks.to_csv(fh, index_label="rep")
    with open(out / f"uniformity_{res.label}.csv", "w") as fh:
        fh.write(
            f"# {line}\n# chi-square on 10 rank bins; flagged when p < {res.uniformity().attrs['threshold']:.2g}"
            " (alpha 0.01, Bonferroni over quantities)\n"
        )
        res.uniformity().to_csv(fh)
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
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--tune", type=int, default=300)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    kw = {"reps": args.reps, "draws": args.draws, "tune": args.tune, "chains": args.chains, "seed": args.seed}
    results = []
    for label, wrong in (("calibrated", None), ("negative_control", WRONG_PRIOR)):
        t0 = time.perf_counter()
        res = run_sbc(**kw, wrong_prior=wrong, label=label)
        test = res.uniformity()
        write(res, args.out)
        results.append(res)
        print(
            f"{stamp(res)}  ({time.perf_counter() - t0:.0f} s, {int(res.diagnostics['divergences'].gt(0).sum())} "
            "replications with divergences)"
        )
        print(test.to_string(float_format=lambda x: f"{x:.3g}"))
        print(f"flagged at p < {test.attrs['threshold']:.2g}: {', '.join(test.index[test['flagged']]) or 'none'}\n")
    fig = plot_ranks(results)
    fig.savefig(args.out / "sbc_ecdf.png", dpi=110, metadata={"Description": stamp(results[0])})
    readme = Path(__file__).resolve().parent / "README.md"
    entry = (
        "- `calibration.py`: simulation-based calibration of the context layer, measurement and disposition "
        "(ranks, chi-square p-values, ECDF plot) plus a negative control; output in `output/calibration/`.\n"
    )
    text = (
        readme.read_text()
        if readme.exists()
        else "# Analyses\n\nScripts that use the library; outputs in `output/`.\n\n"
    )
    if entry not in text:
        readme.write_text(text + entry)
    return 0


if __name__ == "__main__":
    sys.exit(main())

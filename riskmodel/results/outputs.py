"""Stamped output files for analyses and the ``sensitivity`` command: CSV, netCDF and PNG, each naming its source.

Every file carries the citation of the exact fit it was computed from (package version, priors and evidence
``name@version`` with sha256, sampler, seed, draws): CSV files as leading ``# key: value`` comment lines (read them
back with ``pandas.read_csv(path, comment="#")``), netCDF files in their global attributes, PNG figures both in the
picture (a footer line) and in the PNG text metadata. :func:`analysis_parser` and :func:`fit_from_args` are the shared
command-line plumbing of the scripts under ``analyses/``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskmodel.data.registry import DEFAULT_EVIDENCE, DEFAULT_PRIORS
from riskmodel.versions import SAMPLER, SAMPLERS

if TYPE_CHECKING:  # pandas and xarray only in annotations: building the CLI's parser must stay light
    import pandas as pd
    import xarray as xr
    from matplotlib.figure import Figure

    from riskmodel.results.result import FitResult

__all__ = ["OutputDir", "analysis_parser", "describe", "fit_from_args", "json_ready", "output_dir", "stamp_fields"]

#: Where the analyses scripts write, relative to the repository root.
ANALYSES_OUTPUT = Path(__file__).resolve().parents[2] / "analyses" / "output"  # the checkout, beside riskmodel/


def stamp_fields(result: FitResult) -> dict[str, str]:
    """What every output file says about its source: the citation line and its parts."""
    base = result.base or result
    prov = base.provenance
    return {
        "citation": base.citation() if not base.not_citable() else f"not citable: {base.not_citable()}",
        "riskmodel": prov["package_version"],
        "priors": f"{prov['priors']['name']}@{prov['priors']['version']} sha256:{prov['priors']['sha256']}",
        "evidence": f"{prov['evidence']['name']}@{prov['evidence']['version']} sha256:{prov['evidence']['sha256']}",
        "sampler": f"{prov['sampler']} seed {prov['seed']} {prov['chains']}x{prov['draws']} draws",
        "system": prov["system"],
    }


class OutputDir:
    """A folder of stamped outputs for one fit (created if missing); ``files`` lists what was written."""

    def __init__(self, path: str | Path, result: FitResult) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.result = result
        self.fields = stamp_fields(result)
        self.files: list[Path] = []

    def table(self, name: str, df: pd.DataFrame) -> Path:
        """Write ``df`` as ``NAME.csv`` with the stamp as leading comment lines."""
        path = self.path / f"{name}.csv"
        header = "".join(f"# {k}: {v}\n" for k, v in self.fields.items())
        path.write_text(header + df.to_csv(index=False))
        self.files.append(path)
        return path

    def markdown(self, name: str, text: str) -> Path:
        """Write ``text`` as ``NAME.md``, stamped at the top with the citation and the fields of the fit."""
        path = self.path / f"{name}.md"
        stamp = "\n".join(f"- {k}: `{v}`" for k, v in self.fields.items())
        path.write_text(f"<!-- written by riskmodel; do not edit -->\n{text.rstrip()}\n\n## Stamp\n\n{stamp}\n")
        self.files.append(path)
        return path

    def dataset(self, name: str, ds: xr.Dataset) -> Path:
        """Write ``ds`` as ``NAME.nc`` with the stamp (and the fit's provenance) in its global attributes."""
        path = self.path / f"{name}.nc"
        out = ds.copy()
        out.attrs = {**{k: v for k, v in ds.attrs.items() if isinstance(v, str | int | float)}, **self.fields}
        out.attrs.setdefault("provenance", json.dumps((self.result.base or self.result).provenance))
        for name, v in list(out.variables.items()):
            if v.dtype == object:  # netCDF stores text as fixed strings
                if name in out.coords:
                    out = out.assign_coords({name: (v.dims, v.values.astype(str))})
                else:
                    out[name] = (v.dims, v.values.astype(str), v.attrs)
        out.to_netcdf(path)
        self.files.append(path)
        return path

    def figure(self, name: str, fig: Figure, title: str = "") -> Path:
        """Save ``fig`` as ``NAME.png`` with the citation as a footer and in the PNG metadata."""
        fig.text(0.005, 0.005, self.fields["citation"], fontsize=6, color="0.35", ha="left", va="bottom", wrap=True)
        path = self.path / f"{name}.png"
        meta = {
            "Title": title or name,
            "Description": self.fields["citation"],
            "Source": json.dumps(self.fields),
            "Software": f"riskmodel {self.fields['riskmodel']}",
        }
        fig.savefig(path, dpi=130, metadata=meta)
        self.files.append(path)
        return path


def add_fit_arguments(p: argparse.ArgumentParser, *, out: bool = False) -> None:
    """The options of every command that fits: what to fit, the sampler settings and the fit store."""
    p.add_argument(
        "--priors",
        default=DEFAULT_PRIORS,
        help=f"prior set: NAME@VERSION, NAME (its latest release) or a file (default {DEFAULT_PRIORS})",
    )
    p.add_argument(
        "--evidence",
        default=DEFAULT_EVIDENCE,
        help=f"evidence set: NAME@VERSION, NAME (its latest release) or a file (default {DEFAULT_EVIDENCE})",
    )
    p.add_argument("--system", default="new", help="target system (default: 'new', a system drawn from the population)")
    p.add_argument("--seed", type=int, default=1, help="seed of the sampler and the generated draws (default 1)")
    p.add_argument("--draws", type=int, default=1000, help="draws per chain after tuning (default 1000)")
    p.add_argument("--chains", type=int, default=4, help="number of chains (default 4)")
    p.add_argument("--tune", type=int, default=1000, help="tuning iterations per chain (default 1000)")
    p.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default=SAMPLER,
        help=f"NUTS implementation (default {SAMPLER}; numpyro needs the jax extra); named in the citation",
    )
    p.add_argument(
        "--cache-dir", default=None, help="fit store folder (default: $RISKMODEL_CACHE_DIR or the user cache)"
    )
    p.add_argument(
        "--no-cache", dest="cache", action="store_false", help="always sample; do not read or write the fit store"
    )
    p.add_argument(
        "--max-seconds",
        dest="max_seconds",
        type=float,
        default=None,
        help="stop sampling after this many seconds: the fit is then flagged (never healthy) and not stored",
    )
    if out:
        p.add_argument("--out", default=None, help="output folder (default: analyses/output/<name>/)")


def analysis_parser(description: str) -> argparse.ArgumentParser:
    """The options every analyses script takes (the fit to analyse, and where to write)."""
    p = argparse.ArgumentParser(description=description)
    add_fit_arguments(p, out=True)
    return p


def fit_from_args(args: argparse.Namespace, *, progress: bool = False) -> FitResult:
    """Fit the model the command-line options name."""
    from riskmodel.results.result import fit

    return fit(
        args.priors,
        args.evidence,
        system=args.system,
        seed=args.seed,
        draws=args.draws,
        chains=args.chains,
        tune=getattr(args, "tune", 1000),
        sampler=getattr(args, "sampler", SAMPLER),
        progress=progress,
        cache=getattr(args, "cache", True),
        cache_dir=getattr(args, "cache_dir", None),
        max_seconds=getattr(args, "max_seconds", None),
    )


def output_dir(args: argparse.Namespace, name: str, result: FitResult) -> OutputDir:
    """The script's output folder: ``--out`` or ``analyses/output/<name>/``."""
    return OutputDir(Path(args.out) if args.out else ANALYSES_OUTPUT / name, result)


def describe(files: list[Path]) -> str:
    """One line per written file (what the scripts print)."""
    return "\n".join(f"wrote {p}" for p in files)


def json_ready(obj: Any) -> Any:
    """Floats and lists from numpy scalars/arrays, recursively, with non-finite numbers as null (for ``--json``).

    ``json.dumps(json_ready(x), allow_nan=False)`` then never writes the non-standard tokens NaN or Infinity.
    """
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_ready(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj

"""Speed of fitting, measured side by side in one run (prints figures; asserts nothing).

    python benchmarks/fit_speed.py

Figures:
- cold `riskmodel run` in a new process with empty compile and elicitation caches, then warm (same caches);
- peak memory of that process;
- in one process: first fit (compiles), refit after changing a prior hyperparameter, refit after changing the
  evidence counts, and plain `pm.sample(nuts_sampler="nutpie")` on the same model (which recompiles), with the ratio;
- divergences on the default priors and evidence.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed_cli(env: dict[str, str]) -> tuple[float, float, int]:
    """Wall time, peak RSS (GiB) and exit code of `riskmodel run` on the defaults in a new process."""
    t = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(
        [sys.executable, "-m", "riskmodel.cli", "run", "--no-progress"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t
    peak = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 2**20
    return wall, peak, proc.returncode


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        env["PYTENSOR_FLAGS"] = f"base_compiledir={tmp}/pytensor"
        env["XDG_CACHE_HOME"] = f"{tmp}/cache"
        cold, peak_cold, rc1 = timed_cli(env)
        warm, peak_warm, rc2 = timed_cli(env)
    print(f"riskmodel run, new process, empty caches : {cold:6.1f} s  (exit {rc1}, peak RSS {peak_cold:.2f} GiB)")
    print(f"riskmodel run, new process, warm caches  : {warm:6.1f} s  (exit {rc2}, peak RSS {peak_warm:.2f} GiB)")

    import pymc as pm

    import riskmodel
    from riskmodel.data.evidence import load_evidence
    from riskmodel.data.priors import load_priors
    from riskmodel.model.graph import build_model
    from riskmodel.model.spec import model_data

    t = time.perf_counter()
    first = riskmodel.fit(seed=1)
    t_first = time.perf_counter() - t
    priors = load_priors("baseline")
    sens = priors["reasoning_sensitivity"]
    changed = priors.with_parameter(replace(sens, params={"alpha": 12.0, "beta": 3.0}, interval90=None))
    t = time.perf_counter()
    riskmodel.fit(changed, seed=1)
    t_prior = time.perf_counter() - t
    ev = load_evidence()
    first_row = ev.reasoning_rows()[0]
    recounted = replace(ev, rows=tuple(replace(r, k=60, rate=0.15) if r is first_row else r for r in ev.rows))
    t = time.perf_counter()
    riskmodel.fit(priors, recounted, seed=1)
    t_evidence = time.perf_counter() - t
    model = build_model(model_data(priors, ev), likelihood=True)
    t = time.perf_counter()
    with model:
        pm.sample(
            draws=1000,
            tune=1000,
            chains=4,
            nuts_sampler="nutpie",
            random_seed=1,
            progressbar=False,
            nuts_sampler_kwargs={"target_accept": 0.9},
        )
    t_plain = time.perf_counter() - t
    print(f"first fit in this process (compiles)       : {t_first:6.1f} s")
    print(f"refit after a prior hyperparameter change  : {t_prior:6.1f} s")
    print(f"refit after an evidence change             : {t_evidence:6.1f} s  (new counts, same rows)")
    print(f"plain pm.sample(nuts_sampler='nutpie')     : {t_plain:6.1f} s  -> refit is {t_plain / t_prior:.1f}x faster")
    print(f"divergences on the defaults (seed 1)       : {first.diagnostics.divergences}")
    print(
        f"max r_hat / min bulk ESS                   : {first.diagnostics.max_r_hat:.4f} / "
        f"{first.diagnostics.min_ess_bulk:.0f}"
    )


if __name__ == "__main__":
    main()

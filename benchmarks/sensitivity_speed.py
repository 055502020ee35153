"""How fast is the full sensitivity report, and how much faster than refitting at every grid point?

Usage: ``python benchmarks/sensitivity_speed.py [--draws 1000] [--chains 4] [--refit-points 2]``.

Measured side by side in one run (no asserts on time):

1. the default fit (read from the fit store when it holds it; compile + sampling otherwise), for reference;
2. the full default report on it, no refits (what ``riskmodel sensitivity --method all`` computes): the tornado
   over every assumption of the prior file x 21 points, power scaling, Sobol indices with N = 1024 base samples, value
   of information for every uninformed assumption, every declared context's rate and a preposterior evaluation of the
   target in every declared context;
3. against refitting: on a subset (``--refit-points`` reweighted grid points of the ``p_misaligned`` sweep) the same
   points are refit exactly with the fit's settings (fit store off, the compiled model reused); the ratio of refit
   time per point to reweighted time per point, the ratio for the whole report (every tornado grid point refit vs the
   report), and the agreement of each reweighted point with its refit in units of their combined Monte Carlo
   standard error. A fixed (uninformed) point is exact, so only the informed points have a refit to compare with.
"""

from __future__ import annotations

import argparse
import math
import time

from riskmodel.analysis.parallel import refit_sweep
from riskmodel.analysis.sensitivity import METHODS, location_prior, one_way, sensitivity_report
from riskmodel.results.result import fit


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--refit-points", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    result = fit(seed=args.seed, chains=args.chains, draws=args.draws)
    t_fit = time.perf_counter() - t0
    print(f"default fit ({args.chains}x{args.draws} draws; fit store or compile + sampling): {t_fit:.1f} s")
    print(result.citation())

    t0 = time.perf_counter()
    report = sensitivity_report(result, METHODS)
    t_report = time.perf_counter() - t0
    tornado = report["tornado"]
    n_points = tornado.sizes["parameter"] * tornado.sizes["grid"]
    counts = {m: int((tornado["method"] == m).sum()) for m in ("fixed", "reweighted", "skipped")}
    print(f"\nfull default report, no refits: {t_report:.1f} s")
    for m, ds in report.items():
        print(f"  {m:8s} {ds.attrs['seconds']:6.1f} s")
    print(
        f"  tornado: {tornado.sizes['parameter']} assumptions x {tornado.sizes['grid']} points = {n_points} points "
        f"({counts['fixed']} fixed, {counts['reweighted']} reweighted, {counts['skipped']} skipped: Pareto k > 0.7)"
    )
    print(f"  Sobol: N = {report['sobol'].attrs['n_base']}, {report['sobol'].attrs['evaluations']} evaluations")

    # the subset: reweighted points of the p_misaligned sweep, timed alone, then refit exactly
    t0 = time.perf_counter()
    sweep = one_way(result, ["p_misaligned"], points=21)
    t_sweep = time.perf_counter() - t0
    per_point_rw = t_sweep / 21
    ok = [j for j in range(21) if sweep["method"].sel(parameter="p_misaligned", grid=j).item() == "reweighted"]
    chosen = [ok[round(i * (len(ok) - 1) / max(args.refit_points - 1, 1))] for i in range(args.refit_points)]
    prior = result.priors["p_misaligned"]
    priors = [
        result.priors.with_parameter(location_prior(prior, float(prior.quantile(float(sweep["level"][j])))))
        for j in chosen
    ]
    from riskmodel.model import sampling

    t0 = time.perf_counter()
    sampling.compiled_model(result.data)  # compile once, untimed below (a fit read from the store never compiled)
    print(f"\ncompiling the model for the refits (once per process): {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    refits = refit_sweep(
        priors,
        result.evidence,
        system=result.system,
        seed=result.seed,
        chains=result.chains,
        draws=result.draws,
        tune=result.tune,
        cache=False,
    )
    per_point_refit = (time.perf_counter() - t0) / len(chosen)
    print(f"subset: {len(chosen)} grid points of the p_misaligned sweep (prior median shifted)")
    print(f"  reweighted: {per_point_rw * 1000:.1f} ms per point (21-point sweep in {t_sweep:.2f} s)")
    print(f"  refit:      {per_point_refit:.1f} s per point (same chains, draws, tune, seed; compiled model reused)")
    print(f"  speed-up per point, refit / reweighted: {per_point_refit / per_point_rw:,.0f}x")
    print(
        f"  speed-up of the report over refitting every tornado point: ~{n_points * per_point_refit:,.0f} s vs "
        f"{t_report:.1f} s = {n_points * per_point_refit / t_report:,.0f}x"
    )
    print("  agreement (reweighted vs refit, P(worst case) of the target system):")
    worst = 0.0
    for j, r in zip(chosen, refits, strict=True):
        rw = sweep["estimate"].sel(parameter="p_misaligned", grid=j, quantity="p_worst_case").item()
        se_rw = sweep["mcse_p_worst_case"].sel(parameter="p_misaligned", grid=j).item()
        se = math.hypot(se_rw, r["mcse_p_worst_case"])
        z = abs(rw - r["p_worst_case"]) / se
        worst = max(worst, z)
        print(
            f"    prior median {sweep['value'].sel(parameter='p_misaligned', grid=j).item():.3f} "
            f"(Pareto k {sweep['pareto_k'].sel(parameter='p_misaligned', grid=j).item():.2f}): reweighted "
            f"{rw:.5f} vs refit {r['p_worst_case']:.5f}, |diff| = {z:.2f} combined MCSE"
        )
    print(f"  within Monte Carlo error (|diff| < 3 MCSE): {'yes' if worst < 3 else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

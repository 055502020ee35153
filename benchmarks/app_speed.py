"""Speed of the explorer's fast updates against refitting, measured side by side in one run (prints; no asserts).

    python benchmarks/app_speed.py

Figures: median library update time after an assumption change (no MCMC) and after a data-connected prior change
(PSIS reweighting), the naive alternative (a refit per change) and the ratio, the agreement of reweighted and refit
P(worst case) in Monte Carlo standard errors, and the median AppTest rerun after a slider change.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

import riskmodel
from riskmodel.model.summaries import mcse_of_mean, weighted_mean

ROOT = Path(__file__).resolve().parent.parent


def p_worst(result: riskmodel.FitResult) -> float:
    """Posterior mean P(worst case) of the new system (what the page shows first)."""
    return weighted_mean(result.quantities["p_worst_case"].sel(system="new"), result.weights)


def main() -> None:
    base = riskmodel.fit(seed=1)
    priors = base.priors
    t_assumption, t_connected, pairs = [], [], []
    for i, mean in enumerate(np.linspace(0.2, 0.8, 15)):
        new = priors.with_parameter(
            replace(priors["coordination"], params={"alpha": 10 * mean, "beta": 10 * (1 - mean)}, interval90=None)
        )
        t = time.perf_counter()
        p_worst(riskmodel.update(base, new))
        t_assumption.append(time.perf_counter() - t)
        a = priors["p_misaligned"].params["alpha"] * (0.85 + 0.02 * i)
        new = priors.with_parameter(replace(priors["p_misaligned"], params={"alpha": a, "beta": 10.5}, interval90=None))
        t = time.perf_counter()
        up = riskmodel.update(base, new, allow_refit=False)
        p_worst(up)
        t_connected.append(time.perf_counter() - t)
        pairs.append((new, up))
    t_refit, z = [], []
    for new, up in pairs[::5]:
        t = time.perf_counter()
        refit = riskmodel.fit(new, seed=1)
        p_refit = p_worst(refit)
        t_refit.append(time.perf_counter() - t)
        a = up.quantities["p_worst_case"].sel(system="new")
        se = np.hypot(mcse_of_mean(a, up.weights), mcse_of_mean(refit.quantities["p_worst_case"].sel(system="new")))
        z.append((p_worst(up) - p_refit) / se)
    ks = [up.update.pareto_k for _, up in pairs]
    med_a, med_c, med_r = (statistics.median(x) for x in (t_assumption, t_connected, t_refit))
    print(f"update after an assumption change (redraw, no MCMC)   : median {1000 * med_a:7.1f} ms")
    print(f"update after a data-connected change (PSIS, k <= {max(ks):.2f}) : median {1000 * med_c:7.1f} ms")
    print(f"naive refit per change (same process, compiled model)  : median {1000 * med_r:7.1f} ms")
    print(f"speed-up vs refit: assumption {med_r / med_a:.0f}x, data-connected {med_r / med_c:.0f}x")
    print(f"reweighted - refit P(worst case), in combined MCSE      : {', '.join(f'{x:+.2f}' for x in z)}")

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
    at.radio(key="mode.coordination").set_value("mean and strength").run()
    reruns = []
    for mean in np.linspace(0.3, 0.9, 10):
        t = time.perf_counter()
        at.slider(key="mean.coordination").set_value(float(round(mean, 3))).run()
        reruns.append(time.perf_counter() - t)
    print(f"AppTest rerun after a slider change                    : median {1000 * statistics.median(reruns):7.1f} ms")


if __name__ == "__main__":
    main()

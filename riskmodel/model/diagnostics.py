"""Sampler health: divergences, r_hat and ESS of the parameters, and the Monte Carlo error of every headline number.

The parameters' rank-based diagnostics can all pass while a derived probability is carried by a few draws (a mean of
per-draw probabilities that are 1e-60 for most draws and 0.98 for a few). So the health check also measures, for
every headline number (per-system P(misaligned) and P(worst case), and every Bayes factor), the Monte Carlo standard
error from the ESS of that very mean, and fails a headline whose MCSE exceeds :data:`HEADLINE_MCSE_MAX` of its value.
Any non-finite diagnostic or draw is a failure, never a pass.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["ESS_MIN", "HEADLINE_MCSE_MAX", "R_HAT_MAX", "Diagnostics", "diagnose", "fmt_vs", "with_headlines"]

R_HAT_MAX = 1.01
ESS_MIN = 400
#: A headline fails when its Monte Carlo standard error exceeds this share of its value.
HEADLINE_MCSE_MAX = 0.10


@dataclass(frozen=True)
class Diagnostics:
    """Sampler health: divergences, worst r_hat, smallest bulk and tail ESS, headline MCSE, plain-language warnings.

    ``headline_mcse`` maps each headline number to (value, MCSE, ESS of its mean).
    """

    divergences: int
    max_r_hat: float
    min_ess_bulk: float
    min_ess_tail: float
    warnings: tuple[str, ...]
    headline_mcse: dict[str, tuple[float, float, float]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every check passed: no warning, every diagnostic and headline number finite (NaN never passes)."""
        finite = all(math.isfinite(x) for x in (self.max_r_hat, self.min_ess_bulk, self.min_ess_tail))
        heads = all(math.isfinite(v) and math.isfinite(s) for v, s, _ in self.headline_mcse.values())
        return not self.warnings and finite and heads

    @property
    def max_relative_mcse(self) -> float:
        """Largest MCSE / value over the headline numbers (NaN when none was measured)."""
        rel = [s / v for v, s, _ in self.headline_mcse.values() if v > 0]
        return max(rel) if rel else float("nan")

    def as_record(self) -> dict[str, Any]:
        """Everything, exactly (for the fit store): :meth:`from_dict` restores an equal object."""
        return {
            "divergences": self.divergences,
            "max_r_hat": repr(self.max_r_hat),
            "min_ess_bulk": repr(self.min_ess_bulk),
            "min_ess_tail": repr(self.min_ess_tail),
            "warnings": list(self.warnings),
            "headline_mcse": {k: [repr(x) for x in v] for k, v in self.headline_mcse.items()},
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Diagnostics:
        """The diagnostics :meth:`as_record` wrote."""
        return cls(
            int(doc["divergences"]),
            float(doc["max_r_hat"]),
            float(doc["min_ess_bulk"]),
            float(doc["min_ess_tail"]),
            tuple(doc["warnings"]),
            {k: tuple(float(x) for x in v) for k, v in doc["headline_mcse"].items()},
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""

        def num(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {
            "divergences": self.divergences,
            "max_r_hat": num(self.max_r_hat),
            "min_ess_bulk": num(self.min_ess_bulk),
            "min_ess_tail": num(self.min_ess_tail),
            "max_relative_mcse": num(self.max_relative_mcse),
            "headline_mcse": {
                k: {"value": num(v), "mcse": num(s), "ess_mean": num(e)} for k, (v, s, e) in self.headline_mcse.items()
            },
            "warnings": list(self.warnings),
            "ok": self.ok,
        }


def fmt_vs(x: float | None, threshold: float) -> str:
    """``x`` with enough significant digits (at least three) that it compares with ``threshold`` as ``x`` does.

    A value just past a threshold then never prints as equal to it: r_hat 1.0104 against 1.01 prints as ``1.0104``,
    not ``1.01``; an ESS of 399.6 against 400 prints as ``399.6``, not ``400``.
    """
    if x is None or not math.isfinite(x):
        return "n/a"
    for digits in range(3, 18):
        text = f"{x:.{digits}g}"
        y = float(text)
        if (y > threshold) == (x > threshold) and (y < threshold) == (x < threshold):
            return text
    return repr(x)  # pragma: no cover - 17 significant digits always round-trip


def diagnose(trace: xr.DataTree, var_names: list[str], *, expected_draws: int | None = None) -> Diagnostics:
    """Check divergences, r_hat and ESS of ``var_names`` against the thresholds and explain any failure."""
    import arviz as az

    post = trace["posterior"]
    warns = []
    n_draws = int(post.sizes.get("draw", 0))
    if expected_draws is not None and n_draws != expected_draws:
        warns.append(f"the fit has {n_draws} draws per chain, not the {expected_draws} asked for: it is incomplete.")
    bad = [v for v in var_names if not np.all(np.isfinite(post[v].values))]
    if bad:
        warns.append(f"non-finite draws of {bad[0]}: the fit is incomplete or broken; do not use these numbers.")
    div = int(np.nansum(trace["sample_stats"]["diverging"].values))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        rhat = az.rhat(trace, var_names=var_names)
        ess_b = az.ess(trace, var_names=var_names, method="bulk")
        ess_t = az.ess(trace, var_names=var_names, method="tail")

    def extreme(ds: xr.Dataset, fn: Any) -> float:
        vals = np.concatenate([np.ravel(ds[v].values) for v in ds.data_vars]) if ds.data_vars else np.zeros(0)
        if vals.size == 0 or not np.all(np.isfinite(vals)):
            return float("nan")
        return float(fn(vals))

    max_rhat, min_b, min_t = extreme(rhat, np.max), extreme(ess_b, np.min), extreme(ess_t, np.min)
    if div:
        warns.append(
            f"{div} divergent transitions: the sampler may have missed part of the posterior; treat the "
            "numbers as suspect."
        )
    if not math.isfinite(max_rhat):
        warns.append("r_hat could not be computed (too few draws, or non-finite draws): the fit cannot be trusted.")
    elif max_rhat > R_HAT_MAX:
        warns.append(
            f"max r_hat {fmt_vs(max_rhat, R_HAT_MAX)} > {R_HAT_MAX}: chains disagree; "
            "run more draws or check the priors."
        )
    ess = min(min_b, min_t)
    if not math.isfinite(ess):
        warns.append("the effective sample size could not be computed: the fit cannot be trusted.")
    elif ess < ESS_MIN:
        warns.append(
            f"smallest effective sample size {fmt_vs(ess, ESS_MIN)} < {ESS_MIN}: Monte Carlo error is large; "
            "run more draws."
        )
    return Diagnostics(div, max_rhat, min_b, min_t, tuple(warns))


def with_headlines(
    diag: Diagnostics, headlines: dict[str, tuple[float, float, float]], nonfinite: list[str] | None = None
) -> Diagnostics:
    """``diag`` with the Monte Carlo error of each headline number checked (value, MCSE, ESS of the mean).

    ``nonfinite`` names reported quantities that hold NaN or infinite draws: each is a failure (a number computed from
    them could be anything), named in one warning.
    """
    warns = list(diag.warnings)
    if nonfinite:
        more = f" (and {len(nonfinite) - 1} more)" if len(nonfinite) > 1 else ""
        warns.append(
            f"non-finite values of {nonfinite[0]}{more}: the reported numbers are not trustworthy; check the priors."
        )
    failed = []
    for name, (value, mcse, _) in headlines.items():
        if not (math.isfinite(value) and math.isfinite(mcse)):
            failed.append(f"{name} is not a finite number")
        elif value > 0 and mcse > HEADLINE_MCSE_MAX * value:
            failed.append(f"{name} = {value:.3g} has Monte Carlo error {mcse:.2g} ({mcse / value:.0%} of it)")
    if failed:
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        warns.append(
            f"{failed[0]}{more}: above {HEADLINE_MCSE_MAX:.0%}, a few draws carry the number; run more draws "
            "before citing it."
        )
    return replace(diag, warnings=tuple(warns), headline_mcse=dict(headlines))

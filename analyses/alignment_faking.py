"""Worked analysis: what the published alignment-faking evidence says, and whether training-gaming is context-dependent.

Usage: ``python analyses/alignment_faking.py [--draws 1000] [--chains 4] [--seed 1] [--out DIR]``.

Fits the default evidence (published-evals@1.0.0) under the baseline priors and writes to
``analyses/output/alignment_faking/``, every file stamped with the citation (package version, prior and evidence
files with sha256, seed): the posterior of each context effect, the comparison of (a) monolithic, (b) context-dependent
and (c) context-dependent + disposition mixture models, P(misaligned | evidence) per system, what the evidence does to
P(worst case) and its Bayes factor, the prior-to-posterior contraction per parameter, the posterior predictive check
per row, the effect of switching on the ME24 capability likelihood, figures (PNG) and a one-page ``report.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import riskmodel
from riskmodel.analysis.comparison import (
    MODEL_LABELS,
    compare_models,
    contraction_table,
    plot_ppc,
    posterior_predictive,
)
from riskmodel.data.evidence import load_evidence
from riskmodel.interactive.update import informed_parameters
from riskmodel.results.result import FitResult
from riskmodel.versions import package_version

OUT = Path(__file__).resolve().parent / "output" / "alignment_faking"
PRIORS = "baseline@1.1.0"
EVIDENCE = "published-evals@1.0.0"
#: Rows the package model's 90% posterior predictive interval is expected to miss, with why (none today; the test
#: tests/test_comparison.py holds the same list and checks every other row is covered).
EXPECTED_MISSES: dict[str, str] = {}


def stamp_line(result: FitResult) -> str:
    """The citation and provenance every output carries."""
    p = result.provenance
    line = (
        f"riskmodel {package_version()} | priors {p['priors']['name']}@{p['priors']['version']} "
        f"sha256:{p['priors']['sha256']} | evidence {p['evidence']['name']}@{p['evidence']['version']} "
        f"sha256:{p['evidence']['sha256']} | {p['sampler']} seed {p['seed']} | {p['chains']}x{p['draws']} draws"
    )
    if result.chains == 4 and result.draws == 1000 and result.exact:
        line = result.citation() + "  ||  " + line
    return line


def write_csv(df: pd.DataFrame, path: Path, stamp: str) -> None:
    """A CSV whose first line is ``# <stamp>`` (read it back with ``pd.read_csv(path, comment="#")``)."""
    with open(path, "w") as fh:
        fh.write(f"# {stamp}\n")
        df.to_csv(fh)


def save_fig(fig: Any, path: Path, stamp: str) -> None:
    """A PNG with the stamp printed under the figure and in its metadata."""
    fig.text(0.005, 0.002, stamp, fontsize=5, color="grey", ha="left", va="bottom", wrap=True)
    fig.savefig(path, dpi=130, metadata={"Description": stamp})


def interval(da: Any, prob: float = 0.9) -> tuple[float, float, float]:
    """Mean and central interval of the draws of ``da``."""
    v = np.asarray(da).ravel()
    return float(v.mean()), float(np.quantile(v, (1 - prob) / 2)), float(np.quantile(v, (1 + prob) / 2))


def context_effects(result: FitResult) -> pd.DataFrame:
    """Prior and posterior of every context effect (log-odds), per disposition, and of the setting effects."""
    post, prior = result.posterior, result.prior_draws
    rows = []
    for d in post["disposition"].values:
        for f in post["feature"].values:
            sel = {"disposition": d, "feature": f}
            pm_, plo, phi = interval(post["context_effect"].sel(sel))
            qm, qlo, qhi = interval(prior["context_effect"].sel(sel))
            rows.append(("context_effect", str(f), str(d), qm, qlo, qhi, pm_, plo, phi))
    for s in post["setting"].values if "setting_effect" in post else []:
        pm_, plo, phi = interval(post["setting_effect"].sel(setting=s))
        qm, qlo, qhi = interval(prior["setting_effect"].sel(setting=s))
        rows.append(("setting_effect", str(s), "both", qm, qlo, qhi, pm_, plo, phi))
    for d in post["disposition"].values:
        pm_, plo, phi = interval(post["tg_intercept"].sel(disposition=d))
        qm, qlo, qhi = interval(prior["tg_intercept"].sel(disposition=d))
        rows.append(("tg_intercept", "reference context", str(d), qm, qlo, qhi, pm_, plo, phi))
    df = pd.DataFrame(
        rows,
        columns=["variable", "effect", "disposition", "prior_mean", "prior_5%", "prior_95%", "mean", "5%", "95%"],
    )
    df["contraction"] = 1 - ((df["95%"] - df["5%"]) / (df["prior_95%"] - df["prior_5%"])) ** 2
    return df


def plot_context_effects(df: pd.DataFrame) -> Any:
    """Prior vs posterior 90% intervals of each context effect (aligned disposition; misaligned differs only in the
    value-conflict effect)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sub = df[(df["disposition"].isin(["aligned", "both"])) | (df["effect"] == "value_conflict")]
    names = {"tg_intercept": "intercept (log-odds, not a shift)", "setting_effect": "setting"}
    labels = [f"{names.get(r.variable, '')} {r.effect} ({r.disposition})".strip() for r in sub.itertuples()]
    y = np.arange(len(sub))[::-1]
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(sub) + 1.5))
    ax.hlines(y + 0.15, sub["prior_5%"], sub["prior_95%"], color="grey", lw=4, alpha=0.5, label="prior 90%")
    ax.hlines(y - 0.15, sub["5%"], sub["95%"], color="tab:blue", lw=4, label="posterior 90%")
    ax.plot(sub["mean"], y - 0.15, "o", color="tab:blue", ms=4)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("log-odds shift of training-gaming")
    ax.set_title("Context effects: prior vs posterior (published-evals@1.0.0)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def misaligned_table(result: FitResult) -> pd.DataFrame:
    """P(misaligned | evidence) per system (before training and after, with reinforcement) against the prior."""
    rep = result.report()
    rows = []
    for s, v in rep["per_system"].items():
        q = result.quantities.sel(system=s)
        rows.append(
            {
                "system": s,
                "prior_mean": v["p_misaligned_prior"]["mean"],
                "posterior_mean": v["p_misaligned"]["mean"],
                "posterior_5%": v["p_misaligned"]["lower"],
                "posterior_95%": v["p_misaligned"]["upper"],
                "after_training_mean": float(q["p_misaligned_post"].mean()),
                "has_training_gaming_counts": s in {r.system for r in result.evidence.likelihood_rows()},
            }
        )
    return pd.DataFrame(rows).set_index("system")


def worst_case_table(result: FitResult) -> pd.DataFrame:
    """P(worst case) prior vs posterior and its Bayes factor, per system."""
    rep = result.report()
    rows = []
    for s, v in rep["per_system"].items():
        q0 = result.prior_quantities.sel(system=s)["p_worst_case"]
        bf = v["bayes_factor_worst_case"]
        rows.append(
            {
                "system": s,
                "prior_mean": float(q0.mean()),
                "posterior_mean": v["p_worst_case"]["mean"],
                "posterior_5%": v["p_worst_case"]["lower"],
                "posterior_95%": v["p_worst_case"]["upper"],
                "bayes_factor": bf.get("bayes_factor", bf.get("value", float("nan"))),
                **{f"bf_{k}": val for k, val in bf.items() if k not in ("bayes_factor", "value")},
            }
        )
    return pd.DataFrame(rows).set_index("system")


def capability_effect(base: FitResult, args: argparse.Namespace) -> tuple[pd.DataFrame, FitResult]:
    """Refit with the ME24 capability likelihood switched on and compare the capability and worst-case numbers."""
    ev = load_evidence(EVIDENCE).with_capability_likelihood({"ME24"})
    on = riskmodel.fit(PRIORS, ev, seed=args.seed, chains=args.chains, draws=args.draws)
    rows = []
    for label, res in (("off (default)", base), ("on (ME24)", on)):
        for s in ("new", "claude-3-opus", "o1"):
            q = res.quantities.sel(system=s)
            rows.append(
                {
                    "capability_likelihood": label,
                    "system": s,
                    "cross_context_strategizing_mean": float(res.posterior["cross_context_strategizing"].mean()),
                    "cross_context_strategizing_prior_mean": float(
                        res.prior_draws["cross_context_strategizing"].mean()
                    ),
                    "p_worst_case_mean": float(q["p_worst_case"].mean()),
                    "p_worst_case_prior_mean": float(res.prior_quantities.sel(system=s)["p_worst_case"].mean()),
                    "informed_capabilities": ",".join(
                        sorted(informed_parameters(res.data) & set(riskmodel.data.priors.CAPABILITIES))
                    ),
                    "evidence_sha256": res.evidence.subset_sha256,
                }
            )
    return pd.DataFrame(rows), on


def fmt_i(m: float, lo: float, hi: float, nd: int = 2) -> str:
    """``m [lo, hi]`` (two significant digits below 0.01)."""

    def f(x: float) -> str:
        return f"{x:.2g}" if 0 < abs(x) < 0.01 else f"{x:.{nd}f}"

    return f"{f(m)} [{f(lo)}, {f(hi)}]"


def uninformed_features(result: FitResult) -> list[str]:
    """Context-effect features that no likelihood row has (their posterior is their prior)."""
    from riskmodel.data.features import DESIGN_COLUMNS

    x = np.concatenate([result.data.x_reasoning, result.data.x_pair])
    return [c for j, c in enumerate(DESIGN_COLUMNS) if not x[:, j].any()]


def reading(cmp: Any) -> str:
    """Plain-language reading of the comparison, following the verdicts (never stronger than they are)."""
    pairs = cmp.pairs
    out = []
    for a, b in (("monolithic", "context"), ("monolithic", "mixture"), ("context", "mixture")):
        if (a, b) not in pairs.index:
            continue
        r = pairs.loc[(a, b)]
        out.append(f"{b} vs {a}: {r['elpd_diff']:+.1f} elpd (SE {r['se']:.1f}), {r['verdict']}")
    fa = cmp.fits.get("monolithic")
    fc = cmp.fits.get("mixture")
    text = "; ".join(out) + "."
    if fa is not None and fc is not None:
        worst = fc.rows[int(np.argmax(np.abs(fc.elpd_i - fa.elpd_i)))]
        text += (
            f" The row that separates the monolithic model most is {worst.label}. With 8 rows the standard error "
            "of an elpd difference is itself rough (the normal approximation behind the 2 SE rule needs more rows), "
            "so the verdicts are stated with their numbers."
        )
    if ("context", "mixture") in pairs.index and pairs.loc[("context", "mixture")]["verdict"] == "no preference":
        text += (
            " The two context-dependent models predict the rows alike: these data cannot tell whether the "
            "disposition mixture is needed (it matters for P(misaligned), not for the fit to the counts)."
        )
    return text


def main(argv: list[str] | None = None) -> int:
    """Run the analysis and write every output; returns 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000, help="draws per chain (4x1000 reproduces the cited fit)")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()

    result = riskmodel.fit(PRIORS, EVIDENCE, seed=args.seed, chains=args.chains, draws=args.draws, tune=args.tune)
    stamp = stamp_line(result)
    print(f"fit done ({time.time() - t0:.0f} s): {stamp}", flush=True)

    effects = context_effects(result)
    write_csv(effects, out / "context_effects.csv", stamp)
    save_fig(plot_context_effects(effects), out / "context_effects.png", stamp)

    cmp = compare_models(
        PRIORS,
        EVIDENCE,
        seed=args.seed,
        chains=args.chains,
        draws=args.draws,
        tune=args.tune,
        posteriors={"mixture": result.posterior},
        refit={"chains": min(args.chains, 2), "draws": args.draws, "tune": args.tune},
    )
    print(f"comparison done ({time.time() - t0:.0f} s)", flush=True)
    write_csv(cmp.table, out / "comparison.csv", stamp)
    write_csv(cmp.pairs, out / "comparison_pairs.csv", stamp)
    pointwise = pd.DataFrame(
        {
            **{f"elpd_{m}": f.elpd_i for m, f in cmp.fits.items()},
            **{f"pareto_k_{m}": f.pareto_k.values for m, f in cmp.fits.items()},
        },
        index=pd.Index([r.id for r in cmp.fits["mixture"].rows], name="row"),
    )
    write_csv(pointwise, out / "comparison_pointwise.csv", stamp)

    ppcs = {m: posterior_predictive(f, seed=args.seed) for m, f in cmp.fits.items()}
    ppc_all = pd.concat(ppcs, names=["model"])
    write_csv(ppc_all, out / "ppc.csv", stamp)
    reference = [r for r in result.evidence.reference_rows() if r.rate is not None and not r.has_counts]
    save_fig(plot_ppc(ppcs, reference), out / "ppc.png", stamp)

    contraction = contraction_table(result.posterior, result.prior_draws, informed_parameters(result.data))
    write_csv(contraction, out / "contraction.csv", stamp)
    mis = misaligned_table(result)
    write_csv(mis, out / "p_misaligned.csv", stamp)
    wc = worst_case_table(result)
    write_csv(wc, out / "worst_case.csv", stamp)
    cap, cap_fit = capability_effect(result, args)
    write_csv(cap, out / "capability_likelihood.csv", stamp)
    print(f"capability refit done ({time.time() - t0:.0f} s)", flush=True)

    report = render_report(result, stamp, effects, cmp, ppcs, contraction, mis, wc, cap, cap_fit)
    (out / "report.md").write_text(report)
    (out / "stamp.json").write_text(json.dumps({"stamp": stamp, "provenance": result.provenance}, indent=2))
    print(f"wrote {out} ({time.time() - t0:.0f} s)")
    return 0


def render_report(
    result: FitResult,
    stamp: str,
    effects: pd.DataFrame,
    cmp: Any,
    ppcs: dict[str, pd.DataFrame],
    contraction: pd.DataFrame,
    mis: pd.DataFrame,
    wc: pd.DataFrame,
    cap: pd.DataFrame,
    cap_fit: FitResult,
) -> str:
    """The one-page report, in Markdown."""
    t = cmp.table
    lines = [
        "# Alignment faking in published evaluations: what the evidence says",
        "",
        f"`{stamp}`",
        "",
        "## Is training-gaming context-dependent?",
        "",
        "Leave-one-row-out cross-validation over the 8 published counts in the likelihood (unit: one row, k of n; "
        "in the mixture model each row is predicted conditional on the other rows of its system, see "
        "`riskmodel/comparison.py`). Rows with Pareto k > 0.7 were refitted exactly without the row (2 chains).",
        "",
        "| model | elpd (SE) | difference to best (SE) | max Pareto k before refits | rows refitted | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for m, r in t.iterrows():
        lines.append(
            f"| {MODEL_LABELS[m]} | {r['elpd']:.1f} ({r['se']:.1f}) | {r['elpd_diff']:.1f} ({r['dse']:.1f}) | "
            f"{r['max_pareto_k_psis']:.2f} | {r['rows_refitted']} | {r['verdict_vs_best']} |"
        )
    lines += ["", "Pairwise (b minus a; 'prefers' needs a difference above 2 SE):", ""]
    for (a, b), r in cmp.pairs.iterrows():
        lines.append(f"- {b} vs {a}: {r['elpd_diff']:+.1f} (SE {r['se']:.1f}) -> **{r['verdict']}**")
    lines += ["", "Reading: " + reading(cmp), ""]
    lines += [
        "![posterior predictive check](ppc.png)",
        "",
        "## Posterior context effects (log-odds, 90% intervals)",
        "",
        "| effect | disposition | prior | posterior |",
        "|---|---|---|---|",
    ]
    for r in effects.itertuples():
        lines.append(
            f"| {r.variable}: {r.effect} | {r.disposition} | {fmt_i(r.prior_mean, r._5, r._6)} | "
            f"{fmt_i(r.mean, r._8, r._9)} |"
        )
    unseen = uninformed_features(result)
    lines += [
        "",
        "No likelihood row has the feature of these effects, so their posterior is their prior (any difference in "
        "the table is Monte Carlo noise): " + ", ".join(unseen) + ". The rows that would inform documents vs prompt "
        "and no scratchpad give only rates, no n (reference only, docs/evidence.md). The prior-to-posterior "
        "contraction of every parameter is in contraction.csv.",
        "",
        "![context effects](context_effects.png)",
        "",
        "## P(misaligned | evidence) per system",
        "",
        "| system | prior | posterior mean [90%] | after training |",
        "|---|---|---|---|",
    ]
    for s, r in mis.iterrows():
        lines.append(
            f"| {s} | {r['prior_mean']:.3f} | {fmt_i(r['posterior_mean'], r['posterior_5%'], r['posterior_95%'], 3)}"
            f" | {r['after_training_mean']:.3f} |"
        )
    lines += [
        "",
        "Only claude-3-opus has training-gaming counts; its training-gaming appears only under value conflict, the "
        "pattern of an aligned system protecting its values, so its P(misaligned) falls. The other systems keep "
        "the population prior.",
        "",
        "## What the evidence does to P(worst case)",
        "",
        "| system | prior mean | posterior mean [90%] | Bayes factor |",
        "|---|---|---|---|",
    ]
    for s, r in wc.iterrows():
        lines.append(
            f"| {s} | {r['prior_mean']:.4f} | {fmt_i(r['posterior_mean'], r['posterior_5%'], r['posterior_95%'], 4)}"
            f" | {r['bayes_factor']:.3g} |"
        )
    on = cap[cap["capability_likelihood"] == "on (ME24)"].set_index("system")
    off = cap[cap["capability_likelihood"] == "off (default)"].set_index("system")
    lines += [
        "",
        "## Capability evidence switched on (ME24 in-context scheming, optional)",
        "",
        f"cross_context_strategizing: prior mean {off.loc['new', 'cross_context_strategizing_prior_mean']:.2f}, "
        f"posterior {on.loc['new', 'cross_context_strategizing_mean']:.2f} with the ME24 likelihood "
        f"(evidence subset sha256:{cap_fit.evidence.subset_sha256[:8]}). P(worst case) for a new system: "
        f"{off.loc['new', 'p_worst_case_mean']:.4f} -> {on.loc['new', 'p_worst_case_mean']:.4f}; claude-3-opus: "
        f"{off.loc['claude-3-opus', 'p_worst_case_mean']:.4f} -> {on.loc['claude-3-opus', 'p_worst_case_mean']:.4f}. "
        "Every ME24 system schemed at least once with a goal in its prompt, which the measurement model reads as "
        "the capability being present in that system (docs/evidence.md). The sandbagging and persistence numbers "
        "are not CSV rows and are not used.",
        "",
        "## Posterior predictive coverage (90%)",
        "",
    ]
    for m, df in ppcs.items():
        missed = [lab for lab, c in zip(df["label"], df["covered"], strict=True) if not c]
        lines.append(
            f"- {MODEL_LABELS[m]}: {int(df['covered'].sum())}/{len(df)} rows covered"
            + (f"; missed: {'; '.join(missed)}" if missed else "")
        )
    lines += [
        "",
        "Expected misses of the package model (c), as listed in tests/test_comparison.py: "
        + ("; ".join(f"{k} ({v})" for k, v in EXPECTED_MISSES.items()) or "none")
        + ".",
        "",
        "## Sampler health",
        "",
        f"{result.diagnostics.divergences} divergences, max r_hat {result.diagnostics.max_r_hat:.3f}, "
        f"min ESS {min(result.diagnostics.min_ess_bulk, result.diagnostics.min_ess_tail):.0f}"
        + (f"; warnings: {' '.join(result.diagnostics.warnings)}" if result.diagnostics.warnings else "")
        + ". Comparison models: divergences "
        + ", ".join(
            f"{m} {int(f.posterior.attrs.get('divergences', 0))}" for m, f in cmp.fits.items() if m != "mixture"
        )
        + " (the mixture is the fit above)"
        + ".",
        "",
        "Files: context_effects.csv, comparison.csv, comparison_pairs.csv, comparison_pointwise.csv, ppc.csv, "
        "contraction.csv, p_misaligned.csv, worst_case.csv, capability_likelihood.csv, stamp.json.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

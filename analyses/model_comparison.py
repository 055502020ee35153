"""Model comparison on the published evidence: one rate per system, model 1's shared context layer, or model 2.

Usage: ``python analyses/model_comparison.py [--draws N --chains N --tune N] [--refit-chains N --refit-draws N]``.
Fits the default evidence under the default priors (``--priors/--evidence`` for others) and compares (a) one
context-independent rate per system state, (b) model 1's structure (shared context effects, intercept offsets, the
disposition mixed per system) and (c) model 2 by leave-one-row-out cross-validation over the counted rows
(:mod:`riskmodel.analysis.comparison`). Writes ``analyses/output/model_comparison/``: ``report.md`` (comparison,
coverage per model, predictive check, contraction, predictions in an unobserved context), ``comparison.csv``,
``comparison_pairs.csv``, ``coverage.csv``, ``loo_pointwise.csv``, ``ppc_in_sample.csv``, ``contraction.csv``,
``unobserved_context.csv`` and ``ppc.png``, every file stamped with the citation of the model-2 fit.
"""

from __future__ import annotations

import sys

import pandas as pd

from riskmodel.analysis.comparison import (
    COVERAGE_TARGET,
    MODEL_LABELS,
    Comparison,
    compare_models,
    contraction_table,
    plot_predictive,
    predictive,
    unobserved_context_effects,
)
from riskmodel.results.outputs import analysis_parser, describe, fit_from_args, output_dir


def _fmt(x: float, nd: int = 1) -> str:
    return f"{x:.{nd}f}"


def render(cmp: Comparison, contraction: pd.DataFrame, unseen: pd.DataFrame, citation: str, n_rows: int) -> str:
    """The report in Markdown (numbers only from the tables the library computed)."""
    lines = [
        "# Model comparison on the counted rows",
        "",
        f"Citation: `{citation}`",
        "",
        f"Leave-one-row-out cross-validation over the {n_rows} counted rows (reasoning counts, compliance cells, "
        "per-system threshold outcomes); rows with Pareto k > 0.7 refitted exactly without the row. Model 2 is the "
        "cited fit; (a) and (b) are fitted with the same sampler settings (docstring of "
        "`riskmodel/analysis/comparison.py` for the models and pointwise terms).",
        "",
        "| model | elpd (SE) | difference to best (SE) | max Pareto k | rows refitted | 90% LOO coverage | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for m, r in cmp.table.iterrows():
        lines.append(
            f"| {MODEL_LABELS[str(m)]} | {_fmt(r['elpd'])} ({_fmt(r['se'])}) | {_fmt(r['elpd_diff'])} "
            f"({_fmt(r['dse'])}) | {r['max_pareto_k']:.2f} | {r['rows_refitted']} | {r['coverage']:.0%} | "
            f"{r['verdict_vs_best']} |"
        )
    lines += ["", "Pairwise (b minus a; 'prefers' needs a difference above 2 SE):", ""]
    for (a, b), r in cmp.pairs.iterrows():
        lines.append(f"- {b} vs {a}: {r['elpd_diff']:+.1f} (SE {r['se']:.1f}): **{r['verdict']}**")
    cov = cmp.coverage()
    lines += [
        "",
        "## Coverage of the 90% leave-one-row-out intervals",
        "",
        "| model | all | reasoning | compliance | threshold |",
        "|---|---|---|---|---|",
    ]
    for m in cmp.fits:
        sub = cov[cov["model"] == m].set_index("kind")
        cells = [
            f"{int(sub.loc[k, 'covered'])}/{int(sub.loc[k, 'rows'])}" if k in sub.index else "-"
            for k in ("all", "reasoning", "compliance", "threshold")
        ]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    m2 = cmp.fits.get("model2")
    if m2 is not None:
        missed = m2.loo_predictive[~m2.loo_predictive["covered"]]
        lines += [
            "",
            f"Model 2 covers {m2.coverage:.0%} (target {COVERAGE_TARGET:.0%}). Rows it misses: "
            + "; ".join(
                f"{r.label} (observed {r.observed:.3f}, interval [{r.lower:.3f}, {r.upper:.3f}])"
                for r in missed.itertuples()
            )
            + ".",
        ]
    lines += [
        "",
        "Threshold rows are covered unless the observed outcome had leave-row-out probability below 5%, so they "
        "raise every model's coverage alike; the reasoning and compliance columns are the informative ones.",
        "",
        "![leave-one-row-out predictive check](ppc.png)",
        "",
        "## A context never observed: the no-scratchpad effect",
        "",
        "| system | observed | mean | 90% interval |",
        "|---|---|---|---|",
    ]
    for r in unseen.itertuples():
        if r.observed or r.system in ("new", "hermes-3-405b", "gpt-4o"):
            lines.append(
                f"| {r.system} | {'yes' if r.observed else 'no (predicted)'} | {r.mean:.2f} | "
                f"[{r.lower:.2f}, {r.upper:.2f}] |"
            )
    honest = bool(unseen.loc[~unseen["observed"], "covers_range"].all())
    lines += [
        "",
        "Every system without no-scratchpad counts gets a predictive interval that "
        + ("contains" if honest else "does NOT contain")
        + " every observed system's effect (unobserved_context.csv has all systems).",
        "",
        "## Prior-to-posterior contraction (model 2)",
        "",
        "| assumption | prior sd | posterior sd | contraction | informed |",
        "|---|---|---|---|---|",
    ]
    cells = contraction[contraction["assumption"].str.startswith("baseline_compliance[")]
    for r in contraction.drop(index=cells.index).itertuples():
        lines.append(
            f"| {r.assumption} | {r.prior_sd:.3g} | {r.posterior_sd:.3g} | {r.contraction:.2f} | "
            f"{'yes' if r.informed else 'no'} |"
        )
    if len(cells):
        lines += [
            "",
            f"baseline_compliance of the {len(cells)} cells: contraction {cells['contraction'].min():.2f} to "
            f"{cells['contraction'].max():.2f} (contraction.csv has every cell).",
        ]
    lines += [
        "",
        "Divergences (fit and refits): "
        + ", ".join(f"{m} {int(r['divergences'])}" for m, r in cmp.table.iterrows())
        + ".",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Fit, compare, write and print."""
    p = analysis_parser(__doc__.splitlines()[0])
    p.add_argument("--refit-chains", type=int, default=2, help="chains of each exact refit (default 2)")
    p.add_argument("--refit-draws", type=int, default=1000, help="draws and tuning steps of each refit (default 1000)")
    args = p.parse_args(argv)
    result = fit_from_args(args)
    refit = {"chains": args.refit_chains, "draws": args.refit_draws, "tune": args.refit_draws}
    cmp = compare_models(
        result.priors,
        result.evidence,
        seed=args.seed,
        chains=args.chains,
        draws=args.draws,
        tune=args.tune,
        posteriors={"model2": result.posterior},
        refit=refit,
    )
    out = output_dir(args, "model_comparison", result)
    out.table("comparison", cmp.table.reset_index())
    out.table("comparison_pairs", cmp.pairs.reset_index())
    out.table("coverage", cmp.coverage())
    out.table("loo_pointwise", cmp.pointwise())
    ppc = pd.concat({m: predictive(f, seed=args.seed) for m, f in cmp.fits.items()}, names=["model"])
    out.table("ppc_in_sample", ppc.reset_index())
    contraction = contraction_table(result)
    out.table("contraction", contraction)
    unseen = unobserved_context_effects(result, "no_scratchpad")
    out.table("unobserved_context", unseen)
    out.figure("ppc", plot_predictive(cmp), "Leave-one-row-out predictive check")
    report = out.path / "report.md"
    n_rows = len(next(iter(cmp.fits.values())).rows)
    report.write_text(render(cmp, contraction, unseen, out.fields["citation"], n_rows))
    out.files.append(report)
    print(cmp.table.drop(columns="label").to_string(float_format=lambda x: f"{x:.3g}"))
    print(cmp.coverage().to_string())
    print(describe(out.files))
    print(out.fields["citation"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

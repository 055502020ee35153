"""The evidence library: what each file holds, and what the new default evidence changes in the fit.

Usage: ``python analyses/evidence_library.py [--old published-evals@1.0.0] [--draws N --chains N --seed N]``. Fits
the default priors on the previous default evidence and on the current one (``--evidence``; the fit store is used
when it holds them) and writes ``analyses/output/evidence_library/``: ``report.md`` (every released evidence file
with its rows by role, why reference-only rows stay out, the headline numbers of both fits with their Monte Carlo
errors, and the contraction table per assumption: which moved from "prior only" to informed), ``library.csv``,
``contraction.csv`` and ``headline.csv``, each stamped with the citation of the new fit.
"""

from __future__ import annotations

import sys

from riskmodel.analysis.evidence_library import (
    contraction_comparison,
    headline_comparison,
    library_table,
    reference_reasons,
)
from riskmodel.data.evidence import load_evidence
from riskmodel.results.outputs import analysis_parser, describe, fit_from_args, output_dir
from riskmodel.results.result import fit

OLD_DEFAULT = "published-evals@1.0.0"


def _md(df, floatfmt: str = ".3g") -> str:
    """A pandas table as GitHub markdown (numbers to three significant digits)."""
    cols = list(df.columns)

    def cell(v: object) -> str:
        if v is None or (isinstance(v, float) and v != v):
            return ""
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Fit both, compare, write the report and print its headline."""
    p = analysis_parser(__doc__.splitlines()[0])
    p.add_argument("--old", default=OLD_DEFAULT, help=f"the previous default evidence (default {OLD_DEFAULT})")
    args = p.parse_args(argv)
    new = fit_from_args(args)
    old = fit(
        new.priors,
        load_evidence(args.old),
        system=args.system,
        seed=args.seed,
        chains=args.chains,
        draws=args.draws,
        tune=args.tune,
        cache=args.cache,
        cache_dir=args.cache_dir,
    )
    library = library_table()
    reasons = reference_reasons(new.evidence)
    head = headline_comparison(old, new, args.system)
    table = contraction_comparison(old, new)
    shared = table.dropna(subset=["posterior_sd_old", "posterior_sd_new"])
    moved = shared[shared["change"] == "became informed"]["assumption"].tolist()
    still = shared[shared["prior_only_new"].astype(bool)]["assumption"].tolist()
    out = output_dir(args, "evidence_library", new)
    out.table("library", library)
    out.table("contraction", table)
    out.table("headline", head)
    h = head.set_index("fit")
    pw_new, pw_old = (f"{h.loc[k, 'p_worst_case']:.3g} ± {h.loc[k, 'p_worst_case_mcse']:.2g}" for k in ("new", "old"))
    text = f"""# Evidence library: old vs new default evidence

Priors `{new.priors.ref}`; old default evidence `{old.evidence.ref}`, new default `{new.evidence.ref}`; system
`{args.system}`; seed {args.seed}, {args.chains} x {args.draws} draws. Both fits healthy: {bool(h["healthy"].all())}.

## Headline

P(worst case | {args.system}) = {pw_new} under the new default evidence against {pw_old} under the old one
(means ± Monte Carlo standard error from the ESS of the mean; prior {h.loc["new", "p_worst_case_prior"]:.3g}).

{_md(head.drop(columns=["citation"]))}

Citations:
- old: `{h.loc["old", "citation"]}`
- new: `{h.loc["new", "citation"]}`

## Released evidence files

{_md(library)}

Reference-only rows of `{new.evidence.ref}` and why they stay out of the likelihood:

{_md(reasons)}

## Contraction per assumption

`contraction` = 1 - posterior variance / prior variance; "prior only" = no selected likelihood term depends on the
assumption, or contraction below 0.10. Moved from prior only to informed by the new evidence ({len(moved)}):
{", ".join(f"`{m}`" for m in moved) or "none"}. Still prior only ({len(still)}): {", ".join(f"`{m}`" for m in still)}.
Assumptions that exist in only one fit (baseline compliance of cells only one evidence set has, setting effects) have
blanks for the other.

{_md(table)}
"""
    out.markdown("report", text)
    print(head.drop(columns=["citation"]).to_string(float_format=lambda x: f"{x:.3g}"))
    print(f"moved from prior only to informed: {', '.join(moved) or 'none'}")
    print(describe(out.files))
    print(out.fields["citation"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

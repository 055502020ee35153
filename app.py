"""Streamlit front end (thin: every number comes from the riskmodel library).

Run with: streamlit run app.py --server.headless true --server.fileWatcherType none
This first page shows the default fit; the interactive explorer (assumption controls, fast updates) comes next.
"""

from __future__ import annotations

import streamlit as st

import riskmodel
from riskmodel.errors import RiskmodelError


@st.cache_resource(show_spinner="Fitting the model (compiles once per process)...")
def cached_fit(priors: str, evidence: str, seed: int) -> riskmodel.FitResult:
    """The fit for a prior set, evidence set and seed, shared across reruns and sessions."""
    return riskmodel.fit(priors, evidence, seed=seed)


st.set_page_config(page_title="riskmodel", layout="wide")
st.title("riskmodel: worst-case scheming risk")
try:
    result = cached_fit("baseline", "published-evals", 1)
except RiskmodelError as exc:
    st.error(exc.line())
    st.stop()
report = result.report()
pw, pw0 = report["p_worst_case"], report["p_worst_case_prior"]
cols = st.columns(3)
cols[0].metric("P(worst case), new system", f"{pw['mean']:.2g}", help=f"90%: {pw['lower']:.2g}-{pw['upper']:.2g}")
cols[1].metric("prior", f"{pw0['mean']:.2g}")
cols[2].metric("Bayes factor", f"{report['bayes_factor_worst_case']['value']:.2g}")
for warning in report["diagnostics"]["warnings"]:
    st.warning(warning)
st.subheader("Per system")
st.table(
    {
        s: {"P(worst case)": d["p_worst_case"]["mean"], "P(misaligned)": d["p_misaligned"]["mean"]}
        for s, d in report["per_system"].items()
    }
)
st.code(report["citation"], language=None)

"""riskmodel explorer: move the assumptions and watch the posteriors change.

Run with: streamlit run app.py --server.headless true --server.fileWatcherType none
Thin by design: every number, table and figure comes from a riskmodel function.
"""

from __future__ import annotations

import os

import streamlit as st

import riskmodel
from riskmodel.data.evidence import EvidenceSet, evidence_store, load_evidence
from riskmodel.data.features import VOCABULARY, Context
from riskmodel.data.priors import PARAMETERS, PriorSet, load_priors, parse_priors, prior_store
from riskmodel.errors import RiskmodelError
from riskmodel.interactive import explore, whatif

DRAWS = int(os.environ.get("RISKMODEL_APP_DRAWS", "1000"))
CHAINS = int(os.environ.get("RISKMODEL_APP_CHAINS", "4"))


@st.cache_resource(show_spinner="Fitting the model (compiles once per process)...")
def base_fit(
    priors_sha: str, evidence_subset_sha: str, _priors: PriorSet, _evidence: EvidenceSet
) -> riskmodel.FitResult:
    """The exact fit under released priors, cached across reruns and sessions by priors and evidence-subset hashes."""
    return riskmodel.fit(_priors, _evidence, seed=1, chains=CHAINS, draws=DRAWS)


@st.cache_resource(show_spinner="Fitting exactly under the current assumptions...")
def exact_fit(priors_toml: str, evidence_subset_sha: str, system: str, _evidence: EvidenceSet) -> riskmodel.FitResult:
    """An exact fit under an edited assumption set (for citing)."""
    return riskmodel.fit(parse_priors(priors_toml), _evidence, system=system, seed=1, chains=CHAINS, draws=DRAWS)


st.set_page_config(page_title="riskmodel explorer", layout="wide")
st.title("riskmodel: worst-case scheming risk, conditional on training-gaming")

# ------------------------------------------------------------------ sidebar: what to fit, and the assumptions
query = dict(st.query_params)
try:
    releases = [r.ref for r in prior_store().releases()]
    ev_releases = [r.ref for r in evidence_store().releases()]
    default_priors, default_evidence = explore.default_refs()
except RiskmodelError as exc:
    st.error(exc.line())
    st.stop()
with st.sidebar:
    st.header("Priors and evidence")
    wanted = query.get("priors", default_priors)
    priors_ref = st.selectbox(
        "prior set",
        releases,
        index=releases.index(wanted if wanted in releases else default_priors),
        key="priors_ref",
    )
    wanted = query.get("evidence", default_evidence)
    evidence_ref = st.selectbox(
        "evidence set",
        ev_releases,
        index=ev_releases.index(wanted if wanted in ev_releases else default_evidence),
        key="evidence_ref",
    )
try:
    released = load_priors(priors_ref)
    evidence = load_evidence(evidence_ref)
    st.session_state["last_good_files"] = (released, evidence)
except RiskmodelError as exc:
    if "last_good_files" not in st.session_state:
        st.error(f"Cannot load the chosen files: {exc.line()}")
        st.stop()
    released, evidence = st.session_state["last_good_files"]
    priors_ref, evidence_ref = released.ref, evidence.ref
    st.error(f"Cannot load the chosen files: {exc.line()}. Showing the last good state ({priors_ref}, {evidence_ref}).")
try:
    from_url, url_excluded = explore.decode_state(query, released)
except RiskmodelError as exc:
    st.warning(f"Ignored the assumption set in the URL: {exc.line()}")
    from_url, url_excluded = released, frozenset()

with st.sidebar:
    row_ids = [r.id for r in evidence.rows]
    excluded = st.multiselect(
        "switch evidence rows off", row_ids, default=sorted(url_excluded & set(row_ids)), key="excluded"
    )
    try:
        url_capability = explore.decode_capability(query, evidence)
    except RiskmodelError as exc:
        st.warning(f"Ignored the capability-evidence choice in the URL: {exc.line()}")
        url_capability = evidence.capability_sources
    cap_sources = explore.capability_sources(evidence)
    capability = st.multiselect(
        "capability evidence in the likelihood (per source)",
        cap_sources,
        default=sorted(url_capability & set(cap_sources)),
        key="capability",
        help="Switched on, a source's capability counts inform the matching capability assumptions (docs/evidence.md).",
    )
    selected = evidence.with_capability_likelihood(frozenset(capability)).without(set(excluded))
    systems = [*selected.systems(), "new"]
    system = st.selectbox(
        "system",
        systems,
        index=systems.index(query.get("system", "new")) if query.get("system", "new") in systems else len(systems) - 1,
        key="system",
    )
    st.header("Assumptions")
    priors = released
    problems = []
    for name in explore.BETA_PARAMETERS:
        start = from_url[name]
        with st.expander(name.replace("_", " "), expanded=False):
            st.caption(PARAMETERS[name].meaning)
            mode = st.radio(
                "set by",
                ["mean and strength", "90% interval"],
                key=f"mode.{name}",
                horizontal=True,
                index=1 if start.interval90 else 0,
            )
            try:
                if mode == "mean and strength":
                    a, b = start.params["alpha"], start.params["beta"]
                    mean = st.slider("mean", 0.001, 0.999, float(round(a / (a + b), 3)), 0.001, key=f"mean.{name}")
                    strength = st.number_input(
                        "strength (alpha + beta)", 0.1, 1e5, float(round(a + b, 2)), key=f"strength.{name}"
                    )
                    chosen = explore.beta_from_mean_strength(start, mean, strength)
                else:
                    lo0, hi0 = start.interval90 or tuple(float(x) for x in start.quantile([0.05, 0.95]))
                    lo = st.number_input(
                        "5th percentile", 0.0, 1.0, float(round(lo0, 4)), 0.001, format="%.4f", key=f"lo.{name}"
                    )
                    hi = st.number_input(
                        "95th percentile", 0.0, 1.0, float(round(hi0, 4)), 0.001, format="%.4f", key=f"hi.{name}"
                    )
                    chosen = explore.beta_from_interval(start, lo, hi)
                priors = priors.with_parameter(chosen) if chosen != released[name] else priors
            except RiskmodelError as exc:
                problems.append(exc.line())
                st.error(exc.line())
    labels = {c.label(): c for c in explore.ALL_CONTEXTS}
    current = [c.label() for c in from_url.critical]
    labels.update({c.label(): c for c in from_url.critical})
    chosen_ctx = st.multiselect("deployment-critical contexts", list(labels), default=current, key="critical")
    if chosen_ctx and chosen_ctx != [c.label() for c in released.critical]:
        priors = priors.with_critical(
            tuple(
                Context(labels[x].value_conflict, labels[x].training_info, labels[x].scratchpad, name=labels[x].name)
                for x in chosen_ctx
            )
        )
    elif not chosen_ctx:
        problems.append("at least one deployment-critical context is needed; using the prior set's")
if problems:
    st.warning("Some inputs were not applied (the last good values are used): " + " | ".join(problems))

# ------------------------------------------------------------------ fit (cached) and fast update
try:
    base = base_fit(released.sha256, selected.subset_sha256, released, selected)
    with st.spinner("Updating; refitting with MCMC when importance reweighting is unreliable (Pareto k > 0.7)..."):
        result = riskmodel.update(base, priors)
except RiskmodelError as exc:
    st.error(f"The fit failed: {exc.line()}")
    st.stop()
report = result.report(system, interactive=True)
st.query_params.from_dict(
    explore.encode_state(
        priors,
        released,
        excluded=frozenset(excluded),
        evidence=evidence_ref,
        system=system,
        capability=None if selected.capability_sources == evidence.capability_sources else selected.capability_sources,
    )
)

# ------------------------------------------------------------------ main page
pw, pw0, bf = report["p_worst_case"], report["p_worst_case_prior"], report["bayes_factor_worst_case"]
c1, c2, c3, c4 = st.columns(4)
c1.metric(f"P(worst case), {system}", f"{pw['mean']:.3g}")
c2.metric("90% interval", f"{pw['lower']:.2g} - {pw['upper']:.2g}")
c3.metric("prior", f"{pw0['mean']:.3g}")
c4.metric("Bayes factor", f"{bf['value']:.3g}")
st.caption("Exceedance P(P(worst case) > x): " + ", ".join(f"{k}: {v:.3g}" for k, v in report["exceedance"].items()))
left, right = st.columns(2)
with left:
    st.vega_lite_chart(explore.worst_case_chart(explore.worst_case_ecdf(result, system), system))
with right:
    st.subheader("From training-gaming to the worst case")
    st.vega_lite_chart(explore.funnel_chart(explore.funnel(result, system)))
    st.dataframe(explore.assumption_table(report))
st.subheader("P(misaligned | evidence) per system")
st.dataframe(explore.system_table(report))
st.subheader(f"Training-gaming rate per context, {system}")
rates = explore.context_rate_table(result, system)
st.vega_lite_chart(explore.context_rate_chart(rates))

st.subheader("What if: a hypothetical observation")
with st.form("whatif"):
    w1, w2, w3, w4, w5, w6 = st.columns(6)
    obs_system = w1.selectbox("system", systems, index=systems.index(system), key="wi_system")
    vc = w2.selectbox("value conflict", VOCABULARY["value_conflict"], key="wi_vc")
    ti = w3.selectbox("training info", VOCABULARY["training_info"], key="wi_ti")
    sp = w4.selectbox("scratchpad", VOCABULARY["scratchpad"], key="wi_sp")
    k = w5.number_input("k (training-gaming)", 0, 100000, 10, key="wi_k")
    n = w6.number_input("of n episodes", 0, 100000, 100, key="wi_n")
    asked = st.form_submit_button("Show the updated posterior")
if asked:
    try:
        with st.spinner("Reweighting (refitting with MCMC if Pareto k > 0.7)..."):
            hyp = whatif.what_if(
                result, whatif.Observation(obs_system, Context(vc, ti, sp), int(k), int(n)), allow_refit=True
            )
        st.dataframe(explore.what_if_table(result, hyp, system, obs_system), hide_index=True)
        st.caption(f"{hyp.update.method}: {hyp.update.message}")
    except RiskmodelError as exc:
        st.error(exc.line())

st.subheader("Health")
diag, upd = report["diagnostics"], report["update"] or {}
st.write(
    f"{diag['divergences']} divergences, max r_hat {diag['max_r_hat']:.3f}, min ESS {diag['min_ess_bulk']:.0f}; "
    f"update: {upd.get('method', 'exact fit')}"
    + (f", Pareto k {upd['pareto_k']:.2f}" if upd.get("pareto_k") is not None else "")
)
for w in diag["warnings"]:
    st.warning(w)
if upd.get("method") == "reweighted-unreliable":
    st.warning(upd["message"])

st.subheader("Cite")
stamp = report["citation"] or "not citable: numbers from a fast update of a cached fit"
if report["citation"]:
    st.code(report["citation"], language=None)
else:
    st.info("These numbers come from a fast update of the cached fit. Fit exactly to cite them.")
    if st.button("Fit exactly to cite", key="fit_exact"):
        exact = exact_fit(priors.to_toml(), selected.subset_sha256, system, selected)
        st.code(exact.citation(), language=None)
table = explore.summary_table(report)
d1, d2, d3 = st.columns(3)
d1.download_button("results (CSV)", explore.table_csv(table, stamp), "riskmodel-results.csv", key="dl_csv")
d2.download_button("assumption set (TOML)", priors.to_toml(), "assumptions.toml", key="dl_toml")
if d3.button("prepare netCDF", key="prep_nc"):
    d3.download_button("results (netCDF)", result.to_datatree().to_netcdf(), "riskmodel-fit.nc", key="dl_nc")

st.subheader("Save as a new prior version")
with st.form("save"):
    changelog = st.text_input("changelog line", key="changelog")
    new_name = st.text_input("prior set name", value=released.name, key="new_name")
    if st.form_submit_button("Save"):
        try:
            rel = explore.release_priors(priors, changelog, name=new_name)
            st.success(f"Released {rel.ref} (sha256:{rel.sha256[:12]}). Cite it after an exact fit.")
        except RiskmodelError as exc:
            st.error(exc.line())

"""riskmodel explorer: move the assumptions and watch the posteriors change.

Run with: streamlit run app.py --server.headless true --server.fileWatcherType none
Thin by design: every number, table and figure comes from a riskmodel function.
"""

from __future__ import annotations

import os

import streamlit as st

import riskmodel
from riskmodel.data.evidence import evidence_store, load_evidence
from riskmodel.data.features import VOCABULARY, Context
from riskmodel.data.priors import (
    CONSISTENCY_DEFINITIONS,
    PARAMETERS,
    TAIL_DF_RANGE,
    load_priors,
    prior_store,
)
from riskmodel.errors import RiskmodelError
from riskmodel.interactive import explore, whatif

DRAWS = int(os.environ.get("RISKMODEL_APP_DRAWS", "1000"))
CHAINS = int(os.environ.get("RISKMODEL_APP_CHAINS", "4"))


@st.cache_resource(show_spinner=False)
def fits() -> dict[tuple[str, str], riskmodel.FitResult]:
    """Exact fits under released priors, kept for the life of the server by priors and evidence-subset hashes."""
    return {}


st.set_page_config(page_title="riskmodel explorer", layout="wide")
st.title("riskmodel: worst-case scheming risk, conditional on training-gaming")

# ------------------------------------------------------------------ sidebar: what to fit, and the assumptions
query = dict(st.query_params)
try:
    releases = [r.ref for r in prior_store().releases() if explore.fits_this_model(r.ref)]
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
    systems = [*selected.model_systems(), "new"]
    system = st.selectbox(
        "system",
        systems,
        index=systems.index(query.get("system", "new")) if query.get("system", "new") in systems else len(systems) - 1,
        key="system",
    )
    st.header("Assumptions")
    priors = released
    problems = []
    for group, names in explore.assumption_groups():
        st.subheader(group)
        for name in names:
            start = from_url[name]
            control = explore.control_spec(start)
            with st.expander(name.replace("_", " "), expanded=False):
                st.caption(PARAMETERS[name].meaning)
                modes = ["90% interval", "mean and strength"] if control.beta else ["90% interval"]
                mode = st.radio("set by", modes, key=f"mode.{name}", horizontal=True) if control.beta else modes[0]
                try:
                    if mode == "mean and strength":
                        mean = st.slider("mean", 0.001, 0.999, control.mean, 0.001, key=f"mean.{name}")
                        strength = st.number_input(
                            "strength (alpha + beta)", 0.1, 1e5, control.strength, key=f"strength.{name}"
                        )
                        chosen = explore.beta_from_mean_strength(start, mean, strength)
                    else:
                        lo = st.number_input(
                            "5th percentile",
                            control.min,
                            control.max,
                            control.low,
                            control.step,
                            format="%.4g",
                            key=f"lo.{name}",
                        )
                        hi = st.number_input(
                            "95th percentile",
                            control.min,
                            control.max,
                            control.high,
                            control.step,
                            format="%.4g",
                            key=f"hi.{name}",
                        )
                        chosen = explore.prior_from_interval(start, lo, hi) if (lo, hi) != control.interval else start
                    if control.clamped:
                        st.warning(control.clamped)
                    priors = priors.with_parameter(chosen) if chosen != released[name] else priors
                except RiskmodelError as exc:
                    problems.append(exc.line())
                    st.error(exc.line())
    st.subheader("model")
    definition = st.selectbox(
        "consistency",
        CONSISTENCY_DEFINITIONS,
        index=CONSISTENCY_DEFINITIONS.index(from_url.consistency),
        key="consistency",
        help="ratio: how much of the elicited training-gaming carries over to the critical contexts; absolute: the "
        "training-gaming rate in the weakest critical context (few slips). docs/model.md.",
    )
    tail = st.number_input(
        "tail degrees of freedom (between-system Student-t)",
        *TAIL_DF_RANGE,
        float(from_url.tail_df),
        1.0,
        key="tail_df",
    )
    if (definition, tail) != (released.consistency, released.tail_df):
        priors = priors.with_model(consistency=definition, tail_df=tail)
    labels = {c.label(): c for c in explore.ALL_CONTEXTS}
    current = [c.label() for c in from_url.critical]
    labels.update({c.label(): c for c in from_url.critical})
    chosen_ctx = st.multiselect("deployment-critical contexts", list(labels), default=current, key="critical")
    if chosen_ctx and chosen_ctx != [c.label() for c in released.critical]:
        priors = priors.with_critical(tuple(labels[x] for x in chosen_ctx))
    elif not chosen_ctx:
        problems.append("at least one deployment-critical context is needed; using the prior set's")
if problems:
    st.warning("Some inputs were not applied (the last good values are used): " + " | ".join(problems))

# ------------------------------------------------------------------ fit (cached) and fast update
try:
    fit_key = (released.sha256, selected.subset_sha256)
    base = fits().get(fit_key)
    if base is None:
        with st.status("Getting the fit for these priors and evidence...", expanded=True) as status:
            base = explore.fit_in_stages(released, selected, status.write, seed=1, chains=CHAINS, draws=DRAWS)
            status.update(label="Fit ready.", state="complete", expanded=False)
        fits()[fit_key] = base
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
c1, c2, c3, c4, c5 = st.columns(5)
c1.metric(f"P(worst case), {system}", explore.fmt_prob(pw["mean"]), help=f"posterior mean {explore.fmt_mean(pw)}")
c2.metric("5% quantile", explore.fmt_prob(pw["lower"]), help=report["interval_meaning"])
c3.metric("95% quantile", explore.fmt_prob(pw["upper"]), help=report["interval_meaning"])
c4.metric("prior", explore.fmt_prob(pw0["mean"]))
c5.metric("Bayes factor", explore.fmt_prob(bf["value"]), help="posterior odds / prior odds of the worst case")
st.caption(explore.headline_caption(report))
for key in ("p_worst_case", "p_misaligned"):
    if report[key].get("note"):
        st.info(report[key]["note"])
left, right = st.columns(2)
with left:
    st.vega_lite_chart(explore.worst_case_chart(explore.worst_case_ecdf(result, system), system))
with right:
    st.subheader("From training-gaming to the worst case")
    st.vega_lite_chart(explore.funnel_chart(explore.funnel(result, system)))
    st.caption("P(worst case) if each extra assumption were certain, against the model as it stands")
    st.dataframe(explore.assumption_table(report))
st.subheader("P(misaligned | evidence) per system")
st.caption(
    "odds bound: the largest factor by which a system's own evidence can move its odds of misalignment under these "
    "priors; the Bayes factor is how far it moved."
)
st.dataframe(explore.system_table(report))
st.subheader("What the data touch")
st.caption(explore.prior_only_text(report))
st.dataframe(explore.contraction_table(report), hide_index=True)
st.subheader(f"Training-gaming rate per context, {system}")
rates = explore.context_rate_table(result, system)
st.vega_lite_chart(explore.context_rate_chart(rates))

st.subheader("What if: a hypothetical observation")
with st.form("whatif"):
    w1, w2, w3, w4, w5, w6, w7 = st.columns(7)
    obs_system = w1.text_input("system (new name: refit)", value=system if system != "new" else "", key="wi_system")
    vc = w2.selectbox("value conflict", VOCABULARY["value_conflict"], key="wi_vc")
    ti = w3.selectbox("training info", VOCABULARY["training_info"], key="wi_ti")
    sp = w4.selectbox("scratchpad", VOCABULARY["scratchpad"], key="wi_sp")
    pre = w5.selectbox("prerequisites", VOCABULARY["prerequisites"], key="wi_pre")
    k = w6.number_input("k (training-gaming)", 0, whatif.MAX_EPISODES, 10, key="wi_k")
    n = w7.number_input("of n episodes", 1, whatif.MAX_EPISODES, 100, key="wi_n")
    asked = st.form_submit_button("Show the updated posterior")
if asked:
    try:
        with st.spinner("Reweighting (refitting with MCMC where the cached draws cannot take it)..."):
            hyp = whatif.what_if(
                result,
                whatif.Observation(obs_system.strip(), Context(vc, ti, sp, prerequisites=pre), int(k), int(n)),
                allow_refit=True,
            )
        st.dataframe(explore.what_if_table(result, hyp, system, obs_system.strip()), hide_index=True)
        st.caption(f"{hyp.update.method}: {hyp.update.message}")
    except RiskmodelError as exc:
        st.error(exc.line())

st.subheader("Health")
diag, upd = report["diagnostics"], report["update"] or {}
st.write(explore.health_text(report))
for w in diag["warnings"]:
    st.warning(w)
if upd.get("method") == "reweighted-unreliable":
    st.warning(upd["message"])

st.subheader("Cite")
stamp = report["citation"] or "not citable: numbers from a fast update of a cached fit"
if report["citation"]:
    st.code(report["citation"], language=None)
else:
    st.info(f"Not citable: {report['not_citable']}. Edited assumptions are cited as a release: release them below.")
table = explore.summary_table(report)
d1, d2, d3 = st.columns(3)
d1.download_button("results (CSV)", explore.table_csv(table, stamp), "riskmodel-results.csv", key="dl_csv")
d2.download_button("assumption set (TOML)", priors.to_toml(), "assumptions.toml", key="dl_toml")
if d3.button("prepare netCDF", key="prep_nc"):
    d3.download_button("results (netCDF)", result.to_datatree().to_netcdf(), "riskmodel-fit.nc", key="dl_nc")

st.subheader("Release these assumptions as a prior version")
changed = explore.changed_assumptions(priors, released)
names = sorted({r.name for r in prior_store().releases()})
with st.form("save"):
    st.caption(
        "Releasing writes a new version that is never overwritten; cite it after an exact fit. Pick the prior set "
        "explicitly: a new name starts at 1.0.0, an existing one gets its next version."
    )
    target = st.selectbox("release into", ["a new prior set", *names], index=0, key="save_target")
    new_name = st.text_input("new prior set name (for a new prior set)", value="", key="new_name")
    author = st.text_input("author", key="author")
    changelog = st.text_area("changelog: what changed and why", key="changelog")
    rationales = {
        name: st.text_input(f"why {name} changed", key=f"why.{name}", help=released[name].rationale) for name in changed
    }
    if not changed:
        st.caption("No assumption differs from the prior set you started from.")
    if st.form_submit_button("Release"):
        try:
            name = new_name if target == "a new prior set" else target
            rel = explore.release_priors(
                priors, changelog, name=name, author=author, rationales=rationales, parent=released
            )
            st.success(f"Released {rel.ref} (sha256:{rel.sha256[:12]}). Cite it after an exact fit.")
        except RiskmodelError as exc:
            st.error(exc.line())

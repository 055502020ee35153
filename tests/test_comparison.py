"""Model comparison: pointwise likelihood of the mixture, recovery of the true model on simulated data, predictive
coverage of the shipped data, prior contraction, and the optional capability likelihood."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp
from scipy.stats import binom

from riskmodel.analysis.comparison import (
    contraction_table,
    fit_comparison_model,
    likelihood_table,
    pointwise_loglik,
    posterior_predictive,
    preference,
    row_probabilities,
    simulated_evidence,
)
from riskmodel.data.evidence import load_evidence
from riskmodel.data.priors import CAPABILITIES, load_priors
from riskmodel.interactive.update import informed_parameters
from riskmodel.model.graph import build_model
from riskmodel.model.prior import draw_prior
from riskmodel.model.spec import model_data
from tests.conftest import ROOT

#: Rows of the shipped evidence the package model's 90% posterior predictive interval is expected to miss, each with
#: its reason. Empty today: every likelihood row is covered. (The same list is printed in the analysis report.)
EXPECTED_MISSES: dict[str, str] = {}


@pytest.fixture(scope="module")
def shipped():
    priors = load_priors("baseline@1.1.0", root=ROOT)
    ev = load_evidence("published-evals@1.0.0", root=ROOT)
    data = model_data(priors, ev)
    return priors, ev, data, likelihood_table(ev, data)


def test_mixture_pointwise_loglik_is_the_row_given_the_other_rows_of_its_system(shipped):
    """log p(y_i | theta, y_-i) = log sum_d P(d | theta, y_-i) p(y_i | theta, d), checked draw by draw."""
    _, _, data, rows = shipped
    draws = draw_prior(data, 50, seed=3)
    ll = pointwise_loglik("mixture", draws, data, rows).values[0]  # (draw, row)
    prob = row_probabilities("mixture", draws, data, rows)[0]  # (draw, disposition, row)
    k, n = np.array([r.k for r in rows]), np.array([r.n for r in rows])
    each = binom.logpmf(k, n, prob)  # (draw, disposition, row)
    pi = draws["p_misaligned"].values[0]
    log_w = np.stack([np.log1p(-pi), np.log(pi)], axis=-1)
    for i in range(len(rows)):
        others = [j for j in range(len(rows)) if j != i and rows[j].system == rows[i].system]
        post_d = log_w + each[:, :, others].sum(axis=-1)
        post_d -= logsumexp(post_d, axis=-1, keepdims=True)  # log P(d | theta, y_-i)
        expected = logsumexp(post_d + each[:, :, i], axis=-1)
        np.testing.assert_allclose(ll[:, i], expected, rtol=1e-9, atol=1e-9)
    assert len(rows) == 8 and {r.kind for r in rows} == {"reasoning", "train", "unmonitored"}


def test_contraction_is_zero_for_the_prior_and_large_for_a_narrowed_posterior(shipped):
    _, _, data, _ = shipped
    prior = draw_prior(data, 4000, seed=1)
    same = contraction_table(prior, draw_prior(data, 4000, seed=2))
    assert same["contraction"].abs().max() < 0.15  # two independent prior samples: only Monte Carlo noise
    narrow = prior.copy()
    narrow["p_misaligned"] = prior["p_misaligned"] * 0.1 + 0.9 * float(prior["p_misaligned"].mean())
    row = contraction_table(narrow, prior).set_index("parameter").loc["p_misaligned"]
    assert row["contraction"] == pytest.approx(0.99, abs=1e-6)


@pytest.mark.slow  # compiles two log densities (~20 s)
def test_capability_likelihood_adds_exactly_the_documented_term(shipped):
    """With ME24 switched on the log density gains sum over systems of log q (every system schemed at least once),
    plus the constant -sum log(n + 1); without it the model is unchanged."""
    priors, ev, data, _ = shipped
    on = ev.with_capability_likelihood({"ME24"})
    data_on = model_data(priors, on)
    assert informed_parameters(data_on) - informed_parameters(data) == {"cross_context_strategizing"}
    assert not informed_parameters(data) & set(CAPABILITIES)
    assert data.structure_key(True) != data_on.structure_key(True) and on.subset_sha256 != ev.sha256
    m_off, m_on = build_model(data), build_model(data_on)
    point = m_off.initial_point()
    delta = m_on.compile_logp(mode="FAST_COMPILE")(point) - m_off.compile_logp(mode="FAST_COMPILE")(point)
    idx = list(m_on.coords["beta_element"]).index("cross_context_strategizing")
    q = float(1.0 / (1.0 + np.exp(-point["beta_block_logodds__"][idx])))
    n_systems = len(data_on.coords["capability_obs"])
    expected = n_systems * np.log(q) + data_on.capability_evidence[0].sum()
    assert n_systems == 4 and delta == pytest.approx(expected, rel=1e-9)


@pytest.fixture(scope="module")
def simulated_fits():
    out = {}
    for truth in ("context", "monolithic"):
        ev = simulated_evidence(truth, seed=3)
        out[truth] = {
            kind: fit_comparison_model(
                kind,
                "baseline@1.1.0",
                ev,
                seed=5,
                chains=2,
                draws=400,
                tune=300,
                refit={"chains": 1, "draws": 400, "tune": 300},
            )
            for kind in ("monolithic", "context")
        }
    return out


@pytest.mark.slow
def test_comparison_prefers_the_context_model_on_context_dependent_data(simulated_fits):
    fits = simulated_fits["context"]
    pref = preference(fits["monolithic"], fits["context"])
    assert pref["verdict"] == "prefers context", pref
    assert pref["elpd_diff"] > 2 * pref["se"]
    # every row with Pareto k > 0.7 was refitted exactly (reloo sets its k to 0 afterwards)
    for f in fits.values():
        assert set(f.refitted) == {r.id for r, k in zip(f.rows, f.pareto_k.values, strict=True) if k > 0.7}
        assert np.all(f.loo.pareto_k.values <= 0.7)


@pytest.mark.slow
def test_comparison_does_not_prefer_the_context_model_on_monolithic_data(simulated_fits):
    fits = simulated_fits["monolithic"]
    pref = preference(fits["monolithic"], fits["context"])
    assert pref["verdict"] != "prefers context", pref
    # the monolithic model fits its own data: its 90% predictive intervals cover every simulated row
    assert posterior_predictive(fits["monolithic"])["covered"].all()


@pytest.mark.slow
def test_posterior_predictive_covers_the_shipped_rows(default_fit):
    fit = fit_comparison_model(
        "mixture", default_fit.priors, default_fit.evidence, posterior=default_fit.posterior, loo=False
    )
    ppc = posterior_predictive(fit, seed=1)
    assert set(EXPECTED_MISSES) <= set(ppc.index), "an expected miss names a row that is not in the likelihood"
    missed = ppc[~ppc["covered"]].index
    unexpected = sorted(set(missed) - set(EXPECTED_MISSES))
    assert not unexpected, ppc.loc[unexpected, ["observed", "lower", "upper"]]
    # the check can fail: every interval is narrow (n = 400), so a rate 0.15 away from the prediction is missed
    assert (ppc["upper"] - ppc["lower"] < 0.15).all()


@pytest.mark.slow
def test_alignment_faking_analysis_writes_stamped_outputs(tmp_path):
    """The worked analysis runs end to end (tiny MCMC) and stamps every output with the files and seed."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("alignment_faking", ROOT / "analyses" / "alignment_faking.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.EXPECTED_MISSES == EXPECTED_MISSES  # the report prints the list the test checks
    out = tmp_path / "af"
    assert mod.main(["--draws", "100", "--tune", "150", "--chains", "2", "--seed", "3", "--out", str(out)]) == 0
    ev_sha = load_evidence("published-evals@1.0.0", root=ROOT).sha256
    for csv in out.glob("*.csv"):
        first = csv.read_text().splitlines()[0]
        assert first.startswith("# ") and f"published-evals@1.0.0 sha256:{ev_sha}" in first and "seed 3" in first
    from PIL import Image

    for png in ("ppc.png", "context_effects.png"):
        assert ev_sha in Image.open(out / png).info["Description"]
    report = (out / "report.md").read_text()
    assert ev_sha in report and "![posterior predictive check](ppc.png)" in report
    for m in ("monolithic", "context", "mixture"):
        assert m in report
    table = pd.read_csv(out / "comparison.csv", comment="#", index_col=0)
    assert set(table.index) == {"monolithic", "context", "mixture"}
    assert set(table["verdict_vs_best"]) <= {"best", "worse", "no preference"}
    cap = pd.read_csv(out / "capability_likelihood.csv", comment="#", index_col=0)
    on = cap[cap["capability_likelihood"] == "on (ME24)"]
    assert (on["informed_capabilities"] == "cross_context_strategizing").all()
    assert (on["cross_context_strategizing_mean"] > on["cross_context_strategizing_prior_mean"]).all()

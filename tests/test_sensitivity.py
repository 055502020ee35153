"""Sensitivity analyses against independent answers.

Fast tests check the estimators on a product of independent Beta variables, whose Sobol indices, value of
information and tornado ordering have closed forms. Slow tests run the model's analyses on the shared default fit
and check them against direct reruns, ``riskmodel.update``, the model's own likelihood, and exact refits.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from riskmodel import sensitivity as S

# ---------------------------------------------------------------------------------------------- toy product model
#: Y = X1 * X2 * X3 with independent Betas of different spreads and means.
BETAS = {"x1": (2.0, 5.0), "x2": (8.0, 2.0), "x3": (1.0, 1.0)}


def _moments() -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    mean = {k: a / (a + b) for k, (a, b) in BETAS.items()}
    var = {k: a * b / ((a + b) ** 2 * (a + b + 1)) for k, (a, b) in BETAS.items()}
    second = {k: var[k] + mean[k] ** 2 for k in BETAS}
    return mean, var, second


def _closed_form() -> tuple[dict[str, float], dict[str, float], float]:
    """First-order and total Sobol indices of the product, and Var(Y)."""
    mean, var, second = _moments()
    var_y = math.prod(second.values()) - math.prod(m**2 for m in mean.values())
    first, total = {}, {}
    for k in BETAS:
        others_mean = math.prod(mean[j] for j in BETAS if j != k)
        others_second = math.prod(second[j] for j in BETAS if j != k)
        first[k] = others_mean**2 * var[k] / var_y
        total[k] = var[k] * others_second / var_y
    return first, total, var_y


def _product(x: dict[str, np.ndarray]) -> np.ndarray:
    return x["x1"] * x["x2"] * x["x3"]


def test_sobol_indices_of_a_product_of_betas_match_the_closed_form():
    dists = {k: stats.beta(a, b) for k, (a, b) in BETAS.items()}
    ds = S.sobol_indices(_product, dists, n_base=8192, seed=3)
    first, total, var_y = _closed_form()
    assert ds["first_order"].dims == ("parameter",)
    for k in BETAS:
        s1, st = float(ds["first_order"].sel(parameter=k)), float(ds["total"].sel(parameter=k))
        tol1 = max(3 * float(ds["first_order_conf"].sel(parameter=k)), 0.01)
        tolt = max(3 * float(ds["total_conf"].sel(parameter=k)), 0.01)
        assert abs(s1 - first[k]) < tol1, (k, s1, first[k])
        assert abs(st - total[k]) < tolt, (k, st, total[k])
    assert ds.attrs["output_variance"] == pytest.approx(var_y, rel=0.03)
    # the product has interactions: total > first order for every input
    assert all(total[k] > first[k] for k in BETAS)


def _draws(n: int = 200_000, seed: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.beta(a, b, size=n) for k, (a, b) in BETAS.items()}


def test_value_of_perfect_information_by_replacement_matches_the_closed_form():
    x = _draws()
    y = _product(x)
    mean, var, _ = _moments()
    for k in BETAS:
        others = math.prod(x[j] for j in BETAS if j != k)
        got, ent = S.voi_by_replacement(lambda v, others=others: v * others, stats.beta(*BETAS[k]), y, nodes=32)
        expected = var[k] * math.prod(mean[j] for j in BETAS if j != k) ** 2
        assert got == pytest.approx(expected, rel=0.02), k
        assert got >= 0 and ent >= 0


def test_value_of_information_is_exactly_zero_for_an_input_the_output_ignores():
    x = _draws(20_000)
    y = _product(x)
    got, ent = S.voi_by_replacement(lambda v: y, stats.beta(3.0, 3.0), y, nodes=16)
    assert got == 0.0
    assert ent == 0.0


def test_value_of_information_from_joint_draws_matches_the_closed_form():
    x = _draws()
    y = _product(x)
    mean, var, _ = _moments()
    for k in BETAS:
        got, _ = S.voi_given_data(x[k], y)
        expected = var[k] * math.prod(mean[j] for j in BETAS if j != k) ** 2
        assert got == pytest.approx(expected, rel=0.05), k
    noise = np.random.default_rng(9).uniform(size=y.size)
    got, _ = S.voi_given_data(noise, y)
    assert 0.0 <= got < 0.01 * y.var()


def test_preposterior_value_of_a_binomial_experiment_matches_beta_binomial_conjugacy():
    """Observing k ~ Binomial(n, X1): Var(E[Y | k]) = (mu2 mu3)^2 Var(X1) n / (a + b + n)."""
    x = _draws(100_000)
    y = _product(x)
    mean, var, _ = _moments()
    a, b = BETAS["x1"]
    for n in (5, 40):
        lik = stats.binom.pmf(np.arange(n + 1)[None, :], n, x["x1"][:, None])
        out = S.preposterior_voi(y, lik)
        expected = (mean["x2"] * mean["x3"]) ** 2 * var["x1"] * n / (a + b + n)
        assert out["variance_reduction"] == pytest.approx(expected, rel=0.04), n
        # the updated means average back to the current mean (a martingale), and each P(k) is beta-binomial
        assert np.sum(out["p_outcome"] * out["mean_given_outcome"]) == pytest.approx(y.mean(), rel=1e-9)
        assert out["p_outcome"] == pytest.approx(stats.betabinom.pmf(np.arange(n + 1), n, a, b), abs=0.01)
        assert out["expected_variance_reduction"] == pytest.approx(out["variance_reduction"], rel=0.05)


def test_tornado_ordering_of_a_product_matches_the_analytic_ordering():
    """Fixing X_i at its 5th and 95th percentiles moves E[Y] by (q95 - q5) * prod_{j != i} mu_j."""
    x = _draws(50_000)
    mean, _, _ = _moments()
    dists = {k: stats.beta(a, b) for k, (a, b) in BETAS.items()}

    def evaluate(name: str, v: float) -> np.ndarray:
        return v * math.prod(x[j] for j in BETAS if j != name)

    ds = S.one_way_function(evaluate, dists, points=21)
    assert ds["estimate"].dims == ("parameter", "grid")
    analytic = {
        k: (dists[k].ppf(0.95) - dists[k].ppf(0.05)) * math.prod(mean[j] for j in BETAS if j != k) for k in BETAS
    }
    ranked = list(S.tornado_table(ds)["parameter"])
    assert ranked == sorted(analytic, key=analytic.get, reverse=True)
    for k in BETAS:
        assert float(ds["swing"].sel(parameter=k)) == pytest.approx(analytic[k], rel=0.02)


def test_entropy_of_a_point_mass_is_zero_and_of_a_spread_is_positive():
    edges = np.linspace(-3, 0, 31)
    assert S.entropy_bits(np.full(1000, 0.01), None, edges) == 0.0
    y = 10 ** np.random.default_rng(1).uniform(-3, 0, 100_000)
    assert S.entropy_bits(y, None, edges) == pytest.approx(math.log2(30), abs=0.01)


def test_bad_grid_sizes_are_one_line_errors():
    from riskmodel.errors import InputError

    with pytest.raises(InputError):
        S.grid_levels(1)
    with pytest.raises(InputError):
        S.sobol_indices(_product, {k: stats.beta(*v) for k, v in BETAS.items()}, n_base=1000)

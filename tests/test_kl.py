"""vae_course.kl against independent references: scipy quadrature and densities, torch.distributions."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special, stats
from torch import distributions as td

from vae_course import kl

means = st.floats(-5, 5)
sigmas = st.floats(0.1, 5)


def random_spd(d: int, rng: np.random.Generator) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.5 * np.eye(d)


def torch_mvn_kl(mu1, cov1, mu2, cov2) -> float:
    p = td.MultivariateNormal(torch.tensor(mu1), covariance_matrix=torch.tensor(cov1))
    q = td.MultivariateNormal(torch.tensor(mu2), covariance_matrix=torch.tensor(cov2))
    return float(td.kl_divergence(p, q))


# ---------------------------------------------------------------------------------------------
# Discrete


def test_kl_discrete_matches_scipy_rel_entr():
    p, q = np.array([0.1, 0.6, 0.3]), np.array([0.3, 0.3, 0.4])
    assert kl.kl_discrete(p, q) == pytest.approx(special.rel_entr(p, q).sum(), rel=1e-12)
    assert kl.kl_discrete(p, q) == pytest.approx(stats.entropy(p, q), rel=1e-12)


def test_kl_discrete_infinite_where_q_has_no_mass_and_zero_terms_vanish():
    assert kl.kl_discrete([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert kl.kl_discrete([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.log(2))


@pytest.mark.parametrize("p,q,message", [
    ([0.5, 0.6], [0.5, 0.5], "p must sum to 1"),
    ([0.5, 0.5], [1.5, -0.5], "q must have no negative entries"),
    ([0.5, 0.5], [1.0, 0.0, 0.0], "p and q must have the same shape"),
    ([[0.5, 0.5]], [[0.5, 0.5]], "p must be a non-empty 1-D"),
    ([0.5, np.nan], [0.5, 0.5], "p must be finite"),
])
def test_kl_discrete_bad_input(p, q, message):
    with pytest.raises(ValueError, match=message):
        kl.kl_discrete(p, q)


# ---------------------------------------------------------------------------------------------
# 1-D Gaussians


@pytest.mark.parametrize("mu1,sigma1,mu2,sigma2", [(0, 1, 0, 1), (0, 1, 1, 2), (-2, 0.3, 1.5, 4.0), (3, 5, 0, 0.5)])
def test_kl_normal_1d_matches_quadrature_with_scipy_densities(mu1, sigma1, mu2, sigma2):
    # Written out here with scipy's own density, independent of vae_course.kl
    p, q = stats.norm(mu1, sigma1), stats.norm(mu2, sigma2)
    value, _ = integrate.quad(lambda x: p.pdf(x) * (p.logpdf(x) - q.logpdf(x)), -np.inf, np.inf, limit=200)
    assert kl.kl_normal_1d(mu1, sigma1, mu2, sigma2) == pytest.approx(value, rel=1e-7, abs=1e-10)


@given(means, sigmas, means, sigmas)
def test_kl_normal_1d_matches_torch_distributions(mu1, sigma1, mu2, sigma2):
    expected = td.kl_divergence(td.Normal(torch.tensor(mu1, dtype=torch.float64), sigma1),
                                td.Normal(torch.tensor(mu2, dtype=torch.float64), sigma2))
    assert kl.kl_normal_1d(mu1, sigma1, mu2, sigma2) == pytest.approx(float(expected), rel=1e-9, abs=1e-12)


@given(means, sigmas, means, sigmas)
def test_kl_normal_1d_is_non_negative(mu1, sigma1, mu2, sigma2):
    assert kl.kl_normal_1d(mu1, sigma1, mu2, sigma2) >= 0


@given(means, sigmas)
def test_kl_normal_1d_of_a_distribution_with_itself_is_zero(mu, sigma):
    assert kl.kl_normal_1d(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-12)


def test_kl_normal_1d_is_asymmetric():
    forward, backward = kl.kl_normal_1d(0, 1, 0, 2), kl.kl_normal_1d(0, 2, 0, 1)
    # log 2 + 1/8 - 1/2 and -log 2 + 2 - 1/2, by hand
    assert forward == pytest.approx(math.log(2) + 1 / 8 - 0.5)
    assert backward == pytest.approx(-math.log(2) + 2 - 0.5)


@given(sigmas, sigmas)
def test_asymmetry_exists_whenever_the_scales_differ(sigma1, sigma2):
    if abs(sigma1 - sigma2) > 1e-2:
        assert kl.kl_normal_1d(0, sigma1, 0, sigma2) != pytest.approx(kl.kl_normal_1d(0, sigma2, 0, sigma1), rel=1e-6)


def test_kl_normal_1d_broadcasts_like_numpy():
    mu1 = np.linspace(-2, 2, 5)[:, None]  # (5, 1)
    sigma1 = np.array([0.5, 1.0, 2.0])  # (3,)
    out = kl.kl_normal_1d(mu1, sigma1, 0.0, 1.0)
    assert out.shape == (5, 3)
    for i, m in enumerate(mu1[:, 0]):
        for j, s in enumerate(sigma1):
            expected = td.kl_divergence(td.Normal(float(m), float(s)), td.Normal(0.0, 1.0))
            assert out[i, j] == pytest.approx(float(expected), rel=1e-6)
    assert isinstance(kl.kl_normal_1d(0, 1, 0, 1), float)


@pytest.mark.parametrize("args,message", [
    ((0, -1.0, 0, 1), r"sigma1 must be > 0, got -1.0"),
    ((0, 1, 0, 0.0), r"sigma2 must be > 0, got 0.0"),
    ((np.nan, 1, 0, 1), r"mu1 must be finite, got nan"),
    ((0, 1, np.inf, 1), r"mu2 must be finite, got inf"),
    ((0, [1.0, np.inf], 0, 1), r"sigma1 must be finite"),
    (("a", 1, 0, 1), r"mu1 must be a real number"),
    (([0, 1, 2], 1, [0, 1], 1), r"shapes do not broadcast together: mu1 \(3,\), sigma1 \(\), mu2 \(2,\)"),
])
def test_kl_normal_1d_bad_input(args, message):
    error = TypeError if "real number" in message else ValueError  # a wrong type, or a wrong value
    with pytest.raises(error, match=message):
        kl.kl_normal_1d(*args)


def test_normal_logpdf_1d_matches_scipy_and_has_the_minus_sign():
    x = np.linspace(-4, 6, 41)
    assert np.allclose(kl.normal_logpdf_1d(x, 1.0, 1.5), stats.norm(1.0, 1.5).logpdf(x), rtol=1e-12)
    # The density integrates to one (with a plus sign in the exponent it would diverge)
    total, _ = integrate.quad(lambda t: np.exp(kl.normal_logpdf_1d(t, 1.0, 1.5)), -np.inf, np.inf)
    assert total == pytest.approx(1.0, rel=1e-9)


def test_quadrature_and_monte_carlo_routes_agree_with_the_closed_form():
    closed = kl.kl_normal_1d(0.5, 0.7, -1.0, 1.3)
    assert kl.kl_normal_1d_quadrature(0.5, 0.7, -1.0, 1.3) == pytest.approx(closed, rel=1e-8)
    estimate = kl.kl_normal_1d_monte_carlo(0.5, 0.7, -1.0, 1.3, n_samples=200_000, rng=0)
    assert estimate.n_samples == 200_000
    assert abs(estimate.mean - closed) < 5 * estimate.stderr
    assert 0 < estimate.stderr < 0.01


def test_quadrature_handles_narrow_and_far_apart_gaussians():
    # A tiny sigma1 far from mu2: a naive (-inf, inf) quad misses the peak
    closed = kl.kl_normal_1d(30.0, 0.01, 0.0, 1.0)
    assert kl.kl_normal_1d_quadrature(30.0, 0.01, 0.0, 1.0) == pytest.approx(closed, rel=1e-7)


def test_kl_quadrature_on_uniforms_with_finite_bounds():
    # KL(U(0, 1) || U(0, 2)) = log 2
    value = kl.kl_quadrature(lambda x: 0.0, lambda x: -math.log(2), 0.0, 1.0)
    assert value == pytest.approx(math.log(2), rel=1e-12)


def test_monte_carlo_is_reproducible_with_a_seed_and_checks_n():
    a = kl.kl_normal_1d_monte_carlo(0, 1, 1, 1, n_samples=1000, rng=3)
    b = kl.kl_normal_1d_monte_carlo(0, 1, 1, 1, n_samples=1000, rng=3)
    assert a == b
    for bad, error in ((0, ValueError), (1, ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match="n_samples must be"):
            kl.kl_normal_1d_monte_carlo(0, 1, 1, 1, n_samples=bad)


# ---------------------------------------------------------------------------------------------
# Multivariate Gaussians


@pytest.mark.parametrize("d", [1, 2, 5, 10])
def test_kl_mvn_matches_torch_distributions(d):
    rng = np.random.default_rng(d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    cov1, cov2 = random_spd(d, rng), random_spd(d, rng)
    assert kl.kl_mvn(mu1, cov1, mu2, cov2) == pytest.approx(torch_mvn_kl(mu1, cov1, mu2, cov2), rel=1e-9)


def test_kl_mvn_of_diagonal_covariances_is_a_sum_of_1d_kls():
    mu1, s1 = np.array([0.3, -1.0, 2.0]), np.array([0.5, 1.0, 2.5])
    mu2, s2 = np.array([0.0, 1.0, -1.0]), np.array([1.0, 0.7, 1.2])
    expected = sum(float(td.kl_divergence(td.Normal(a, b), td.Normal(c, e)))
                   for a, b, c, e in zip(mu1, s1, mu2, s2))
    assert kl.kl_mvn(mu1, np.diag(s1**2), mu2, np.diag(s2**2)) == pytest.approx(expected, rel=1e-6)


def test_kl_mvn_monte_carlo_agrees_within_five_standard_errors():
    rng = np.random.default_rng(0)
    mu1, mu2, cov1, cov2 = rng.normal(size=3), rng.normal(size=3), random_spd(3, rng), random_spd(3, rng)
    estimate = kl.kl_mvn_monte_carlo(mu1, cov1, mu2, cov2, n_samples=100_000, rng=1)
    assert abs(estimate.mean - torch_mvn_kl(mu1, cov1, mu2, cov2)) < 5 * estimate.stderr


def test_kl_mvn_stays_accurate_for_an_ill_conditioned_covariance():
    # Eigenvalues 1 and 1e-9: torch in float64 (its own Cholesky route) is the reference
    rotation = np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    cov2 = rotation @ np.diag([1.0, 1e-9]) @ rotation.T
    cov2 = (cov2 + cov2.T) / 2
    mu1, cov1, mu2 = np.zeros(2), np.diag([1e-9, 1e-9]), np.array([1e-5, 0.0])
    assert kl.kl_mvn(mu1, cov1, mu2, cov2) == pytest.approx(torch_mvn_kl(mu1, cov1, mu2, cov2), rel=1e-6)


@settings(max_examples=50)
@given(st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_kl_mvn_properties(d, seed):
    rng = np.random.default_rng(seed)
    mu1, mu2, cov1, cov2 = rng.normal(size=d), rng.normal(size=d), random_spd(d, rng), random_spd(d, rng)
    assert kl.kl_mvn(mu1, cov1, mu2, cov2) >= 0
    assert kl.kl_mvn(mu1, cov1, mu1, cov1) == pytest.approx(0.0, abs=1e-9)


def test_kl_mvn_is_asymmetric():
    a, b = np.eye(2), np.diag([4.0, 1.0])
    assert kl.kl_mvn([0, 0], a, [0, 0], b) != pytest.approx(kl.kl_mvn([0, 0], b, [0, 0], a))


def test_mvn_logpdf_matches_scipy_for_one_and_many_points():
    rng = np.random.default_rng(0)
    mu, cov = rng.normal(size=3), random_spd(3, rng)
    x = rng.normal(size=(7, 3))
    reference = stats.multivariate_normal(mu, cov)
    assert np.allclose(kl.mvn_logpdf(x, mu, cov), reference.logpdf(x), rtol=1e-10)
    assert np.allclose(kl.mvn_logpdf(x[0], mu, cov), reference.logpdf(x[0]), rtol=1e-10)


I2 = np.eye(2)


@pytest.mark.parametrize("args,message", [
    (([0, 0], [[1, 0.5], [0, 1]], [0, 0], I2), r"cov1 must be symmetric"),
    (([0, 0], I2, [0, 0], [[1, 2], [2, 1]]), r"cov2 must be positive definite, got smallest eigenvalue -1"),
    (([0, 0], I2, [0, 0], [[1, 1], [1, 1]]), r"cov2 must be positive definite"),
    (([0, 0, 0], I2, [0, 0], I2), r"cov1 must have shape \(3, 3\) to match mu1, got \(2, 2\)"),
    (([0, 0], I2, [0, 0, 0], np.eye(3)), r"mu1 and mu2 must have the same shape"),
    (([[0, 0]], I2, [0, 0], I2), r"mu1 must be a non-empty 1-D vector"),
    (([0, np.nan], I2, [0, 0], I2), r"mu1 must be finite"),
    (([0, 0], [[1, 0], [0, np.inf]], [0, 0], I2), r"cov1 must be finite"),
])
def test_kl_mvn_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        kl.kl_mvn(*args)
    if "cov1" in message or "mu1 must be" in message:
        with pytest.raises(ValueError, match=message):
            kl.kl_mvn_monte_carlo(*args, n_samples=10)


def test_mvn_logpdf_bad_x():
    with pytest.raises(ValueError, match=r"x must have shape \(2,\) or \(n, 2\), got \(3,\)"):
        kl.mvn_logpdf([0.0, 0.0, 0.0], [0.0, 0.0], I2)


# ---------------------------------------------------------------------------------------------
# The VAE's KL term


def test_kl_diag_std_normal_matches_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(8, 5, generator=gen), torch.randn(8, 5, generator=gen)
    q = td.Independent(td.Normal(mu, (0.5 * logvar).exp()), 1)
    p = td.Independent(td.Normal(torch.zeros(5), torch.ones(5)), 1)
    out = kl.kl_diag_std_normal(mu, logvar)
    assert out.shape == (8,)
    torch.testing.assert_close(out, td.kl_divergence(q, p), rtol=1e-5, atol=1e-6)


def test_kl_diag_std_normal_parts_split_the_term():
    mu, logvar = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.0, math.log(4.0)]])
    mean_part, variance_part = kl.kl_diag_std_normal_parts(mu, logvar)
    # by hand: mean part (1 + 4) / 2; variance part (0) + (4 - log 4 - 1) / 2
    torch.testing.assert_close(mean_part, torch.tensor([2.5]))
    torch.testing.assert_close(variance_part, torch.tensor([(3 - math.log(4)) / 2]))
    torch.testing.assert_close(kl.kl_diag_std_normal(mu, logvar), mean_part + variance_part)


def test_kl_diag_std_normal_is_differentiable_with_the_right_gradient():
    mu = torch.tensor([[0.5, -1.0]], dtype=torch.float64, requires_grad=True)
    logvar = torch.tensor([[0.2, -0.7]], dtype=torch.float64, requires_grad=True)
    kl.kl_diag_std_normal(mu, logvar).sum().backward()
    # d/dmu = mu; d/dlogvar = (exp(logvar) - 1) / 2
    torch.testing.assert_close(mu.grad, mu.detach())
    torch.testing.assert_close(logvar.grad, (logvar.detach().exp() - 1) / 2)


def test_kl_diag_std_normal_agrees_with_kl_mvn():
    mu, logvar = np.array([0.3, -0.4, 1.1]), np.array([0.5, -1.0, 0.0])
    expected = kl.kl_mvn(mu, np.diag(np.exp(logvar)), np.zeros(3), np.eye(3))
    got = kl.kl_diag_std_normal(torch.tensor(mu), torch.tensor(logvar))
    assert float(got) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("mu,logvar,message", [
    (torch.zeros(2, 3), torch.zeros(2, 4), r"mu and logvar must have the same shape, got \(2, 3\) and \(2, 4\)"),
    (np.zeros(3), torch.zeros(3), r"mu must be a torch.Tensor, got ndarray"),
    (torch.zeros(3, dtype=torch.long), torch.zeros(3), r"mu must be a floating-point tensor"),
    (torch.zeros(3), torch.tensor([0.0, float("nan"), 0.0]), r"logvar must be finite"),
    (torch.tensor(0.0), torch.tensor(0.0), r"mu must have at least 1 dimension"),
])
def test_kl_diag_std_normal_bad_input(mu, logvar, message):
    error = TypeError if "torch.Tensor" in message or "floating-point" in message else ValueError
    with pytest.raises(error, match=message):
        kl.kl_diag_std_normal(mu, logvar)

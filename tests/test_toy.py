"""vae_course.toy.LinearGaussian against independent routes: the marginal N(b, W W^T + s^2 I) by scipy,
the posterior by conditioning the joint Gaussian of (z, x), and Monte Carlo with scipy's densities."""

import matplotlib
import matplotlib.figure

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy import optimize, stats  # noqa: E402

from vae_course.kl import kl_mvn, kl_normal_1d  # noqa: E402
from vae_course.plots import plot_elbo_gap_1d, plot_iwae_bounds  # noqa: E402
from vae_course.toy import LinearGaussian  # noqa: E402

seeds = st.integers(0, 2**32 - 1)
shapes = st.tuples(st.integers(1, 5), st.integers(1, 3))  # (d, k)


def random_model(d: int, k: int, np_generator: np.random.Generator) -> LinearGaussian:
    return LinearGaussian(np_generator.normal(size=(d, k)), np_generator.normal(size=d), np_generator.uniform(0.3, 2.0))


def random_case(shape: tuple[int, int], seed: int, x_scale: float = 1.0):
    """A generator, a random model of shape (d, k) and a random observation x."""
    np_generator = np.random.default_rng(seed)
    model = random_model(*shape, np_generator)
    return np_generator, model, x_scale * np_generator.normal(size=shape[0])


def random_q(k: int, np_generator: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a = np_generator.normal(size=(k, k))
    return np_generator.normal(size=k), a @ a.T + 0.1 * np.eye(k)


def marginal(model: LinearGaussian):
    W, b = model.W.numpy(), model.b.numpy()
    return stats.multivariate_normal(b, W @ W.T + model.sigma**2 * np.eye(model.data_dim))


def conditioned_posterior(model: LinearGaussian, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p(z | x) by conditioning the joint N([0, b], [[I, W^T], [W, C]]), C = W W^T + s^2 I."""
    W, b = model.W.numpy(), model.b.numpy()
    C = W @ W.T + model.sigma**2 * np.eye(model.data_dim)
    gain = np.linalg.solve(C, W).T  # W^T C^-1, (k, d)
    return gain @ (x - b), np.eye(model.latent_dim) - gain @ W


# ---------------------------------------------------------------------------------------------
# exact inference


@settings(max_examples=60, deadline=None)
@given(shapes, seeds)
def test_log_evidence_matches_the_marginal_gaussian(shape, seed):
    _, model, x = random_case(shape, seed, x_scale=3.0)
    assert model.log_evidence(x) == pytest.approx(marginal(model).logpdf(x), rel=1e-10, abs=1e-10)


@settings(max_examples=60, deadline=None)
@given(shapes, seeds)
def test_posterior_matches_conditioning_the_joint(shape, seed):
    _, model, x = random_case(shape, seed)
    mean, cov = model.posterior(x)
    ref_mean, ref_cov = conditioned_posterior(model, x)
    np.testing.assert_allclose(mean.numpy(), ref_mean, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(cov.numpy(), ref_cov, rtol=1e-9, atol=1e-11)


def test_bayes_rule_holds_pointwise_with_scipy_densities():
    # log p(z | x) = log p(x | z) + log p(z) - log p(x) at any z, each term from scipy
    np_generator = np.random.default_rng(1)
    model = random_model(4, 2, np_generator)
    x, z = np_generator.normal(size=4), np_generator.normal(size=(5, 2))
    W, b, s = model.W.numpy(), model.b.numpy(), model.sigma
    log_lik = np.array([stats.multivariate_normal(W @ zi + b, s**2 * np.eye(4)).logpdf(x) for zi in z])
    log_prior = stats.multivariate_normal(np.zeros(2), np.eye(2)).logpdf(z)
    mean, cov = model.posterior(x)
    log_post = stats.multivariate_normal(mean.numpy(), cov.numpy()).logpdf(z)
    np.testing.assert_allclose(log_lik + log_prior - log_post, marginal(model).logpdf(x), rtol=1e-10)
    np.testing.assert_allclose(model.log_joint(x, torch.from_numpy(z)).numpy(), log_lik + log_prior, rtol=1e-12)


def test_samples_have_the_marginal_covariance():
    model = random_model(3, 2, np.random.default_rng(2))
    _, x = model.sample(200_000, torch.Generator().manual_seed(0))
    ref, n = marginal(model), 200_000
    # 5 standard errors: sqrt(C_ii / n) for a mean, sqrt((C_ij^2 + C_ii C_jj) / n) for a Gaussian sample covariance
    variances = np.diag(ref.cov)
    assert np.all(np.abs(x.mean(0).numpy() - ref.mean) < 5 * np.sqrt(variances / n))
    cov_se = np.sqrt((ref.cov**2 + np.outer(variances, variances)) / n)
    assert np.all(np.abs(np.cov(x.numpy().T) - ref.cov) < 5 * cov_se)


# ---------------------------------------------------------------------------------------------
# the ELBO identity and the bounds


@settings(max_examples=80, deadline=None)
@given(shapes, seeds)
def test_elbo_identity_for_random_q(shape, seed):
    # log p(x) - KL(q || p(z | x)) = ELBO(q), and so ELBO(q) <= log p(x)
    np_generator, model, x = random_case(shape, seed)
    q_mean, q_cov = random_q(shape[1], np_generator)
    post_mean, post_cov = conditioned_posterior(model, x)
    log_px = marginal(model).logpdf(x)
    elbo = model.elbo(x, q_mean, q_cov)
    assert elbo == pytest.approx(log_px - kl_mvn(q_mean, q_cov, post_mean, post_cov), abs=1e-8 * (1 + abs(log_px)))
    assert elbo <= log_px + 1e-10


@settings(max_examples=40, deadline=None)
@given(shapes, seeds)
def test_elbo_equals_log_evidence_at_the_exact_posterior(shape, seed):
    _, model, x = random_case(shape, seed)
    post_mean, post_cov = conditioned_posterior(model, x)
    assert model.elbo(x, post_mean, post_cov) == pytest.approx(marginal(model).logpdf(x), rel=1e-10, abs=1e-10)


def test_closed_form_elbo_matches_monte_carlo_with_scipy_densities():
    np_generator = np.random.default_rng(3)
    model = random_model(4, 2, np_generator)
    x = np_generator.normal(size=4)
    q_mean, q_cov = random_q(2, np_generator)
    q = stats.multivariate_normal(q_mean, q_cov)
    z = q.rvs(size=100_000, random_state=np_generator)
    W, b, s = model.W.numpy(), model.b.numpy(), model.sigma
    log_lik = stats.norm(z @ W.T + b, s).logpdf(x).sum(-1)
    terms = log_lik + stats.multivariate_normal(np.zeros(2), np.eye(2)).logpdf(z) - q.logpdf(z)
    stderr = terms.std(ddof=1) / np.sqrt(terms.size)
    assert abs(model.elbo(x, q_mean, q_cov) - terms.mean()) < 5 * stderr


def test_elbo_monte_carlo_is_unbiased_and_exact_at_the_posterior():
    np_generator = np.random.default_rng(4)
    model = random_model(3, 2, np_generator)
    x = np_generator.normal(size=3)
    q_mean, q_cov = random_q(2, np_generator)
    estimate = model.elbo_monte_carlo(x, q_mean, q_cov, 50_000, torch.Generator().manual_seed(0))
    assert estimate.n_samples == 50_000
    assert abs(estimate.mean - model.elbo(x, q_mean, q_cov)) < 5 * estimate.stderr
    # at q = p(z | x), log p(x, z) - log q(z) = log p(x) for every z: zero variance
    post_mean, post_cov = conditioned_posterior(model, x)
    exact = model.elbo_monte_carlo(x, post_mean, post_cov, 100, torch.Generator().manual_seed(0))
    assert exact.mean == pytest.approx(marginal(model).logpdf(x), rel=1e-10)
    assert exact.stderr < 1e-10


def chi_square_to_prior(post_mean: np.ndarray, post_cov: np.ndarray) -> float:
    """E_q[(p(z|x) / q(z))^2] - 1 for q = N(0, I), p(z|x) = N(m, S), by a Gaussian integral done by hand:
    p^2 / q = (2 pi)^(-k/2) det(S)^-1 exp(-z^T A z / 2 + h^T z - m^T P m), P = S^-1, A = 2P - I, h = 2 P m,
    whose integral is det(S)^-1 det(A)^(-1/2) exp(h^T A^-1 h / 2 - m^T P m) (finite when A is positive definite)."""
    P = np.linalg.inv(post_cov)
    A = 2 * P - np.eye(len(post_mean))
    assert np.linalg.eigvalsh(A).min() > 0, "the second moment of the weights is infinite"
    h = 2 * P @ post_mean
    log_second_moment = (-np.linalg.slogdet(post_cov)[1] - 0.5 * np.linalg.slogdet(A)[1]
                         + 0.5 * h @ np.linalg.solve(A, h) - post_mean @ P @ post_mean)
    return float(np.exp(log_second_moment) - 1)


def test_iwae_bound_orders_elbo_iwae_and_log_evidence():
    np_generator = np.random.default_rng(5)
    model = random_model(4, 2, np_generator)
    x = np_generator.normal(size=4) * 2
    q_mean, q_cov = np.zeros(2), np.eye(2)  # the prior as q: a loose ELBO, so the bounds are well apart
    elbo, log_px = model.elbo(x, q_mean, q_cov), marginal(model).logpdf(x)
    generator = torch.Generator().manual_seed(0)
    one = model.iwae_bound(x, q_mean, q_cov, k=1, n_repeats=20_000, generator=generator)
    assert abs(one.mean - elbo) < 5 * one.stderr  # IWAE_1 is the ELBO
    previous = one
    for k in (10, 100, 1000):
        bound = model.iwae_bound(x, q_mean, q_cov, k=k, n_repeats=2000, generator=generator)
        margin = 5 * np.hypot(bound.stderr, previous.stderr)
        assert previous.mean - margin < bound.mean < log_px + 5 * bound.stderr
        previous = bound
    # for large k the gap is chi^2 / (2k) + O(1/k^2) (a Taylor expansion of the log around p(x)); here
    # chi^2 = 9.8, so the gap at k = 1000 is 0.0049 nats, with an O(1/k^2) term near 1e-4, below the s.e. 0.002
    chi2 = chi_square_to_prior(*conditioned_posterior(model, x))
    assert abs(log_px - previous.mean - chi2 / 2000) < 5 * previous.stderr
    assert log_px - previous.mean < 0.01 * (log_px - elbo)  # k = 1000 closes 99% of the ELBO's 7.6-nat gap


def test_iwae_bound_is_exact_at_the_posterior_for_every_k():
    np_generator = np.random.default_rng(6)
    model = random_model(3, 1, np_generator)
    x = np_generator.normal(size=3)
    post_mean, post_cov = conditioned_posterior(model, x)
    for k in (1, 7):
        bound = model.iwae_bound(x, post_mean, post_cov, k=k, n_repeats=10, generator=torch.Generator().manual_seed(0))
        assert bound.mean == pytest.approx(marginal(model).logpdf(x), rel=1e-10)


# ---------------------------------------------------------------------------------------------
# the posteriors averaged over the model's own p(x) give back the prior (erratum 6, positive half)


@settings(max_examples=40, deadline=None)
@given(shapes, seeds)
def test_posterior_takes_a_batch_of_x(shape, seed):
    np_generator, model, _ = random_case(shape, seed)
    xs = np_generator.normal(size=(4, shape[0]))
    means, cov = model.posterior(xs)
    assert means.shape == (4, shape[1])
    for x, mean in zip(xs, means):
        ref_mean, ref_cov = conditioned_posterior(model, x)
        np.testing.assert_allclose(mean.numpy(), ref_mean, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(cov.numpy(), ref_cov, rtol=1e-9, atol=1e-11)


@settings(max_examples=40, deadline=None)
@given(shapes, seeds)
def test_posterior_means_over_p_x_have_covariance_identity_minus_posterior_cov(shape, seed):
    # mu_post(x) = G (x - b) is linear in x ~ N(b, C), so Cov_x[mu_post] = G C G^T, with G read off the
    # package's posterior at the d unit vectors (mu_post(b + e_j) is column j of G); + Sigma_post = I
    _, model, _ = random_case(shape, seed)
    d, k = shape
    gain = model.posterior(model.b.numpy() + np.eye(d))[0].numpy().T  # (k, d)
    C = marginal(model).cov
    np.testing.assert_allclose(gain @ C @ gain.T + model.posterior(np.zeros(d))[1].numpy(), np.eye(k), atol=1e-9)


def test_posterior_means_over_samples_of_p_x_average_back_to_the_prior():
    model = random_model(4, 2, np.random.default_rng(7))
    _, xs = model.sample(100_000, torch.Generator().manual_seed(3))
    means, cov = model.posterior(xs)
    n = means.shape[0]
    mean_se = means.std(0) / np.sqrt(n)
    assert (means.mean(0).abs() < 5 * mean_se).all()
    sample_cov = np.cov(means.numpy().T)
    # the standard error of a Gaussian sample covariance entry: sqrt((S_ij^2 + S_ii S_jj) / n)
    cov_se = np.sqrt((sample_cov**2 + np.outer(np.diag(sample_cov), np.diag(sample_cov))) / n)
    assert (np.abs(sample_cov + cov.numpy() - np.eye(2)) < 5 * cov_se).all()


# ---------------------------------------------------------------------------------------------
# the beta-weighted loss recon + beta KL and its exact minimiser


def minimise_beta_loss(model: LinearGaussian, x: np.ndarray, beta: float):
    """scipy's BFGS over q = N(m, L L^T), L lower triangular with log-diagonal: an independent route."""
    k = model.latent_dim
    rows, cols = np.tril_indices(k)

    def unpack(theta):
        L = np.zeros((k, k))
        L[rows, cols] = theta[k:]
        L[np.diag_indices(k)] = np.exp(np.diag(L))
        return theta[:k], L @ L.T

    result = optimize.minimize(lambda theta: model.beta_loss(x, *unpack(theta), beta), np.zeros(k + rows.size),
                               method="BFGS", options={"gtol": 1e-9})
    return (*unpack(result.x), result.fun)


@settings(max_examples=25, deadline=None)
@given(shapes, seeds, st.sampled_from([0.1, 0.5, 1.0, 2.0, 4.0]))
def test_beta_optimum_matches_a_numerical_optimiser(shape, seed, beta):
    _, model, x = random_case(shape, seed)
    mean, cov = model.beta_optimal_q(x, beta)
    best_mean, best_cov, best_loss = minimise_beta_loss(model, x, beta)
    scale = 1 + abs(best_loss)
    # the optimiser stops within about 1e-9 of the minimum in the loss, so sqrt of it in the arguments
    np.testing.assert_allclose(mean.numpy(), best_mean, atol=1e-4)
    np.testing.assert_allclose(cov.numpy(), best_cov, atol=1e-4)
    assert model.beta_loss_minimum(x, beta) == pytest.approx(best_loss, abs=1e-7 * scale)
    assert model.beta_loss(x, mean.numpy(), cov.numpy(), beta) == pytest.approx(model.beta_loss_minimum(x, beta),
                                                                                  abs=1e-10 * scale)
    assert model.beta_loss_minimum(x, beta) <= best_loss + 1e-10 * scale


@settings(max_examples=40, deadline=None)
@given(shapes, seeds)
def test_beta_one_is_the_posterior_and_the_negative_elbo(shape, seed):
    np_generator, model, x = random_case(shape, seed)
    mean, cov = model.beta_optimal_q(x, 1.0)
    ref_mean, ref_cov = conditioned_posterior(model, x)
    np.testing.assert_allclose(mean.numpy(), ref_mean, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(cov.numpy(), ref_cov, rtol=1e-9, atol=1e-11)
    log_px = marginal(model).logpdf(x)
    assert model.beta_loss_minimum(x, 1.0) == pytest.approx(-log_px, rel=1e-10, abs=1e-10)
    q_mean, q_cov = random_q(shape[1], np_generator)
    assert model.beta_loss(x, q_mean, q_cov, 1.0) == pytest.approx(-model.elbo(x, q_mean, q_cov), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(shapes, seeds, st.floats(1.0, 20.0))
def test_beta_at_least_one_bounds_the_negative_log_evidence(shape, seed, beta):
    # recon + beta KL >= recon + KL = -ELBO >= -log p(x) for every q when beta >= 1
    np_generator, model, x = random_case(shape, seed)
    log_px = marginal(model).logpdf(x)
    assert model.beta_loss_minimum(x, beta) >= -log_px - 1e-9 * (1 + abs(log_px))
    q_mean, q_cov = random_q(shape[1], np_generator)
    assert model.beta_loss(x, q_mean, q_cov, beta) >= -model.elbo(x, q_mean, q_cov) - 1e-12


def test_beta_below_one_falls_below_the_negative_log_evidence_on_lesson_04s_model():
    # lesson 04: W = (1, 0.5), b = (0.5, -0.5), sigma = 1, x = (2, 1); -log p(x) from scipy
    model, x = LinearGaussian([[1.0], [0.5]], [0.5, -0.5], 1.0), np.array([2.0, 1.0])
    neg_log_px = -marginal(model).logpdf(x)
    for beta in (0.1, 0.5):
        _, _, best_loss = minimise_beta_loss(model, x, beta)
        assert best_loss < neg_log_px - 0.4  # below -log p(x) by 1.03 and 0.41 nats
        assert model.beta_loss_minimum(x, beta) == pytest.approx(best_loss, abs=1e-7)


# ---------------------------------------------------------------------------------------------
# bad input


GOOD_W, GOOD_B = np.ones((3, 2)), np.zeros(3)


@pytest.mark.parametrize("W,b,sigma,message", [
    (np.ones(3), GOOD_B, 1.0, "W must be a non-empty 2-D matrix"),
    (np.ones((3, 0)), GOOD_B, 1.0, "W must be a non-empty 2-D matrix"),
    ([[1.0, np.nan]] * 3, GOOD_B, 1.0, "W must be finite"),
    (GOOD_W, np.zeros(2), 1.0, r"b must have shape \(3,\) to match W's 3 rows"),
    (GOOD_W, np.zeros((3, 1)), 1.0, r"b must have shape \(3,\)"),
    (GOOD_W, GOOD_B, 0.0, "sigma must be > 0, got 0"),
    (GOOD_W, GOOD_B, -1.0, "sigma must be > 0, got -1"),
    (GOOD_W, GOOD_B, np.inf, "sigma must be finite"),
    (GOOD_W, GOOD_B, [1.0, 2.0], "sigma must be a real number"),
    (GOOD_W, GOOD_B, "big", "sigma must be a real number"),
    (GOOD_W, GOOD_B, None, "sigma must be a real number"),
    (GOOD_W, GOOD_B, True, "sigma must be a real number, got bool"),
    (GOOD_W, GOOD_B, torch.tensor(1.0, requires_grad=True), "sigma must be a real number, got Tensor"),
    (np.ones((3, 2), dtype=bool), GOOD_B, 1.0, "W must be a real number or an array of them, not booleans"),
    ([[1.0, True]] * 3, GOOD_B, 1.0, "W must be a real number or an array of them, not booleans"),
    (torch.ones(3, 2, requires_grad=True), GOOD_B, 1.0, "W must be a number or an array of numbers, got a tensor that requires grad"),
    (None, GOOD_B, 1.0, "W must be a real number or an array of them, got None"),
    (GOOD_W, None, 1.0, "b must be a real number or an array of them, got None"),
    ([[1.0 + 1.0j, 0.0]] * 3, GOOD_B, 1.0, "W must be real"),
])
def test_constructor_bad_input(W, b, sigma, message):
    error = TypeError if ("real number" in message or "tensor" in message or message == "W must be real") else ValueError
    with pytest.raises(error, match=message):
        LinearGaussian(W, b, sigma)


@pytest.fixture
def model() -> LinearGaussian:
    return LinearGaussian(GOOD_W, GOOD_B, 0.5)


@pytest.mark.parametrize("method", ["log_evidence", "posterior"])
@pytest.mark.parametrize("x", [np.zeros(2), np.zeros((1, 2)), np.zeros(4), np.zeros((2, 3, 3))])
def test_x_of_the_wrong_shape(model, method, x):
    with pytest.raises(ValueError, match=r"x must have shape \(3,\) (or \(n, 3\) )?to match W's 3 rows"):
        getattr(model, method)(x)


def test_only_the_posterior_takes_a_batch_of_x(model):
    with pytest.raises(ValueError, match=r"x must have shape \(3,\) to match"):
        model.log_evidence(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="x must not be empty"):
        model.posterior(np.zeros((0, 3)))


@pytest.mark.parametrize("x,error,message", [
    (np.array([True, False, True]), TypeError, "x must be a real number or an array of them, not booleans"),
    (torch.zeros(3, requires_grad=True), TypeError, "x must be a number or an array of numbers, got a tensor that requires grad"),
    (None, TypeError, "x must be a real number or an array of them, got None"),
    ([0.0, np.nan, 0.0], ValueError, "x must be finite"),
    ("abc", TypeError, "x must be a real number"),
])
@pytest.mark.parametrize("method", ["log_evidence", "posterior", "elbo", "beta_loss_minimum"])
def test_bad_x(model, method, x, error, message):
    args = {"elbo": (np.zeros(2), np.eye(2)), "beta_loss_minimum": (0.5,)}.get(method, ())
    with pytest.raises(error, match=message):
        getattr(model, method)(x, *args)


@pytest.mark.parametrize("q_mean,q_cov,message", [
    (np.zeros(2), [[1.0, 0.5], [0.0, 1.0]], "q_cov must be symmetric"),
    (np.zeros(2), [[1.0, 0.0], [0.0, -1.0]], "q_cov must be positive definite"),
    (np.zeros(2), [[1.0, 2.0], [2.0, 1.0]], "q_cov must be positive definite"),
    (np.zeros(2), np.zeros((2, 2)), "q_cov must be positive definite"),
    (np.zeros(2), np.eye(3), r"q_cov must have shape \(2, 2\)"),
    (np.zeros(3), np.eye(3), r"q_mean must have shape \(2,\) to match W's 2 columns"),
    (np.zeros((1, 2)), np.eye(2), "q_mean must be a non-empty 1-D vector"),
    ([0.0, np.inf], np.eye(2), "q_mean must be finite"),
])
@pytest.mark.parametrize("method", ["elbo", "expected_log_likelihood", "elbo_monte_carlo", "iwae_bound", "beta_loss"])
def test_bad_q(model, method, q_mean, q_cov, message):
    extra = {"elbo_monte_carlo": (10,), "iwae_bound": (5,), "beta_loss": (0.5,)}.get(method, ())
    with pytest.raises(ValueError, match=message):
        getattr(model, method)(np.zeros(3), q_mean, q_cov, *extra)


@pytest.mark.parametrize("q_mean,q_cov,message", [
    (torch.zeros(2, requires_grad=True), np.eye(2), "q_mean must be a number or an array of numbers, got a tensor that requires grad"),
    (np.zeros(2), torch.eye(2).requires_grad_(True), "q_cov must be a number or an array of numbers, got a tensor that requires grad"),
    ([False, False], np.eye(2), "q_mean must be a real number or an array of them, not booleans"),
    (None, np.eye(2), "q_mean must be a real number or an array of them, got None"),
    (np.zeros(2), None, "q_cov must be a real number or an array of them, got None"),
])
@pytest.mark.parametrize("method", ["elbo", "expected_log_likelihood", "elbo_monte_carlo", "iwae_bound", "beta_loss"])
def test_q_of_the_wrong_type(model, method, q_mean, q_cov, message):
    extra = {"elbo_monte_carlo": (10,), "iwae_bound": (5,), "beta_loss": (0.5,)}.get(method, ())
    with pytest.raises(TypeError, match=message):
        getattr(model, method)(np.zeros(3), q_mean, q_cov, *extra)


def test_x_checked_by_the_bounds(model):
    with pytest.raises(ValueError, match=r"x must have shape \(3,\)"):
        model.elbo(np.zeros(2), np.zeros(2), np.eye(2))


ZERO_X, ZERO_Q = np.zeros(3), (np.zeros(2), np.eye(2))


@pytest.mark.parametrize("call,error,message", [
    (lambda m: m.elbo_monte_carlo(ZERO_X, *ZERO_Q, 0), ValueError, "n_samples must be a positive integer"),
    (lambda m: m.elbo_monte_carlo(ZERO_X, *ZERO_Q, 1), ValueError, "n_samples must be >= 2"),
    (lambda m: m.iwae_bound(ZERO_X, *ZERO_Q, 0), ValueError, "k must be a positive integer"),
    (lambda m: m.iwae_bound(ZERO_X, *ZERO_Q, 2.5), TypeError, "k must be a positive integer, got float"),
    (lambda m: m.iwae_bound(ZERO_X, *ZERO_Q, True), TypeError, "k must be a positive integer, got bool"),
    (lambda m: m.iwae_bound(ZERO_X, *ZERO_Q, 3, n_repeats=0), ValueError, "n_repeats must be a positive"),
    (lambda m: m.iwae_bound(ZERO_X, *ZERO_Q, 3, n_repeats=1), ValueError, "n_repeats must be >= 2"),
    (lambda m: m.sample(-1), ValueError, "n must be a positive integer"),
    (lambda m: m.sample(True), TypeError, "n must be a positive integer, got bool"),
    (lambda m: m.sample(None), TypeError, "n must be a positive integer, got NoneType"),
])
def test_counts_must_be_positive_integers(model, call, error, message):
    with pytest.raises(error, match=message):
        call(model)


@pytest.mark.parametrize("call", [
    lambda m, g: m.sample(3, g),
    lambda m, g: m.elbo_monte_carlo(ZERO_X, *ZERO_Q, 10, g),
    lambda m, g: m.iwae_bound(ZERO_X, *ZERO_Q, 3, 10, g),
])
@pytest.mark.parametrize("generator", [np.random.default_rng(0), "seed", 1.5, -1])
def test_generator_must_be_a_torch_generator(model, call, generator):
    with pytest.raises((TypeError, ValueError), match="generator must be a (torch.Generator|seed)"):
        call(model, generator)


@pytest.mark.parametrize("method", ["log_likelihood", "log_prior", "log_joint"])
def test_empty_z_is_refused(model, method):
    args = () if method == "log_prior" else (ZERO_X,)
    with pytest.raises(ValueError, match=r"z must not be empty, got shape \(0, 2\)"):
        getattr(model, method)(*args, torch.zeros(0, 2, dtype=torch.float64))


@pytest.mark.parametrize("beta,error,message", [
    (0.0, ValueError, "beta must be > 0, got 0"),
    (-1.0, ValueError, "beta must be > 0, got -1"),
    (np.nan, ValueError, "beta must be finite"),
    (True, TypeError, "beta must be a real number, got bool"),
    (None, TypeError, "beta must be a real number, got NoneType"),
    (torch.tensor(0.5, requires_grad=True), TypeError, "beta must be a real number, got Tensor"),
])
@pytest.mark.parametrize("method", ["beta_loss", "beta_optimal_q", "beta_loss_minimum"])
def test_bad_beta(model, method, beta, error, message):
    args = (*ZERO_Q, beta) if method == "beta_loss" else (beta,)
    with pytest.raises(error, match=message):
        getattr(model, method)(ZERO_X, *args)


# ---------------------------------------------------------------------------------------------
# the lesson-04 figures drawn from the model


def test_elbo_gap_figure_draws_the_kl_as_the_gap():
    # W = (1, 0.5), s = 1: precision 1 + 1.25 = 2.25, so p(z | x) = N((x - b) . W / 2.25, (2/3)^2) by hand
    model, x = LinearGaussian([[1.0], [0.5]], [0.5, -0.5], 1.0), np.array([2.0, 1.0])
    fig = plot_elbo_gap_1d(model, x, q_mean=0.3, q_sigma=0.9)
    (gap_line,) = [line for line in fig.axes[1].lines if line.get_label().startswith("gap")]
    low, high = gap_line.get_ydata()
    assert high - low == pytest.approx(kl_normal_1d(0.3, 0.9, 1.0, 2.0 / 3.0), rel=1e-10)
    assert high == pytest.approx(marginal(model).logpdf(x), rel=1e-12)
    plt.close(fig)


@pytest.mark.parametrize("kwargs,message", [
    ({"q_sigma": 0.0}, "q_sigma must be > 0"),
    ({"q_sigma": -1.0}, "q_sigma must be > 0"),
    ({"q_mean": np.nan}, "q_mean must be finite"),
    ({"mean_range": (2.0, 1.0)}, "mean_range must be"),
])
def test_elbo_gap_figure_bad_input(kwargs, message):
    model = LinearGaussian([[1.0], [0.5]], [0.5, -0.5], 1.0)
    args = {"q_mean": 0.0, "q_sigma": 1.0} | kwargs
    with pytest.raises(ValueError, match=message):
        plot_elbo_gap_1d(model, [2.0, 1.0], **args)
    with pytest.raises(TypeError, match="q_sigma must be a real number, got bool"):
        plot_elbo_gap_1d(model, [2.0, 1.0], 0.0, True)
    with pytest.raises(TypeError, match="model must be a LinearGaussian, got NoneType"):
        plot_elbo_gap_1d(None, [2.0, 1.0], 0.0, 1.0)
    with pytest.raises(ValueError, match="model must have a 1-D latent"):
        plot_elbo_gap_1d(LinearGaussian(np.ones((2, 2)), np.zeros(2), 1.0), [2.0, 1.0], 0.0, 1.0)
    plt.close("all")


def test_iwae_figure_returns_a_figure_with_the_bounds_and_the_lines():
    fig = plot_iwae_bounds([1, 10, 100], [-3.0, -2.5, -2.2], [0.1, 0.05, 0.02], -2.1, elbo=-3.0)
    assert isinstance(fig, matplotlib.figure.Figure)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    labels = [line.get_label() for line in ax.lines]
    assert "log p(x) = -2.100" in labels and "ELBO = -3.000" in labels
    _, existing = plt.subplots()
    assert plot_iwae_bounds([1, 10], [-3.0, -2.5], [0.1, 0.05], -2.1, ax=existing) is existing.figure
    plt.close("all")


@pytest.mark.parametrize("args,kwargs,error,message", [
    (([0, 1], [-3.0, -2.0], [0.1, 0.1], -1.0), {}, ValueError, "ks must be > 0"),
    (([1, 2, 3], [-3.0, -2.0], [0.1, 0.1], -1.0), {}, ValueError, "shapes do not broadcast"),
    (([], [], [], -1.0), {}, ValueError, "ks must be a non-empty 1-D sequence"),
    (([1, 2], [-3.0, -2.0], [0.1, 0.1], None), {}, TypeError, "log_evidence must be a real number"),
    (([1, 2], [-3.0, -2.0], [0.1, 0.1], -1.0), {"elbo": True}, TypeError, "elbo must be a real number, got bool"),
])
def test_iwae_figure_bad_input(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        plot_iwae_bounds(*args, **kwargs)
    plt.close("all")


@pytest.mark.parametrize("z,message", [
    (torch.zeros(4, 3, dtype=torch.float64), r"z must have shape \(\.\.\., 2\) to match W's 2 columns"),
    (np.zeros((4, 2)), "z must be a torch.Tensor"),
    (torch.zeros(4, 2, dtype=torch.int64), "z must be a floating-point tensor"),
    (torch.tensor([[0.0, float("nan")]]), "z must be finite"),
])
@pytest.mark.parametrize("method", ["log_likelihood", "log_joint"])
def test_bad_z(model, method, z, message):
    error = TypeError if "torch.Tensor" in message or "floating-point" in message else ValueError
    with pytest.raises(error, match=message):
        getattr(model, method)(np.zeros(3), z)


def test_float32_z_is_accepted_and_differentiable(model):
    z = torch.ones(4, 2, requires_grad=True)  # float32
    model.log_joint(np.zeros(3), z).sum().backward()
    # d/dz [log p(x | z) + log p(z)] = W^T (x - b - W z) / s^2 - z; W = ones(3, 2), s = 0.5, x = b = 0, z = 1:
    # W z = (2, 2, 2), W^T (-W z) = (-6, -6), / 0.25 = -24, minus z = -25
    assert torch.allclose(z.grad, torch.full((4, 2), -25.0))

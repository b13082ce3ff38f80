"""vae_course.toy.LinearGaussian against independent routes: the marginal N(b, W W^T + s^2 I) by scipy,
the posterior by conditioning the joint Gaussian of (z, x), and Monte Carlo with scipy's densities."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy import stats  # noqa: E402

from vae_course.kl import kl_mvn, kl_normal_1d  # noqa: E402
from vae_course.plots import plot_elbo_gap_1d, plot_iwae_bounds  # noqa: E402
from vae_course.toy import LinearGaussian  # noqa: E402

seeds = st.integers(0, 2**32 - 1)
shapes = st.tuples(st.integers(1, 5), st.integers(1, 3))  # (d, k)


def random_model(d: int, k: int, rng: np.random.Generator) -> LinearGaussian:
    return LinearGaussian(rng.normal(size=(d, k)), rng.normal(size=d), rng.uniform(0.3, 2.0))


def random_case(shape: tuple[int, int], seed: int, x_scale: float = 1.0):
    """A generator, a random model of shape (d, k) and a random observation x."""
    rng = np.random.default_rng(seed)
    model = random_model(*shape, rng)
    return rng, model, x_scale * rng.normal(size=shape[0])


def random_q(k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a = rng.normal(size=(k, k))
    return rng.normal(size=k), a @ a.T + 0.1 * np.eye(k)


def marginal(model: LinearGaussian):
    W, b = model.W.numpy(), model.b.numpy()
    return stats.multivariate_normal(b, W @ W.T + model.noise_std**2 * np.eye(model.data_dim))


def conditioned_posterior(model: LinearGaussian, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p(z | x) by conditioning the joint N([0, b], [[I, W^T], [W, C]]), C = W W^T + s^2 I."""
    W, b = model.W.numpy(), model.b.numpy()
    C = W @ W.T + model.noise_std**2 * np.eye(model.data_dim)
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
    rng = np.random.default_rng(1)
    model = random_model(4, 2, rng)
    x, z = rng.normal(size=4), rng.normal(size=(5, 2))
    W, b, s = model.W.numpy(), model.b.numpy(), model.noise_std
    log_lik = np.array([stats.multivariate_normal(W @ zi + b, s**2 * np.eye(4)).logpdf(x) for zi in z])
    log_prior = stats.multivariate_normal(np.zeros(2), np.eye(2)).logpdf(z)
    mean, cov = model.posterior(x)
    log_post = stats.multivariate_normal(mean.numpy(), cov.numpy()).logpdf(z)
    np.testing.assert_allclose(log_lik + log_prior - log_post, marginal(model).logpdf(x), rtol=1e-10)
    np.testing.assert_allclose(model.log_joint(x, torch.from_numpy(z)).numpy(), log_lik + log_prior, rtol=1e-12)


def test_samples_have_the_marginal_covariance():
    model = random_model(3, 2, np.random.default_rng(2))
    _, x = model.sample(200_000, torch.Generator().manual_seed(0))
    ref = marginal(model)
    np.testing.assert_allclose(x.mean(0).numpy(), ref.mean, atol=0.03)
    np.testing.assert_allclose(np.cov(x.numpy().T), ref.cov, rtol=0.03, atol=0.03)


# ---------------------------------------------------------------------------------------------
# the ELBO identity and the bounds


@settings(max_examples=80, deadline=None)
@given(shapes, seeds)
def test_elbo_identity_for_random_q(shape, seed):
    # log p(x) - KL(q || p(z | x)) = ELBO(q), and so ELBO(q) <= log p(x)
    rng, model, x = random_case(shape, seed)
    q_mean, q_cov = random_q(shape[1], rng)
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
    rng = np.random.default_rng(3)
    model = random_model(4, 2, rng)
    x = rng.normal(size=4)
    q_mean, q_cov = random_q(2, rng)
    q = stats.multivariate_normal(q_mean, q_cov)
    z = q.rvs(size=100_000, random_state=rng)
    W, b, s = model.W.numpy(), model.b.numpy(), model.noise_std
    log_lik = stats.norm(z @ W.T + b, s).logpdf(x).sum(-1)
    terms = log_lik + stats.multivariate_normal(np.zeros(2), np.eye(2)).logpdf(z) - q.logpdf(z)
    stderr = terms.std(ddof=1) / np.sqrt(terms.size)
    assert abs(model.elbo(x, q_mean, q_cov) - terms.mean()) < 5 * stderr


def test_elbo_monte_carlo_is_unbiased_and_exact_at_the_posterior():
    rng = np.random.default_rng(4)
    model = random_model(3, 2, rng)
    x = rng.normal(size=3)
    q_mean, q_cov = random_q(2, rng)
    estimate = model.elbo_monte_carlo(x, q_mean, q_cov, 50_000, torch.Generator().manual_seed(0))
    assert estimate.n_samples == 50_000
    assert abs(estimate.mean - model.elbo(x, q_mean, q_cov)) < 5 * estimate.stderr
    # at q = p(z | x), log p(x, z) - log q(z) = log p(x) for every z: zero variance
    post_mean, post_cov = conditioned_posterior(model, x)
    exact = model.elbo_monte_carlo(x, post_mean, post_cov, 100, torch.Generator().manual_seed(0))
    assert exact.mean == pytest.approx(marginal(model).logpdf(x), rel=1e-10)
    assert exact.stderr < 1e-10


def test_iwae_bound_orders_elbo_iwae_and_log_evidence():
    rng = np.random.default_rng(5)
    model = random_model(4, 2, rng)
    x = rng.normal(size=4) * 2
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
    assert log_px - previous.mean < 0.2 * (log_px - elbo)  # k = 1000 closes most of the gap


def test_iwae_bound_is_exact_at_the_posterior_for_every_k():
    rng = np.random.default_rng(6)
    model = random_model(3, 1, rng)
    x = rng.normal(size=3)
    post_mean, post_cov = conditioned_posterior(model, x)
    for k in (1, 7):
        bound = model.iwae_bound(x, post_mean, post_cov, k=k, n_repeats=10, generator=torch.Generator().manual_seed(0))
        assert bound.mean == pytest.approx(marginal(model).logpdf(x), rel=1e-10)


# ---------------------------------------------------------------------------------------------
# bad input


GOOD_W, GOOD_B = np.ones((3, 2)), np.zeros(3)


@pytest.mark.parametrize("W,b,noise_std,message", [
    (np.ones(3), GOOD_B, 1.0, "W must be a non-empty 2-D matrix"),
    (np.ones((3, 0)), GOOD_B, 1.0, "W must be a non-empty 2-D matrix"),
    ([[1.0, np.nan]] * 3, GOOD_B, 1.0, "W must be finite"),
    (GOOD_W, np.zeros(2), 1.0, r"b must have shape \(3,\) to match W's 3 rows"),
    (GOOD_W, np.zeros((3, 1)), 1.0, r"b must have shape \(3,\)"),
    (GOOD_W, GOOD_B, 0.0, "noise_std must be > 0, got 0.0"),
    (GOOD_W, GOOD_B, -1.0, "noise_std must be > 0, got -1.0"),
    (GOOD_W, GOOD_B, [1.0, 2.0], "noise_std must be a single number"),
    (GOOD_W, GOOD_B, "big", "noise_std must be a real number"),
])
def test_constructor_bad_input(W, b, noise_std, message):
    error = TypeError if "real number" in message else ValueError
    with pytest.raises(error, match=message):
        LinearGaussian(W, b, noise_std)


@pytest.fixture
def model() -> LinearGaussian:
    return LinearGaussian(GOOD_W, GOOD_B, 0.5)


@pytest.mark.parametrize("method", ["log_evidence", "posterior"])
@pytest.mark.parametrize("x", [np.zeros(2), np.zeros((1, 3)), np.zeros(4)])
def test_x_of_the_wrong_shape(model, method, x):
    with pytest.raises(ValueError, match=r"x must have shape \(3,\) to match W's 3 rows"):
        getattr(model, method)(x)


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
@pytest.mark.parametrize("method", ["elbo", "expected_log_likelihood", "elbo_monte_carlo", "iwae_bound"])
def test_bad_q(model, method, q_mean, q_cov, message):
    extra = {"elbo_monte_carlo": (10,), "iwae_bound": (5,)}.get(method, ())
    with pytest.raises(ValueError, match=message):
        getattr(model, method)(np.zeros(3), q_mean, q_cov, *extra)


def test_x_checked_by_the_bounds(model):
    with pytest.raises(ValueError, match=r"x must have shape \(3,\)"):
        model.elbo(np.zeros(2), np.zeros(2), np.eye(2))


@pytest.mark.parametrize("call,message", [
    (lambda m: m.elbo_monte_carlo(np.zeros(3), np.zeros(2), np.eye(2), 0), "n_samples must be a positive integer"),
    (lambda m: m.iwae_bound(np.zeros(3), np.zeros(2), np.eye(2), 0), "k must be a positive integer"),
    (lambda m: m.iwae_bound(np.zeros(3), np.zeros(2), np.eye(2), 2.5), "k must be a positive integer"),
    (lambda m: m.iwae_bound(np.zeros(3), np.zeros(2), np.eye(2), 3, n_repeats=0), "n_repeats must be a positive"),
    (lambda m: m.sample(-1), "n must be a positive integer"),
])
def test_counts_must_be_positive_integers(model, call, message):
    with pytest.raises((TypeError, ValueError), match=message):  # 2.5 is a wrong type, 0 a wrong value
        call(model)


# ---------------------------------------------------------------------------------------------
# the lesson-04 figures drawn from the model


def test_elbo_gap_figure_draws_the_kl_as_the_gap():
    # W = (1, 0.5), s = 1: precision 1 + 1.25 = 2.25, so p(z | x) = N((x - b) . W / 2.25, (2/3)^2) by hand
    model, x = LinearGaussian([[1.0], [0.5]], [0.5, -0.5], 1.0), np.array([2.0, 1.0])
    fig = plot_elbo_gap_1d(model, x, q_mean=0.3, q_std=0.9)
    (gap_line,) = [line for line in fig.axes[1].lines if line.get_label().startswith("gap")]
    low, high = gap_line.get_ydata()
    assert high - low == pytest.approx(kl_normal_1d(0.3, 0.9, 1.0, 2.0 / 3.0), rel=1e-10)
    assert high == pytest.approx(marginal(model).logpdf(x), rel=1e-12)
    plt.close(fig)


@pytest.mark.parametrize("kwargs,message", [
    ({"q_std": 0.0}, "q_std must be > 0"),
    ({"q_mean": np.nan}, "q_mean must be finite"),
    ({"mean_range": (2.0, 1.0)}, "mean_range must be"),
])
def test_elbo_gap_figure_bad_input(kwargs, message):
    model = LinearGaussian([[1.0], [0.5]], [0.5, -0.5], 1.0)
    args = {"q_mean": 0.0, "q_std": 1.0} | kwargs
    with pytest.raises(ValueError, match=message):
        plot_elbo_gap_1d(model, [2.0, 1.0], **args)
    with pytest.raises(ValueError, match="model must have a 1-D latent"):
        plot_elbo_gap_1d(LinearGaussian(np.ones((2, 2)), np.zeros(2), 1.0), [2.0, 1.0], 0.0, 1.0)
    plt.close("all")


def test_iwae_figure_bad_input():
    with pytest.raises(ValueError, match="ks must be > 0"):
        plot_iwae_bounds([0, 1], [-3.0, -2.0], [0.1, 0.1], -1.0)
    with pytest.raises(ValueError, match="shapes do not broadcast"):
        plot_iwae_bounds([1, 2, 3], [-3.0, -2.0], [0.1, 0.1], -1.0)
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

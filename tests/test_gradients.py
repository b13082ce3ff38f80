"""vae_course.gradients: the law of reparameterized samples (scipy's KS test), their derivatives, and
the means of the gradient estimators against gradients derived by hand for objectives with a closed-form
expectation."""

import math

import matplotlib
import matplotlib.figure

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy import stats  # noqa: E402

from vae_course.gradients import (GradientEstimate, estimator_variance, pathwise_gradient, reparameterize,  # noqa: E402
                                  score_function_gradient)
from vae_course.plots import plot_gradient_variance  # noqa: E402

F64 = torch.float64


def t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=F64)


# ---------------------------------------------------------------------------------------------
# reparameterize


def test_reparameterized_samples_have_the_target_law():
    mu, logvar = t([1.5, -2.0]), t([0.4, -1.2])
    z = reparameterize(mu.expand(20_000, 2), logvar.expand(20_000, 2), torch.Generator().manual_seed(0))
    assert z.shape == (20_000, 2) and z.dtype == F64
    for i in range(2):
        sigma = math.exp(0.5 * logvar[i].item())
        # a KS test at the 1% level on a fixed seed: a wrong law (a shifted mean, the wrong sigma) gives p ~ 0
        assert stats.kstest(z[:, i].numpy(), stats.norm(mu[i].item(), sigma).cdf).pvalue > 0.01


def test_reparameterize_is_reproducible_with_a_generator_and_keeps_dtype():
    mu, logvar = torch.zeros(4, 3), torch.zeros(4, 3)
    first = reparameterize(mu, logvar, torch.Generator().manual_seed(7))
    second = reparameterize(mu, logvar, torch.Generator().manual_seed(7))
    assert first.dtype == torch.float32
    # the same generator state gives the same draws (another stream would differ by O(1), far above 1e-6)
    torch.testing.assert_close(first, second, rtol=0.0, atol=1e-6)
    # with mu = 0 and logvar = 0, z is the generator's standard normal noise itself (0 + exp(0) * eps)
    torch.testing.assert_close(first, torch.randn(4, 3, generator=torch.Generator().manual_seed(7)), rtol=0.0, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.floats(-3, 3), st.floats(-4, 3), st.integers(0, 2**31))
def test_gradients_flow_through_mu_and_logvar(mu0, logvar0, seed):
    # dz/dmu = 1 and dz/dlogvar = sigma * eps / 2 = (z - mu) / 2, for z = mu + exp(logvar / 2) * eps
    mu = torch.full((5,), mu0, dtype=F64, requires_grad=True)
    logvar = torch.full((5,), logvar0, dtype=F64, requires_grad=True)
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(seed))
    z.sum().backward()
    np.testing.assert_allclose(mu.grad.numpy(), np.ones(5), rtol=0, atol=1e-12)
    np.testing.assert_allclose(logvar.grad.numpy(), 0.5 * (z.detach() - mu0).numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("mu,logvar,error,message", [
    (torch.zeros(3), torch.zeros(2), ValueError, "mu and logvar must have the same shape"),
    ([0.0], torch.zeros(1), TypeError, "mu must be a torch.Tensor"),
    (torch.zeros(2), torch.zeros(2, dtype=torch.int64), TypeError, "logvar must be a floating-point tensor"),
    (torch.zeros(2), torch.tensor([0.0, float("nan")]), ValueError, "logvar must be finite"),
    (torch.tensor(0.0), torch.tensor(0.0), ValueError, "mu must have at least 1 dimension"),
    (torch.zeros(0, 2), torch.zeros(0, 2), ValueError, r"mu must not be empty, got shape \(0, 2\)"),
    (None, torch.zeros(2), TypeError, "mu must be a torch.Tensor, got NoneType"),
    (torch.zeros(2), torch.zeros(2, dtype=F64), TypeError, "mu and logvar must have the same dtype and device"),
])
def test_gradient_estimators_refuse_bad_mu_and_logvar(mu, logvar, error, message):
    # reparameterize is the per-step formula and checks nothing; the public estimators check their input
    for estimator in (pathwise_gradient, score_function_gradient):
        with pytest.raises(error, match=message):
            estimator(lambda z: z.sum(-1), mu, logvar, 4)


# ---------------------------------------------------------------------------------------------
# gradient estimators: objectives whose expectation under N(mu, sigma^2) is known in closed form


C = t([0.5, -1.0])
A = t([0.7, -0.4])


def quadratic(z: torch.Tensor) -> torch.Tensor:
    return (z - C).pow(2).sum(-1)


def quadratic_exact(mu: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # E (z - c)^2 = (mu - c)^2 + sigma^2  =>  d/dmu = 2 (mu - c), d/dlogvar = sigma^2
    return 2 * (mu - C), torch.exp(logvar)


def exponential(z: torch.Tensor) -> torch.Tensor:
    return torch.exp(z @ A)


def exponential_exact(mu: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # E exp(a.z) = exp(a.mu + sum a^2 sigma^2 / 2)  =>  d/dmu = a E, d/dlogvar = a^2 sigma^2 / 2 E
    mean = torch.exp(A @ mu + 0.5 * (A.pow(2) * torch.exp(logvar)).sum())
    return A * mean, 0.5 * A.pow(2) * torch.exp(logvar) * mean


NAMES = {"pathwise": "pathwise", "score": "score_function", "score+baseline": "score_function_baseline"}
ESTIMATORS = {
    "pathwise": lambda f, mu, lv, n, g: pathwise_gradient(f, mu, lv, n, g),
    "score": lambda f, mu, lv, n, g: score_function_gradient(f, mu, lv, n, g),
    "score+baseline": lambda f, mu, lv, n, g: score_function_gradient(f, mu, lv, n, g, baseline=True),
}
MU, LOGVAR = t([1.0, 0.3]), t([0.2, -0.5])


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("f,exact", [(quadratic, quadratic_exact), (exponential, exponential_exact)])
def test_estimators_are_unbiased(name, f, exact):
    replicates, n = 4000, 8
    estimate = ESTIMATORS[name](f, MU.expand(replicates, 2), LOGVAR.expand(replicates, 2), n,
                                torch.Generator().manual_seed(0))
    for got, want in zip(estimate, exact(MU, LOGVAR)):
        assert got.shape == (replicates, 2)
        stderr = got.std(0) / math.sqrt(replicates)
        assert (torch.abs(got.mean(0) - want) < 5 * stderr).all(), (name, got.mean(0), want, stderr)


def test_pathwise_variance_matches_its_closed_form():
    # per sample, d/dmu (z - c)^2 = 2 (z - c) with z ~ N(mu, sigma^2): variance 4 sigma^2, so 4 sigma^2 / n.
    # The estimates are Gaussian here, so a sample variance of R of them has relative s.e. sqrt(2 / R) = 1.6%
    # at R = 8000: the tolerance 0.1 is 6 standard errors.
    replicates, n = 8000, 5
    estimate = pathwise_gradient(quadratic, MU.expand(replicates, 2), LOGVAR.expand(replicates, 2), n,
                                 torch.Generator().manual_seed(1))
    np.testing.assert_allclose(estimate.mu.var(0).numpy(), (4 * torch.exp(LOGVAR) / n).numpy(), rtol=0.1)


def measured_variance(estimate: GradientEstimate) -> tuple[np.ndarray, np.ndarray]:
    """Per-coordinate sample variances of R replicate estimates (R, D), with their standard errors.

    The variance is the mean of the squared deviations q_r; its standard error is sd(q_r) / sqrt(R)
    (the delta method, exact up to O(1/R) for any distribution with a fourth moment).
    """
    values = torch.cat(estimate, dim=1).numpy()  # (R, 2D)
    squares = (values - values.mean(0)) ** 2
    n = len(values)
    return squares.mean(0) * n / (n - 1), squares.std(0, ddof=1) / np.sqrt(n)


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("f", [quadratic, exponential])
def test_exact_variance_matches_monte_carlo(name, f):
    replicates, n = 40_000, 3
    estimate = ESTIMATORS[name](f, MU.expand(replicates, 2), LOGVAR.expand(replicates, 2), n,
                                torch.Generator().manual_seed(3))
    measured, stderr = measured_variance(estimate)
    exact = torch.cat(estimator_variance(f, MU, LOGVAR, n, NAMES[name], n_nodes=60)).numpy()
    assert np.all(np.abs(measured - exact) < 5 * stderr), (name, measured, exact, stderr)


@settings(max_examples=30, deadline=None)
@given(st.floats(-3, 3), st.floats(-2, 2), st.integers(2, 50))
def test_exact_variance_of_the_identity_objective_by_hand(mu0, logvar0, n):
    # f(z) = z, z = mu + sigma eps. Per sample: pathwise (1, sigma eps / 2) -> variances (0, sigma^2 / 4);
    # score (mu eps / sigma + eps^2, (mu + sigma eps)(eps^2 - 1) / 2) -> (mu^2 / sigma^2 + 2, mu^2 / 2 + 5 sigma^2 / 2);
    # with the leave-one-out baseline the d/dmu estimate is the sample variance of the eps_i, whose
    # variance is 2 / (n - 1) for every mu and sigma: above the plain 2 / n + mu^2 / (n sigma^2) when mu is small
    mu, logvar, sigma2 = t([mu0]), t([logvar0]), math.exp(logvar0)
    identity = lambda z: z[..., 0]  # noqa: E731
    exact = {name: estimator_variance(identity, mu, logvar, n, name) for name in NAMES.values()}
    by_hand = {"pathwise": (0.0, sigma2 / 4 / n),
               "score_function": ((mu0**2 / sigma2 + 2) / n, (mu0**2 / 2 + 2.5 * sigma2) / n),
               "score_function_baseline": (2 / (n - 1), None)}
    for name, (var_mu, var_logvar) in by_hand.items():
        assert float(exact[name].mu) == pytest.approx(var_mu, rel=1e-9, abs=1e-12), name
        if var_logvar is not None:
            assert float(exact[name].logvar) == pytest.approx(var_logvar, rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize("a,mu0,logvar0", [(5.0, 0.0, 0.0), (5.0, 0.4, 0.0), (1.0, 0.3, -0.7), (2.5, -1.0, 0.5)])
def test_exact_variance_of_a_cosine_by_hand(a, mu0, logvar0):
    # f = cos(a z): the pathwise d/dmu term is -a sin(a z), with E sin(a z) = sin(a mu) e^(-a^2 s^2 / 2) and
    # E sin^2(a z) = (1 - cos(2 a mu) e^(-2 a^2 s^2)) / 2. At mu = 0, s = 1 the score terms have closed forms too:
    # E f = e^(-a^2/2), E f eps = 0, E f eps^2 = (1 - a^2) e^(-a^2/2), E f^2 eps^2 = (1 + (1 - 4a^2) e^(-2a^2)) / 2
    n, s2 = 16, math.exp(logvar0)
    cosine = lambda z: torch.cos(a * z[..., 0])  # noqa: E731
    mu, logvar = t([mu0]), t([logvar0])
    sin_mean = math.sin(a * mu0) * math.exp(-a * a * s2 / 2)
    sin_square = (1 - math.cos(2 * a * mu0) * math.exp(-2 * a * a * s2)) / 2
    pathwise = a * a * (sin_square - sin_mean**2) / n
    assert float(estimator_variance(cosine, mu, logvar, n, "pathwise", n_nodes=200).mu) == pytest.approx(pathwise, rel=1e-9)
    if mu0 == 0.0 and logvar0 == 0.0:
        f_mean, f_eps2 = math.exp(-a * a / 2), (1 - a * a) * math.exp(-a * a / 2)
        f2_eps2, f2 = (1 + (1 - 4 * a * a) * math.exp(-2 * a * a)) / 2, (1 + math.exp(-2 * a * a)) / 2
        plain = f2_eps2 / n
        zeta1 = (f2_eps2 - 2 * f_mean * f_eps2 + f_mean**2) / 4
        zeta2 = (f2_eps2 + f2) / 2 - f_mean * f_eps2
        baseline = 2 / (n * (n - 1)) * (2 * (n - 2) * zeta1 + zeta2)
        for name, want in (("score_function", plain), ("score_function_baseline", baseline)):
            got = float(estimator_variance(cosine, mu, logvar, n, name, n_nodes=200).mu)
            assert got == pytest.approx(want, rel=1e-9), name
        # the counterexample of lesson 05: the pathwise estimator is about 23 times noisier here
        assert pathwise == pytest.approx(25 / 32, rel=1e-12) and baseline == pytest.approx(1 / 30, rel=1e-6)


def test_exact_variance_orders_the_estimators_on_the_quadratic():
    # with these mu and sigma the mean of f is far from 0, so the baseline helps: pathwise < baseline < plain
    for n in (2, 16, 256):
        exact = {name: estimator_variance(quadratic, MU, LOGVAR, n, name).mu for name in NAMES.values()}
        assert (exact["pathwise"] < exact["score_function_baseline"]).all()
        assert (exact["score_function_baseline"] < exact["score_function"]).all()


@pytest.mark.parametrize("kwargs,error,message", [
    ({"estimator": "reinforce"}, ValueError, "estimator must be one of pathwise, score_function, score_function_baseline"),
    ({"estimator": "score_function_baseline", "n_samples": 1}, ValueError, "n_samples must be >= 2"),
    ({"mu": torch.zeros(4, dtype=F64), "logvar": torch.zeros(4, dtype=F64)}, ValueError, "D <= 3"),
    ({"mu": torch.zeros(2, 1, dtype=F64), "logvar": torch.zeros(2, 1, dtype=F64)}, ValueError, r"shape \(D,\)"),
    ({"n_nodes": 0}, ValueError, "n_nodes must be a positive integer"),
    ({"n_nodes": True}, TypeError, "n_nodes must be a positive integer, got bool"),
    ({"f": None}, TypeError, "f must be callable"),
    ({"f": lambda z: torch.floor(z[..., 0]).detach()}, ValueError, "f must be differentiable in z"),
])
def test_exact_variance_bad_input(kwargs, error, message):
    args = {"f": quadratic, "mu": MU, "logvar": LOGVAR, "n_samples": 4, "estimator": "pathwise"} | kwargs
    with pytest.raises(error, match=message):
        estimator_variance(**args)


def test_estimators_leave_the_callers_tensors_alone():
    mu, logvar = MU.clone().requires_grad_(True), LOGVAR.clone().requires_grad_(True)
    for est in ESTIMATORS.values():
        estimate = est(quadratic, mu, logvar, 4, None)
        assert not estimate.mu.requires_grad
    assert mu.grad is None and logvar.grad is None


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_objective_of_the_wrong_shape(name):
    with pytest.raises(ValueError, match=r"f must map samples of shape \(3, 2\) to values of shape \(3,\)"):
        ESTIMATORS[name](lambda z: z, MU, LOGVAR, 3, None)


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("f,error,message", [
    (lambda z: z.sum(-1).tolist(), TypeError, r"f must return a torch.Tensor of shape \(3,\), got list"),
    (lambda z: z.sum(-1) / 0.0 * 0.0, ValueError, "f must return finite values"),
    (None, TypeError, "f must be callable"),
    (1.5, TypeError, "f must be callable"),
])
def test_objective_that_is_not_a_function_of_samples(name, f, error, message):
    with pytest.raises(error, match=message):
        ESTIMATORS[name](f, MU, LOGVAR, 3, None)


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("n_samples,error,message", [
    (0, ValueError, "n_samples must be a positive integer"),
    (True, TypeError, "n_samples must be a positive integer, got bool"),
    (2.0, TypeError, "n_samples must be a positive integer, got float"),
    (torch.tensor(3), TypeError, "n_samples must be a positive integer, got Tensor"),
])
def test_estimator_bad_sample_count(name, n_samples, error, message):
    with pytest.raises(error, match=message):
        ESTIMATORS[name](quadratic, MU, LOGVAR, n_samples, None)


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("generator", [np.random.default_rng(0), "seed", 1.5, -1])
def test_estimator_generator_must_be_a_torch_generator(name, generator):
    with pytest.raises((TypeError, ValueError), match="generator must be a (torch.Generator|seed)"):
        ESTIMATORS[name](quadratic, MU, LOGVAR, 3, generator)


@pytest.mark.parametrize("baseline", [1, 0, "yes", None])
def test_baseline_must_be_a_flag(baseline):
    with pytest.raises(TypeError, match="baseline must be True or False"):
        score_function_gradient(quadratic, MU, LOGVAR, 3, baseline=baseline)


def test_pathwise_refuses_an_objective_with_no_gradient():
    # a comparison has no derivative at all: the pathwise route cannot apply (the score function can)
    step = lambda z: (z[..., 0] > 0).double()  # noqa: E731
    with pytest.raises(ValueError, match="f must be differentiable in z for the pathwise estimator"):
        pathwise_gradient(step, MU, LOGVAR, 3)
    score_function_gradient(step, MU, LOGVAR, 3)  # fine


def test_baseline_needs_two_samples():
    with pytest.raises(ValueError, match="n_samples must be >= 2 for a leave-one-out baseline"):
        score_function_gradient(quadratic, MU, LOGVAR, 1, baseline=True)


def test_variance_figure_draws_one_line_per_estimator():
    fig = plot_gradient_variance([1, 10, 100], {"a": [1.0, 0.1, 0.01], "b": [5.0, 0.5, 0.05]})
    assert isinstance(fig, matplotlib.figure.Figure)
    (ax,) = fig.axes
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["a", "b"]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    plt.close("all")


def test_variance_figure_draws_exact_lines_and_measured_points_on_a_given_axis():
    _, ax = plt.subplots()
    fig = plot_gradient_variance([1, 10], {"a": [1.1, 0.09]}, stderrs={"a": [0.1, 0.01]}, exact={"a": [1.0, 0.1]}, ax=ax)
    assert fig is ax.figure
    (exact_line,) = [line for line in ax.lines if line.get_label() == "a (exact)"]
    np.testing.assert_allclose(exact_line.get_ydata(), [1.0, 0.1])
    plt.close("all")


@pytest.mark.parametrize("args,kwargs,message", [
    (([1, 10, 100], {"a": [1.0, 0.1]}), {}, r"variances\['a'\] must have one value per sample count \(3\)"),
    (([1, 10, 100], {"a": [1.0, 0.0, 0.1]}), {}, r"variances\['a'\] must be > 0"),
    (([], {"a": []}), {}, "sample_counts must be a non-empty 1-D sequence"),
    (([1, 10], {}), {}, "variances must name at least one estimator"),
    (([1, 10], {"a": [1.0, 0.1]}), {"exact": {"b": [1.0, 0.1]}}, "exact must have the same estimator names"),
    (([1, 10], {"a": [1.0, 0.1]}), {"stderrs": {"a": [0.1]}}, r"stderrs\['a'\] must have one value per sample count"),
])
def test_variance_figure_bad_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_gradient_variance(*args, **kwargs)
    plt.close("all")

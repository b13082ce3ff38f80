"""vae_course.gradients: the law of reparameterized samples (scipy's KS test), their derivatives, and
the means of the gradient estimators against gradients derived by hand for objectives with a closed-form
expectation."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy import stats  # noqa: E402

from vae_course.gradients import pathwise_gradient, reparameterize, score_function_gradient  # noqa: E402
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
        assert stats.kstest(z[:, i].numpy(), stats.norm(mu[i].item(), sigma).cdf).pvalue > 0.01


def test_reparameterize_is_reproducible_with_a_generator_and_keeps_dtype():
    mu, logvar = torch.zeros(4, 3), torch.zeros(4, 3)
    first = reparameterize(mu, logvar, torch.Generator().manual_seed(7))
    second = reparameterize(mu, logvar, torch.Generator().manual_seed(7))
    assert torch.equal(first, second) and first.dtype == torch.float32
    # with mu = 0 and logvar = 0, z is the generator's standard normal noise itself
    assert torch.equal(first, torch.randn(4, 3, generator=torch.Generator().manual_seed(7)))


@settings(max_examples=40, deadline=None)
@given(st.floats(-3, 3), st.floats(-4, 3), st.integers(0, 2**31))
def test_gradients_flow_through_mu_and_logvar(mu0, logvar0, seed):
    # dz/dmu = 1 and dz/dlogvar = sigma * eps / 2 = (z - mu) / 2, for z = mu + exp(logvar / 2) * eps
    mu = torch.full((5,), mu0, dtype=F64, requires_grad=True)
    logvar = torch.full((5,), logvar0, dtype=F64, requires_grad=True)
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(seed))
    z.sum().backward()
    np.testing.assert_allclose(mu.grad.numpy(), np.ones(5))
    np.testing.assert_allclose(logvar.grad.numpy(), 0.5 * (z.detach() - mu0).numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("mu,logvar,error,message", [
    (torch.zeros(3), torch.zeros(2), ValueError, "mu and logvar must have the same shape"),
    ([0.0], torch.zeros(1), TypeError, "mu must be a torch.Tensor"),
    (torch.zeros(2), torch.zeros(2, dtype=torch.int64), TypeError, "logvar must be a floating-point tensor"),
    (torch.zeros(2), torch.tensor([0.0, float("nan")]), ValueError, "logvar must be finite"),
    (torch.tensor(0.0), torch.tensor(0.0), ValueError, "mu must have at least 1 dimension"),
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
    # per sample, d/dmu (z - c)^2 = 2 (z - c) with z ~ N(mu, sigma^2): variance 4 sigma^2, so 4 sigma^2 / n
    replicates, n = 8000, 5
    estimate = pathwise_gradient(quadratic, MU.expand(replicates, 2), LOGVAR.expand(replicates, 2), n,
                                 torch.Generator().manual_seed(1))
    np.testing.assert_allclose(estimate.mu.var(0).numpy(), (4 * torch.exp(LOGVAR) / n).numpy(), rtol=0.1)


def test_variance_ordering_pathwise_below_baseline_below_plain_score():
    replicates, n = 4000, 16
    generator = torch.Generator().manual_seed(2)
    variance = {name: est(quadratic, MU.expand(replicates, 2), LOGVAR.expand(replicates, 2), n, generator).mu.var(0)
                for name, est in ESTIMATORS.items()}
    # measured ratios on this objective are 3.5 to 4.5 and 2.1 to 2.5 over 20 seeds; a factor 2 leaves room for any seed
    assert (2 * variance["pathwise"] < variance["score+baseline"]).all(), variance
    assert (1.5 * variance["score+baseline"] < variance["score"]).all(), variance


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
def test_estimator_bad_input(name):
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        ESTIMATORS[name](quadratic, MU, LOGVAR, 0, None)
    with pytest.raises(ValueError, match="mu and logvar must have the same shape"):
        ESTIMATORS[name](quadratic, MU, LOGVAR[:1], 3, None)


def test_baseline_needs_two_samples():
    with pytest.raises(ValueError, match="n_samples must be >= 2 for a leave-one-out baseline"):
        score_function_gradient(quadratic, MU, LOGVAR, 1, baseline=True)


def test_variance_figure_draws_one_line_per_estimator_and_refuses_bad_input():
    ax = plot_gradient_variance([1, 10, 100], {"a": [1.0, 0.1, 0.01], "b": [5.0, 0.5, 0.05]})
    assert [line.get_label() for line in ax.lines] == ["a", "b"]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    with pytest.raises(ValueError, match=r"variances\['a'\] must have one value per sample count \(3\)"):
        plot_gradient_variance([1, 10, 100], {"a": [1.0, 0.1]})
    with pytest.raises(ValueError, match=r"variances\['a'\] must be > 0"):
        plot_gradient_variance([1, 10, 100], {"a": [1.0, 0.0, 0.1]})
    plt.close("all")

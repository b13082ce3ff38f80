"""vae_course.bimodal.SquaredMeanModel against independent routes: densities from scipy.stats, a fine
trapezoid grid instead of adaptive quadrature, Monte Carlo with stated standard errors, scipy's Gaussian
moments, and brute-force grid searches instead of BFGS."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy import integrate, optimize, stats  # noqa: E402

from vae_course.bimodal import SquaredMeanModel, plot_bimodal_fit  # noqa: E402

LESSON = SquaredMeanModel(0.5), 2.0  # lesson 10's model and observation: two well-separated modes

sigmas = st.floats(0.2, 2.0)
observations = st.floats(-2.0, 6.0)
q_means = st.floats(-2.5, 2.5)
q_sigmas = st.floats(0.05, 2.0)


def log_joint_scipy(x: float, z: np.ndarray, sigma: float) -> np.ndarray:
    """log N(z; 0, 1) + log N(x; z^2, sigma^2), from scipy.stats."""
    return stats.norm.logpdf(z) + stats.norm.logpdf(x, loc=z**2, scale=sigma)


def grid_posterior(x: float, sigma: float, half_width: float = 30.0, n: int = 600_001):
    """The grid z, log p(x) by the trapezoid rule on it, and log p(z | x) on it."""
    z = np.linspace(-half_width, half_width, n)
    log_joint = log_joint_scipy(x, z, sigma)
    peak = log_joint.max()
    log_px = peak + np.log(integrate.trapezoid(np.exp(log_joint - peak), z))
    return z, log_px, log_joint - log_px


# ---------------------------------------------------------------------------------------------
# the evidence and the posterior


@settings(max_examples=40, deadline=None)
@given(sigmas, observations)
def test_log_evidence_matches_a_trapezoid_grid(sigma, x):
    _, log_px, _ = grid_posterior(x, sigma)
    assert SquaredMeanModel(sigma).log_evidence(x) == pytest.approx(log_px, abs=1e-8)


@settings(max_examples=40, deadline=None)
@given(sigmas, observations)
def test_log_evidence_matches_the_parabolic_cylinder_closed_form(sigma, x):
    # p(x) = exp(-x^2 / (2 sigma^2)) / (2 pi sigma) * integral of exp(-a z^4 + b z^2) dz, a = 1/(2 sigma^2),
    # b = x / sigma^2 - 1/2, and that integral is (2a)^(-1/4) sqrt(pi) exp(b^2 / (8a)) D_{-1/2}(-b / sqrt(2a))
    # (Gradshteyn & Ryzhik 3.462.1 after u = z^2), D the parabolic cylinder function
    # mpmath's D to 30 digits (scipy.special.pbdv is good to about 8 here: it missed by 9e-9 at sigma=0.445, x=2.69)
    mpmath = pytest.importorskip("mpmath")  # installed with torch (through sympy)
    a, b = 1 / (2 * sigma**2), x / sigma**2 - 0.5
    with mpmath.workdps(30):
        d = mpmath.pcfd(-0.5, -b / mpmath.sqrt(2 * a))
        log_integral = -mpmath.log(2 * a) / 4 + mpmath.log(mpmath.pi) / 2 + b**2 / (8 * a) + mpmath.log(d)
    closed = -math.log(2 * math.pi * sigma) - x**2 / (2 * sigma**2) + float(log_integral)
    assert SquaredMeanModel(sigma).log_evidence(x) == pytest.approx(closed, rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("sigma, x", [(0.5, 2.0), (1.0, 3.0), (0.3, -0.5)])
def test_log_evidence_matches_monte_carlo_under_the_prior(sigma, x):
    # p(x) = E_{z ~ N(0, 1)}[N(x; z^2, sigma^2)]: the mean of 10^6 likelihoods, within 5 standard errors
    z = np.random.default_rng(0).standard_normal(1_000_000)
    likelihoods = stats.norm.pdf(x, loc=z**2, scale=sigma)
    stderr = likelihoods.std(ddof=1) / math.sqrt(z.size)
    evidence = math.exp(SquaredMeanModel(sigma).log_evidence(x))
    assert abs(likelihoods.mean() - evidence) < 5 * stderr


@pytest.mark.parametrize("sigma", [0.3, 1.0])
def test_evidence_integrates_to_one_over_x(sigma):
    model = SquaredMeanModel(sigma)
    area = sum(integrate.quad(lambda x: math.exp(model.log_evidence(x)), a, b, epsabs=1e-11, limit=200)[0]
               for a, b in ((-8 * sigma, 0.0), (0.0, 4.0), (4.0, 80.0)))
    assert area == pytest.approx(1.0, abs=1e-8)


def test_samples_have_the_moments_of_x():
    # x = z^2 + sigma e: E[x] = 1, Var[x] = Var[z^2] + sigma^2 = 2 + sigma^2
    sigma = 0.7
    z, x = SquaredMeanModel(sigma).sample(200_000, generator=0)
    n = x.size
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(x.mean() - 1.0) < 5 * math.sqrt((2 + sigma**2) / n)
    # the sample variance of x has standard error sqrt((mu_4 - var^2) / n); estimate mu_4 from the sample
    var = 2 + sigma**2
    mu4 = np.mean((x - x.mean()) ** 4)
    assert abs(x.var(ddof=1) - var) < 5 * math.sqrt((mu4 - var**2) / n)
    assert np.array_equal(SquaredMeanModel(sigma).sample(5, generator=3)[1],
                          SquaredMeanModel(sigma).sample(5, generator=3)[1])


@settings(max_examples=40, deadline=None)
@given(sigmas, observations)
def test_posterior_modes_are_the_maxima_on_a_grid(sigma, x):
    z = np.linspace(-4, 4, 80_001)
    log_joint = log_joint_scipy(x, z, sigma)
    inner = log_joint[1:-1]
    maxima = z[1:-1][(inner >= log_joint[:-2]) & (inner > log_joint[2:])]
    modes = SquaredMeanModel(sigma).posterior_modes(x)
    # near x = sigma^2 / 2 the two modes are too close together for a grid to separate: skip that sliver
    if abs(x - sigma**2 / 2) > 1e-3:
        assert len(modes) == len(maxima) == (2 if x > sigma**2 / 2 else 1)
        np.testing.assert_allclose(modes, maxima, atol=2e-4)


@pytest.mark.parametrize("sigma, x", [(0.5, 2.0), (1.0, 0.3), (0.2, 4.0)])
def test_posterior_logpdf_and_moments_match_the_grid(sigma, x):
    z, _, log_post = grid_posterior(x, sigma)
    model = SquaredMeanModel(sigma)
    picks = z[::30_000]
    np.testing.assert_allclose(model.posterior_logpdf(x, picks), log_post[::30_000], rtol=1e-9, atol=1e-8)
    density = np.exp(log_post)
    mean, sd = model.posterior_moments(x)
    assert mean == pytest.approx(integrate.trapezoid(z * density, z), abs=1e-10)
    assert sd == pytest.approx(math.sqrt(integrate.trapezoid(z**2 * density, z)), rel=1e-8)


# ---------------------------------------------------------------------------------------------
# the ELBO of a Gaussian q and the two KLs


@settings(max_examples=60, deadline=None)
@given(sigmas, observations, q_means, q_sigmas)
def test_expected_log_likelihood_matches_quadrature_with_scipy(sigma, x, m, s):
    q = stats.norm(m, s)
    reference = q.expect(lambda z: stats.norm.logpdf(x, loc=z**2, scale=sigma), lb=m - 15 * s, ub=m + 15 * s,
                         epsabs=1e-10, epsrel=1e-10)
    got = SquaredMeanModel(sigma).expected_log_likelihood(x, m, s)
    assert got == pytest.approx(reference, rel=1e-8, abs=1e-8)


def test_gaussian_moments_used_by_the_closed_form():
    # the two moments the closed form rests on, against scipy's non-central moments
    for m, s in [(0.0, 1.0), (1.3, 0.2), (-2.0, 1.5)]:
        assert stats.norm(m, s).moment(2) == pytest.approx(m**2 + s**2)
        assert stats.norm(m, s).moment(4) == pytest.approx(m**4 + 6 * m**2 * s**2 + 3 * s**4)


def test_elbo_matches_monte_carlo():
    model, x = LESSON
    for m, s in [(1.33, 0.19), (0.0, 1.34), (-0.5, 0.7)]:
        z = np.random.default_rng(1).normal(m, s, size=400_000)
        terms = log_joint_scipy(x, z, model.sigma) - stats.norm.logpdf(z, m, s)
        stderr = terms.std(ddof=1) / math.sqrt(z.size)
        assert abs(terms.mean() - model.elbo(x, m, s)) < 5 * stderr


def test_elbo_broadcasts_over_arrays():
    model, x = LESSON
    means, sigmas_ = np.linspace(-2, 2, 5), np.array([[0.2], [0.9]])
    grid = model.elbo(x, means, sigmas_)
    assert grid.shape == (2, 5)
    assert grid[1, 3] == pytest.approx(model.elbo(x, means[3], 0.9), rel=1e-14)
    assert isinstance(model.elbo(x, 0.1, 0.5), float)


@settings(max_examples=30, deadline=None)
@given(sigmas, observations, q_means, q_sigmas)
def test_gap_is_kl_q_posterior_and_both_match_the_grid(sigma, x, m, s):
    model = SquaredMeanModel(sigma)
    z, _, log_post = grid_posterior(x, sigma)
    log_q = stats.norm.logpdf(z, m, s)
    kl_grid = integrate.trapezoid(np.exp(log_q) * (log_q - log_post), z)
    kl = model.kl_q_posterior(x, m, s)
    assert kl == pytest.approx(kl_grid, rel=1e-6, abs=1e-7)
    assert model.log_evidence(x) - model.elbo(x, m, s) == pytest.approx(kl, rel=1e-9, abs=1e-9)
    assert kl > 0


@settings(max_examples=30, deadline=None)
@given(sigmas, observations, q_means, st.floats(0.3, 2.0))
def test_kl_posterior_q_matches_the_grid(sigma, x, m, s):
    z, _, log_post = grid_posterior(x, sigma)
    kl_grid = integrate.trapezoid(np.exp(log_post) * (log_post - stats.norm.logpdf(z, m, s)), z)
    assert SquaredMeanModel(sigma).kl_posterior_q(x, m, s) == pytest.approx(kl_grid, rel=1e-6, abs=1e-7)


def test_kl_posterior_q_is_minimized_by_moment_matching():
    # argmin over Gaussians q of KL(p || q) is q = N(mean_p, sd_p^2); found here by Nelder-Mead
    model, x = LESSON
    mean, sd = model.posterior_moments(x)
    result = optimize.minimize(lambda t: model.kl_posterior_q(x, t[0], math.exp(t[1])), [0.7, -0.5],
                               method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-12})
    assert result.x[0] == pytest.approx(mean, abs=1e-5)
    assert math.exp(result.x[1]) == pytest.approx(sd, rel=1e-5)


# ---------------------------------------------------------------------------------------------
# the best Gaussian q


def grid_argmax_elbo(model: SquaredMeanModel, x: float):
    """The maximum of the ELBO on a (mean, log sigma) grid, then refined on a finer grid around it."""
    means, log_sigmas = np.linspace(-3, 3, 601), np.linspace(-4, 1.5, 551)
    values = model.elbo(x, means[:, None], np.exp(log_sigmas)[None, :])
    i, j = np.unravel_index(values.argmax(), values.shape)
    means, log_sigmas = means[i] + np.linspace(-0.01, 0.01, 201), log_sigmas[j] + np.linspace(-0.01, 0.01, 201)
    values = model.elbo(x, means[:, None], np.exp(log_sigmas)[None, :])
    i, j = np.unravel_index(values.argmax(), values.shape)
    return means[i], math.exp(log_sigmas[j]), values[i, j]


@pytest.mark.parametrize("sigma, x", [(0.5, 2.0), (0.5, 1.0), (1.0, 3.0), (1.0, 0.2)])
def test_best_gaussian_matches_a_grid_search(sigma, x):
    model = SquaredMeanModel(sigma)
    best = max(model.best_gaussian(x), key=lambda fit: fit.elbo)
    grid_mean, grid_sigma, grid_elbo = grid_argmax_elbo(model, x)
    assert best.elbo >= grid_elbo - 1e-9
    assert best.elbo - grid_elbo < 1e-6
    # the maximum is reached at mirror images +-m: compare |m|
    assert abs(best.mean) == pytest.approx(abs(grid_mean), abs=2e-4)
    assert best.sigma == pytest.approx(grid_sigma, rel=2e-4)


def test_lesson_best_gaussian_sits_on_one_mode_and_its_mirror():
    model, x = LESSON
    fits = model.best_gaussian(x)
    best = max(fits, key=lambda fit: fit.elbo)
    mirror = [f for f in fits if f.mean * best.mean < 0 and abs(f.elbo - best.elbo) < 1e-9]
    assert mirror and abs(mirror[0].mean + best.mean) < 1e-5
    mode = model.posterior_modes(x)[1]
    assert abs(abs(best.mean) - mode) < 3 * best.sigma
    # the gap is log 2 for the missed mode plus a little for the shape of the one it fits
    gap = model.log_evidence(x) - best.elbo
    assert math.log(2) < gap < math.log(2) + 0.05


def test_best_gaussian_keeps_each_start():
    model, x = LESSON
    fits = model.best_gaussian(x, starts=[(1.0, 0.0), [-1.0, -1.0]])
    assert [f.start for f in fits] == [(1.0, 0.0), (-1.0, -1.0)]


# ---------------------------------------------------------------------------------------------
# the importance-weighted bound


def test_iwae_bound_with_k_1_is_the_elbo():
    model, x = LESSON
    for m, s in [(1.33, 0.19), (0.0, 1.34)]:
        estimate = model.iwae_bound(x, m, s, k=1, n_repeats=200_000, generator=0)
        assert abs(estimate.mean - model.elbo(x, m, s)) < 5 * estimate.stderr


def test_iwae_bound_climbs_and_stays_below_log_evidence():
    model, x = LESSON
    log_px = model.log_evidence(x)
    mean, sd = model.posterior_moments(x)  # a proposal that covers both modes
    estimates = [model.iwae_bound(x, mean, sd, k, n_repeats=3000, generator=k) for k in (1, 10, 100, 1000)]
    for low, high in zip(estimates, estimates[1:]):
        assert high.mean > low.mean - 5 * math.hypot(low.stderr, high.stderr)
    assert all(e.mean < log_px + 5 * e.stderr for e in estimates)
    assert log_px - estimates[-1].mean < 0.01  # with both modes covered, k = 1000 is nearly tight


def test_iwae_stderr_matches_the_spread_of_independent_estimates():
    # 40 independent estimates: their standard deviation should match the reported standard error
    model, x = LESSON
    estimates = [model.iwae_bound(x, 0.0, 1.34, k=10, n_repeats=400, generator=seed) for seed in range(40)]
    spread = np.std([e.mean for e in estimates], ddof=1)
    reported = np.sqrt(np.mean([e.stderr**2 for e in estimates]))
    # the sample sd of 40 values is within about +-35% of the truth with high probability (heavy tails aside)
    assert 0.6 < spread / reported < 1.5


def test_iwae_bound_is_reproducible_with_a_seed():
    model, x = LESSON
    assert model.iwae_bound(x, 1.0, 0.5, 5, 50, generator=7) == model.iwae_bound(x, 1.0, 0.5, 5, 50, generator=7)


# ---------------------------------------------------------------------------------------------
# the figure and bad input


def test_plot_bimodal_fit_shows_the_gap():
    model, x = LESSON
    fig = plot_bimodal_fit(model, x, 1.0, 0.3)
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 2
    gap = model.log_evidence(x) - model.elbo(x, 1.0, 0.3)
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert any(f"{gap:.3f}" in label for label in labels)
    plt.close(fig)


@pytest.mark.parametrize("call, message", [
    (lambda: SquaredMeanModel(0.0), "sigma must be > 0"),
    (lambda: SquaredMeanModel(-1.0), "sigma must be > 0"),
    (lambda: SquaredMeanModel(float("nan")), "sigma must be finite"),
    (lambda: LESSON[0].log_evidence(float("inf")), "x must be finite"),
    (lambda: LESSON[0].elbo(2.0, 0.0, -0.5), "q_sigma must be > 0"),
    (lambda: LESSON[0].elbo(2.0, [0.0, 1.0], [0.5, 0.5, 0.5]), "shapes do not broadcast"),
    (lambda: LESSON[0].kl_q_posterior(2.0, 0.0, 0.0), "q_sigma must be > 0"),
    (lambda: LESSON[0].kl_posterior_q(2.0, float("nan"), 1.0), "q_mean must be finite"),
    (lambda: LESSON[0].iwae_bound(2.0, 0.0, 1.0, k=0), "k must be a positive integer"),
    (lambda: LESSON[0].iwae_bound(2.0, 0.0, 1.0, k=5, n_repeats=1), "n_repeats must be >= 2"),
    (lambda: LESSON[0].best_gaussian(2.0, starts=[(1.0, 0.0, 2.0)]), "starts must be"),
    (lambda: LESSON[0].best_gaussian(2.0, starts=[]), "starts must be"),
    (lambda: LESSON[0].sample(0), "n must be a positive integer"),
    (lambda: plot_bimodal_fit(LESSON[0], 2.0, 0.0, 1.0, mean_range=(1.0, -1.0)), "mean_range must be"),
])
def test_bad_input_is_refused_by_name(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("call", [lambda: SquaredMeanModel(True), lambda: LESSON[0].log_evidence("2"),
                                  lambda: LESSON[0].iwae_bound(2.0, 0.0, 1.0, k=2.5)])
def test_wrong_types_are_type_errors(call):
    with pytest.raises(TypeError):
        call()

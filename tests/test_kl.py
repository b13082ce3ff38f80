"""vae_course.kl against independent references: scipy quadrature and densities, torch.distributions, mpmath."""

import math
import sys

import mpmath
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
EPS = sys.float_info.epsilon  # 2.2e-16, one ulp at 1
TINY = 2.0**-1074  # the smallest subnormal: the absolute rounding step of results near 0
MAX = sys.float_info.max


def random_spd(d: int, rng: np.random.Generator) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.5 * np.eye(d)


def torch_mvn_kl(mu1, cov1, mu2, cov2) -> float:
    p = td.MultivariateNormal(torch.tensor(mu1), covariance_matrix=torch.tensor(cov1))
    q = td.MultivariateNormal(torch.tensor(mu2), covariance_matrix=torch.tensor(cov2))
    return float(td.kl_divergence(p, q))


def mpmath_kl_normal_1d(mu1, sigma1, mu2, sigma2) -> mpmath.mpf:
    """The closed form at 60 significant digits: the variance part and the mean part summed separately, so
    that the variance part's cancellation (down to about 1e-32 for sigmas one ulp apart) keeps 25 digits."""
    with mpmath.workdps(60):
        m1, s1, m2, s2 = (mpmath.mpf(float(v)) for v in (mu1, sigma1, mu2, sigma2))
        return (mpmath.log(s2 / s1) + s1**2 / (2 * s2**2) - mpmath.mpf(1) / 2) + (m1 - m2) ** 2 / (2 * s2**2)


# ---------------------------------------------------------------------------------------------
# Discrete


def test_kl_discrete_matches_scipy_rel_entr():
    p, q = np.array([0.1, 0.6, 0.3]), np.array([0.3, 0.3, 0.4])
    assert kl.kl_discrete(p, q) == pytest.approx(special.rel_entr(p, q).sum(), rel=1e-12)
    assert kl.kl_discrete(p, q) == pytest.approx(stats.entropy(p, q), rel=1e-12)


def test_kl_discrete_infinite_where_q_has_no_mass_and_zero_terms_vanish():
    assert kl.kl_discrete([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert kl.kl_discrete([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.log(2))


@pytest.mark.parametrize("p,q,error,message", [
    ([0.5, 0.6], [0.5, 0.5], ValueError, "p must sum to 1"),
    ([0.5, 0.5 + 1e-7], [0.5, 0.5], ValueError, "p must sum to 1"),  # 1e-7 off is no rounding error
    ([0.5, 0.5], [1.5, -0.5], ValueError, "q must have no negative entries"),
    ([0.5, 0.5], [1.0, 0.0, 0.0], ValueError, "p and q must have the same shape"),
    ([[0.5, 0.5]], [[0.5, 0.5]], ValueError, "p must be a non-empty 1-D"),
    ([], [], ValueError, "p must be a non-empty 1-D"),
    ([0.5, np.nan], [0.5, 0.5], ValueError, "p must be finite"),
    ([True, False], [0.5, 0.5], TypeError, "p must be a real number or an array of them, not booleans"),
    ([0.5, 0.5], None, TypeError, "q must be a real number"),
    ([0.5, 0.5], [0.5 + 0j, 0.5], TypeError, "q must be real"),
    ([0.5, 0.5], "ab", TypeError, "q must be a real number"),
])
def test_kl_discrete_bad_input(p, q, error, message):
    with pytest.raises(error, match=message):
        kl.kl_discrete(p, q)


def test_kl_discrete_accepts_sums_off_by_rounding_only():
    p = np.full(7, 1 / 7)  # sums to 1 - 1.1e-16, one rounding step
    assert kl.kl_discrete(p, p) == pytest.approx(0.0, abs=1e-15)


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


finite_floats = st.floats(allow_nan=False, allow_infinity=False)
positive_floats = st.floats(min_value=TINY, max_value=MAX)


@settings(max_examples=400, deadline=None)
@given(finite_floats, positive_floats, finite_floats, positive_floats, st.floats(-1e-10, 1e-10), st.booleans())
def test_kl_normal_1d_is_accurate_for_every_finite_input(mu1, sigma1, mu2, sigma2, nudge, near):
    """Against mpmath at 60 digits, over the whole float64 range (huge, tiny and subnormal sigmas included).

    The function adds two terms >= 0, each computed to a few ulp (the closed form's own rounding of sigma1
    / sigma2 and (mu1 - mu2) / sigma2 is 1 ulp each; measured worst 2.8 ulp on 60,000 random inputs), so
    16 ulp relative is a stated margin; results below the subnormal range round to 0, hence 4 * TINY.
    """
    if near:  # sigmas a few ulp to 1e-10 apart: the cancellation the log1p and series branches exist for
        sigma2 = min(max(sigma1 * (1.0 + nudge), TINY), MAX)
    got = kl.kl_normal_1d(mu1, sigma1, mu2, sigma2)
    exact = mpmath_kl_normal_1d(mu1, sigma1, mu2, sigma2)
    if exact > MAX * (1 - 4 * EPS):
        assert got == math.inf or abs(got - exact) <= 16 * EPS * exact, f"KL {exact} is beyond float64, got {got}"
    else:
        assert math.isfinite(got), f"exact KL {mpmath.nstr(exact, 17)} is finite, got {got}"
        assert abs(mpmath.mpf(got) - exact) <= 16 * EPS * exact + 4 * TINY, f"got {got}, exact {mpmath.nstr(exact, 17)}"


@pytest.mark.parametrize("args,expected", [
    ((0.0, 1e200, 0.0, 1e200), 0.0),            # was NaN: sigma^2 overflowed to inf / inf
    ((0.0, 1e-200, 0.0, 1e-200), 0.0),          # was NaN: 0 / 0
    ((1e200, 1e200, -1e200, 1e200), 2.0),       # (mu1 - mu2)^2 overflowed
    ((1e308, 1.0, -1e308, 1e308), None),        # mu1 - mu2 itself overflows
    ((0.0, 1e-200, 0.0, 1e-190), None),         # sigma^2 underflows to 0
    ((0.0, 3e-310, 0.0, 3.0), None),            # subnormal sigma1: sigma1 / sigma2 underflows
])
def test_kl_normal_1d_does_not_overflow_where_the_kl_is_finite(args, expected):
    got = kl.kl_normal_1d(*args)
    exact = mpmath_kl_normal_1d(*args)
    if expected is not None:
        assert exact == expected
    assert abs(mpmath.mpf(got) - exact) <= 16 * EPS * exact, f"{args}: {got} vs {exact}"


def test_kl_normal_1d_is_inf_only_beyond_float64():
    assert kl.kl_normal_1d(0.0, 1e300, 0.0, 1e-300) == math.inf  # exactly 5e1199
    assert kl.kl_normal_1d(1e300, 1.0, -1e300, 1.0) == math.inf
    assert kl.kl_normal_1d(0.0, 1.34e154, 0.0, 1.0) == pytest.approx(0.5 * 1.34e154**2, rel=1e-15)  # 9e307: finite


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
    assert kl.kl_normal_1d([], 1.0, 0.0, 1.0).shape == (0,)  # an empty grid gives an empty answer, as in NumPy
    detached = kl.kl_normal_1d(torch.tensor([0.5]), 1.0, 0.0, 1.0)  # a tensor without a gradient is a number
    assert detached == pytest.approx([0.125])


@pytest.mark.parametrize("args,error,message", [
    ((0, -1.0, 0, 1), ValueError, r"sigma1 must be > 0, got -1.0"),
    ((0, 1, 0, 0.0), ValueError, r"sigma2 must be > 0, got 0.0"),
    ((np.nan, 1, 0, 1), ValueError, r"mu1 must be finite, got nan"),
    ((0, 1, np.inf, 1), ValueError, r"mu2 must be finite, got inf"),
    ((0, [1.0, np.inf], 0, 1), ValueError, r"sigma1 must be finite"),
    (("a", 1, 0, 1), TypeError, r"mu1 must be a real number"),
    ((None, 1, 0, 1), TypeError, r"mu1 must be a real number"),
    ((0, 1 + 1j, 0, 1), TypeError, r"sigma1 must be real, got a complex value"),  # not its real part, silently
    ((0, 1, np.array([1j]), 1), TypeError, r"mu2 must be real, got a complex value"),
    ((0, 1, 0, np.complex128(2)), TypeError, r"sigma2 must be real"),
    ((True, 1, 0, 1), TypeError, r"mu1 must be a real number or an array of them, not booleans"),
    ((0, np.array([True]), 0, 1), TypeError, r"sigma1 must be .* not booleans"),
    ((0, 1, 0, torch.tensor(1.0, requires_grad=True)), TypeError, r"sigma2 must be a number or an array of numbers, got a tensor "
                                                                  r"that requires grad"),
    (([0, 1, 2], 1, [0, 1], 1), ValueError, r"shapes do not broadcast together: mu1 \(3,\), sigma1 \(\), mu2 \(2,\)"),
])
def test_kl_normal_1d_bad_input(args, error, message):
    with pytest.raises(error, match=message):
        kl.kl_normal_1d(*args)


def test_normal_logpdf_1d_matches_scipy_and_has_the_minus_sign():
    x = np.linspace(-4, 6, 41)
    assert np.allclose(kl.normal_logpdf_1d(x, 1.0, 1.5), stats.norm(1.0, 1.5).logpdf(x), rtol=1e-12)
    # The density integrates to one (with a plus sign in the exponent it would diverge)
    total, _ = integrate.quad(lambda t: np.exp(kl.normal_logpdf_1d(t, 1.0, 1.5)), -np.inf, np.inf)
    assert total == pytest.approx(1.0, rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(finite_floats, finite_floats, positive_floats)
def test_normal_logpdf_1d_is_accurate_for_every_finite_input(x, mu, sigma):
    # against mpmath; the error bound is a few ulp of each of the three terms it adds
    got = kl.normal_logpdf_1d(x, mu, sigma)
    with mpmath.workdps(60):
        z2 = ((mpmath.mpf(x) - mpmath.mpf(mu)) / mpmath.mpf(sigma)) ** 2
        exact = -mpmath.log(mpmath.mpf(sigma)) - mpmath.log(2 * mpmath.pi) / 2 - z2 / 2
    if exact < -MAX * (1 - 4 * EPS):
        assert got == -math.inf or abs(got - exact) <= 16 * EPS * abs(exact)
    else:
        scale = abs(mpmath.log(mpmath.mpf(sigma))) + 1 + z2 / 2
        assert abs(mpmath.mpf(float(got)) - exact) <= 16 * EPS * scale, f"got {got}, exact {mpmath.nstr(exact, 17)}"


@pytest.mark.parametrize("args,error,message", [
    ((0.0, 0.0, -1.0), ValueError, "sigma must be > 0"),
    ((None, 0.0, 1.0), TypeError, "x must be a real number"),
    ((0.0, True, 1.0), TypeError, "mu must be .* not booleans"),
    ((1j, 0.0, 1.0), TypeError, "x must be real"),
])
def test_normal_logpdf_1d_bad_input(args, error, message):
    with pytest.raises(error, match=message):
        kl.normal_logpdf_1d(*args)


def test_quadrature_and_monte_carlo_routes_agree_with_the_closed_form():
    closed = kl.kl_normal_1d(0.5, 0.7, -1.0, 1.3)
    assert kl.kl_normal_1d_quadrature(0.5, 0.7, -1.0, 1.3) == pytest.approx(closed, rel=1e-8)
    estimate = kl.kl_normal_1d_monte_carlo(0.5, 0.7, -1.0, 1.3, n_samples=200_000, generator=0)
    assert estimate.n_samples == 200_000
    assert abs(estimate.mean - closed) < 5 * estimate.stderr
    assert 0 < estimate.stderr < 0.01


@pytest.mark.parametrize("args", [
    (30.0, 0.01, 0.0, 1.0),            # a narrow p far from q: a naive (-inf, inf) quad misses the peak
    (1e200, 1e200, -1e200, 1e200),     # KL 2, at a location and scale no grid in x resolves
    (1e10, 1e-5, 1e10 + 1e-5, 2e-5),   # floats near 1e10 are 2e-6 apart: in x, p spans a few dozen of them
    (0.0, 1e-200, 0.0, 1.0),           # sigma1^2 underflows
])
def test_numeric_routes_work_at_any_location_and_scale(args):
    exact = float(mpmath_kl_normal_1d(*args))
    assert kl.kl_normal_1d_quadrature(*args) == pytest.approx(exact, rel=1e-8)
    estimate = kl.kl_normal_1d_monte_carlo(*args, n_samples=50_000, generator=1)
    assert abs(estimate.mean - exact) < 5 * estimate.stderr + 1e-12 * exact


def test_numeric_routes_give_inf_beyond_float64():
    assert kl.kl_normal_1d_quadrature(1e200, 1.0, 0.0, 1.0) == math.inf  # exactly 5e399
    estimate = kl.kl_normal_1d_monte_carlo(0.0, 1e300, 0.0, 1e-300, n_samples=10, generator=0)
    assert estimate.mean == math.inf and math.isnan(estimate.stderr)
    with pytest.raises(ValueError, match="n_samples must be >= 2"):  # the arguments are checked all the same
        kl.kl_normal_1d_monte_carlo(0.0, 1e300, 0.0, 1e-300, n_samples=1)
    with pytest.raises(TypeError, match="generator must be"):
        kl.kl_normal_1d_monte_carlo(0.0, 1e300, 0.0, 1e-300, n_samples=10, generator="seed")


def test_kl_quadrature_on_uniforms_with_finite_bounds():
    # KL(U(0, 1) || U(0, 2)) = log 2
    value = kl.kl_quadrature(lambda x: 0.0, lambda x: -math.log(2), 0.0, 1.0)
    assert value == pytest.approx(math.log(2), rel=1e-12)


def test_kl_quadrature_is_inf_where_q_has_no_density_where_p_does():
    # KL(U(0, 2) || U(0, 1)): q = 0 on (1, 2], where p = 1/2
    assert kl.kl_quadrature(stats.uniform(0, 2).logpdf, stats.uniform(0, 1).logpdf, 0.0, 2.0) == math.inf


@pytest.mark.parametrize("kwargs,error,message", [
    ({"lower": 1.0, "upper": 0.0}, ValueError, r"upper must be > lower, got lower=1.0 and upper=0.0"),  # was -log 2
    ({"lower": 0.5, "upper": 0.5}, ValueError, r"upper must be > lower"),
    ({"lower": 0.0, "upper": np.nan}, ValueError, r"upper must be a number or \+-inf, got nan"),
    ({"lower": True, "upper": 1.0}, TypeError, r"lower must be a real number"),
    ({"lower": "0", "upper": 1.0}, TypeError, r"lower must be a real number"),
    ({"lower": 0.0, "upper": 0.5}, ValueError, r"log_p must be a normalized log density .* mass there is 0.5"),
    ({"log_p": None}, TypeError, r"log_p must be callable \(a function\), got NoneType None"),
    ({"log_q": 0.5}, TypeError, r"log_q must be callable"),
    ({"log_q": lambda x: np.nan}, ValueError, r"log_q must return a number or -inf, got nan at x = "),
    ({"log_p": lambda x: np.nan}, ValueError, r"log_p must return a number or -inf, got nan"),
])
def test_kl_quadrature_bad_input(kwargs, error, message):
    args = {"log_p": lambda x: 0.0, "log_q": lambda x: -math.log(2), "lower": 0.0, "upper": 1.0} | kwargs
    with pytest.raises(error, match=message):
        kl.kl_quadrature(**args)


@pytest.mark.parametrize("args,error,message", [
    (([0.0, 1.0], 1.0, 0.0, 1.0), ValueError, r"mu1 must be a single number, got shape \(2,\)"),
    ((0.0, -1.0, 0.0, 1.0), ValueError, r"sigma1 must be > 0"),
    ((0.0, 1.0, False, 1.0), TypeError, r"mu2 must be .* not booleans"),
])
def test_numeric_1d_routes_bad_input(args, error, message):
    with pytest.raises(error, match=message):
        kl.kl_normal_1d_quadrature(*args)
    with pytest.raises(error, match=message):
        kl.kl_normal_1d_monte_carlo(*args, n_samples=10)


def test_monte_carlo_is_reproducible_with_a_seed_or_a_generator():
    a = kl.kl_normal_1d_monte_carlo(0, 1, 1, 1, n_samples=1000, generator=3)
    b = kl.kl_normal_1d_monte_carlo(0, 1, 1, 1, n_samples=1000, generator=np.random.default_rng(3))
    assert a == b  # the same draws, hence the same floats: no arithmetic differs between the two calls
    for bad, error in ((0, ValueError), (1, ValueError), (2.5, TypeError), (True, TypeError), (None, TypeError)):
        with pytest.raises(error, match="n_samples must be"):
            kl.kl_normal_1d_monte_carlo(0, 1, 1, 1, n_samples=bad)


@pytest.mark.parametrize("generator,error,message", [
    (-1, ValueError, r"generator must be a seed >= 0, got -1"),
    ("a", TypeError, r"generator must be a numpy.random.Generator, an int seed >= 0 or None, got str 'a'"),
    (True, TypeError, r"generator must be a numpy.random.Generator"),
    (1.5, TypeError, r"generator must be a numpy.random.Generator"),
    (torch.Generator(), TypeError, r"generator must be a numpy.random.Generator"),
])
def test_monte_carlo_bad_generator(generator, error, message):
    with pytest.raises(error, match=message):
        kl.kl_normal_1d_monte_carlo(0, 1, 1, 1, n_samples=10, generator=generator)


def uniform_sampler(width: float):
    return lambda n, g: g.uniform(0.0, width, n)


@pytest.mark.parametrize("kwargs,error,message", [
    ({"sample_p": None}, TypeError, r"sample_p must be callable"),
    ({"log_p": np.zeros(3)}, TypeError, r"log_p must be callable"),
    ({"log_q": "log"}, TypeError, r"log_q must be callable"),
    ({"sample_p": lambda n, g: g.uniform(0, 2, n - 1)}, ValueError, r"sample_p must return 100 draws"),
    ({"log_p": stats.uniform(0, 1).logpdf}, ValueError, r"NaN or -inf at some draws of sample_p"),
])
def test_kl_monte_carlo_bad_input(kwargs, error, message):
    args = {"sample_p": uniform_sampler(2.0), "log_p": stats.uniform(0, 2).logpdf, "log_q": stats.uniform(0, 2).logpdf,
            "n_samples": 100, "generator": 0} | kwargs
    with pytest.raises(error, match=message):
        kl.kl_monte_carlo(**args)


def test_kl_monte_carlo_is_inf_where_a_draw_of_p_has_no_density_under_q():
    estimate = kl.kl_monte_carlo(uniform_sampler(2.0), stats.uniform(0, 2).logpdf, stats.uniform(0, 1).logpdf, 100, 0)
    assert estimate.mean == math.inf and math.isnan(estimate.stderr)


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
    estimate = kl.kl_mvn_monte_carlo(mu1, cov1, mu2, cov2, n_samples=100_000, generator=1)
    assert abs(estimate.mean - torch_mvn_kl(mu1, cov1, mu2, cov2)) < 5 * estimate.stderr


def test_kl_mvn_stays_accurate_for_an_ill_conditioned_covariance():
    # Eigenvalues 1 and 1e-9 (condition 1e9, below the refusal at 1e12): torch in float64 is the reference
    rotation = np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    cov2 = rotation @ np.diag([1.0, 1e-9]) @ rotation.T
    cov2 = (cov2 + cov2.T) / 2
    mu1, cov1, mu2 = np.zeros(2), np.diag([1e-9, 1e-9]), np.array([1e-5, 0.0])
    assert kl.kl_mvn(mu1, cov1, mu2, cov2) == pytest.approx(torch_mvn_kl(mu1, cov1, mu2, cov2), rel=1e-6)


def test_kl_mvn_is_not_fooled_by_units():
    # diag(1e-8, 1e8) has condition 1e16 but is exact: its correlation matrix is I
    cov = np.diag([1e-8, 1e8])
    assert kl.kl_mvn([0.0, 0.0], cov, [0.0, 0.0], np.eye(2)) == pytest.approx(
        kl.kl_normal_1d(0, 1e-4, 0, 1) + kl.kl_normal_1d(0, 1e4, 0, 1), rel=1e-12)


def rank_deficient(kind: str) -> np.ndarray:
    if kind == "ones":  # rank 1, exactly singular
        return np.ones((2, 2))
    if kind == "rotated":  # R diag(1, 0) R^T: singular in exact arithmetic, rounding decides its last bits
        rotation = np.array([[np.cos(0.7), -np.sin(0.7)], [np.sin(0.7), np.cos(0.7)]])
        cov = rotation @ np.diag([2.0, 0.0]) @ rotation.T
        return (cov + cov.T) / 2
    if kind == "outer":  # a 3x3 of rank 2
        a = np.array([[1.0, 0.5], [0.2, -1.0], [0.3, 0.4]])
        return a @ a.T
    if kind == "nudged":  # [[1, 1], [1, 1 + 1e-15]]: Cholesky succeeds, the KL came out as 17.2
        return np.array([[1.0, 1.0], [1.0, 1.0 + 1e-15]])
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["ones", "rotated", "outer", "nudged"])
@pytest.mark.parametrize("which", ["cov1", "cov2"])
def test_kl_mvn_refuses_singular_covariances(kind, which):
    cov = rank_deficient(kind)
    d = cov.shape[0]
    args = {"mu1": np.zeros(d), "cov1": np.eye(d), "mu2": np.zeros(d), "cov2": np.eye(d), which: cov}
    with pytest.raises(ValueError, match=rf"{which} (is singular or too ill-conditioned|must be positive definite)"):
        kl.kl_mvn(**args)
    with pytest.raises(ValueError, match=rf"{which} (is singular or too ill-conditioned|must be positive definite)"):
        kl.kl_mvn_monte_carlo(**args, n_samples=10)
    with pytest.raises(ValueError, match=r"cov (is singular or too ill-conditioned|must be positive definite)"):
        kl.mvn_logpdf(np.zeros(d), np.zeros(d), cov)


@pytest.mark.parametrize("condition,refused", [(1e10, False), (1e11, False), (1e13, True), (1e15, True)])
def test_kl_mvn_refuses_beyond_condition_1e12(condition, refused):
    rho = (condition - 1) / (condition + 1)  # the correlation whose matrix [[1, rho], [rho, 1]] has this condition
    cov = np.array([[1.0, rho], [rho, 1.0]])
    if refused:
        with pytest.raises(ValueError, match=r"cov2 is singular or too ill-conditioned for float64: the condition"):
            kl.kl_mvn([0.0, 0.0], np.eye(2), [0.0, 0.0], cov)
    else:  # -log(1 - rho^2) / 2 + (tr(cov^-1) - 2) / 2, against torch
        assert kl.kl_mvn([0.0, 0.0], np.eye(2), [0.0, 0.0], cov) == pytest.approx(
            torch_mvn_kl(np.zeros(2), np.eye(2), np.zeros(2), cov), rel=1e-3)


def test_kl_mvn_does_not_overflow_where_the_kl_is_finite():
    # mu2 - mu1 = -2e308 overflows; the KL, 1/2 (log 1.7e308 - 1 + 1/1.7e308 + 4e616/1.7e308), is 1.18e308
    got = kl.kl_mvn([1e308], [[1.0]], [-1e308], [[1.7e308]])
    with mpmath.workdps(40):
        var2, diff = mpmath.mpf(1.7e308), mpmath.mpf(2e308)
        exact = (mpmath.log(var2) - 1 + 1 / var2 + diff**2 / var2) / 2
    assert abs(got - exact) <= 1e-13 * exact
    assert kl.kl_mvn([1e308, 0.0], np.eye(2), [-1e308, 0.0], np.eye(2)) == math.inf  # exactly 2e616: beyond float64
    assert kl.kl_mvn([0.0], [[1e-300]], [0.0], [[1e300]]) == pytest.approx(0.5 * (600 * math.log(10) - 1), rel=1e-14)


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


@pytest.mark.parametrize("args,error,message", [
    (([0, 0], [[1, 0.5], [0, 1]], [0, 0], I2), ValueError, r"cov1 must be symmetric"),
    (([0, 0], I2, [0, 0], [[1, 2], [2, 1]]), ValueError, r"cov2 must be positive definite, got smallest eigenvalue -1"),
    (([0, 0, 0], I2, [0, 0], I2), ValueError, r"cov1 must have shape \(3, 3\) to match mu1, got \(2, 2\)"),
    (([0, 0], I2, [0, 0, 0], np.eye(3)), ValueError, r"mu1 and mu2 must have the same shape"),
    (([[0, 0]], I2, [0, 0], I2), ValueError, r"mu1 must be a non-empty 1-D vector"),
    (([], np.zeros((0, 0)), [], np.zeros((0, 0))), ValueError, r"mu1 must be a non-empty 1-D vector"),
    (([0, np.nan], I2, [0, 0], I2), ValueError, r"mu1 must be finite"),
    (([0, 0], [[1, 0], [0, np.inf]], [0, 0], I2), ValueError, r"cov1 must be finite"),
    (([0, 0], np.eye(2, dtype=bool), [0, 0], I2), TypeError, r"cov1 must be .* not booleans"),
    (([0, 0], I2 * (1 + 0j), [0, 0], I2), TypeError, r"cov1 must be real"),
    ((None, I2, [0, 0], I2), TypeError, r"mu1 must be a real number"),
    ((torch.zeros(2, requires_grad=True), I2, [0, 0], I2), TypeError, r"mu1 must be a number or an array of numbers, got a "
                                                                       r"tensor that requires grad"),
])
def test_kl_mvn_bad_input(args, error, message):
    with pytest.raises(error, match=message):
        kl.kl_mvn(*args)
    with pytest.raises(error, match=message):
        kl.kl_mvn_monte_carlo(*args, n_samples=10)


def test_mvn_logpdf_bad_x():
    with pytest.raises(ValueError, match=r"x must have shape \(2,\) or \(n, 2\), got \(3,\)"):
        kl.mvn_logpdf([0.0, 0.0, 0.0], [0.0, 0.0], I2)
    with pytest.raises(TypeError, match=r"x must be .* not booleans"):
        kl.mvn_logpdf([True, False], [0.0, 0.0], I2)


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


def test_kl_diag_std_normal_of_an_empty_batch_is_empty():
    assert kl.kl_diag_std_normal(torch.zeros(0, 3), torch.zeros(0, 3)).shape == (0,)


@pytest.mark.parametrize("mu,logvar,error,message", [
    (torch.zeros(2, 3), torch.zeros(2, 4), ValueError, r"mu and logvar must have the same shape, got \(2, 3\) and \(2, 4\)"),
    (np.zeros(3), torch.zeros(3), TypeError, r"mu must be a torch.Tensor, got ndarray"),
    (None, torch.zeros(3), TypeError, r"mu must be a torch.Tensor, got NoneType"),
    (torch.zeros(3, dtype=torch.long), torch.zeros(3), TypeError, r"mu must be a floating-point tensor"),
    (torch.zeros(3, dtype=torch.bool), torch.zeros(3), TypeError, r"mu must be a floating-point tensor"),
    (torch.zeros(3), torch.zeros(3, dtype=torch.complex64), TypeError, r"logvar must be a floating-point tensor"),
    (torch.zeros(3), torch.tensor([0.0, float("nan"), 0.0]), ValueError, r"logvar must be finite"),
    (torch.tensor(0.0), torch.tensor(0.0), ValueError, r"mu must have at least 1 dimension"),
    (torch.zeros(3, device="meta"), torch.zeros(3), ValueError, r"mu and logvar must be on the same device, got meta"),
])
def test_kl_diag_std_normal_bad_input(mu, logvar, error, message):
    with pytest.raises(error, match=message):
        kl.kl_diag_std_normal(mu, logvar)

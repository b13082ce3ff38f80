"""KL divergences between Gaussians, in closed form, and the numeric routes the lessons check them with.

All values are in nats. Standard deviations are called `sigma`, covariance matrices `cov`, and
log-variances `logvar` (log sigma^2, what a VAE encoder outputs); randomness comes from `generator`.
KL(p || q) is "the KL divergence of p from q". Every public function checks its arguments and names
the one that is wrong (`ValueError: sigma1 must be > 0, got -1.0`; a wrong type is a TypeError).
"""

from __future__ import annotations

import math
import numbers
from typing import Callable, NamedTuple

import numpy as np
import torch
from scipy import integrate, linalg, stats

from .validate import (
    as_finite_array,
    as_mean_and_covariance,
    as_numpy_generator,
    as_positive_array,
    as_probability_vector,
    broadcast_arrays,
    require_callable,
    require_mu_logvar,
    require_positive_int,
)

LOG_2PI = float(np.log(2.0 * np.pi))


class MonteCarloEstimate(NamedTuple):
    """A Monte Carlo mean with its standard error (the standard deviation of the mean).

    An infinite mean (some draw of p where q has no density) comes with a NaN standard error.
    """

    mean: float
    stderr: float
    n_samples: int


# ----------------------------------------------------------------------------------------------
# Discrete KL


def kl_discrete(p, q) -> float:
    """KL(p || q) = sum_i p_i log(p_i / q_i) for two probability vectors; inf where q_i = 0 < p_i."""
    p, q = as_probability_vector("p", p), as_probability_vector("q", q)
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got p {p.shape} and q {q.shape}")
    if ((q == 0) & (p > 0)).any():
        return float("inf")  # p puts mass where q has none
    support = p > 0  # terms with p_i = 0 contribute 0 (0 log 0 = 0)
    return float(np.sum(p[support] * np.log(p[support] / q[support])))


# ----------------------------------------------------------------------------------------------
# 1-D Gaussians, computed without overflow wherever the result is a finite float


def _positive(name: str, value) -> np.ndarray:
    return as_positive_array(name, as_finite_array(name, value))


def _standardized(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """(x - mu) / sigma; where x - mu overflows (x and mu huge, of opposite signs), x/sigma - mu/sigma,
    which then has no cancellation. Infinite only where the true quotient is beyond float64's range."""
    with np.errstate(all="ignore"):  # the branch np.where discards may overflow
        diff = x - mu
        return np.where(np.isfinite(diff), diff / sigma, x / sigma - mu / sigma)


def _log_ratio(sigma1: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
    """log(sigma1 / sigma2) to a few ulp: log1p near 1 (sigma1 - sigma2 is then exact), the log of the
    quotient where it is a normal float, a difference of logs where the quotient over- or underflows."""
    with np.errstate(all="ignore"):  # the branches np.where discards may overflow or divide by zero
        ratio = sigma1 / sigma2
        near_one = (ratio > 0.5) & (ratio < 2.0)
        normal = np.isfinite(ratio) & (ratio >= np.finfo(np.float64).tiny)
        return np.where(near_one, np.log1p((sigma1 - sigma2) / sigma2),
                        np.where(normal, np.log(ratio), np.log(sigma1) - np.log(sigma2)))


# (e^u - 1 - u) / 2 = sum_{k >= 2} u^k / (2 k!): coefficients for Horner's rule, k = 21 down to 2
_HALF_EXPM1_TAIL = [0.5 / math.factorial(k) for k in range(21, 1, -1)]


def _variance_term(sigma1: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
    """r^2/2 - 1/2 - log r >= 0 for r = sigma1/sigma2, to a few ulp relative, for every r.

    With u = log r^2 it is (e^u - 1 - u)/2. For |u| < 1 the terms cancel, so it is summed as its Taylor
    series (all 20 terms needed for |u| < 1 to float64 precision); elsewhere the cancellation costs at most
    a factor of 5, and r^2/2 overflows only where the term itself does.
    """
    log_r = _log_ratio(sigma1, sigma2)
    u = 2.0 * log_r
    series = np.zeros_like(u)
    for coefficient in _HALF_EXPM1_TAIL:
        series = series * u + coefficient
    with np.errstate(all="ignore"):  # r = inf or 0 where the quotient leaves float64's range: exact limits
        r = sigma1 / sigma2
        direct = (0.5 * r) * r - 0.5 - log_r
    return np.where(np.abs(u) < 1.0, u * u * series, direct)


def normal_logpdf_1d(x, mu, sigma) -> np.ndarray:
    """log N(x; mu, sigma^2) = -log(sigma) - log(2 pi)/2 - (x - mu)^2 / (2 sigma^2); note the minus sign."""
    x, mu, sigma = broadcast_arrays(x=as_finite_array("x", x), mu=as_finite_array("mu", mu), sigma=_positive("sigma", sigma))
    z = _standardized(x, mu, sigma)
    with np.errstate(over="ignore"):  # z^2 beyond float64: the log density is -inf, correctly rounded
        return -np.log(sigma) - 0.5 * LOG_2PI - 0.5 * z * z


def _normal_1d_args(mu1, sigma1, mu2, sigma2) -> list[np.ndarray]:
    return broadcast_arrays(mu1=as_finite_array("mu1", mu1), sigma1=_positive("sigma1", sigma1),
                            mu2=as_finite_array("mu2", mu2), sigma2=_positive("sigma2", sigma2))


def kl_normal_1d(mu1, sigma1, mu2, sigma2):
    """KL(N(mu1, sigma1^2) || N(mu2, sigma2^2)); sigmas are standard deviations; broadcasts like NumPy.

    log(sigma2 / sigma1) + (sigma1^2 + (mu1 - mu2)^2) / (2 sigma2^2) - 1/2, computed as
    [r^2/2 - 1/2 - log r] + m^2/2 with r = sigma1/sigma2 and m = (mu1 - mu2)/sigma2: two terms >= 0, each to a
    few ulp, so the sum is accurate to a few ulp relative for any finite arguments, and inf only where the
    KL exceeds float64's range (sigma1 = sigma2 = 1e200 gives exactly 0). Returns a float for scalar
    arguments, an array otherwise (an empty argument gives an empty array, as in NumPy).
    """
    mu1, sigma1, mu2, sigma2 = _normal_1d_args(mu1, sigma1, mu2, sigma2)
    m = _standardized(mu1, mu2, sigma2)
    with np.errstate(over="ignore"):  # m^2/2 beyond float64: the KL is inf, correctly rounded
        kl = _variance_term(sigma1, sigma2) + (0.5 * m) * m
    return float(kl) if kl.ndim == 0 else kl


def _bound(name: str, value) -> float:
    if isinstance(value, (bool, np.bool_, torch.Tensor)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number (or +-inf), got {type(value).__name__} {value!r}")
    if math.isnan(value):
        raise ValueError(f"{name} must be a number or +-inf, got nan")
    return float(value)


def kl_quadrature(log_p: Callable, log_q: Callable, lower: float = -np.inf, upper: float = np.inf) -> float:
    """KL(p || q) = integral of p(x) (log p(x) - log q(x)) dx over [lower, upper], by adaptive quadrature
    (scipy.integrate.quad). Where q has no density (log q = -inf) where p does, the result is inf.

    p must have all its mass in [lower, upper] (checked by a second quadrature, to 1e-6): a KL over a
    part of p's support is not a KL. Swapped bounds are refused (they would flip the sign).
    """
    require_callable("log_p", log_p)
    require_callable("log_q", log_q)
    lower, upper = _bound("lower", lower), _bound("upper", upper)
    if not lower < upper:
        raise ValueError(f"upper must be > lower, got lower={lower} and upper={upper}")

    def evaluate(name: str, fn: Callable, x: float) -> float:
        value = float(fn(x))
        if math.isnan(value):
            raise ValueError(f"{name} must return a number or -inf, got nan at x = {x!r}")
        return value

    def density(x: float) -> float:
        return float(np.exp(evaluate("log_p", log_p, x)))

    def integrand(x: float) -> float:
        lp = evaluate("log_p", log_p, x)
        return 0.0 if lp == -math.inf else float(np.exp(lp)) * (lp - evaluate("log_q", log_q, x))

    mass, _ = integrate.quad(density, lower, upper, limit=200, epsabs=1e-13, epsrel=1e-10)
    if not abs(mass - 1.0) <= 1e-6:
        raise ValueError(f"log_p must be a normalized log density on [lower, upper] = [{lower}, {upper}]: "
                         f"p's mass there is {mass:.9g}, not 1 (widen the bounds, or check log_p)")
    value, _abs_err = integrate.quad(integrand, lower, upper, limit=200, epsabs=1e-12, epsrel=1e-10)
    return float(value)


def _scalar(name: str, array: np.ndarray) -> float:
    if array.ndim != 0:
        raise ValueError(f"{name} must be a single number, got shape {array.shape}")
    return float(array)


def _standard_coordinates(mu1, sigma1, mu2, sigma2) -> tuple[float, float, float]:
    """For t = (x - mu1) / sigma1, p becomes N(0, 1) and q becomes N(-a/b, 1/b^2): returns a = (mu1 - mu2)/sigma2,
    b = sigma1/sigma2 and log b. The KL does not change under this change of variables."""
    names = ("mu1", "sigma1", "mu2", "sigma2")
    mu1, sigma1, mu2, sigma2 = (np.asarray(_scalar(n, a)) for n, a in zip(names, _normal_1d_args(mu1, sigma1, mu2, sigma2)))
    with np.errstate(all="ignore"):
        return float(_standardized(mu1, mu2, sigma2)), float(sigma1 / sigma2), float(_log_ratio(sigma1, sigma2))


def _beyond_float64(a: float, b: float) -> bool:
    # a^2/2 or b^2/2 alone is a lower bound on the KL (the variance term exceeds b^2/2 - 1/2 - log b)
    return not math.isfinite((0.5 * a) * a + (0.5 * b) * b)


def kl_normal_1d_quadrature(mu1: float, sigma1: float, mu2: float, sigma2: float) -> float:
    """The 1-D Gaussian KL by quadrature, with scipy.stats' densities (independent of `kl_normal_1d`).

    It integrates in p's standard coordinate t = (x - mu1) / sigma1, where log p(t) = log phi(t) and
    log q(t) = log phi(a + b t) + log b (a, b from `_standard_coordinates`), over t in [-40, 40]: p's mass
    outside is below 1e-300, and p is resolved whatever its location and scale.
    """
    a, b, log_b = _standard_coordinates(mu1, sigma1, mu2, sigma2)
    if _beyond_float64(a, b):
        return math.inf
    standard = stats.norm()
    return kl_quadrature(standard.logpdf, lambda t: standard.logpdf(a + b * t) + log_b, -40.0, 40.0)


def _sampling_args(n_samples, generator) -> tuple[int, np.random.Generator]:
    n_samples = require_positive_int("n_samples", n_samples)
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2 to estimate a standard error, got {n_samples}")
    return n_samples, as_numpy_generator("generator", generator)


def kl_monte_carlo(sample_p: Callable, log_p: Callable, log_q: Callable, n_samples: int,
                   generator: np.random.Generator | int | None = None) -> MonteCarloEstimate:
    """KL(p || q) ~= mean of log p(x) - log q(x) over x ~ p, with its standard error.

    `sample_p(n, generator)` draws n samples from p (a numpy Generator is passed); `log_p` and `log_q`
    evaluate log densities on them. A draw where q has no density (log q = -inf) makes the KL infinite.
    """
    for name, fn in (("sample_p", sample_p), ("log_p", log_p), ("log_q", log_q)):
        require_callable(name, fn)
    n_samples, generator = _sampling_args(n_samples, generator)
    x = sample_p(n_samples, generator)
    with np.errstate(invalid="ignore"):  # -inf - (-inf): refused just below
        terms = np.asarray(log_p(x), dtype=np.float64) - np.asarray(log_q(x), dtype=np.float64)
    if terms.shape != (n_samples,):
        raise ValueError(f"sample_p must return {n_samples} draws on which log_p and log_q give one value each, "
                         f"got log_p(x) - log_q(x) of shape {terms.shape}")
    if np.isnan(terms).any() or np.isneginf(terms).any():
        raise ValueError("log_p(x) - log_q(x) is NaN or -inf at some draws of sample_p: log_p must be finite "
                         "wherever sample_p draws (does sample_p draw from p?)")
    if np.isposinf(terms).any():
        return MonteCarloEstimate(math.inf, math.nan, n_samples)  # q has no density at a draw of p
    return MonteCarloEstimate(float(terms.mean()), float(terms.std(ddof=1) / np.sqrt(n_samples)), n_samples)


def kl_normal_1d_monte_carlo(mu1: float, sigma1: float, mu2: float, sigma2: float, n_samples: int = 100_000,
                             generator: np.random.Generator | int | None = None) -> MonteCarloEstimate:
    """The 1-D Gaussian KL by Monte Carlo, with scipy.stats' densities (independent of `kl_normal_1d`).

    Draws t ~ N(0, 1), p's standard coordinate (as `kl_normal_1d_quadrature`): x = mu1 + sigma1 t.
    """
    a, b, log_b = _standard_coordinates(mu1, sigma1, mu2, sigma2)
    if _beyond_float64(a, b):
        return MonteCarloEstimate(math.inf, math.nan, _sampling_args(n_samples, generator)[0])
    standard = stats.norm()
    return kl_monte_carlo(lambda n, g: standard.rvs(size=n, random_state=g), standard.logpdf,
                          lambda t: standard.logpdf(a + b * t) + log_b, n_samples, generator)


# ----------------------------------------------------------------------------------------------
# Multivariate Gaussians


def _gaussian(mu_name: str, mu, cov_name: str, cov) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A Gaussian's mean, covariance and covariance's Cholesky factor, checked (see `require_resolvable_covariance`)."""
    return as_mean_and_covariance(mu_name, mu, cov_name, cov)


def _logdet_from_chol(chol: np.ndarray) -> float:
    # log det(L L^T) = 2 sum_i log L_ii
    return float(2.0 * np.sum(np.log(np.diag(chol))))


def mvn_logpdf(x, mu, cov) -> np.ndarray:
    """log N(x; mu, cov) for x of shape (d,) or (n, d).

    The normalizer is (2 pi)^(d/2) det(cov)^(1/2), not sqrt(2 pi det(cov)).
    """
    mu, cov, chol = _gaussian("mu", mu, "cov", cov)
    x = as_finite_array("x", x)
    if x.shape[-1:] != mu.shape or x.ndim > 2:
        raise ValueError(f"x must have shape ({mu.size},) or (n, {mu.size}), got {x.shape}")
    d = mu.size
    # (x - mu)^T cov^-1 (x - mu) = |L^-1 (x - mu)|^2, by a triangular solve instead of an inverse
    white = linalg.solve_triangular(chol, (x - mu).T, lower=True)
    maha = np.sum(white**2, axis=0)
    return -0.5 * (d * LOG_2PI + _logdet_from_chol(chol) + maha)


def _same_shape(mu1: np.ndarray, mu2: np.ndarray) -> None:
    if mu1.shape != mu2.shape:
        raise ValueError(f"mu1 and mu2 must have the same shape, got {mu1.shape} and {mu2.shape}")


def kl_mvn(mu1, cov1, mu2, cov2) -> float:
    """KL(N(mu1, cov1) || N(mu2, cov2)) for full covariance matrices, through Cholesky factors.

    1/2 [ log det(cov2)/det(cov1) - d + tr(cov2^-1 cov1) + (mu2 - mu1)^T cov2^-1 (mu2 - mu1) ]

    A singular covariance (whose KL is infinite) or one too ill-conditioned for float64 to resolve is a
    ValueError naming it (see `vae_course.validate.require_resolvable_covariance`).
    """
    mu1, cov1, chol1 = _gaussian("mu1", mu1, "cov1", cov1)
    mu2, cov2, chol2 = _gaussian("mu2", mu2, "cov2", cov2)
    _same_shape(mu1, mu2)
    d = mu1.size
    # tr(cov2^-1 cov1) = |L2^-1 L1|_F^2 and the quadratic form = |L2^-1 (mu2 - mu1)|^2
    with np.errstate(over="ignore"):  # a KL beyond float64's range is inf, correctly rounded
        trace = float(np.sum(linalg.solve_triangular(chol2, chol1, lower=True) ** 2))
        diff = mu2 - mu1
        if np.all(np.isfinite(diff)):
            half_quad = 0.5 * float(np.sum(linalg.solve_triangular(chol2, diff, lower=True) ** 2))
        else:  # means near +-1e308 of opposite signs: halve the difference, and multiply its square back by 4
            half_quad = 2.0 * float(np.sum(linalg.solve_triangular(chol2, mu2 / 2 - mu1 / 2, lower=True) ** 2))
        kl = 0.5 * (_logdet_from_chol(chol2) - _logdet_from_chol(chol1) - d + trace) + half_quad
    return max(kl, 0.0)  # KL >= 0; rounding can leave -1e-16 for identical arguments


def kl_mvn_monte_carlo(mu1, cov1, mu2, cov2, n_samples: int = 100_000,
                       generator: np.random.Generator | int | None = None) -> MonteCarloEstimate:
    """The multivariate Gaussian KL by Monte Carlo, with scipy.stats' densities (independent of `kl_mvn`)."""
    mu1, cov1, _ = _gaussian("mu1", mu1, "cov1", cov1)
    mu2, cov2, _ = _gaussian("mu2", mu2, "cov2", cov2)
    _same_shape(mu1, mu2)
    p, q = stats.multivariate_normal(mu1, cov1), stats.multivariate_normal(mu2, cov2)
    sample = lambda n, g: p.rvs(size=n, random_state=g).reshape(n, -1)  # noqa: E731
    return kl_monte_carlo(sample, p.logpdf, q.logpdf, n_samples, generator)


# ----------------------------------------------------------------------------------------------
# The VAE's KL term (torch, differentiable)


def kl_diag_std_normal_parts(mu: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The VAE's KL term split into its mean part and its variance part, each summed over the last dim.

    mean part:     1/2 sum mu^2                          (zero only when mu = 0)
    variance part: 1/2 sum (sigma^2 - log sigma^2 - 1)   (zero only when sigma = 1)
    """
    if isinstance(mu, torch.Tensor) and isinstance(logvar, torch.Tensor) and mu.device != logvar.device:
        raise ValueError(f"mu and logvar must be on the same device, got {mu.device} and {logvar.device}")
    require_mu_logvar(mu, logvar)
    mean_part = 0.5 * mu.pow(2).sum(dim=-1)
    variance_part = 0.5 * (logvar.exp() - logvar - 1.0).sum(dim=-1)
    return mean_part, variance_part


def kl_diag_std_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)), summed over the last dimension: (..., D) -> (...).

    1/2 sum (mu^2 + sigma^2 - log sigma^2 - 1), with logvar = log sigma^2.
    """
    mean_part, variance_part = kl_diag_std_normal_parts(mu, logvar)
    return mean_part + variance_part


# ----------------------------------------------------------------------------------------------
# Uniform distributions (lesson 01: what an infinite KL does and does not say about VAE posteriors)


def kl_uniform(a1, b1, a2, b2) -> float:
    """KL(U(a1, b1) || U(a2, b2)) = log((b2 - a2) / (b1 - a1)) if [a1, b1] lies inside [a2, b2], else inf.

    Where the first interval pokes out of the second, p puts mass where q has none and the KL is infinite.
    """
    a1, b1, a2, b2 = (_scalar(name, as_finite_array(name, value)) for name, value in
                      (("a1", a1), ("b1", b1), ("a2", a2), ("b2", b2)))
    for lo_name, lo, hi_name, hi in (("a1", a1, "b1", b1), ("a2", a2, "b2", b2)):
        if not lo < hi:
            raise ValueError(f"{hi_name} must be > {lo_name}, got {lo_name}={lo} and {hi_name}={hi}")
    if a1 < a2 or b1 > b2:
        return float("inf")
    # p = 1/(b1 - a1) on its support, q = 1/(b2 - a2) there: the log ratio is constant
    ratio = (b2 - a2) / (b1 - a1)
    if math.isfinite(ratio):
        return math.log(ratio)
    # a width or their ratio overflows (ends near +-1e308, or a width near 1e-300): work with logs of half-widths
    return math.log(b2 / 2 - a2 / 2) - math.log(b1 / 2 - a1 / 2)

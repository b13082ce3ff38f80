"""KL divergences between Gaussians, in closed form, and the numeric routes the lessons check them with.

All values are in nats. Standard deviations are called `sigma`, covariance matrices `cov`, and
log-variances `logvar` (log sigma^2, what a VAE encoder outputs).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import torch
from scipy import integrate, linalg, stats

from .validate import (
    as_mean_and_covariance,
    as_finite_array,
    as_positive_array,
    broadcast_arrays,
    require_mu_logvar,
    require_positive_int,
)

LOG_2PI = float(np.log(2.0 * np.pi))


class MonteCarloEstimate(NamedTuple):
    """A Monte Carlo mean with its standard error (the standard deviation of the mean)."""

    mean: float
    stderr: float
    n_samples: int


# ----------------------------------------------------------------------------------------------
# Discrete KL


def kl_discrete(p, q) -> float:
    """KL(p || q) = sum_i p_i log(p_i / q_i) for two probability vectors; inf where q_i = 0 < p_i."""
    p, q = as_finite_array("p", p), as_finite_array("q", q)
    for name, v in (("p", p), ("q", q)):
        if v.ndim != 1 or v.size == 0:
            raise ValueError(f"{name} must be a non-empty 1-D probability vector, got shape {v.shape}")
        if (v < 0).any():
            raise ValueError(f"{name} must have no negative entries, got {v[v < 0][0]}")
        if not np.isclose(v.sum(), 1.0, atol=1e-9):
            raise ValueError(f"{name} must sum to 1, got {v.sum()}")
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got p {p.shape} and q {q.shape}")
    if ((q == 0) & (p > 0)).any():
        return float("inf")  # p puts mass where q has none
    support = p > 0  # terms with p_i = 0 contribute 0 (0 log 0 = 0)
    return float(np.sum(p[support] * np.log(p[support] / q[support])))


# ----------------------------------------------------------------------------------------------
# 1-D Gaussians


def normal_logpdf_1d(x, mu, sigma) -> np.ndarray:
    """log N(x; mu, sigma^2) = -log(sigma) - log(2 pi)/2 - (x - mu)^2 / (2 sigma^2); note the minus sign."""
    x, mu = as_finite_array("x", x), as_finite_array("mu", mu)
    sigma = as_positive_array("sigma", sigma)
    x, mu, sigma = broadcast_arrays(x=x, mu=mu, sigma=sigma)
    return -np.log(sigma) - 0.5 * LOG_2PI - (x - mu) ** 2 / (2.0 * sigma**2)


def _normal_1d_args(mu1, sigma1, mu2, sigma2) -> list[np.ndarray]:
    return broadcast_arrays(
        mu1=as_finite_array("mu1", mu1),
        sigma1=as_positive_array("sigma1", sigma1),
        mu2=as_finite_array("mu2", mu2),
        sigma2=as_positive_array("sigma2", sigma2),
    )


def kl_normal_1d(mu1, sigma1, mu2, sigma2):
    """KL(N(mu1, sigma1^2) || N(mu2, sigma2^2)); sigmas are standard deviations; broadcasts like NumPy.

    Returns a float for scalar arguments, an array otherwise.
    """
    mu1, sigma1, mu2, sigma2 = _normal_1d_args(mu1, sigma1, mu2, sigma2)
    # log(sigma2 / sigma1) + (sigma1^2 + (mu1 - mu2)^2) / (2 sigma2^2) - 1/2
    kl = np.log(sigma2 / sigma1) + (sigma1**2 + (mu1 - mu2) ** 2) / (2.0 * sigma2**2) - 0.5
    return float(kl) if kl.ndim == 0 else kl


def kl_quadrature(log_p: Callable, log_q: Callable, lower: float = -np.inf, upper: float = np.inf) -> float:
    """KL(p || q) = integral of p(x) (log p(x) - log q(x)) dx, by adaptive quadrature (scipy.integrate.quad)."""

    def integrand(x: float) -> float:
        lp = log_p(x)
        return 0.0 if lp == -np.inf else float(np.exp(lp) * (lp - log_q(x)))

    value, _abs_err = integrate.quad(integrand, lower, upper, limit=200, epsabs=1e-12, epsrel=1e-10)
    return float(value)


def kl_normal_1d_quadrature(mu1: float, sigma1: float, mu2: float, sigma2: float) -> float:
    """The 1-D Gaussian KL by quadrature, with scipy.stats' densities (independent of `kl_normal_1d`)."""
    mu1, sigma1, mu2, sigma2 = (float(a) for a in _normal_1d_args(mu1, sigma1, mu2, sigma2))
    p, q = stats.norm(mu1, sigma1), stats.norm(mu2, sigma2)
    # p's mass outside mu1 +- 40 sigma1 is below 1e-300: integrating there only adds rounding noise
    return kl_quadrature(p.logpdf, q.logpdf, mu1 - 40 * sigma1, mu1 + 40 * sigma1)


def kl_monte_carlo(sample_p: Callable, log_p: Callable, log_q: Callable, n_samples: int,
                   rng: np.random.Generator | int | None = None) -> MonteCarloEstimate:
    """KL(p || q) ~= mean of log p(x) - log q(x) over x ~ p, with its standard error.

    `sample_p(n, rng)` draws n samples; `log_p` and `log_q` evaluate log densities on them.
    """
    n_samples = require_positive_int("n_samples", n_samples)
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2 to estimate a standard error, got {n_samples}")
    rng = np.random.default_rng(rng)
    x = sample_p(n_samples, rng)
    terms = np.asarray(log_p(x) - log_q(x), dtype=np.float64)
    return MonteCarloEstimate(float(terms.mean()), float(terms.std(ddof=1) / np.sqrt(n_samples)), n_samples)


def kl_normal_1d_monte_carlo(mu1: float, sigma1: float, mu2: float, sigma2: float, n_samples: int = 100_000,
                             rng: np.random.Generator | int | None = None) -> MonteCarloEstimate:
    """The 1-D Gaussian KL by Monte Carlo, with scipy.stats' densities (independent of `kl_normal_1d`)."""
    mu1, sigma1, mu2, sigma2 = (float(a) for a in _normal_1d_args(mu1, sigma1, mu2, sigma2))
    p, q = stats.norm(mu1, sigma1), stats.norm(mu2, sigma2)
    return kl_monte_carlo(lambda n, g: p.rvs(size=n, random_state=g), p.logpdf, q.logpdf, n_samples, rng)


# ----------------------------------------------------------------------------------------------
# Multivariate Gaussians


def _logdet_from_chol(chol: np.ndarray) -> float:
    # log det(L L^T) = 2 sum_i log L_ii
    return float(2.0 * np.sum(np.log(np.diag(chol))))


def mvn_logpdf(x, mu, cov) -> np.ndarray:
    """log N(x; mu, cov) for x of shape (d,) or (n, d).

    The normalizer is (2 pi)^(d/2) det(cov)^(1/2), not sqrt(2 pi det(cov)).
    """
    mu, cov, chol = as_mean_and_covariance("mu", mu, "cov", cov)
    x = as_finite_array("x", x)
    if x.shape[-1:] != mu.shape or x.ndim > 2:
        raise ValueError(f"x must have shape ({mu.size},) or (n, {mu.size}), got {x.shape}")
    d = mu.size
    # (x - mu)^T cov^-1 (x - mu) = |L^-1 (x - mu)|^2, by a triangular solve instead of an inverse
    white = linalg.solve_triangular(chol, (x - mu).T, lower=True)
    maha = np.sum(white**2, axis=0)
    return -0.5 * (d * LOG_2PI + _logdet_from_chol(chol) + maha)


def kl_mvn(mu1, cov1, mu2, cov2) -> float:
    """KL(N(mu1, cov1) || N(mu2, cov2)) for full covariance matrices, through Cholesky factors.

    1/2 [ log det(cov2)/det(cov1) - d + tr(cov2^-1 cov1) + (mu2 - mu1)^T cov2^-1 (mu2 - mu1) ]
    """
    mu1, cov1, chol1 = as_mean_and_covariance("mu1", mu1, "cov1", cov1)
    mu2, cov2, chol2 = as_mean_and_covariance("mu2", mu2, "cov2", cov2)
    if mu1.shape != mu2.shape:
        raise ValueError(f"mu1 and mu2 must have the same shape, got {mu1.shape} and {mu2.shape}")
    d = mu1.size
    # tr(cov2^-1 cov1) = |L2^-1 L1|_F^2 and the quadratic form = |L2^-1 (mu2 - mu1)|^2
    trace = float(np.sum(linalg.solve_triangular(chol2, chol1, lower=True) ** 2))
    quad = float(np.sum(linalg.solve_triangular(chol2, mu2 - mu1, lower=True) ** 2))
    kl = 0.5 * (_logdet_from_chol(chol2) - _logdet_from_chol(chol1) - d + trace + quad)
    return max(kl, 0.0)  # KL >= 0; rounding can leave -1e-16 for identical arguments


def kl_mvn_monte_carlo(mu1, cov1, mu2, cov2, n_samples: int = 100_000,
                       rng: np.random.Generator | int | None = None) -> MonteCarloEstimate:
    """The multivariate Gaussian KL by Monte Carlo, with scipy.stats' densities (independent of `kl_mvn`)."""
    mu1, cov1, _ = as_mean_and_covariance("mu1", mu1, "cov1", cov1)
    mu2, cov2, _ = as_mean_and_covariance("mu2", mu2, "cov2", cov2)
    if mu1.shape != mu2.shape:
        raise ValueError(f"mu1 and mu2 must have the same shape, got {mu1.shape} and {mu2.shape}")
    p, q = stats.multivariate_normal(mu1, cov1), stats.multivariate_normal(mu2, cov2)
    sample = lambda n, g: p.rvs(size=n, random_state=g).reshape(n, -1)  # noqa: E731
    return kl_monte_carlo(sample, p.logpdf, q.logpdf, n_samples, rng)


# ----------------------------------------------------------------------------------------------
# The VAE's KL term (torch, differentiable)


def kl_diag_std_normal_parts(mu: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The VAE's KL term split into its mean part and its variance part, each summed over the last dim.

    mean part:     1/2 sum mu^2                          (zero only when mu = 0)
    variance part: 1/2 sum (sigma^2 - log sigma^2 - 1)   (zero only when sigma = 1)
    """
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
# Uniform distributions (lesson 01: why a VAE posterior is not uniform)


def kl_uniform(a1, b1, a2, b2) -> float:
    """KL(U(a1, b1) || U(a2, b2)) = log((b2 - a2) / (b1 - a1)) if [a1, b1] lies inside [a2, b2], else inf.

    Where the first interval pokes out of the second, p puts mass where q has none and the KL is infinite.
    """
    ends = {}
    for name, value in (("a1", a1), ("b1", b1), ("a2", a2), ("b2", b2)):
        array = as_finite_array(name, value)
        if array.ndim != 0:
            raise ValueError(f"{name} must be a single number, got shape {array.shape}")
        ends[name] = float(array)
    a1, b1, a2, b2 = ends["a1"], ends["b1"], ends["a2"], ends["b2"]
    for lo_name, lo, hi_name, hi in (("a1", a1, "b1", b1), ("a2", a2, "b2", b2)):
        if not lo < hi:
            raise ValueError(f"{hi_name} must be > {lo_name}, got {lo_name}={lo} and {hi_name}={hi}")
    if a1 < a2 or b1 > b2:
        return float("inf")
    # p = 1/(b1 - a1) on its support, q = 1/(b2 - a2) there: the log ratio is constant
    return float(np.log((b2 - a2) / (b1 - a1)))

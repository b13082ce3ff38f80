"""A linear-Gaussian latent variable model: the one model where the ELBO can be checked exactly.

    z ~ N(0, I_k),    x | z ~ N(W z + b, s^2 I_d)

Its evidence p(x), its posterior p(z | x) and the ELBO of any Gaussian q(z) all have closed forms,
so lesson 04 can check log p(x) - KL(q || p(z|x)) = ELBO(q) to machine precision before any neural
network appears. Everything is computed in float64. Values are in nats.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .validate import as_finite_array, as_mean_and_covariance, as_positive_array, require_positive_int, require_tensor
from .kl import LOG_2PI, MonteCarloEstimate, kl_mvn


def _as_float64(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(array, dtype=np.float64))


def _estimate(terms: torch.Tensor) -> MonteCarloEstimate:
    """The mean of i.i.d. terms with its standard error."""
    n = terms.numel()
    stderr = float(terms.std(unbiased=True) / math.sqrt(n)) if n > 1 else float("nan")
    return MonteCarloEstimate(float(terms.mean()), stderr, n)


class LinearGaussian:
    """z ~ N(0, I_k), x | z ~ N(W z + b, noise_std^2 I_d), with W of shape (d, k) and b of shape (d,)."""

    def __init__(self, W, b, noise_std: float) -> None:
        W = as_finite_array("W", W)
        if W.ndim != 2 or W.size == 0:
            raise ValueError(f"W must be a non-empty 2-D matrix of shape (d, k), got shape {W.shape}")
        b = as_finite_array("b", b)
        if b.shape != W.shape[:1]:
            raise ValueError(f"b must have shape ({W.shape[0]},) to match W's {W.shape[0]} rows, got {b.shape}")
        noise_std = as_positive_array("noise_std", noise_std)
        if noise_std.ndim != 0:
            raise ValueError(f"noise_std must be a single number, got shape {noise_std.shape}")
        self.W, self.b = _as_float64(W), _as_float64(b)
        self.noise_std = float(noise_std)
        self.data_dim, self.latent_dim = W.shape

    def __repr__(self) -> str:
        return f"LinearGaussian(data_dim={self.data_dim}, latent_dim={self.latent_dim}, noise_std={self.noise_std})"

    # ------------------------------------------------------------------------------------------
    # argument checks

    def _x(self, x) -> torch.Tensor:
        x = as_finite_array("x", x)
        if x.shape != (self.data_dim,):
            raise ValueError(f"x must have shape ({self.data_dim},) to match W's {self.data_dim} rows, got {x.shape}")
        return _as_float64(x)

    def _z(self, z) -> torch.Tensor:
        require_tensor("z", z)
        if z.shape[-1] != self.latent_dim:
            raise ValueError(f"z must have shape (..., {self.latent_dim}) to match W's {self.latent_dim} columns, "
                             f"got {tuple(z.shape)}")
        return z.to(torch.float64)  # differentiable: gradients still reach a float32 z

    def _q(self, q_mean, q_cov) -> tuple[torch.Tensor, torch.Tensor]:
        q_mean, q_cov, _ = as_mean_and_covariance("q_mean", q_mean, "q_cov", q_cov)
        if q_mean.shape != (self.latent_dim,):
            raise ValueError(
                f"q_mean must have shape ({self.latent_dim},) to match W's {self.latent_dim} columns, "
                f"got {q_mean.shape}")
        return _as_float64(q_mean), _as_float64(q_cov)

    # ------------------------------------------------------------------------------------------
    # sampling and densities

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """n draws (z, x) from the joint: z (n, k), x (n, d)."""
        n = require_positive_int("n", n)
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=torch.float64)
        noise = torch.randn(n, self.data_dim, generator=generator, dtype=torch.float64)
        return z, z @ self.W.T + self.b + self.noise_std * noise

    def log_likelihood(self, x, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z) = -d/2 log(2 pi s^2) - |x - W z - b|^2 / (2 s^2): z (..., k) -> (...)."""
        x, z = self._x(x), self._z(z)
        residual = x - z @ self.W.T - self.b  # (..., d)
        s2 = self.noise_std**2
        return -0.5 * self.data_dim * (LOG_2PI + math.log(s2)) - residual.pow(2).sum(-1) / (2.0 * s2)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) = -k/2 log(2 pi) - |z|^2 / 2: z (..., k) -> (...)."""
        z = self._z(z)
        return -0.5 * self.latent_dim * LOG_2PI - 0.5 * z.pow(2).sum(-1)

    def log_joint(self, x, z: torch.Tensor) -> torch.Tensor:
        """log p(x, z) = log p(x | z) + log p(z): z (..., k) -> (...)."""
        return self.log_likelihood(x, z) + self.log_prior(z)

    # ------------------------------------------------------------------------------------------
    # exact inference

    def _posterior_precision(self) -> torch.Tensor:
        # Lambda = I + W^T W / s^2, the precision of p(z | x) (the same for every x)
        return torch.eye(self.latent_dim, dtype=torch.float64) + self.W.T @ self.W / self.noise_std**2

    def posterior(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """The exact posterior p(z | x) = N(mean, cov): mean (k,), cov (k, k).

        cov = (I + W^T W / s^2)^-1 and mean = cov W^T (x - b) / s^2 (complete the square in z).
        """
        x = self._x(x)
        cov = torch.linalg.inv(self._posterior_precision())
        cov = 0.5 * (cov + cov.T)  # exactly symmetric, so that it passes as a covariance matrix
        mean = cov @ self.W.T @ (x - self.b) / self.noise_std**2
        return mean, cov

    def log_evidence(self, x) -> float:
        """The exact log p(x), with p(x) = N(b, W W^T + s^2 I_d), computed in the k-dimensional latent space.

        Matrix determinant lemma: log det(W W^T + s^2 I) = d log s^2 + log det(Lambda).
        Woodbury: r^T (W W^T + s^2 I)^-1 r = (|r|^2 - |L^-1 W^T r|^2 / s^2) / s^2, Lambda = L L^T, r = x - b.
        """
        x = self._x(x)
        s2 = self.noise_std**2
        chol = torch.linalg.cholesky(self._posterior_precision())
        residual = x - self.b  # (d,)
        projected = torch.linalg.solve_triangular(chol, (self.W.T @ residual)[:, None], upper=False)[:, 0]
        maha = (residual.pow(2).sum() - projected.pow(2).sum() / s2) / s2
        logdet = self.data_dim * math.log(s2) + 2.0 * torch.log(torch.diagonal(chol)).sum()
        return float(-0.5 * (self.data_dim * LOG_2PI + logdet + maha))

    # ------------------------------------------------------------------------------------------
    # bounds for a Gaussian q(z) = N(q_mean, q_cov)

    def expected_log_likelihood(self, x, q_mean, q_cov) -> float:
        """E_q[log p(x | z)] = -d/2 log(2 pi s^2) - (|x - W m - b|^2 + tr(W S W^T)) / (2 s^2), q = N(m, S)."""
        x = self._x(x)
        q_mean, q_cov = self._q(q_mean, q_cov)
        s2 = self.noise_std**2
        residual = x - self.W @ q_mean - self.b
        # E|x - W z - b|^2 = |x - W m - b|^2 + tr(W S W^T) for z ~ N(m, S)
        spread = torch.trace(self.W @ q_cov @ self.W.T)
        return float(-0.5 * self.data_dim * (LOG_2PI + math.log(s2)) - (residual.pow(2).sum() + spread) / (2.0 * s2))

    def elbo(self, x, q_mean, q_cov) -> float:
        """The exact ELBO(q) = E_q[log p(x | z)] - KL(q(z) || p(z)), with no sampling."""
        expected = self.expected_log_likelihood(x, q_mean, q_cov)
        k = self.latent_dim
        return expected - kl_mvn(q_mean, q_cov, np.zeros(k), np.eye(k))

    def _sample_q(self, q_mean: torch.Tensor, q_cov: torch.Tensor, shape: tuple[int, ...],
                  generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """z = m + L eps with S = L L^T, and log q(z): shape + (k,) and shape."""
        chol = torch.linalg.cholesky(q_cov)
        eps = torch.randn(*shape, self.latent_dim, generator=generator, dtype=torch.float64)
        z = q_mean + eps @ chol.T
        # log q(z) = -k/2 log(2 pi) - log det L - |eps|^2 / 2, since L^-1 (z - m) = eps
        log_q = -0.5 * self.latent_dim * LOG_2PI - torch.log(torch.diagonal(chol)).sum() - 0.5 * eps.pow(2).sum(-1)
        return z, log_q

    def elbo_monte_carlo(self, x, q_mean, q_cov, n_samples: int,
                         generator: torch.Generator | None = None) -> MonteCarloEstimate:
        """ELBO(q) ~= mean over z ~ q of log p(x, z) - log q(z), with its standard error."""
        x = self._x(x)
        q_mean, q_cov = self._q(q_mean, q_cov)
        n_samples = require_positive_int("n_samples", n_samples)
        z, log_q = self._sample_q(q_mean, q_cov, (n_samples,), generator)
        return _estimate(self.log_joint(x, z) - log_q)

    def iwae_bound(self, x, q_mean, q_cov, k: int, n_repeats: int = 1000,
                   generator: torch.Generator | None = None) -> MonteCarloEstimate:
        """The importance-weighted bound with k samples, estimated over n_repeats independent draws.

        IWAE_k = E[log (1/k) sum_i p(x, z_i) / q(z_i)], z_1..z_k ~ q. IWAE_1 = ELBO, and
        ELBO <= IWAE_k <= IWAE_{k+1} <= log p(x) (Burda et al., 2016).
        """
        x = self._x(x)
        q_mean, q_cov = self._q(q_mean, q_cov)
        k = require_positive_int("k", k)
        n_repeats = require_positive_int("n_repeats", n_repeats)
        z, log_q = self._sample_q(q_mean, q_cov, (n_repeats, k), generator)  # (R, k, latent), (R, k)
        log_w = self.log_joint(x, z) - log_q  # (R, k)
        # log (1/k) sum_i w_i, by logsumexp so that tiny weights do not underflow
        return _estimate(torch.logsumexp(log_w, dim=-1) - math.log(k))

"""A linear-Gaussian latent variable model: the one model where the ELBO can be checked exactly.

    z ~ N(0, I_k),    x | z ~ N(W z + b, sigma^2 I_d)

Its evidence p(x), its posterior p(z | x) and the ELBO of any Gaussian q(z) all have closed forms,
so lesson 04 can check log p(x) - KL(q || p(z|x)) = ELBO(q) to machine precision before any neural
network appears; the same holds for the beta-weighted loss recon + beta KL that lesson 09 studies.
Everything is computed in float64. Values are in nats.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .kl import LOG_2PI, MonteCarloEstimate, kl_mvn
from .validate import (as_finite_array, as_mean_and_covariance, as_torch_generator, require_nonempty_tensor,
                       require_number, require_positive_int)


def _as_float64(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(array, dtype=np.float64))


def _estimate(terms: torch.Tensor) -> MonteCarloEstimate:
    """The mean of n >= 2 i.i.d. terms with its standard error."""
    return MonteCarloEstimate(float(terms.mean()), float(terms.std(unbiased=True) / math.sqrt(terms.numel())),
                              terms.numel())


def _require_count(name: str, value) -> int:
    """A number of draws that a standard error is computed from: an int >= 2."""
    value = require_positive_int(name, value)
    if value < 2:
        raise ValueError(f"{name} must be >= 2 (a standard error needs two draws), got {value}")
    return value


class LinearGaussian:
    """z ~ N(0, I_k), x | z ~ N(W z + b, sigma^2 I_d), with W of shape (d, k) and b of shape (d,)."""

    def __init__(self, W, b, sigma: float) -> None:
        W = as_finite_array("W", W)
        if W.ndim != 2 or W.size == 0:
            raise ValueError(f"W must be a non-empty 2-D matrix of shape (d, k), got shape {W.shape}")
        b = as_finite_array("b", b)
        if b.shape != W.shape[:1]:
            raise ValueError(f"b must have shape ({W.shape[0]},) to match W's {W.shape[0]} rows, got {b.shape}")
        self.sigma = require_number("sigma", sigma, minimum=0.0, strict=True)
        self.W, self.b = _as_float64(W), _as_float64(b)
        self.data_dim, self.latent_dim = W.shape

    def __repr__(self) -> str:
        return f"LinearGaussian(data_dim={self.data_dim}, latent_dim={self.latent_dim}, sigma={self.sigma})"

    # ------------------------------------------------------------------------------------------
    # argument checks

    def _x(self, x, *, batch: bool = False) -> torch.Tensor:
        x = as_finite_array("x", x)
        if not (x.shape == (self.data_dim,) or (batch and x.ndim == 2 and x.shape[1] == self.data_dim)):
            wanted = f"({self.data_dim},) or (n, {self.data_dim})" if batch else f"({self.data_dim},)"
            raise ValueError(f"x must have shape {wanted} to match W's {self.data_dim} rows, got {x.shape}")
        if x.size == 0:
            raise ValueError(f"x must not be empty, got shape {x.shape}")
        return _as_float64(x)

    def _z(self, z) -> torch.Tensor:
        require_nonempty_tensor("z", z)
        if z.shape[-1] != self.latent_dim:
            raise ValueError(f"z must have shape (..., {self.latent_dim}) to match W's {self.latent_dim} columns, "
                             f"got {tuple(z.shape)}")
        return z.to(torch.float64)  # differentiable: gradients still reach a float32 z

    def _q(self, q_mean, q_cov) -> tuple[torch.Tensor, torch.Tensor]:
        q_mean, q_cov = as_finite_array("q_mean", q_mean), as_finite_array("q_cov", q_cov)
        q_mean, q_cov, _ = as_mean_and_covariance("q_mean", q_mean, "q_cov", q_cov)
        if q_mean.shape != (self.latent_dim,):
            raise ValueError(
                f"q_mean must have shape ({self.latent_dim},) to match W's {self.latent_dim} columns, "
                f"got {q_mean.shape}")
        return _as_float64(q_mean), _as_float64(q_cov)

    # ------------------------------------------------------------------------------------------
    # sampling and densities

    def sample(self, n: int, generator: torch.Generator | int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """n draws (z, x) from the joint: z (n, k), x (n, d)."""
        n = require_positive_int("n", n)
        generator = as_torch_generator("generator", generator)
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=torch.float64)
        noise = torch.randn(n, self.data_dim, generator=generator, dtype=torch.float64)
        return z, z @ self.W.T + self.b + self.sigma * noise

    def log_likelihood(self, x, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z) = -d/2 log(2 pi sigma^2) - |x - W z - b|^2 / (2 sigma^2): z (..., k) -> (...)."""
        x, z = self._x(x), self._z(z)
        residual = x - z @ self.W.T - self.b  # (..., d)
        s2 = self.sigma**2
        return -0.5 * self.data_dim * (LOG_2PI + math.log(s2)) - residual.pow(2).sum(-1) / (2.0 * s2)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) = -k/2 log(2 pi) - |z|^2 / 2: z (..., k) -> (...)."""
        z = self._z(z)
        return -0.5 * self.latent_dim * LOG_2PI - 0.5 * z.pow(2).sum(-1)

    def log_joint(self, x, z: torch.Tensor) -> torch.Tensor:
        """log p(x, z) = log p(x | z) + log p(z): z (..., k) -> (...)."""
        return self.log_likelihood(x, z) + self.log_prior(z)

    # ------------------------------------------------------------------------------------------
    # exact inference, for the model's noise variance s2 = sigma^2 or a tempered one (beta sigma^2)

    def _posterior(self, x: torch.Tensor, s2: float) -> tuple[torch.Tensor, torch.Tensor]:
        # precision Lambda = I + W^T W / s2 (the same for every x); cov = Lambda^-1; mean = cov W^T (x - b) / s2
        precision = torch.eye(self.latent_dim, dtype=torch.float64) + self.W.T @ self.W / s2
        cov = torch.linalg.inv(precision)
        cov = 0.5 * (cov + cov.T)  # exactly symmetric, so that it passes as a covariance matrix
        mean = (x - self.b) @ (cov @ self.W.T / s2).T  # (..., d) -> (..., k)
        return mean, cov

    def _log_evidence(self, x: torch.Tensor, s2: float) -> float:
        # log N(x; b, W W^T + s2 I) in the k-dimensional latent space, Lambda = I + W^T W / s2 = L L^T:
        # log det(W W^T + s2 I) = d log s2 + log det(Lambda)                    (matrix determinant lemma)
        # r^T (W W^T + s2 I)^-1 r = (|r|^2 - |L^-1 W^T r|^2 / s2) / s2, r = x - b  (Woodbury)
        chol = torch.linalg.cholesky(torch.eye(self.latent_dim, dtype=torch.float64) + self.W.T @ self.W / s2)
        residual = x - self.b  # (d,)
        projected = torch.linalg.solve_triangular(chol, (self.W.T @ residual)[:, None], upper=False)[:, 0]
        maha = (residual.pow(2).sum() - projected.pow(2).sum() / s2) / s2
        logdet = self.data_dim * math.log(s2) + 2.0 * torch.log(torch.diagonal(chol)).sum()
        return float(-0.5 * (self.data_dim * LOG_2PI + logdet + maha))

    def posterior(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """The exact posterior p(z | x) = N(mean, cov): x (d,) or (n, d) -> mean (k,) or (n, k), cov (k, k).

        cov = (I + W^T W / sigma^2)^-1, the same for every x, and mean = cov W^T (x - b) / sigma^2
        (complete the square in z).
        """
        return self._posterior(self._x(x, batch=True), self.sigma**2)

    def log_evidence(self, x) -> float:
        """The exact log p(x), with p(x) = N(b, W W^T + sigma^2 I_d), computed in the k-dimensional latent space."""
        return self._log_evidence(self._x(x), self.sigma**2)

    # ------------------------------------------------------------------------------------------
    # bounds for a Gaussian q(z) = N(q_mean, q_cov)

    def expected_log_likelihood(self, x, q_mean, q_cov) -> float:
        """E_q[log p(x | z)] = -d/2 log(2 pi s^2) - (|x - W m - b|^2 + tr(W S W^T)) / (2 s^2), q = N(m, S), s = sigma."""
        x = self._x(x)
        q_mean, q_cov = self._q(q_mean, q_cov)
        s2 = self.sigma**2
        residual = x - self.W @ q_mean - self.b
        # E|x - W z - b|^2 = |x - W m - b|^2 + tr(W S W^T) for z ~ N(m, S)
        spread = torch.trace(self.W @ q_cov @ self.W.T)
        return float(-0.5 * self.data_dim * (LOG_2PI + math.log(s2)) - (residual.pow(2).sum() + spread) / (2.0 * s2))

    def _kl_to_prior(self, q_mean, q_cov) -> float:
        k = self.latent_dim
        return kl_mvn(np.asarray(q_mean), np.asarray(q_cov), np.zeros(k), np.eye(k))  # KL(q || p(z))

    def elbo(self, x, q_mean, q_cov) -> float:
        """The exact ELBO(q) = E_q[log p(x | z)] - KL(q(z) || p(z)), with no sampling."""
        expected = self.expected_log_likelihood(x, q_mean, q_cov)  # checks every argument
        return expected - self._kl_to_prior(q_mean, q_cov)

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
                         generator: torch.Generator | int | None = None) -> MonteCarloEstimate:
        """ELBO(q) ~= mean over n_samples >= 2 draws z ~ q of log p(x, z) - log q(z), with its standard error."""
        x = self._x(x)
        q_mean, q_cov = self._q(q_mean, q_cov)
        n_samples = _require_count("n_samples", n_samples)
        generator = as_torch_generator("generator", generator)
        z, log_q = self._sample_q(q_mean, q_cov, (n_samples,), generator)
        return _estimate(self.log_joint(x, z) - log_q)

    def iwae_bound(self, x, q_mean, q_cov, k: int, n_repeats: int = 1000,
                   generator: torch.Generator | int | None = None) -> MonteCarloEstimate:
        """The importance-weighted bound with k samples, estimated over n_repeats >= 2 independent draws.

        IWAE_k = E[log (1/k) sum_i p(x, z_i) / q(z_i)], z_1..z_k ~ q. IWAE_1 = ELBO, and
        ELBO <= IWAE_k <= IWAE_{k+1} <= log p(x) (Burda et al., 2016).
        """
        x = self._x(x)
        q_mean, q_cov = self._q(q_mean, q_cov)
        k = require_positive_int("k", k)
        n_repeats = _require_count("n_repeats", n_repeats)
        generator = as_torch_generator("generator", generator)
        z, log_q = self._sample_q(q_mean, q_cov, (n_repeats, k), generator)  # (R, k, latent), (R, k)
        log_w = self.log_joint(x, z) - log_q  # (R, k)
        # log (1/k) sum_i w_i, by logsumexp so that tiny weights do not underflow
        return _estimate(torch.logsumexp(log_w, dim=-1) - math.log(k))

    # ------------------------------------------------------------------------------------------
    # the beta-weighted loss recon + beta KL (lesson 09), exactly

    def beta_loss(self, x, q_mean, q_cov, beta: float) -> float:
        """recon + beta KL = -E_q[log p(x | z)] + beta KL(q(z) || p(z)) in nats, for q = N(q_mean, q_cov).

        beta = 1 gives -ELBO(q) >= -log p(x). For beta >= 1 the loss is >= -ELBO(q) (the KL is >= 0),
        so it is a looser bound; for beta < 1 it can fall below -log p(x) and bounds nothing.
        """
        beta = require_number("beta", beta, minimum=0.0, strict=True)
        recon = -self.expected_log_likelihood(x, q_mean, q_cov)  # checks x, q_mean and q_cov
        return recon + beta * self._kl_to_prior(q_mean, q_cov)

    def beta_optimal_q(self, x, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
        """The q that minimises `beta_loss` over all distributions: N(mean, cov), mean (k,), cov (k, k).

        recon + beta KL = beta (KL(q || r_beta) - log Z_beta) with r_beta = p(x | z)^(1/beta) p(z) / Z_beta,
        so the minimiser is r_beta. Raising the Gaussian likelihood to the power 1/beta multiplies its
        variance by beta: r_beta is the posterior of the same model with sigma^2 replaced by beta sigma^2,
        cov = (I + W^T W / (beta sigma^2))^-1 and mean = cov W^T (x - b) / (beta sigma^2). beta = 1 gives p(z | x).
        """
        beta = require_number("beta", beta, minimum=0.0, strict=True)
        return self._posterior(self._x(x), beta * self.sigma**2)

    def beta_loss_minimum(self, x, beta: float) -> float:
        """min over q of `beta_loss` = -beta log Z_beta, in closed form (nats).

        p(x | z)^(1/beta) = (2 pi s^2)^(-d / (2 beta)) (2 pi beta s^2)^(d/2) N(x; W z + b, beta s^2 I), so
        Z_beta = (2 pi s^2)^(-d / (2 beta)) (2 pi beta s^2)^(d/2) N(x; b, W W^T + beta s^2 I), s = sigma, and
        min = d/2 log(2 pi s^2) - beta d/2 log(2 pi beta s^2) - beta log N(x; b, W W^T + beta s^2 I).
        beta = 1 gives -log p(x).
        """
        beta = require_number("beta", beta, minimum=0.0, strict=True)
        x = self._x(x)
        s2, d = self.sigma**2, self.data_dim
        tempered_evidence = self._log_evidence(x, beta * s2)
        return 0.5 * d * (LOG_2PI + math.log(s2)) - beta * (0.5 * d * (LOG_2PI + math.log(beta * s2)) + tempered_evidence)

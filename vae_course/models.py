"""The VAE of the MNIST lessons, and the protocol every model of the course follows.

The protocol that `vae_course.train.fit` relies on is a single method:

    model.loss(x, y=None, beta=1.0) -> LossTerms(total, recon, kl)

with each term a scalar tensor, averaged over the images of the batch, in nats. A model that is
saved with `vae_course.checkpoints` also has `config() -> dict`, the keyword arguments that rebuild it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ._validate import require_positive_int, require_tensor
from .gradients import reparameterize
from .kl import LOG_2PI, kl_diag_std_normal


class LossTerms(NamedTuple):
    """The loss of one batch, each a scalar tensor averaged over its images, in nats."""

    total: torch.Tensor  # recon + beta * kl
    recon: torch.Tensor  # -E_q[log p(x | z)], one sample of z per image
    kl: torch.Tensor  # KL(q(z | x) || p(z)), in closed form


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x | z) for independent Bernoulli pixels with p = sigmoid(logits): (..., D) -> (...).

    -sum_i [x_i log p_i + (1 - x_i) log(1 - p_i)], computed from the logits so that it never takes
    log(0). For x in {0, 1} it is a negative log-probability in nats; for grey levels in (0, 1) it is
    the cross-entropy the articles train with, which is not the log-probability of any normalized
    distribution over grey images.
    """
    return F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(dim=-1)


def gaussian_nll(mean: torch.Tensor, logvar: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log N(x; mean, diag(exp(logvar))) summed over the last dim: (..., D) -> (...); logvar broadcasts.

    1/2 sum_i [(x_i - mean_i)^2 / sigma_i^2 + log sigma_i^2 + log 2 pi]. A negative log-*density*: it
    goes below 0 (the density above 1) as soon as sigma is small, so it is no probability of anything.
    """
    logvar = logvar.expand_as(mean)
    return 0.5 * ((x - mean).pow(2) * torch.exp(-logvar) + logvar + LOG_2PI).sum(dim=-1)


def free_bits_kl(mu: torch.Tensor, logvar: torch.Tensor, free_bits: float) -> torch.Tensor:
    """The KL term with free bits (Kingma et al. 2016): sum_j max(lambda, mean_over_batch KL_j), (B, L) -> ().

    KL_j = 1/2 (mu_j^2 + sigma_j^2 - log sigma_j^2 - 1) is latent dimension j's share of the KL. A dimension
    whose batch-mean KL is below lambda = free_bits costs a flat lambda nats and gets no gradient from the KL
    term: up to lambda nats of information per dimension are free. free_bits = 0 gives the plain KL.
    """
    if isinstance(free_bits, bool) or not isinstance(free_bits, (int, float)) or not math.isfinite(free_bits) or free_bits < 0:
        raise ValueError(f"free_bits must be a finite number >= 0 (nats per latent dimension), got {free_bits!r}")
    per_dim = kl_diag_std_normal(mu.unsqueeze(-1), logvar.unsqueeze(-1))  # (B, L, 1) summed over the last -> (B, L)
    return per_dim.mean(dim=0).clamp(min=free_bits).sum()


class VAE(nn.Module):
    """The network of the articles: input_dim -> hidden_dim (ReLU) -> (mu, log sigma^2) of latent_dim,
    and latent_dim -> hidden_dim (ReLU) -> input_dim logits (a sigmoid turns them into pixel probabilities).

    q(z | x) = N(mu(x), diag(sigma^2(x))),  p(z) = N(0, I),  p(x | z) = prod_i Bernoulli(x_i; sigmoid(logits_i(z))).
    """

    def __init__(self, input_dim: int = 784, hidden_dim: int = 200, latent_dim: int = 10):
        super().__init__()
        self.input_dim = require_positive_int("input_dim", input_dim)
        self.hidden_dim = require_positive_int("hidden_dim", hidden_dim)
        self.latent_dim = require_positive_int("latent_dim", latent_dim)
        self.encoder = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.ReLU())
        self.to_mu = nn.Linear(hidden_dim, latent_dim)
        self.to_logvar = nn.Linear(hidden_dim, latent_dim)  # log sigma^2, any real number
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, input_dim))

    def config(self) -> dict:
        """The keyword arguments that rebuild this model (stored in checkpoints)."""
        return {"input_dim": self.input_dim, "hidden_dim": self.hidden_dim, "latent_dim": self.latent_dim}

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        require_tensor("x", x, min_dim=2)
        if x.shape[-1] != self.input_dim:
            raise ValueError(f"x must have {self.input_dim} features in its last dimension, got shape {tuple(x.shape)}")
        return x

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, input_dim) -> mu (B, latent_dim), logvar = log sigma^2 (B, latent_dim)."""
        h = self.encoder(self._check_input(x))
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(..., latent_dim) -> pixel logits (..., input_dim); sigmoid(logits) are the pixel probabilities."""
        if z.shape[-1] != self.latent_dim:
            raise ValueError(f"z must have {self.latent_dim} entries in its last dimension, got shape {tuple(z.shape)}")
        return self.decoder(z)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """(B, input_dim) -> (logits (B, input_dim), mu (B, latent_dim), logvar (B, latent_dim)), one z per image."""
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar, generator)  # z = mu + sigma * eps
        return self.decode(z), mu, logvar

    def reconstruction_nll(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x | z) per image from the decoder's output: (..., input_dim) -> (...); Bernoulli pixels here."""
        return bernoulli_nll(logits, x)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None, beta: float = 1.0,
             generator: torch.Generator | None = None, free_bits: float = 0.0) -> LossTerms:
        """Negative ELBO (beta = 1) per image: -log p(x | z) + beta * KL(q(z | x) || N(0, I)); `y` is unused.

        free_bits > 0 replaces the KL in `total` by `free_bits_kl` (the reported `kl` stays the true KL).
        """
        logits, mu, logvar = self(x, generator)
        recon = self.reconstruction_nll(logits, x).mean()  # (B, D) -> (B,) -> ()
        kl = kl_diag_std_normal(mu, logvar).mean()  # 1/2 sum (mu^2 + sigma^2 - log sigma^2 - 1)
        penalty = kl if free_bits == 0 else free_bits_kl(mu, logvar, free_bits)
        return LossTerms(recon + beta * penalty, recon, kl)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images drawn as z ~ N(0, I), returned as pixel probabilities sigmoid(decode(z)): (n, input_dim)."""
        n = require_positive_int("n", n)
        device = next(self.parameters()).device
        noise_device = device if generator is None else generator.device
        z = torch.randn(n, self.latent_dim, generator=generator, device=noise_device).to(device)
        return torch.sigmoid(self.decode(z))


class GaussianVAE(VAE):
    """The same network with Gaussian pixels for grey images: p(x | z) = N(x; sigmoid(decode(z)), sigma^2 I).

    sigma^2 = exp(pixel_logvar) is one learned number shared by every pixel and image. The loss is then a
    negative log-*density* on [0, 1]^784: it can be below 0, and it is not comparable with the Bernoulli
    model's negative log-probabilities of binary images. `sample` returns the decoded means.
    """

    def __init__(self, input_dim: int = 784, hidden_dim: int = 200, latent_dim: int = 10, init_logvar: float = 0.0):
        super().__init__(input_dim, hidden_dim, latent_dim)
        if isinstance(init_logvar, bool) or not isinstance(init_logvar, (int, float)) or not math.isfinite(init_logvar):
            raise ValueError(f"init_logvar must be a finite number (log sigma^2 at the start), got {init_logvar!r}")
        self.init_logvar = float(init_logvar)
        self.pixel_logvar = nn.Parameter(torch.tensor(self.init_logvar))  # log sigma^2, learned

    def config(self) -> dict:
        return {**super().config(), "init_logvar": self.init_logvar}

    def reconstruction_nll(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log N(x; sigmoid(logits), sigma^2 I) per image, in nats: (..., input_dim) -> (...)."""
        return gaussian_nll(torch.sigmoid(logits), self.pixel_logvar, x)

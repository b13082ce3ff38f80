"""Training with the importance-weighted bound (Burda, Grosse & Salakhutdinov 2016, "Importance weighted
autoencoders").

The VAE maximizes the ELBO, E_q[log w] with w = p(x, z) / q(z | x). The IWAE maximizes

    L_k(x) = E[ log (1/k) sum_{j=1}^k w_j ],   z_1..z_k ~ q(z | x) independently,

a tighter bound (ELBO = L_1 <= L_k <= log p(x)) on the same model. Its gradient weights each draw by its
normalized weight w_j / sum_i w_i, so q is no longer pushed to put all its mass where p(z | x) is large: a
q that is too wide costs little once k > 1. `objective="elbo"` trains the same network on the ELBO
averaged over the same k draws (Burda et al.'s "VAE" with k samples): the same decoder evaluations per
step, so the two differ in the objective alone.
"""

from __future__ import annotations

import math

import torch

from .kl import LOG_2PI
from .validate import require_positive_int
from .vae import VAE, Loss

OBJECTIVES = ("iwae", "elbo")


class IWAE(VAE):
    """Lesson 06's network trained on L_k (objective "iwae") or on the k-draw ELBO (objective "elbo").

    The model itself (p(z) = N(0, I), Bernoulli pixels, the Gaussian q) is the VAE's; only the training
    loss differs, so `vae_course.evaluate` scores it like any VAE.
    """

    def __init__(self, input_dim: int = 784, hidden_dim: int = 200, latent_dim: int = 10, *, k: int = 5,
                 objective: str = "iwae"):
        super().__init__(input_dim, hidden_dim, latent_dim)
        self.k = require_positive_int("k", k)
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        self.objective = objective

    def config(self) -> dict:
        return {"input_dim": self.input_dim, "hidden_dim": self.hidden_dim, "latent_dim": self.latent_dim,
                "k": self.k, "objective": self.objective}

    def log_weights(self, x: torch.Tensor, generator: torch.Generator | None = None,
                    beta: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """k draws z_j ~ q(z | x) per image: (log w (k, B), -log p(x | z) (k, B), mu (B, L), logvar (B, L)).

        log w_j = log p(x | z_j) + beta (log p(z_j) - log q(z_j | x)); beta = 1 gives the importance weights.
        """
        mu, logvar = self.encode(x)
        noise_device = mu.device if generator is None else generator.device
        eps = torch.randn((self.k, *mu.shape), generator=generator, device=noise_device).to(mu)  # (k, B, L)
        z = mu + torch.exp(0.5 * logvar) * eps
        nll = self.reconstruction_nll(self.decode(z), x)  # (k, B)
        # log q(z | x) = log N(eps; 0, I) - 1/2 sum log sigma^2, since z = mu + sigma * eps
        log_q = -0.5 * (eps.pow(2) + LOG_2PI).sum(dim=-1) - 0.5 * logvar.sum(dim=-1)
        return -nll + beta * (self.log_prior(z) - log_q), nll, mu, logvar

    def loss(self, x: torch.Tensor, y=None, beta: float = 1.0, generator: torch.Generator | None = None) -> Loss:
        """The negative training bound per image, averaged over the batch (nats).

        "iwae": total = -log (1/k) sum_j w_j. "elbo": total = mean_j -log p(x | z_j) + beta KL (closed form).
        parts: "recon" = mean_j -log p(x | z_j), "kl" = KL(q(z | x) || p(z)) in closed form, and for "iwae"
        "gain" = recon + kl - total: how far the estimate of L_k sits above the ELBO's (never below it in
        expectation). So total = recon + kl - gain for "iwae" and recon + beta kl for "elbo".
        """
        self.check_batch(x, y, beta)
        log_w, nll, mu, logvar = self.log_weights(x, generator, beta)
        recon, kl = nll.mean(), self.kl(mu, logvar).mean()
        if self.objective == "elbo":
            return Loss(recon + beta * kl, {"recon": recon, "kl": kl})
        # L_k = log (1/k) sum_j w_j, by logsumexp so that tiny weights do not underflow
        total = -(torch.logsumexp(log_w, dim=0) - math.log(self.k)).mean()
        return Loss(total, {"recon": recon, "kl": kl, "gain": recon + kl - total})

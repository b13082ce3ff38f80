"""A learned prior: the VAE of lesson 06 with p(z) a mixture of Gaussians whose weights, means and
variances are trained with the networks (Tomczak & Welling 2018 compare this prior with the VampPrior).

    p(z) = sum_c pi_c N(z; m_c, diag(s_c^2)),   pi = softmax(prior_logits),  s_c^2 = exp(prior_logvars_c)

The standard normal prior pulls every q(z | x) towards one fixed place; the aggregate posterior
q(z) = mean_x q(z | x) then has to fill N(0, I), which it never does exactly (lesson 06, section 11). A
learned prior moves towards q(z) instead. The price: KL(q(z | x) || p(z)) to a mixture has no closed form.

How this module computes it:
- in the training loss, by one draw: log q(z | x) - log p(z) at the z the reconstruction uses, an unbiased
  estimate of the KL (Tomczak & Welling train so);
- `kl(mu, logvar)` (the protocol's KL, which `vae_course.evaluate.elbo` subtracts) returns a deterministic
  UPPER bound, -log sum_c pi_c exp(-KL(q || N(m_c, diag(s_c^2)))) (Hershey & Olsen 2007): exact when the
  prior has one component, close when q sits inside one component. An ELBO computed with it is a lower
  bound on the ELBO, so still a lower bound on log p(x);
- `kl_monte_carlo(mu, logvar, n_samples)` estimates the KL itself, with a standard error;
- `log_prior(z)` is exact, so `vae_course.evaluate.iwae_bound` and `vae_course.aggregate` score this
  model with its own prior.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from .gradients import reparameterize
from .kl import LOG_2PI
from .validate import as_torch_generator, require_mu_logvar, require_number, require_positive_int
from .vae import VAE, Loss


def log_normal_diag(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))), summed over the last dim, broadcasting: (..., L) -> (...)."""
    # -1/2 sum_j [(z_j - mu_j)^2 / sigma_j^2 + log sigma_j^2 + log 2 pi]
    return -0.5 * ((z - mu).pow(2) * torch.exp(-logvar) + logvar + LOG_2PI).sum(dim=-1)


def kl_diag_normals(mu1: torch.Tensor, logvar1: torch.Tensor, mu2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    """KL(N(mu1, diag(exp(logvar1))) || N(mu2, diag(exp(logvar2)))), broadcasting: (..., L) -> (...)."""
    # 1/2 sum_j [log s2^2 - log s1^2 + (s1^2 + (mu1 - mu2)^2) / s2^2 - 1]
    return 0.5 * (logvar2 - logvar1 + (logvar1.exp() + (mu1 - mu2).pow(2)) * torch.exp(-logvar2) - 1.0).sum(dim=-1)


class MixturePriorVAE(VAE):
    """Lesson 06's network (input -> hidden -> (mu, log sigma^2), latent -> hidden -> logits) with a learned
    prior p(z) = sum_c pi_c N(z; m_c, diag(s_c^2)) of n_components components.

    The means start as draws from N(0, init_spread^2 I) (torch's generator, like the weights), the variances
    at 1 and the weights equal; all three are trained by `fit` with the networks. Free bits are not offered
    (they are defined against N(0, I)).
    """

    def __init__(self, input_dim: int = 784, hidden_dim: int = 200, latent_dim: int = 10, *,
                 n_components: int = 10, init_spread: float = 1.0):
        super().__init__(input_dim, hidden_dim, latent_dim)
        self.n_components = require_positive_int("n_components", n_components)
        self.init_spread = require_number("init_spread", init_spread, minimum=0.0)
        self.prior_means = nn.Parameter(self.init_spread * torch.randn(self.n_components, latent_dim))  # (C, L)
        self.prior_logvars = nn.Parameter(torch.zeros(self.n_components, latent_dim))  # (C, L): log s_c^2
        self.prior_logits = nn.Parameter(torch.zeros(self.n_components))  # (C,): pi = softmax(logits)

    def config(self) -> dict:
        return {"input_dim": self.input_dim, "hidden_dim": self.hidden_dim, "latent_dim": self.latent_dim,
                "n_components": self.n_components, "init_spread": self.init_spread}

    def mixture_weights(self) -> torch.Tensor:
        """pi = softmax(prior_logits): (C,), positive, summing to 1."""
        return torch.softmax(self.prior_logits, dim=0)

    def prior_mean(self, y=None) -> torch.Tensor:
        """The mean of p(z): sum_c pi_c m_c, (L,)."""
        return self.mixture_weights() @ self.prior_means

    def log_prior(self, z: torch.Tensor, y=None) -> torch.Tensor:
        """log p(z) = logsumexp_c [log pi_c + log N(z; m_c, diag(s_c^2))], exact: (..., L) -> (...)."""
        log_each = log_normal_diag(z.unsqueeze(-2), self.prior_means, self.prior_logvars)  # (..., C)
        return torch.logsumexp(torch.log_softmax(self.prior_logits, dim=0) + log_each, dim=-1)

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, y=None) -> torch.Tensor:
        """An upper bound on KL(q || p) per image, q = N(mu, diag(exp(logvar))): (B, L) -> (B,).

        For any weights w_c summing to 1, log p(z) >= sum_c w_c [log pi_c + log N(z; m_c, s_c^2) - log w_c]
        (Jensen), so KL(q || p) <= sum_c w_c [KL(q || p_c) - log pi_c + log w_c]; the best w gives
        -log sum_c pi_c exp(-KL(q || p_c)). Exact for one component; never below the true KL.
        """
        kl_each = kl_diag_normals(mu.unsqueeze(-2), logvar.unsqueeze(-2), self.prior_means, self.prior_logvars)  # (B, C)
        return -torch.logsumexp(torch.log_softmax(self.prior_logits, dim=0) - kl_each, dim=-1)

    def loss(self, x: torch.Tensor, y=None, beta: float = 1.0, generator: torch.Generator | None = None) -> Loss:
        """The negative ELBO per image, averaged over the batch, with the KL estimated by one draw.

        parts: "recon" = -log p(x | z), "kl" = log q(z | x) - log p(z) at the same z, an unbiased estimate of
        KL(q(z | x) || p(z)) (one image's value can be negative; the mean over a batch rarely is).
        """
        self.check_batch(x, y, beta)
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar, generator)  # z = mu + sigma * eps
        recon = self.reconstruction_nll(self.decode(z), x).mean()
        kl = (log_normal_diag(z, mu, logvar) - self.log_prior(z)).mean()  # E_q[log q(z|x) - log p(z)], one draw
        return Loss(recon + beta * kl, {"recon": recon, "kl": kl})

    @torch.no_grad()
    def kl_monte_carlo(self, mu: torch.Tensor, logvar: torch.Tensor, n_samples: int = 1000,
                       generator: torch.Generator | int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """KL(q || p) per image by Monte Carlo over n_samples draws z ~ q: (mean (B,), standard error (B,))."""
        require_mu_logvar(mu, logvar)
        n_samples = require_positive_int("n_samples", n_samples)
        if n_samples < 2:
            raise ValueError(f"n_samples must be >= 2 for a standard error, got {n_samples}")
        generator = as_torch_generator("generator", generator)
        noise_device = mu.device if generator is None else generator.device
        eps = torch.randn((n_samples, *mu.shape), generator=generator, device=noise_device).to(mu)
        z = mu + torch.exp(0.5 * logvar) * eps  # (S, B, L)
        terms = log_normal_diag(z, mu, logvar) - self.log_prior(z)  # (S, B)
        return terms.mean(dim=0), terms.std(dim=0) / math.sqrt(n_samples)

    @torch.no_grad()
    def sample_prior(self, n: int, generator: torch.Generator | int | None = None) -> torch.Tensor:
        """n codes z ~ p(z): a component c ~ pi, then z ~ N(m_c, diag(s_c^2)); (n, latent_dim) on the model's device."""
        n = require_positive_int("n", n)
        generator = as_torch_generator("generator", generator)
        device = self.prior_means.device
        noise_device = device if generator is None else generator.device
        which = torch.multinomial(self.mixture_weights().to(noise_device), n, replacement=True, generator=generator)
        eps = torch.randn(n, self.latent_dim, generator=generator, device=noise_device)
        which, eps = which.to(device), eps.to(device)
        return self.prior_means[which] + torch.exp(0.5 * self.prior_logvars[which]) * eps

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | int | None = None) -> torch.Tensor:
        """n images decoded from z ~ p(z), the learned mixture, as pixel probabilities: (n, input_dim)."""
        return torch.sigmoid(self.decode(self.sample_prior(n, generator)))


# ----------------------------------------------------------------------------------------------
# Lesson 10's figure: each model's prior beside its aggregate posterior, in a 2-D latent


def _density_grid(log_density, limit: float, n: int) -> np.ndarray:
    """exp(log_density(z)) on an n x n grid over [-limit, limit]^2, rows from the top (z2 = +limit) down."""
    values = torch.linspace(-limit, limit, n, dtype=torch.float64)
    z2, z1 = torch.meshgrid(values.flip(0), values, indexing="ij")
    grid = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)
    with torch.no_grad():
        return np.exp(log_density(grid).reshape(n, n).double().cpu().numpy())


def plot_prior_and_aggregate(panels: dict[str, tuple], limit: float = 4.0, n: int = 161):
    """One row per model: its prior p(z) and its aggregate posterior q(z), as densities over a 2-D latent.

    panels: {title: (log_prior, log_aggregate)}, each a function from points (M, 2) float64 to log-densities
    (M,). The two panels of a row share one colour scale, which saturates at the 99.5th percentile of the
    densities (an aggregate posterior of narrow Gaussians has sharp peaks). Returns the figure.
    """
    limit = require_number("limit", limit, minimum=0.0, strict=True)
    n = require_positive_int("n", n)
    if not panels:
        raise ValueError("panels must name at least one model")
    fig, axes = plt.subplots(len(panels), 2, figsize=(7.6, 3.6 * len(panels)), squeeze=False)
    for row, (title, (log_prior, log_aggregate)) in zip(axes, panels.items()):
        densities = [_density_grid(log_prior, limit, n), _density_grid(log_aggregate, limit, n)]
        top = max(float(np.quantile(d, 0.995)) for d in densities)
        for ax, density, name in zip(row, densities, ["prior p(z)", "aggregate posterior q(z)"]):
            ax.imshow(density, extent=(-limit, limit, -limit, limit), cmap="viridis", vmin=0.0, vmax=top)
            ax.grid(False)
            ax.set(xlabel="$z_1$", ylabel="$z_2$", title=f"{title}: {name}")
            ax.title.set_fontsize("medium")
    fig.tight_layout()
    return fig

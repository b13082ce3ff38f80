"""The VAE of the MNIST lessons, and the loss protocol every trainable model of the course follows.

The protocol that `vae_course.train.fit` relies on is one method,

    model.loss(x, y=None, beta=1.0, generator=None) -> Loss(total, parts)

`total` is the scalar that training minimizes; `parts` names what it is made of ("recon", "kl", "ce", ...),
each a scalar tensor averaged over the images of the batch, in nats. A model reports the parts it really
has; `fit`, `History` and the plots record and draw whatever comes back. `takes_labels` says whether the
model needs the labels y. Settings of an objective (free bits, a cross-entropy weight) are constructor
arguments, stored by `config()` with the sizes, so that a checkpoint rebuilds the same objective.

Every latent-variable model of the course (this VAE, the conditional VAEs of lesson 08) also has

    encode(x, y=None) -> (mu, logvar)          q(z | x) = N(mu, diag(exp(logvar)))
    decode(z, y=None) -> decoder output         pixel logits here
    reconstruction_nll(output, x) -> (...)      -log p(x | z) per image
    kl(mu, logvar, y=None) -> (B,)              KL(q(z | x) || p(z)) per image, in closed form
    log_prior(z, y=None) -> (...)               log p(z)

and `vae_course.evaluate` scores any of them through these methods alone. The per-step methods hold the
formulas and nothing else: arguments are checked where users call in (constructors, `fit`, `evaluate`,
`sample`), not at every step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .gradients import reparameterize
from .kl import LOG_2PI
from .validate import require_number, require_positive_int


@dataclass(frozen=True)
class Loss:
    """The loss of one batch: the total that is minimized and its named parts, each averaged over images, in nats."""

    total: torch.Tensor
    parts: dict[str, torch.Tensor]

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.parts[name]


# ----------------------------------------------------------------------------------------------
# Likelihoods and the KL term, per image


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


def kl_elementwise(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_j, sigma_j^2) || N(0, 1)) of each latent dimension j: (..., L) -> (..., L).

    1/2 (mu_j^2 + sigma_j^2 - log sigma_j^2 - 1), with logvar = log sigma^2. Summed over j, it is the VAE's
    KL term (lesson 03); `vae_course.kl.kl_diag_std_normal` is the checked public version of the sum.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)


def free_bits_kl(mu: torch.Tensor, logvar: torch.Tensor, free_bits: float) -> torch.Tensor:
    """The KL term with free bits (Kingma et al. 2016): sum_j max(lambda, mean_over_batch KL_j), (B, L) -> ().

    KL_j is latent dimension j's share of the KL. A dimension whose batch-mean KL is below lambda = free_bits
    is charged a flat lambda nats and gets no gradient from the KL term: up to lambda nats per dimension are
    free. It is a floor under the *charged* penalty, not under the KL itself, which can stay below lambda.
    free_bits = 0 gives the plain KL, averaged over the batch.
    """
    return kl_elementwise(mu, logvar).mean(dim=0).clamp(min=free_bits).sum()


# ----------------------------------------------------------------------------------------------
# The networks


class GaussianEncoder(nn.Module):
    """The inference network: input -> hidden (ReLU) -> (mu, log sigma^2), two linear heads of latent_dim each."""

    def __init__(self, input_dim: int, hidden_dim: int, latent_dim: int):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.ReLU())
        self.to_mu = nn.Linear(hidden_dim, latent_dim)
        self.to_logvar = nn.Linear(hidden_dim, latent_dim)  # log sigma^2: any real number, sigma = exp(logvar / 2) > 0

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # (B, input) -> (B, L), (B, L)
        h = self.hidden(x)
        return self.to_mu(h), self.to_logvar(h)


def mlp_decoder(latent_dim: int, hidden_dim: int, output_dim: int) -> nn.Sequential:
    """The generative network: latent -> hidden (ReLU) -> output logits (a sigmoid makes them pixel probabilities)."""
    return nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, output_dim))


class LatentVariableModel(nn.Module):
    """What every VAE of the course shares: the prior, the KL term, the loss and the Bernoulli likelihood.

    A subclass builds its networks and defines encode(x, y) and decode(z, y); p(z | y) = N(prior_mean(y), I),
    with prior_mean 0 here (the standard normal prior).
    """

    takes_labels = False

    def __init__(self, input_dim: int, hidden_dim: int, latent_dim: int, free_bits: float):
        super().__init__()
        self.input_dim = require_positive_int("input_dim", input_dim)
        self.hidden_dim = require_positive_int("hidden_dim", hidden_dim)
        self.latent_dim = require_positive_int("latent_dim", latent_dim)
        self.free_bits = require_number("free_bits", free_bits, minimum=0.0)  # nats per latent dimension

    def config(self) -> dict:
        """The keyword arguments that rebuild this model (stored in checkpoints)."""
        return {"input_dim": self.input_dim, "hidden_dim": self.hidden_dim, "latent_dim": self.latent_dim,
                "free_bits": self.free_bits}

    def prior_mean(self, y=None):
        """The mean of p(z | y): 0 for the standard normal prior (a subclass may learn one per class)."""
        return 0.0

    def forward(self, x: torch.Tensor, y=None, generator: torch.Generator | None = None):
        """(B, input_dim) -> (decoder output (B, input_dim), mu (B, L), logvar (B, L)), one z per image."""
        mu, logvar = self.encode(x, y)
        z = reparameterize(mu, logvar, generator)  # z = mu + sigma * eps
        return self.decode(z, y), mu, logvar

    def reconstruction_nll(self, output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x | z) per image from the decoder's output: (..., input_dim) -> (...); Bernoulli pixels here."""
        return bernoulli_nll(output, x)

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, y=None) -> torch.Tensor:
        """KL(N(mu, diag(sigma^2)) || N(m, I)) per image, m = prior_mean(y): (B, L) -> (B,)."""
        # 1/2 sum (|mu - m|^2 + sigma^2 - log sigma^2 - 1): the standard-normal KL of the shifted mean
        return kl_elementwise(mu - self.prior_mean(y), logvar).sum(dim=-1)

    def log_prior(self, z: torch.Tensor, y=None) -> torch.Tensor:
        """log N(z; m, I) with m = prior_mean(y): (..., L) -> (...)."""
        return -0.5 * ((z - self.prior_mean(y)).pow(2) + LOG_2PI).sum(dim=-1)

    def check_batch(self, x, y, beta) -> None:
        """What `loss` can check without waiting for the device: types, shapes, dtypes, beta (metadata only;
        the values of x and y are checked where data enter, by `fit` and `vae_course.evaluate`)."""
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"x must be a floating-point tensor of images, got {getattr(x, 'dtype', type(x).__name__)}")
        weight = self.encoder.to_mu.weight
        if x.dim() != 2 or x.shape[1] != self.input_dim or len(x) == 0:
            raise ValueError(f"x must be a non-empty batch of shape (B, {self.input_dim}), got shape {tuple(x.shape)}")
        if x.dtype != weight.dtype or x.device != weight.device:
            raise TypeError(f"x is {x.dtype} on {x.device} but the model's weights are {weight.dtype} on "
                            f"{weight.device}: convert with x.to(weight) or move the model")
        if self.takes_labels and not isinstance(y, torch.Tensor):
            raise TypeError(f"y must be a tensor of integer labels, one per image, got {type(y).__name__}")
        if not self.takes_labels and y is not None:
            raise ValueError(f"y was given, but {type(self).__name__} takes no labels")
        require_number("beta", beta, minimum=0.0)

    def loss(self, x: torch.Tensor, y=None, beta: float = 1.0, generator: torch.Generator | None = None) -> Loss:
        """The negative ELBO (beta = 1) per image, averaged over the batch: -log p(x | z) + beta * KL(q || p).

        parts: "recon" = -log p(x | z) with one z per image, "kl" = the KL term in closed form. With
        free_bits > 0 the total charges `free_bits_kl` instead of the KL; the "kl" part stays the true KL.
        """
        self.check_batch(x, y, beta)
        output, mu, logvar = self(x, y, generator)
        recon = self.reconstruction_nll(output, x).mean()  # (B, D) -> (B,) -> ()
        kl = self.kl(mu, logvar, y).mean()
        charged = kl if not self.free_bits else free_bits_kl(mu - self.prior_mean(y), logvar, self.free_bits)
        return Loss(recon + beta * charged, {"recon": recon, "kl": kl})


class VAE(LatentVariableModel):
    """The network of the articles: input_dim -> hidden_dim (ReLU) -> (mu, log sigma^2) of latent_dim,
    and latent_dim -> hidden_dim (ReLU) -> input_dim logits (a sigmoid turns them into pixel probabilities).

    q(z | x) = N(mu(x), diag(sigma^2(x))),  p(z) = N(0, I),  p(x | z) = prod_i Bernoulli(x_i; sigmoid(logits_i(z))).
    free_bits: nats per latent dimension that the training loss does not charge for (0: the plain ELBO).
    """

    def __init__(self, input_dim: int = 784, hidden_dim: int = 200, latent_dim: int = 10, *, free_bits: float = 0.0):
        super().__init__(input_dim, hidden_dim, latent_dim, free_bits)
        self.encoder = GaussianEncoder(input_dim, hidden_dim, latent_dim)
        self.decoder = mlp_decoder(latent_dim, hidden_dim, input_dim)

    def encode(self, x: torch.Tensor, y=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, input_dim) -> mu (B, latent_dim), logvar = log sigma^2 (B, latent_dim); y is not used."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor, y=None) -> torch.Tensor:
        """(..., latent_dim) -> pixel logits (..., input_dim); sigmoid(logits) are the pixel probabilities."""
        return self.decoder(z)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images drawn as z ~ N(0, I), returned as pixel probabilities sigmoid(decode(z)): (n, input_dim)."""
        n = require_positive_int("n", n)
        device = self.encoder.to_mu.weight.device
        noise_device = device if generator is None else generator.device
        z = torch.randn(n, self.latent_dim, generator=generator, device=noise_device).to(device)
        return torch.sigmoid(self.decode(z))


class GaussianVAE(VAE):
    """The same network with Gaussian pixels for grey images: p(x | z) = N(x; sigmoid(decode(z)), sigma^2 I).

    sigma^2 = exp(pixel_logvar) is one learned number shared by every pixel and image. The loss is then a
    negative log-*density* on [0, 1]^784: it can be below 0, and it is not comparable with the Bernoulli
    model's negative log-probabilities of binary images. `sample` returns the decoded means.
    logvar_lr: a step size of its own for pixel_logvar (one number that Adam would otherwise move by about
    lr per step, like every weight of the network); None trains it with the network's lr.
    """

    def __init__(self, input_dim: int = 784, hidden_dim: int = 200, latent_dim: int = 10, *,
                 init_logvar: float = 0.0, logvar_lr: float | None = None, free_bits: float = 0.0):
        super().__init__(input_dim, hidden_dim, latent_dim, free_bits=free_bits)
        self.init_logvar = require_number("init_logvar", init_logvar)  # log sigma^2 at the start
        self.logvar_lr = None if logvar_lr is None else require_number("logvar_lr", logvar_lr, minimum=0.0, strict=True)
        self.pixel_logvar = nn.Parameter(torch.tensor(self.init_logvar))  # log sigma^2, learned

    def config(self) -> dict:
        return {**super().config(), "init_logvar": self.init_logvar, "logvar_lr": self.logvar_lr}

    def parameter_groups(self, lr: float) -> list[dict]:
        """The optimizer's parameter groups: the network at lr, pixel_logvar at logvar_lr when it is set."""
        if self.logvar_lr is None:
            return [{"params": list(self.parameters())}]
        rest = [p for name, p in self.named_parameters() if name != "pixel_logvar"]
        return [{"params": rest}, {"params": [self.pixel_logvar], "lr": self.logvar_lr}]

    def reconstruction_nll(self, output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log N(x; sigmoid(output), sigma^2 I) per image, in nats: (..., input_dim) -> (...)."""
        return gaussian_nll(torch.sigmoid(output), self.pixel_logvar, x)

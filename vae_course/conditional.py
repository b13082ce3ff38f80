"""Conditional VAEs (lesson 08): three ways to tell the VAE which digit to draw, on the articles' backbone.

Each follows the protocol of `vae_course.vae` with the labels y required (`takes_labels = True`):
p(z | y) = N(prior_mean(y), I), and the per-image ELBO of log p(x | y) is

    E_q[log p(x | z, y)] - KL(q(z | x, y) || N(prior_mean(y), I)),

computed by `vae_course.evaluate.elbo(model, x, y)` through encode(x, y), decode(z, y) and kl(mu, logvar, y).
`sample(labels)` draws one image per label.

    ConcatCVAE          the one-hot label joins the encoder's input and the decoder's input
    ClassMeanCVAE       one learned prior mean per class; encoder and decoder are the plain VAE's
    AuxClassifierCVAE   a classifier's class probabilities join the latent vector (onehot(y) when generating)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .gradients import reparameterize
from .vae import GaussianEncoder, LatentVariableModel, Loss, free_bits_kl, mlp_decoder
from .validate import require_labels, require_number, require_positive_int


class ConditionalVAE(LatentVariableModel):
    """The VAE told the class y. Class attributes say where the one-hot label goes:
    `label_to_encoder` (q(z | x, y) reads [x, onehot(y)]) and `label_to_decoder` (p(x | z, y) reads
    [z, onehot(y)]); `prior_mean(y)` is 0 unless a subclass learns one mean per class. With neither
    (this base class) the model ignores y and is the plain VAE.
    """

    takes_labels = True
    label_to_encoder = False
    label_to_decoder = False

    def __init__(self, input_dim: int = 784, hidden_dim: int = 200, latent_dim: int = 10, n_classes: int = 10, *,
                 free_bits: float = 0.0):
        super().__init__(input_dim, hidden_dim, latent_dim, free_bits)
        self.n_classes = require_positive_int("n_classes", n_classes)
        self.encoder = GaussianEncoder(input_dim + n_classes * self.label_to_encoder, hidden_dim, latent_dim)
        self.decoder = mlp_decoder(latent_dim + n_classes * self.label_to_decoder, hidden_dim, input_dim)

    def config(self) -> dict:
        return {**super().config(), "n_classes": self.n_classes}

    def with_label(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """[t, onehot(y)] along the last dim, the one-hot rows repeated over t's extra leading dims:
        (..., B, D), (B,) -> (..., B, D + n_classes)."""
        c = F.one_hot(y, self.n_classes).to(t.dtype)  # (B, n_classes)
        return torch.cat([t, c.expand(*t.shape[:-1], self.n_classes)], dim=-1)

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, input_dim), (B,) labels -> mu, logvar (B, latent_dim)."""
        return self.encoder(self.with_label(x, y) if self.label_to_encoder else x)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(..., B, latent_dim), (B,) labels -> pixel logits (..., B, input_dim)."""
        return self.decoder(self.with_label(z, y) if self.label_to_decoder else z)

    @torch.no_grad()
    def sample(self, labels, generator: torch.Generator | None = None) -> torch.Tensor:
        """One image per label: z ~ N(prior_mean(y), I), returned as sigmoid(decode(z, y)): (n, input_dim)."""
        device = self.encoder.to_mu.weight.device
        y = require_labels("labels", labels, self.n_classes).to(device)
        if len(y) == 0:
            raise ValueError("labels must hold at least one label")
        noise_device = device if generator is None else generator.device
        eps = torch.randn(len(y), self.latent_dim, generator=generator, device=noise_device).to(device)
        return torch.sigmoid(self.decode(self.prior_mean(y) + eps, y))  # z = m_y + eps


class ConcatCVAE(ConditionalVAE):
    """Way 1: the one-hot label joins the encoder's input and the decoder's input.

    q(z | x, y) = N(mu([x, onehot(y)]), sigma^2(...)),  p(z) = N(0, I),  p(x | z, y) from decode([z, onehot(y)]).
    """

    label_to_encoder = True
    label_to_decoder = True


class ClassMeanCVAE(ConditionalVAE):
    """Way 2: one learned prior mean per class; encoder and decoder are the plain VAE's.

    p(z | y) = N(mu_y, I) with mu_y a learned vector per class, so the KL term becomes
    1/2 sum [(mu - mu_y)^2 + sigma^2 - log sigma^2 - 1]; to draw digit d, decode z ~ N(mu_d, I).
    Nothing in the loss pushes two class means apart (mu_y follows wherever the encoder puts class y),
    so they start apart: drawn from N(0, mean_spread^2 I).
    """

    def __init__(self, input_dim: int = 784, hidden_dim: int = 200, latent_dim: int = 10, n_classes: int = 10, *,
                 mean_spread: float = 3.0, free_bits: float = 0.0):
        super().__init__(input_dim, hidden_dim, latent_dim, n_classes, free_bits=free_bits)
        self.mean_spread = require_number("mean_spread", mean_spread, minimum=0.0)
        self.class_means = nn.Parameter(self.mean_spread * torch.randn(n_classes, latent_dim))  # mu_y, one row per class

    def config(self) -> dict:
        return {**super().config(), "mean_spread": self.mean_spread}

    def prior_mean(self, y: torch.Tensor) -> torch.Tensor:
        """mu_y: (B,) labels -> (B, latent_dim)."""
        return self.class_means[y]


class AuxClassifierCVAE(ConditionalVAE):
    """Way 3: a classifier sub-network whose n_classes outputs join the latent vector.

    Training: c = softmax(classifier(x)) and z ~ q(z | x) go into the decoder as [z, c]; the loss adds the
    classifier's cross-entropy with weight `ce_weight`: total = recon + beta * kl + ce_weight * ce, with the
    three parts reported by name. Generating digit d: the n_classes inputs are fixed to onehot(d) and
    z ~ N(0, I); the ELBO of log p(x | y) is that of this generative model, with onehot(y) in place of c.
    """

    label_to_decoder = True

    def __init__(self, input_dim: int = 784, hidden_dim: int = 200, latent_dim: int = 10, n_classes: int = 10, *,
                 ce_weight: float = 1.0, free_bits: float = 0.0):
        super().__init__(input_dim, hidden_dim, latent_dim, n_classes, free_bits=free_bits)
        self.ce_weight = require_number("ce_weight", ce_weight, minimum=0.0)
        self.classifier = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, n_classes))

    def config(self) -> dict:
        return {**super().config(), "ce_weight": self.ce_weight}

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, input_dim) -> class logits (B, n_classes)."""
        return self.classifier(x)

    def loss(self, x: torch.Tensor, y: torch.Tensor, beta: float = 1.0, generator: torch.Generator | None = None) -> Loss:
        """recon + beta * KL(q(z | x) || N(0, I)) + ce_weight * CE(classifier(x), y), per image."""
        self.check_batch(x, y, beta)
        mu, logvar = self.encode(x, y)
        z = reparameterize(mu, logvar, generator)  # z = mu + sigma * eps
        class_logits = self.classify(x)
        output = self.decoder(torch.cat([z, torch.softmax(class_logits, dim=-1)], dim=-1))  # [z, c]
        recon = self.reconstruction_nll(output, x).mean()
        kl = self.kl(mu, logvar, y).mean()
        charged = kl if not self.free_bits else free_bits_kl(mu - self.prior_mean(y), logvar, self.free_bits)
        ce = F.cross_entropy(class_logits, y)  # -log c_y, averaged over the batch
        return Loss(recon + beta * charged + self.ce_weight * ce, {"recon": recon, "kl": kl, "ce": ce})

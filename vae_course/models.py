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

from .validate import require_positive_int, require_tensor
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


def check_images(x: torch.Tensor, input_dim: int) -> torch.Tensor:
    """x must be a finite float tensor (..., input_dim): a batch of flattened images."""
    require_tensor("x", x, min_dim=2)
    if x.shape[-1] != input_dim:
        raise ValueError(f"x must have {input_dim} features in its last dimension, got shape {tuple(x.shape)}")
    return x


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
        return check_images(x, self.input_dim)

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


# ----------------------------------------------------------------------------------------------
# Conditional VAEs (lesson 08): three ways to tell the VAE which digit to draw, on its own backbone
#
# Each has sample(labels) -> pixel probabilities, and loss(x, y, beta) with the labels y required.
# What they share is p(z | y) = N(prior_mean(y), I) and the per-image ELBO of log p(x | y):
#     E_q[log p(x | z, y)] - KL(q(z | x, y) || N(prior_mean(y), I))
# with encode(x, y) -> (mu, logvar) and decode(z, y) -> logits; vae_course.evaluate.elbo(model, x, y)
# computes it for all three.


def check_labels(name: str, labels, n_classes: int, n_rows: int | None = None) -> torch.Tensor:
    """`labels` as a 1-D int64 tensor of class indices in 0..n_classes-1, one per row when n_rows is given."""
    if labels is None:
        raise ValueError(f"{name} must be given: a conditional model needs one label per image")
    if not isinstance(labels, torch.Tensor):
        try:
            labels = torch.as_tensor(labels)
            labels = labels.long() if labels.numel() == 0 else labels  # [] becomes float32 otherwise
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"{name} must be a sequence of integer labels, got {type(labels).__name__}") from None
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer labels, got dtype {labels.dtype}")
    if labels.dim() != 1:
        raise ValueError(f"{name} must be a 1-D tensor of labels, got shape {tuple(labels.shape)}")
    if n_rows is not None and len(labels) != n_rows:
        raise ValueError(f"{name} must have one label per row: {len(labels)} labels for {n_rows} rows")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        bad = labels[(labels < 0) | (labels >= n_classes)][0]
        raise ValueError(f"{name} must lie in 0..{n_classes - 1}, got {int(bad)}")
    return labels.long()


class ConditionalVAE(VAE):
    """The VAE told the class y: q(z | x, y), p(z | y) = N(prior_mean(y), I), p(x | z, y).

    This base class conditions nothing (prior_mean is 0, encode and decode ignore y): each subclass
    changes one piece. Its loss is the negative conditional ELBO,
        -log p(x | z, y) + beta * 1/2 sum [(mu - prior_mean(y))^2 + sigma^2 - log sigma^2 - 1].
    """

    def __init__(self, input_dim: int = 784, hidden_dim: int = 200, latent_dim: int = 10, n_classes: int = 10):
        super().__init__(input_dim, hidden_dim, latent_dim)
        self.n_classes = require_positive_int("n_classes", n_classes)

    def config(self) -> dict:
        return {**super().config(), "n_classes": self.n_classes}

    def labels(self, y, n_rows: int | None = None, name: str = "y") -> torch.Tensor:
        """Checked labels on the model's device: (B,) int64 in 0..n_classes-1."""
        return check_labels(name, y, self.n_classes, n_rows).to(self.to_mu.weight.device)

    def one_hot(self, y: torch.Tensor) -> torch.Tensor:
        """(B,) labels -> (B, n_classes) float one-hot rows."""
        return F.one_hot(y, self.n_classes).to(self.to_mu.weight.dtype)

    @staticmethod
    def _join(t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """[t, c] along the last dim, c (B, C) repeated over t's extra leading dims: (..., B, D) -> (..., B, D + C)."""
        return torch.cat([t, c.expand(*t.shape[:-1], c.shape[-1])], dim=-1)

    def _check_z(self, z: torch.Tensor) -> torch.Tensor:
        require_tensor("z", z, min_dim=2)
        if z.shape[-1] != self.latent_dim:
            raise ValueError(f"z must have {self.latent_dim} entries in its last dimension, got shape {tuple(z.shape)}")
        return z

    def prior_mean(self, y) -> torch.Tensor:
        """The mean of p(z | y): (B,) labels -> (B, latent_dim); zeros here, as in the plain VAE."""
        y = self.labels(y)
        return self.to_mu.weight.new_zeros(len(y), self.latent_dim)

    def encode(self, x: torch.Tensor, y=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, input_dim), (B,) labels -> mu, logvar (B, latent_dim)."""
        self.labels(y, len(self._check_input(x)))
        return super().encode(x)

    def decode(self, z: torch.Tensor, y=None) -> torch.Tensor:
        """(..., B, latent_dim), (B,) labels -> pixel logits (..., B, input_dim)."""
        self.labels(y, self._check_z(z).shape[-2])
        return super().decode(z)

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, y) -> torch.Tensor:
        """KL(N(mu, sigma^2) || N(prior_mean(y), I)) per image: (B, L) -> (B,)."""
        # 1/2 sum [(mu - m_y)^2 + sigma^2 - log sigma^2 - 1]: the standard-normal KL of the shifted mean
        return kl_diag_std_normal(mu - self.prior_mean(y), logvar)

    def forward(self, x: torch.Tensor, y=None, generator: torch.Generator | None = None):
        """(B, input_dim), (B,) -> (logits (B, input_dim), mu, logvar (B, latent_dim)), one z per image."""
        mu, logvar = self.encode(x, y)
        z = reparameterize(mu, logvar, generator)  # z = mu + sigma * eps
        return self.decode(z, y), mu, logvar

    def loss(self, x: torch.Tensor, y=None, beta: float = 1.0, generator: torch.Generator | None = None) -> LossTerms:
        """Negative conditional ELBO (beta = 1) per image: -log p(x | z, y) + beta * KL(q || p(z | y))."""
        y = self.labels(y, len(self._check_input(x)))
        logits, mu, logvar = self(x, y, generator)
        recon = bernoulli_nll(logits, x).mean()
        kl = self.kl(mu, logvar, y).mean()
        return LossTerms(recon + beta * kl, recon, kl)

    @torch.no_grad()
    def sample(self, labels, generator: torch.Generator | None = None) -> torch.Tensor:
        """One image per label: z ~ N(prior_mean(y), I), returned as sigmoid(decode(z, y)): (n, input_dim)."""
        y = self.labels(labels, name="labels")
        if len(y) == 0:
            raise ValueError("labels must hold at least one label")
        mean = self.prior_mean(y)
        noise_device = mean.device if generator is None else generator.device
        z = mean + torch.randn(mean.shape, generator=generator, device=noise_device).to(mean.device)
        return torch.sigmoid(self.decode(z, y))


class ConcatCVAE(ConditionalVAE):
    """Way 1: the one-hot label joins the encoder's input and the decoder's input.

    q(z | x, y) = N(mu([x, onehot(y)]), sigma^2(...)),  p(z) = N(0, I),  p(x | z, y) from decode([z, onehot(y)]).
    """

    def __init__(self, input_dim: int = 784, hidden_dim: int = 200, latent_dim: int = 10, n_classes: int = 10):
        super().__init__(input_dim, hidden_dim, latent_dim, n_classes)
        # the VAE's layers, with the first layer of each half taking n_classes more inputs
        self.encoder[0] = nn.Linear(input_dim + n_classes, hidden_dim)
        self.decoder[0] = nn.Linear(latent_dim + n_classes, hidden_dim)

    def encode(self, x: torch.Tensor, y=None) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.labels(y, len(self._check_input(x)))
        h = self.encoder(self._join(x, self.one_hot(y)))
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: torch.Tensor, y=None) -> torch.Tensor:
        y = self.labels(y, self._check_z(z).shape[-2])
        return self.decoder(self._join(z, self.one_hot(y)))


class ClassMeanCVAE(ConditionalVAE):
    """Way 2: one learned prior mean per class; encoder and decoder are the plain VAE's.

    p(z | y) = N(mu_y, I) with mu_y a learned vector per class, so the KL term becomes
    1/2 sum [(mu - mu_y)^2 + sigma^2 - log sigma^2 - 1]; to draw digit d, decode z ~ N(mu_d, I).
    Nothing in the loss pushes two class means apart (mu_y follows wherever the encoder puts class y),
    so they start apart: drawn from N(0, mean_spread^2 I).
    """

    def __init__(self, input_dim: int = 784, hidden_dim: int = 200, latent_dim: int = 10, n_classes: int = 10,
                 mean_spread: float = 3.0):
        super().__init__(input_dim, hidden_dim, latent_dim, n_classes)
        if isinstance(mean_spread, bool) or not isinstance(mean_spread, (int, float)) \
                or not math.isfinite(mean_spread) or mean_spread < 0:
            raise ValueError(f"mean_spread must be a finite number >= 0, got {mean_spread!r}")
        self.mean_spread = float(mean_spread)
        self.class_means = nn.Parameter(self.mean_spread * torch.randn(n_classes, latent_dim))  # mu_y, one row per class

    def config(self) -> dict:
        return {**super().config(), "mean_spread": self.mean_spread}

    def prior_mean(self, y) -> torch.Tensor:
        return self.class_means[self.labels(y)]


class AuxClassifierCVAE(ConditionalVAE):
    """Way 3: a classifier sub-network whose n_classes outputs join the latent vector.

    Training: c = softmax(classifier(x)) and z ~ q(z | x) go into the decoder as [z, c]; the loss adds
    the classifier's cross-entropy with weight `ce_weight`, so `LossTerms.total` is
    recon + beta * kl + ce_weight * CE (the CE is total - recon - beta * kl in a History).
    Generating digit d: the n_classes dimensions are fixed to onehot(d), z ~ N(0, I); the ELBO of
    log p(x | y) is that of this generative model, with onehot(y) in place of c.
    """

    def __init__(self, input_dim: int = 784, hidden_dim: int = 200, latent_dim: int = 10, n_classes: int = 10,
                 ce_weight: float = 1.0):
        super().__init__(input_dim, hidden_dim, latent_dim, n_classes)
        if isinstance(ce_weight, bool) or not isinstance(ce_weight, (int, float)) or not math.isfinite(ce_weight) \
                or ce_weight < 0:
            raise ValueError(f"ce_weight must be a finite number >= 0, got {ce_weight!r}")
        self.ce_weight = float(ce_weight)
        self.decoder[0] = nn.Linear(latent_dim + n_classes, hidden_dim)  # [z, c] -> hidden
        self.classifier = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, n_classes))

    def config(self) -> dict:
        return {**super().config(), "ce_weight": self.ce_weight}

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, input_dim) -> class logits (B, n_classes)."""
        return self.classifier(self._check_input(x))

    def decode(self, z: torch.Tensor, y=None) -> torch.Tensor:
        y = self.labels(y, self._check_z(z).shape[-2])
        return self.decoder(self._join(z, self.one_hot(y)))

    def loss(self, x: torch.Tensor, y=None, beta: float = 1.0, generator: torch.Generator | None = None) -> LossTerms:
        """recon + beta * KL(q(z | x) || N(0, I)) + ce_weight * CE(classifier(x), y), per image."""
        y = self.labels(y, len(self._check_input(x)))
        mu, logvar = super().encode(x, y)
        z = reparameterize(mu, logvar, generator)
        class_logits = self.classify(x)
        logits = self.decoder(self._join(z, torch.softmax(class_logits, dim=-1)))  # [z, c], c the class probabilities
        recon = bernoulli_nll(logits, x).mean()
        kl = self.kl(mu, logvar, y).mean()
        ce = F.cross_entropy(class_logits, y)  # -log c_y, averaged over the batch
        return LossTerms(recon + beta * kl + self.ce_weight * ce, recon, kl)


class DigitClassifier(nn.Module):
    """The independent judge of lesson 08: an MLP input_dim -> hidden_dim (ReLU) -> n_classes logits.

    It follows the loss protocol so that `fit` trains it: loss(x, y) returns LossTerms with
    total = recon = the cross-entropy -log softmax(logits)_y averaged over the batch, and kl = 0
    (there is no latent); `beta` is ignored.
    """

    def __init__(self, input_dim: int = 784, hidden_dim: int = 200, n_classes: int = 10):
        super().__init__()
        self.input_dim = require_positive_int("input_dim", input_dim)
        self.hidden_dim = require_positive_int("hidden_dim", hidden_dim)
        self.n_classes = require_positive_int("n_classes", n_classes)
        self.net = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, n_classes))

    def config(self) -> dict:
        return {"input_dim": self.input_dim, "hidden_dim": self.hidden_dim, "n_classes": self.n_classes}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, input_dim) images -> (B, n_classes) logits."""
        return self.net(check_images(x, self.input_dim))

    def loss(self, x: torch.Tensor, y=None, beta: float = 1.0) -> LossTerms:
        y = check_labels("y", y, self.n_classes, len(x)).to(x.device)
        ce = F.cross_entropy(self(x), y)
        return LossTerms(ce, ce, ce.new_zeros(()))

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """(B, input_dim) -> (B,) the most probable class of each image."""
        return self(x).argmax(dim=-1)

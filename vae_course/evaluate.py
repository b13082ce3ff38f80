"""How good is a trained VAE, in nats per image: the ELBO and the importance-weighted bound on log p(x).

Both are lower bounds on log p(x) of a model with Bernoulli pixels. They are log-probabilities only
for binary images: evaluate on binarized digits (`vae_course.data.binarize`, a fixed seed, so that
every run scores the same images). On grey levels the same code returns the (negative) cross-entropy
the articles train with, which is no log-likelihood.

    ELBO(x)     = E_{q(z|x)}[log p(x | z)] - KL(q(z | x) || p(z))
    IWAE_k(x)   = E[ log 1/k sum_{j=1}^k p(x | z_j) p(z_j) / q(z_j | x) ],  z_j ~ q(z | x)
    ELBO = IWAE_1 <= IWAE_k <= IWAE_{k+1} <= log p(x), and IWAE_k -> log p(x) as k -> infinity.

Posterior collapse diagnostics (lesson 09): `kl_per_dimension` (each latent dimension's share of the KL)
and `active_units` (Burda et al. 2016: Var_x(E_q[z_u]) > 0.01) look only at the encoder.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from .validate import require_positive_int, require_tensor
from .kl import LOG_2PI, kl_diag_std_normal
from .models import bernoulli_nll


def _checked(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    require_tensor("x", x, min_dim=2)
    if ((x < 0) | (x > 1)).any():
        raise ValueError("x must hold pixel values in [0, 1]")
    return x.to(next(model.parameters()).device)


def _noise(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    noise_device = device if generator is None else generator.device
    return torch.randn(shape, generator=generator, device=noise_device).to(device)


def _std_normal_logpdf(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dim: -1/2 sum (z^2 + log 2 pi)."""
    return -0.5 * (z.pow(2) + LOG_2PI).sum(dim=-1)


@torch.no_grad()
def elbo(model: nn.Module, x: torch.Tensor, y=None, *, n_samples: int = 1, batch_size: int = 500,
         generator: torch.Generator | None = None, reduction: str = "mean"):
    """The ELBO per image (nats): reconstruction by Monte Carlo over n_samples z per image, KL in closed form.

    y: one label per image for a conditional model (lesson 08), which then gives the ELBO of log p(x | y),
    E_q[log p(x | z, y)] - KL(q(z | x, y) || N(m_y, I)), through its encode(x, y), decode(z, y) and
    prior_mean(y) = m_y. reduction "mean" gives a float (the mean over the images of x), "none" a tensor (N,).
    """
    n_samples = require_positive_int("n_samples", n_samples)
    batch_size = require_positive_int("batch_size", batch_size)
    x = _checked(model, x)
    if y is not None and len(y) != len(x):
        raise ValueError(f"y must have one label per row of x: {len(y)} labels for {len(x)} rows")
    model.eval()
    values = []
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size]
        label = () if y is None else (y[start:start + batch_size],)  # a conditional model's extra argument
        mu, logvar = model.encode(xb, *label)  # (B, L) each
        eps = _noise((n_samples, *mu.shape), generator, mu.device)  # (S, B, L)
        z = mu + torch.exp(0.5 * logvar) * eps  # z = mu + sigma * eps
        log_px_z = -bernoulli_nll(model.decode(z, *label), xb).mean(dim=0)  # (S, B, D) -> (B,)
        prior_mean = model.prior_mean(*label) if label else 0.0  # KL to N(m_y, I) is the N(0, I) KL of mu - m_y
        values.append(log_px_z - kl_diag_std_normal(mu - prior_mean, logvar))
    return _reduce(torch.cat(values), reduction)


def _reduce(values: torch.Tensor, reduction: str):
    if reduction == "mean":
        return float(values.mean())
    if reduction == "none":
        return values.cpu()
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


@torch.no_grad()
def iwae_bound(model: nn.Module, x: torch.Tensor, k: int, *, max_rows: int = 16_384,
               generator: torch.Generator | None = None, reduction: str = "mean"):
    """The importance-weighted bound IWAE_k on log p(x) per image (nats), k samples from q(z | x) each.

    Vectorized over images and samples; the k samples are processed in chunks so that at most
    `max_rows` decoded images are in memory at once, and the chunks are combined with logsumexp.
    reduction "mean" gives a float, "none" a tensor (N,).
    """
    k = require_positive_int("k", k)
    max_rows = require_positive_int("max_rows", max_rows)
    x = _checked(model, x)
    model.eval()
    batch = max(1, min(len(x), max_rows // min(k, max_rows)))  # images per pass
    values = []
    for xb in x.split(batch):
        mu, logvar = model.encode(xb)  # (B, L)
        std = torch.exp(0.5 * logvar)
        chunk = max(1, max_rows // len(xb))  # samples per pass
        total = torch.full((len(xb),), -math.inf, device=xb.device)  # running log sum_j w_j
        for start in range(0, k, chunk):
            eps = _noise((min(chunk, k - start), *mu.shape), generator, mu.device)  # (S, B, L)
            z = mu + std * eps
            # log w = log p(x | z) + log p(z) - log q(z | x), with log q(z | x) = log N(eps; 0, I) - sum log sigma
            log_q = _std_normal_logpdf(eps) - 0.5 * logvar.sum(dim=-1)
            log_w = -bernoulli_nll(model.decode(z), xb) + _std_normal_logpdf(z) - log_q  # (S, B)
            total = torch.logaddexp(total, torch.logsumexp(log_w, dim=0))
        values.append(total - math.log(k))  # log (1/k) sum_j w_j
    return _reduce(torch.cat(values), reduction)


# ----------------------------------------------------------------------------------------------
# Posterior collapse diagnostics: which latent dimensions does the encoder use?


class ActiveUnits(NamedTuple):
    """Burda et al. (2016): dimension u is active when A_u = Cov_x(E_{q(z|x)}[z_u]) > threshold."""

    count: int  # how many dimensions are active
    variance: torch.Tensor  # (L,) A_u: the variance over the images of x of the encoder mean mu_u(x)
    active: torch.Tensor  # (L,) bool, A_u > threshold


@torch.no_grad()
def _encode_all(model: nn.Module, x: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """mu and log sigma^2 of q(z | x) for every row of x, in eval mode, in batches: (N, D) -> (N, L) each."""
    require_tensor("x", x, min_dim=2)
    batch_size = require_positive_int("batch_size", batch_size)
    parameter = next(model.parameters(), None)
    if parameter is not None:
        x = x.to(parameter.device)
    was_training = model.training
    model.eval()
    parts = [model.encode(xb) for xb in x.split(batch_size)]
    model.train(was_training)
    return torch.cat([mu for mu, _ in parts]), torch.cat([logvar for _, logvar in parts])


def kl_per_dimension(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
    """Each latent dimension's share of the KL term, averaged over the images of x (nats): (L,), on the CPU.

    KL_u = mean over x of 1/2 (mu_u^2 + sigma_u^2 - log sigma_u^2 - 1); the shares add up to the KL term.
    A dimension with KL_u near 0 has q(z_u | x) = N(0, 1) for every x: it carries no information.
    """
    mu, logvar = _encode_all(model, x, batch_size)
    return kl_diag_std_normal(mu.unsqueeze(-1), logvar.unsqueeze(-1)).mean(dim=0).cpu()  # (N, L, 1) -> (N, L) -> (L,)


def active_units(model: nn.Module, x: torch.Tensor, *, threshold: float = 0.01, batch_size: int = 1000) -> ActiveUnits:
    """Count the active latent dimensions: A_u = Var_x(mu_u(x)) > threshold (Burda et al. 2016 use 0.01).

    The variance is taken over the images of x (divided by N). An inactive dimension's mean does not
    move with x, so the decoder cannot read anything about x from it, whatever its sigma.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold) or threshold <= 0:
        raise ValueError(f"threshold must be a finite number > 0, got {threshold!r}")
    mu, _ = _encode_all(model, x, batch_size)
    if len(mu) < 2:
        raise ValueError(f"x must hold at least 2 images to measure a variance, got {len(mu)}")
    variance = mu.double().var(dim=0, correction=0).cpu()  # A_u = 1/N sum_n (mu_u(x_n) - mean_u)^2
    active = variance > threshold
    return ActiveUnits(int(active.sum()), variance, active)


@torch.no_grad()
def conditional_accuracy(model: nn.Module, judge: nn.Module, n_per_class: int, *,
                         generator: torch.Generator | None = None, reduction: str = "mean"):
    """The share of generated digits that an independent classifier reads as the class that was asked for.

    For every class d in 0..n_classes-1, `model.sample([d] * n_per_class, generator)` draws images (as
    pixel probabilities) and `judge(images)` gives class logits; a digit counts as right when the judge's
    most probable class is d. reduction "mean" gives a float (all classes together), "none" a tensor
    (n_classes,) with the share for each class.
    """
    n_per_class = require_positive_int("n_per_class", n_per_class)
    n_classes = getattr(model, "n_classes", None)
    if not isinstance(n_classes, int) or not callable(getattr(model, "sample", None)):
        raise ValueError(f"model must be a conditional model with n_classes and sample(labels), got {type(model).__name__}")
    model.eval()
    judge.eval()
    shares = []
    for digit in range(n_classes):
        images = model.sample(torch.full((n_per_class,), digit, dtype=torch.long), generator)  # (n, D)
        logits = judge(images)  # (n, n_classes)
        if logits.shape != (n_per_class, n_classes):
            raise ValueError(f"judge must return ({n_per_class}, {n_classes}) class logits for "
                             f"{n_per_class} images, got shape {tuple(logits.shape)}")
        shares.append((logits.argmax(dim=-1) == digit).float().mean().cpu())
    return _reduce(torch.stack(shares), reduction)

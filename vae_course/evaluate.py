"""How good is a trained VAE, in nats per image: the ELBO and the importance-weighted bound on log p(x).

Both are lower bounds on log p(x), computed through the model's own protocol (encode, decode,
reconstruction_nll, kl, log_prior; see `vae_course.vae`), so each model is scored with its own
likelihood and its own prior. For a Bernoulli model they are log-probabilities only of binary images:
evaluate on binarized digits (`vae_course.data.binarize` with a fixed seed, so that every run scores the
same images). On grey levels the same code returns the (negative) cross-entropy the articles train with,
which is no log-likelihood; a Gaussian-pixel model gets log-densities.

    ELBO(x)     = E_{q(z|x)}[log p(x | z)] - KL(q(z | x) || p(z))
    IWAE_k(x)   = E[ log 1/k sum_{j=1}^k p(x | z_j) p(z_j) / q(z_j | x) ],  z_j ~ q(z | x)
    ELBO = IWAE_1 <= IWAE_k <= IWAE_{k+1} <= log p(x), and IWAE_k -> log p(x) as k -> infinity.

Posterior collapse diagnostics (lesson 09): `kl_per_dimension` (each latent dimension's share of the KL)
and `active_units` (Burda et al. 2016: Var_x(E_q[z_u]) > 0.01) look only at the encoder. Every function
here evaluates in eval mode without gradients and gives the model back in the mode it had.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from .kl import LOG_2PI
from .utils import eval_mode
from .validate import (
    as_torch_generator,
    require_images,
    require_labels,
    require_number,
    require_positive_int,
)

PROTOCOL = ("encode", "decode", "reconstruction_nll", "kl", "log_prior")


def _checked(model: nn.Module, x, y, methods: tuple[str, ...] = PROTOCOL) -> tuple[torch.Tensor, tuple]:
    """x (and y for a model that takes labels) checked and moved to the model; y returned as an argument tuple."""
    missing = [m for m in methods if not callable(getattr(model, m, None))]
    if not isinstance(model, nn.Module) or missing:
        raise TypeError(f"model must be a vae_course latent-variable model with {', '.join(methods)}; "
                        f"{type(model).__name__} lacks {', '.join(missing) or 'nn.Module'}")
    x = require_images("x", x, getattr(model, "input_dim", None))
    parameter = next(model.parameters(), None)
    if parameter is not None:
        x = x.to(device=parameter.device, dtype=parameter.dtype)
    if getattr(model, "takes_labels", False):
        return x, (require_labels("y", y, model.n_classes, len(x)).to(x.device),)
    if y is not None:
        raise ValueError(f"y was given, but {type(model).__name__} takes no labels")
    return x, ()


def _noise(shape: tuple[int, ...], generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    """eps ~ N(0, I) drawn on the generator's device, then moved to `like`'s device and type."""
    noise_device = like.device if generator is None else generator.device
    return torch.randn(shape, generator=generator, device=noise_device).to(like)


def _reduction(reduction: str) -> str:
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    return reduction


def _reduce(values: torch.Tensor, reduction: str):
    """The mean as a float ("mean") or the values on the CPU ("none")."""
    return float(values.mean()) if reduction == "mean" else values.cpu()


def elbo(model: nn.Module, x, y=None, *, n_samples: int = 1, batch_size: int = 500,
         generator: torch.Generator | int | None = None, reduction: str = "mean"):
    """The ELBO per image (nats): reconstruction by Monte Carlo over n_samples z per image, KL in closed form.

    y: one label per image for a conditional model (lesson 08), which then gives the ELBO of log p(x | y),
    E_q[log p(x | z, y)] - KL(q(z | x, y) || p(z | y)). reduction "mean" gives a float (the mean over the
    images of x), "none" a tensor (N,).
    """
    n_samples, batch_size = require_positive_int("n_samples", n_samples), require_positive_int("batch_size", batch_size)
    reduction = _reduction(reduction)
    x, label = _checked(model, x, y)
    generator = as_torch_generator("generator", generator)
    values = []
    with eval_mode(model):
        for start in range(0, len(x), batch_size):
            xb, lb = x[start:start + batch_size], tuple(t[start:start + batch_size] for t in label)
            mu, logvar = model.encode(xb, *lb)  # (B, L) each
            z = mu + torch.exp(0.5 * logvar) * _noise((n_samples, *mu.shape), generator, mu)  # (S, B, L)
            log_px_z = -model.reconstruction_nll(model.decode(z, *lb), xb).mean(dim=0)  # (S, B) -> (B,)
            values.append(log_px_z - model.kl(mu, logvar, *lb))
    return _reduce(torch.cat(values), reduction)


def iwae_bound(model: nn.Module, x, k: int, y=None, *, max_rows: int = 16_384,
               generator: torch.Generator | int | None = None, reduction: str = "mean"):
    """The importance-weighted bound IWAE_k on log p(x) (or log p(x | y)) per image, nats, k samples from q each.

    Vectorized over images and samples; the k samples are processed in chunks so that at most `max_rows`
    decoded images are in memory at once, and the chunks are combined with logsumexp.
    reduction "mean" gives a float, "none" a tensor (N,).
    """
    k, max_rows = require_positive_int("k", k), require_positive_int("max_rows", max_rows)
    reduction = _reduction(reduction)
    x, label = _checked(model, x, y)
    generator = as_torch_generator("generator", generator)
    batch = max(1, min(len(x), max_rows // min(k, max_rows)))  # images per pass
    values = []
    with eval_mode(model):
        for start in range(0, len(x), batch):
            xb, lb = x[start:start + batch], tuple(t[start:start + batch] for t in label)
            mu, logvar = model.encode(xb, *lb)  # (B, L)
            sigma = torch.exp(0.5 * logvar)
            chunk = max(1, max_rows // len(xb))  # samples per pass
            total = torch.full((len(xb),), -math.inf, device=xb.device, dtype=xb.dtype)  # running log sum_j w_j
            for first in range(0, k, chunk):
                eps = _noise((min(chunk, k - first), *mu.shape), generator, mu)  # (S, B, L)
                z = mu + sigma * eps
                # log q(z | x) = log N(eps; 0, I) - sum log sigma, since z = mu + sigma * eps
                log_q = -0.5 * (eps.pow(2) + LOG_2PI).sum(dim=-1) - 0.5 * logvar.sum(dim=-1)
                # log w = log p(x | z) + log p(z) - log q(z | x)
                log_w = -model.reconstruction_nll(model.decode(z, *lb), xb) + model.log_prior(z, *lb) - log_q  # (S, B)
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


def encode_all(model: nn.Module, x, y=None, *, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """mu and log sigma^2 of q(z | x) (or q(z | x, y)) for every row of x, in batches: (N, D) -> (N, L) each."""
    batch_size = require_positive_int("batch_size", batch_size)
    x, label = _checked(model, x, y, methods=("encode",))
    with eval_mode(model):
        parts = [model.encode(x[s:s + batch_size], *(t[s:s + batch_size] for t in label))
                 for s in range(0, len(x), batch_size)]
    return torch.cat([mu for mu, _ in parts]), torch.cat([logvar for _, logvar in parts])


def kl_per_dimension(model: nn.Module, x, y=None, *, batch_size: int = 1000) -> torch.Tensor:
    """Each latent dimension's share of the KL term, averaged over the images of x (nats): (L,), on the CPU.

    KL_u = mean over x of 1/2 (mu_u^2 + sigma_u^2 - log sigma_u^2 - 1); the shares add up to the KL term
    (for the standard normal prior). KL_u bounds the information dimension u carries about x:
    I_q(x; z_u) <= KL_u, so a dimension with KL_u near 0 carries next to nothing.
    """
    mu, logvar = encode_all(model, x, y, batch_size=batch_size)
    return (0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)).mean(dim=0).cpu()  # (N, L) -> (L,)


def active_units(model: nn.Module, x, y=None, *, threshold: float = 0.01, batch_size: int = 1000) -> ActiveUnits:
    """Count the active latent dimensions: A_u = Var_x(mu_u(x)) > threshold (Burda et al. 2016 use 0.01).

    The variance is taken over the images of x (divided by N). It is a symptom, not a measure of
    information: a mean that barely moves can still carry information when sigma is smaller still (means
    of +-0.09 with sigma 0.01 tell two kinds of image apart almost surely, about log 2 nats), and a sigma
    that varies with x carries some too. What bounds the information a dimension carries is its share of
    the KL (`kl_per_dimension`): I_q(x; z_u) <= KL_u.
    """
    threshold = require_number("threshold", threshold, minimum=0.0, strict=True)
    mu, _ = encode_all(model, x, y, batch_size=batch_size)
    if len(mu) < 2:
        raise ValueError(f"x must hold at least 2 images to measure a variance, got {len(mu)}")
    variance = mu.double().var(dim=0, correction=0).cpu()  # A_u = 1/N sum_n (mu_u(x_n) - mean_u)^2
    active = variance > threshold
    return ActiveUnits(int(active.sum()), variance, active)


def conditional_accuracy(model: nn.Module, judge, n_per_class: int, *,
                         generator: torch.Generator | int | None = None, reduction: str = "mean"):
    """The share of generated digits that an independent classifier reads as the class that was asked for.

    For every class d in 0..n_classes-1, `model.sample([d] * n_per_class, generator)` draws images (as
    pixel probabilities) and `judge(images)` gives class logits; a digit counts as right when the judge's
    most probable class is d. reduction "mean" gives a float (all classes together), "none" a tensor
    (n_classes,) with the share for each class.
    """
    n_per_class = require_positive_int("n_per_class", n_per_class)
    reduction = _reduction(reduction)
    n_classes = getattr(model, "n_classes", None)
    if not isinstance(n_classes, int) or not callable(getattr(model, "sample", None)):
        raise TypeError(f"model must be a conditional model with n_classes and sample(labels), got {type(model).__name__}")
    if not callable(judge):
        raise TypeError(f"judge must be a classifier (images -> class logits), got {type(judge).__name__}")
    generator = as_torch_generator("generator", generator)
    shares = []
    with eval_mode(model), (eval_mode(judge) if isinstance(judge, nn.Module) else torch.no_grad()):
        for digit in range(n_classes):
            images = model.sample(torch.full((n_per_class,), digit, dtype=torch.long), generator)  # (n, D)
            logits = judge(images)  # (n, n_classes)
            if not isinstance(logits, torch.Tensor) or logits.shape != (n_per_class, n_classes):
                raise ValueError(f"judge must return ({n_per_class}, {n_classes}) class logits for "
                                 f"{n_per_class} images, got {getattr(logits, 'shape', type(logits).__name__)}")
            shares.append((logits.argmax(dim=-1) == digit).float().mean().cpu())
    return _reduce(torch.stack(shares), reduction)



# ----------------------------------------------------------------------------------------------
# How sure is a share? The confidence interval of an accuracy


def binomial_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval (Wilson 1927) for a proportion: `successes` right out of `n` independent trials.

    With p = successes / n and z the standard normal quantile at (1 + confidence) / 2, it is the set of
    proportions pi for which |p - pi| <= z sqrt(pi (1 - pi) / n), solved for pi:

        (p + z^2 / 2n  +-  z sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n).

    Unlike p +- z sqrt(p (1 - p) / n) it stays inside [0, 1] and does not shrink to a point at 0 or n
    successes (1000 right out of 1000 still leaves (0.9962, 1) at 95%). Returns (low, high).
    """
    from statistics import NormalDist  # (imported here: this section was appended to the module)

    import numpy as np

    if isinstance(successes, (bool, np.bool_)) or not isinstance(successes, (int, np.integer)):
        raise TypeError(f"successes must be an integer count, got {type(successes).__name__} {successes!r}")
    n = require_positive_int("n", n)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in 0..n = 0..{n}, got {successes}")
    confidence = require_number("confidence", confidence, minimum=0.0, maximum=1.0, strict=True)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p, z2n = successes / n, z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(p * (1 - p) / n + z2n / (4 * n)) / (1 + z2n)
    # at 0 (or n) successes the lower (upper) end is exactly 0 (1): centre = half there, up to rounding
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high

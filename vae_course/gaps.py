"""Where a VAE's lost nats go: the inference gap split into approximation and amortization (Cremer, Li &
Duvenaud 2018, "Inference suboptimality in variational autoencoders").

For one image x, with the encoder's q_phi(z | x) and q*(z | x) the Gaussian of the same diagonal family
that maximizes the ELBO for this x alone,

    log p(x) - ELBO(q_phi)  =  [log p(x) - ELBO(q*)]   +   [ELBO(q*) - ELBO(q_phi)]
          inference gap         approximation gap           amortization gap
                                (the Gaussian family)       (one network for every image)

q* is found by `optimize_posteriors`: Adam on each image's own (mu, log sigma^2), starting from the
encoder's output. What the functions here can estimate, and in which direction they err:
- ELBO(q) for given (mu, logvar): `elbo_at`, unbiased (reconstruction by Monte Carlo, the model's KL);
- log p(x): `iwae_bound_at` gives L_k <= log p(x) with any proposal, so it errs low;
- the optimizer finds a local optimum q', with ELBO(q') <= ELBO(q*): the amortization gap it reports errs
  low, and the approximation gap high, by the same amount; the approximation gap also errs low by
  log p(x) - L_k. Evaluate q' with fresh noise (never the draws it was optimized on), or its ELBO errs high.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from .evaluate import encode_all
from .kl import LOG_2PI, MonteCarloEstimate
from .utils import eval_mode
from .validate import (
    as_torch_generator,
    require_images,
    require_mu_logvar,
    require_number,
    require_positive_int,
)


class InferenceGaps(NamedTuple):
    """Per-image ELBOs and bounds (N,) behind the split of the inference gap, nats."""

    elbo_encoder: torch.Tensor  # ELBO(q_phi), the encoder's q
    elbo_optimized: torch.Tensor  # ELBO(q'), each image's own optimized q
    log_px: torch.Tensor  # L_k with q' as the proposal: a lower bound on log p(x)

    @property
    def approximation(self) -> torch.Tensor:
        return self.log_px - self.elbo_optimized

    @property
    def amortization(self) -> torch.Tensor:
        return self.elbo_optimized - self.elbo_encoder

    @property
    def inference(self) -> torch.Tensor:
        return self.log_px - self.elbo_encoder

    def summary(self) -> dict[str, MonteCarloEstimate]:
        """Each per-image quantity's mean over the images with its standard error (spread over the images,
        Monte Carlo noise included), in nats."""
        names = ["elbo_encoder", "elbo_optimized", "log_px", "approximation", "amortization", "inference"]
        return {name: mean_and_stderr(getattr(self, name)) for name in names}


def mean_and_stderr(values: torch.Tensor) -> MonteCarloEstimate:
    """The mean of per-image values (N,) with its standard error, std / sqrt(N)."""
    values = values.double()
    return MonteCarloEstimate(float(values.mean()), float(values.std() / math.sqrt(len(values))), len(values))


def _checked(model: nn.Module, x, mu, logvar) -> torch.Tensor:
    """x checked and moved to the model; mu, logvar checked against it (one row per image)."""
    for method in ("encode", "decode", "reconstruction_nll", "kl", "log_prior"):
        if not callable(getattr(model, method, None)):
            raise TypeError(f"model must be a vae_course latent-variable model, {type(model).__name__} lacks {method}")
    if getattr(model, "takes_labels", False):
        raise ValueError(f"model must be an unconditional model, {type(model).__name__} takes labels")
    x = require_images("x", x, getattr(model, "input_dim", None))
    x = x.to(next(model.parameters()))
    if mu is not None:
        require_mu_logvar(mu, logvar)
        if mu.shape != (len(x), model.latent_dim):
            raise ValueError(f"mu and logvar must have shape ({len(x)}, {model.latent_dim}): one row per image "
                             f"of x, got {tuple(mu.shape)}")
    return x


def _noise(shape: tuple[int, ...], generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    noise_device = like.device if generator is None else generator.device
    return torch.randn(shape, generator=generator, device=noise_device).to(like)


def _elbo(model: nn.Module, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """ELBO per image with the draws z = mu + sigma * eps (S, B, L): mean_s log p(x | z_s) - KL(q || p), (B,)."""
    z = mu + torch.exp(0.5 * logvar) * eps
    return -model.reconstruction_nll(model.decode(z), x).mean(dim=0) - model.kl(mu, logvar)


@torch.no_grad()
def elbo_at(model: nn.Module, x, mu: torch.Tensor, logvar: torch.Tensor, *, n_samples: int = 100,
            batch_size: int = 100, generator: torch.Generator | int | None = None) -> torch.Tensor:
    """ELBO(q) per image for q(z | x_n) = N(mu_n, diag(exp(logvar_n))): (N,), nats, on the CPU.

    E_q[log p(x | z)] by Monte Carlo over n_samples draws, minus the model's `kl` (exact for the N(0, I)
    VAE; for a model whose `kl` is an upper bound, this is a lower bound on the ELBO).
    """
    x = _checked(model, x, mu, logvar)
    n_samples, batch_size = require_positive_int("n_samples", n_samples), require_positive_int("batch_size", batch_size)
    generator = as_torch_generator("generator", generator)
    mu, logvar = mu.detach().to(x), logvar.detach().to(x)
    values = []
    with eval_mode(model):
        for s in range(0, len(x), batch_size):
            m, lv = mu[s:s + batch_size], logvar[s:s + batch_size]
            values.append(_elbo(model, x[s:s + batch_size], m, lv, _noise((n_samples, *m.shape), generator, m)))
    return torch.cat(values).cpu()


@torch.no_grad()
def iwae_bound_at(model: nn.Module, x, mu: torch.Tensor, logvar: torch.Tensor, k: int, *,
                  max_rows: int = 16_384, generator: torch.Generator | int | None = None) -> torch.Tensor:
    """L_k = log (1/k) sum_j p(x, z_j) / q(z_j | x), z_j ~ q = N(mu_n, diag(exp(logvar_n))): (N,), nats, CPU.

    The importance-weighted bound of `vae_course.evaluate.iwae_bound` with a proposal you give (any q makes it
    a lower bound on log p(x); the closer q is to p(z | x), the tighter). At most max_rows decoded images at once.
    """
    x = _checked(model, x, mu, logvar)
    k, max_rows = require_positive_int("k", k), require_positive_int("max_rows", max_rows)
    generator = as_torch_generator("generator", generator)
    mu, logvar = mu.detach().to(x), logvar.detach().to(x)
    batch = max(1, min(len(x), max_rows // min(k, max_rows)))
    values = []
    with eval_mode(model):
        for s in range(0, len(x), batch):
            xb, m, lv = x[s:s + batch], mu[s:s + batch], logvar[s:s + batch]
            chunk = max(1, max_rows // len(xb))
            total = torch.full((len(xb),), -math.inf, dtype=xb.dtype, device=xb.device)  # log sum_j w_j so far
            for first in range(0, k, chunk):
                eps = _noise((min(chunk, k - first), *m.shape), generator, m)  # (S, B, L)
                z = m + torch.exp(0.5 * lv) * eps
                log_q = -0.5 * (eps.pow(2) + LOG_2PI).sum(dim=-1) - 0.5 * lv.sum(dim=-1)  # log N(z; m, sigma^2)
                # log w = log p(x | z) + log p(z) - log q(z | x)
                log_w = -model.reconstruction_nll(model.decode(z), xb) + model.log_prior(z) - log_q  # (S, B)
                total = torch.logaddexp(total, torch.logsumexp(log_w, dim=0))
            values.append(total - math.log(k))
    return torch.cat(values).cpu()


def optimize_posteriors(model: nn.Module, x, *, steps: int = 100, lr: float = 0.02, n_samples: int = 10,
                        start: tuple[torch.Tensor, torch.Tensor] | None = None,
                        generator: torch.Generator | int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image's own Gaussian q(z | x_n) = N(mu_n, diag(exp(logvar_n))), fitted to maximize its ELBO.

    Starts from `start` = (mu, logvar), by default the encoder's output, and takes `steps` Adam steps (step
    size lr) on the ELBO estimated with n_samples reparameterized draws per image and the model's `kl`; the
    decoder is fixed.
    The objective is the sum of the images' ELBOs, and Adam moves each parameter on its own gradient, so
    this is N separate optimizations run side by side. Returns (mu, logvar), each (N, L), on x's device.
    Evaluate the result with fresh draws (`elbo_at` with another generator).
    """
    x = _checked(model, x, *(start if start is not None else (None, None)))  # start: one row per image
    steps, n_samples = require_positive_int("steps", steps), require_positive_int("n_samples", n_samples)
    lr = require_number("lr", lr, minimum=0.0, strict=True)
    generator = as_torch_generator("generator", generator)
    mu0, logvar0 = encode_all(model, x) if start is None else (t.detach().to(x) for t in start)
    mu, logvar = mu0.clone().requires_grad_(True), logvar0.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([mu, logvar], lr=lr)
    with eval_mode(model), torch.enable_grad():
        for _ in range(steps):
            eps = _noise((n_samples, *mu.shape), generator, mu)
            loss = -_elbo(model, x, mu, logvar, eps).sum()
            optimizer.zero_grad(set_to_none=True)
            mu.grad, logvar.grad = torch.autograd.grad(loss, [mu, logvar])  # the decoder's weights get no gradient
            optimizer.step()
    return mu.detach(), logvar.detach()


def inference_gaps(model: nn.Module, x, *, k: int = 5000, steps: int = 100, lr: float = 0.02,
                   n_samples: int = 10, elbo_samples: int = 1000,
                   generator: torch.Generator | int | None = 0) -> InferenceGaps:
    """The inference gap of each image of x split as above: the encoder's ELBO, the optimized q's ELBO (both
    from elbo_samples fresh draws) and L_k with the optimized q as the proposal, each (N,).

    Bernoulli models: pass binary images (a fixed binarization), or the numbers are no log-probabilities.
    """
    generator = as_torch_generator("generator", generator)
    x = _checked(model, x, None, None)
    mu_enc, logvar_enc = encode_all(model, x)
    mu_opt, logvar_opt = optimize_posteriors(model, x, steps=steps, lr=lr, n_samples=n_samples, generator=generator)
    return InferenceGaps(elbo_at(model, x, mu_enc, logvar_enc, n_samples=elbo_samples, generator=generator),
                         elbo_at(model, x, mu_opt, logvar_opt, n_samples=elbo_samples, generator=generator),
                         iwae_bound_at(model, x, mu_opt, logvar_opt, k, generator=generator))

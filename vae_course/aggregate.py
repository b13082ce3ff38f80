"""The aggregate posterior q(z) = mean_n q(z | x_n) of a trained encoder, and the split of the average KL term.

Over a data set x_1..x_N (each image with weight 1/N), the average of the VAE's KL term splits exactly
into two non-negative parts (Hoffman & Johnson 2016, "ELBO surgery"):

    mean_n KL(q(z | x_n) || p(z))  =  I_q(x; z)  +  KL(q(z) || p(z))

I_q(x; z) = mean_n E_{q(z|x_n)}[log q(z | x_n) - log q(z)] is the information the code carries about which
image it came from: at most log N, and 0 when every image gets the same posterior. KL(q(z) || p(z)) is how
far the aggregate posterior is from the prior. So the KL term is an upper bound on the information the
code carries, not that information itself.

`elbo_surgery` estimates the three by Monte Carlo with standard errors: z is drawn from q(z | x_n) for every
image, log q(z) is the log of the mixture of all N posteriors (no approximation of q(z) is involved), and
log p(z) is the model's own prior. The identity then holds draw by draw; what the draws estimate is
measured against the closed-form average KL where the model has one.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from .evaluate import encode_all
from .kl import LOG_2PI, MonteCarloEstimate
from .utils import eval_mode
from .validate import as_torch_generator, require_positive_int


class ElboSurgery(NamedTuple):
    """mean_n KL(q(z|x_n) || p(z)) = I_q(x; z) + KL(q(z) || p(z)), each a Monte Carlo estimate in nats."""

    average_kl: MonteCarloEstimate  # mean_n E_{q(z|x_n)}[log q(z|x_n) - log p(z)]
    mutual_information: MonteCarloEstimate  # I_q(x; z) = mean_n E_{q(z|x_n)}[log q(z|x_n) - log q(z)]
    marginal_kl: MonteCarloEstimate  # KL(q(z) || p(z)) = E_{q(z)}[log q(z) - log p(z)]
    log_n: float  # log N: I_q(x; z) <= log N for N images


def _estimate(terms: torch.Tensor) -> MonteCarloEstimate:
    """The mean of i.i.d. terms with its standard error."""
    return MonteCarloEstimate(float(terms.mean()), float(terms.std() / math.sqrt(terms.numel())), terms.numel())


def _log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last dim, broadcasting: (..., L) -> (...)."""
    return -0.5 * ((z - mu).pow(2) * torch.exp(-logvar) + logvar + LOG_2PI).sum(dim=-1)


def log_aggregate_posterior(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """log q(z) = log (1/N) sum_n N(z; mu_n, diag(exp(logvar_n))) for points z (M, L), posteriors (N, L): -> (M,)."""
    parts = []
    for zc in z.split(chunk):
        log_each = _log_normal(zc[:, None, :], mu[None], logvar[None])  # (chunk, N)
        parts.append(torch.logsumexp(log_each, dim=1) - math.log(len(mu)))
    return torch.cat(parts)


def sample_aggregate_posterior(model: nn.Module, x, n: int, *, generator: torch.Generator | int | None = None,
                               batch_size: int = 1000) -> torch.Tensor:
    """n codes drawn from q(z) = mean_n q(z | x_n): pick an image uniformly, then z ~ q(z | x_n); (n, L) on the CPU."""
    n = require_positive_int("n", n)
    generator = as_torch_generator("generator", generator)
    mu, logvar = (t.double().cpu() for t in encode_all(model, x, batch_size=batch_size))
    which = torch.randint(0, len(mu), (n,), generator=generator)
    eps = torch.randn(n, mu.shape[1], generator=generator, dtype=torch.float64)
    return mu[which] + torch.exp(0.5 * logvar[which]) * eps


def elbo_surgery(model: nn.Module, x, *, n_samples: int = 1, generator: torch.Generator | int | None = None,
                 batch_size: int = 1000) -> ElboSurgery:
    """Split the average KL term over the images of x into I_q(x; z) + KL(q(z) || p(z)), by Monte Carlo.

    n_samples codes are drawn from each q(z | x_n); each gives log q(z | x_n) - log q(z) (its share of the
    mutual information) and log q(z) - log p(z) (its share of the marginal KL), with q(z) the mixture of all
    N posteriors and p(z) the model's `log_prior`. Computed in float64 on the CPU; N log-densities per code.
    For unconditional models (p(z) does not depend on a label). The standard errors treat the terms of all
    images as one sample: that counts the spread between images too, so they err on the large side.
    """
    n_samples = require_positive_int("n_samples", n_samples)
    if getattr(model, "takes_labels", False):
        raise ValueError(f"model must be an unconditional model (its prior the same for every image), "
                         f"{type(model).__name__} takes labels")
    if not callable(getattr(model, "log_prior", None)):
        raise TypeError(f"model must have log_prior(z), {type(model).__name__} has not")
    generator = as_torch_generator("generator", generator)
    mu, logvar = (t.double().cpu() for t in encode_all(model, x, batch_size=batch_size))  # (N, L) each
    eps = torch.randn(n_samples, *mu.shape, generator=generator, dtype=torch.float64)
    z = (mu + torch.exp(0.5 * logvar) * eps).reshape(-1, mu.shape[1])  # z ~ q(z | x_n), rows n, n, ... per sample
    own = _log_normal(z, mu.repeat(n_samples, 1), logvar.repeat(n_samples, 1))  # log q(z | x_n) of its own image
    log_q = log_aggregate_posterior(z, mu, logvar)
    parameter = next(model.parameters(), None)
    with eval_mode(model):
        like = z if parameter is None else z.to(parameter)
        log_p = torch.cat([model.log_prior(zc).double().cpu() for zc in like.split(batch_size)])
    information, marginal = own - log_q, log_q - log_p
    return ElboSurgery(_estimate(information + marginal), _estimate(information), _estimate(marginal), math.log(len(mu)))

"""The reparameterization trick and the gradient estimators it is compared with.

`reparameterize` is what the VAE imports. The other functions estimate d/dtheta E_{z ~ q_theta}[f(z)]
for a Gaussian q_theta, by the pathwise (reparameterized) route and by the score-function
(REINFORCE) route, so that a lesson can measure their variances against an exact gradient.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch

from .validate import require_mu_logvar, require_positive_int


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A sample z ~ N(mu, diag(exp(logvar))) written as a differentiable function of (mu, logvar).

    z = mu + sigma * eps with sigma = exp(logvar / 2) and eps ~ N(0, I) drawn from `generator`
    (torch's global generator when None). Shapes: mu, logvar (..., D) -> z (..., D).
    """
    # the noise carries no parameter, so gradients flow through mu and sigma only; it is drawn on the
    # generator's device (a CPU generator with CUDA tensors keeps runs reproducible) and then moved
    noise_device = mu.device if generator is None else generator.device
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=noise_device).to(mu.device)
    # sigma = exp(logvar / 2): positive for every real logvar
    return mu + torch.exp(0.5 * logvar) * eps


# ----------------------------------------------------------------------------------------------
# Estimators of the gradient of E_{z ~ N(mu, diag(exp(logvar)))}[f(z)] with respect to (mu, logvar)
#
# mu and logvar have shape (..., D); the leading dimensions are independent replicates (pass
# mu.expand(R, D) to get R independent estimates at once, which is how a variance is measured).
# f maps samples (n, ..., D) -> values (n, ...), one value per sample.


class GradientEstimate(NamedTuple):
    """An estimate of (d/dmu, d/dlogvar) of an expectation; each has the shape of mu."""

    mu: torch.Tensor
    logvar: torch.Tensor


Objective = Callable[[torch.Tensor], torch.Tensor]


def _estimator_args(mu: torch.Tensor, logvar: torch.Tensor, n_samples: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    require_mu_logvar(mu, logvar)
    n_samples = require_positive_int("n_samples", n_samples)
    # fresh leaves: the estimators differentiate with respect to these, never the caller's tensors
    return mu.detach().clone().requires_grad_(True), logvar.detach().clone().requires_grad_(True), n_samples


def _values(f: Objective, z: torch.Tensor) -> torch.Tensor:
    values = f(z)
    if not isinstance(values, torch.Tensor) or values.shape != z.shape[:-1]:
        got = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
        raise ValueError(f"f must map samples of shape {tuple(z.shape)} to values of shape {tuple(z.shape[:-1])}, "
                         f"got {got}")
    return values


def pathwise_gradient(f: Objective, mu: torch.Tensor, logvar: torch.Tensor, n_samples: int,
                      generator: torch.Generator | None = None) -> GradientEstimate:
    """The reparameterization (pathwise) estimator: autograd through z = mu + sigma * eps.

    grad ~= (1/n) sum_i d f(mu + sigma * eps_i) / d(mu, logvar); needs f differentiable in z.
    """
    mu, logvar, n = _estimator_args(mu, logvar, n_samples)
    z = reparameterize(mu.expand(n, *mu.shape), logvar.expand(n, *logvar.shape), generator)  # (n, ..., D)
    # each replicate's values depend only on its own (mu, logvar), so one backward pass gives them all
    grad_mu, grad_logvar = torch.autograd.grad(_values(f, z).mean(0).sum(), (mu, logvar))
    return GradientEstimate(grad_mu, grad_logvar)


def score_function_gradient(f: Objective, mu: torch.Tensor, logvar: torch.Tensor, n_samples: int,
                            generator: torch.Generator | None = None, baseline: bool = False) -> GradientEstimate:
    """The score-function (REINFORCE) estimator: grad ~= (1/n) sum_i (f(z_i) - b_i) grad log q(z_i).

    It needs only values of f (f may be a black box, not differentiable). With `baseline=True`,
    b_i is the mean of f over the other n - 1 samples: it does not depend on z_i, so, because
    E[grad log q(z)] = 0, the estimator stays unbiased while its variance drops. Without, b_i = 0.
    """
    mu, logvar, n = _estimator_args(mu, logvar, n_samples)
    if baseline and n < 2:
        raise ValueError(f"n_samples must be >= 2 for a leave-one-out baseline, got {n}")
    with torch.no_grad():  # the samples are data here: no gradient flows through z
        z = reparameterize(mu.expand(n, *mu.shape), logvar.expand(n, *logvar.shape), generator)
        values = _values(f, z)  # (n, ...)
        if baseline:
            # b_i = (sum_j f(z_j) - f(z_i)) / (n - 1), the leave-one-out mean
            values = values - (values.sum(0, keepdim=True) - values) / (n - 1)
    # grad log q(z) by autograd on torch's own Normal density (an independent route from reparameterize)
    log_q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)  # (n, ...)
    grad_mu, grad_logvar = torch.autograd.grad((values * log_q).mean(0).sum(), (mu, logvar))
    return GradientEstimate(grad_mu, grad_logvar)

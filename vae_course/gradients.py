"""The reparameterization trick and the gradient estimators it is compared with.

`reparameterize` is what the VAE imports. The other functions estimate d/dtheta E_{z ~ q_theta}[f(z)]
for a Gaussian q_theta = N(mu, diag(exp(logvar))), by the pathwise (reparameterized) route and by the
score-function (REINFORCE) route, and `estimator_variance` gives each estimator's exact variance, so
that a lesson can measure the estimators against exact numbers. Each route holds only under its own
conditions on f, stated in its docstring; neither is always the less noisy one.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np
import torch

from .validate import (as_torch_generator, require_callable, require_flag, require_mu_logvar, require_nonempty_tensor,
                       require_positive_int)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A sample z ~ N(mu, diag(exp(logvar))) written as a differentiable function of (mu, logvar).

    z = mu + sigma * eps with sigma = exp(logvar / 2) and eps ~ N(0, I) drawn from `generator`
    (torch's global generator when None). Shapes: mu, logvar (..., D) -> z (..., D). This is the
    per-step formula: it checks nothing; its public callers check their arguments.
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
    """(d/dmu, d/dlogvar) of an expectation, or their variances; each has the shape of mu."""

    mu: torch.Tensor
    logvar: torch.Tensor


Objective = Callable[[torch.Tensor], torch.Tensor]
ESTIMATORS = ("pathwise", "score_function", "score_function_baseline")


def _check_mu_logvar(mu, logvar) -> None:
    require_mu_logvar(mu, logvar)
    require_nonempty_tensor("mu", mu)
    if mu.dtype != logvar.dtype or mu.device != logvar.device:
        raise TypeError(f"mu and logvar must have the same dtype and device, got {mu.dtype} on {mu.device} "
                        f"and {logvar.dtype} on {logvar.device}")


def _estimator_args(f, mu, logvar, n_samples, generator) -> tuple[torch.Tensor, torch.Tensor, int, torch.Generator | None]:
    require_callable("f", f)
    _check_mu_logvar(mu, logvar)
    n_samples = require_positive_int("n_samples", n_samples)
    generator = as_torch_generator("generator", generator)
    # fresh leaves: the estimators differentiate with respect to these, never the caller's tensors
    return mu.detach().clone().requires_grad_(True), logvar.detach().clone().requires_grad_(True), n_samples, generator


def _values(f: Objective, z: torch.Tensor) -> torch.Tensor:
    values = f(z)
    if not isinstance(values, torch.Tensor):
        raise TypeError(f"f must return a torch.Tensor of shape {tuple(z.shape[:-1])}, got {type(values).__name__}")
    if values.shape != z.shape[:-1]:
        raise ValueError(f"f must map samples of shape {tuple(z.shape)} to values of shape {tuple(z.shape[:-1])}, "
                         f"got {tuple(values.shape)}")
    if not bool(torch.isfinite(values.detach()).all()):
        raise ValueError("f must return finite values, got NaN or inf at some samples")
    return values


def _differentiable(values: torch.Tensor) -> torch.Tensor:
    if not values.requires_grad:
        raise ValueError("f must be differentiable in z for the pathwise estimator: its values carry no gradient "
                         "(a comparison or a rounding that cuts the graph); use score_function_gradient for such f")
    return values


def pathwise_gradient(f: Objective, mu: torch.Tensor, logvar: torch.Tensor, n_samples: int,
                      generator: torch.Generator | int | None = None) -> GradientEstimate:
    """The reparameterization (pathwise) estimator: autograd through z = mu + sigma * eps.

    grad ~= (1/n) sum_i d f(mu + sigma * eps_i) / d(mu, logvar). It is unbiased only when the gradient
    may move inside the expectation, d/dtheta E_eps[f(z_theta(eps))] = E_eps[d/dtheta f(z_theta(eps))]:
    by dominated convergence this holds when f is differentiable (a kink on a set of zero probability is
    fine, a jump is not: f continuous and piecewise differentiable) and |d/dtheta f(z_theta(eps))| <= h(eps)
    with E[h(eps)] finite for every theta near the point. A jump breaks it: for the staircase f = floor(z)
    the derivative is 0 wherever it exists, so every estimate is 0 while the true gradient is about 1 (an f
    built from a comparison, such as 1[z > 0], carries no gradient at all and is refused). It is also not
    always the less noisy estimator: for f(z) = cos(5 z), q = N(0, 1), n = 16, its variance for d/dmu is
    25/32 = 0.78, 23 times that of the score function with a baseline (1/30 = 0.033), because f' is large
    where f wiggles.
    """
    mu, logvar, n, generator = _estimator_args(f, mu, logvar, n_samples, generator)
    z = reparameterize(mu.expand(n, *mu.shape), logvar.expand(n, *logvar.shape), generator)  # (n, ..., D)
    values = _differentiable(_values(f, z))
    # each replicate's values depend only on its own (mu, logvar), so one backward pass gives them all
    grad_mu, grad_logvar = torch.autograd.grad(values.mean(0).sum(), (mu, logvar))
    return GradientEstimate(grad_mu, grad_logvar)


def score_function_gradient(f: Objective, mu: torch.Tensor, logvar: torch.Tensor, n_samples: int,
                            generator: torch.Generator | int | None = None, baseline: bool = False) -> GradientEstimate:
    """The score-function (REINFORCE) estimator: grad ~= (1/n) sum_i (f(z_i) - b_i) grad log q(z_i).

    It needs only values of f (f may be a black box, not differentiable, even discontinuous). It is
    unbiased when the gradient may move inside the integral of f against q_theta, which by dominated
    convergence holds when E_q[|f(z)| |grad_theta log q_theta(z)|] stays finite for theta near the point;
    for a Gaussian q that is any f growing slower than exp(c |z|^2) for every c > 0 (polynomials, exp(a z)).

    With `baseline=True`, b_i is the mean of f over the other n - 1 samples (n >= 2): it does not depend
    on z_i, so, because E[grad log q(z)] = 0, the estimator stays unbiased. It does NOT always lower the
    variance: the leave-one-out mean is a noisy estimate of E_q[f], and its noise enters the estimate. It
    helps when |E_q[f]| is large against the spread of f (a log-likelihood, for example), and can hurt
    otherwise: for f(z) = z, q = N(0, 1), n = 2, the variance for d/dmu rises from 1 to 2. Without, b_i = 0.
    """
    mu, logvar, n, generator = _estimator_args(f, mu, logvar, n_samples, generator)
    baseline = require_flag("baseline", baseline)
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


# ----------------------------------------------------------------------------------------------
# Exact variances, by Gauss-Hermite quadrature over eps ~ N(0, I_D)


def _quadrature(n_nodes: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes (M, D) and weights (M,) with sum_m w_m g(eps_m) ~= E[g(eps)], eps ~ N(0, I_D), M = n_nodes^D.

    The rule is exact for polynomials of degree <= 2 n_nodes - 1 in each coordinate.
    """
    nodes, weights = np.polynomial.hermite_e.hermegauss(n_nodes)  # weight function exp(-t^2 / 2)
    weights = weights / math.sqrt(2 * math.pi)
    grid = np.stack(np.meshgrid(*[nodes] * dim, indexing="ij"), axis=-1).reshape(-1, dim)
    grid_weights = np.prod(np.stack(np.meshgrid(*[weights] * dim, indexing="ij"), axis=-1).reshape(-1, dim), axis=-1)
    return torch.from_numpy(grid), torch.from_numpy(grid_weights)


def estimator_variance(f: Objective, mu: torch.Tensor, logvar: torch.Tensor, n_samples: int, estimator: str,
                       n_nodes: int = 40) -> GradientEstimate:
    """The exact variance of one estimate with n_samples samples, per coordinate of (d/dmu, d/dlogvar).

    `estimator` is "pathwise", "score_function" or "score_function_baseline" (the leave-one-out
    baseline of `score_function_gradient`). mu, logvar: (D,) with D <= 3. With eps ~ N(0, I), z = mu + sigma eps,
    the score S = (eps / sigma, (eps^2 - 1) / 2) and the pathwise term G = (f'(z), f'(z) sigma eps / 2):
      pathwise:        Var[G] / n;    score function:  Var[f(z) S] / n;
      with baseline:   the estimate is a U-statistic with kernel h = (f_a - f_b)(S_a - S_b) / 2, so
                       Var = 2 / (n (n - 1)) (2 (n - 2) zeta1 + zeta2), zeta1 = Var[(f - E f) S] / 4,
                       zeta2 = (E[f^2 S^2] + E[f^2] E[S^2]) / 2 - E[f] E[f S^2]   (per coordinate).
    The expectations are Gauss-Hermite sums with n_nodes nodes per coordinate: exact, up to rounding,
    when f is a polynomial of degree <= n_nodes - 3 (every integrand then has degree < 2 n_nodes); for
    other f they converge as n_nodes grows (check by doubling it).
    """
    require_callable("f", f)
    _check_mu_logvar(mu, logvar)
    if mu.dim() != 1 or mu.shape[0] > 3:
        raise ValueError(f"mu must have shape (D,) with D <= 3 for quadrature, got {tuple(mu.shape)}")
    n = require_positive_int("n_samples", n_samples)
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    if estimator == "score_function_baseline" and n < 2:
        raise ValueError(f"n_samples must be >= 2 for a leave-one-out baseline, got {n}")
    n_nodes = require_positive_int("n_nodes", n_nodes)
    eps, w = _quadrature(n_nodes, mu.shape[0])  # (M, D), (M,)
    mu, logvar = mu.detach().to(torch.float64), logvar.detach().to(torch.float64)
    sigma = torch.exp(0.5 * logvar)
    mean = lambda values: (w[:, None] * values).sum(0)  # E over eps of (M, 2D) -> (2D,)  # noqa: E731
    if estimator == "pathwise":
        z = (mu + sigma * eps).requires_grad_(True)
        (grad_z,) = torch.autograd.grad(_differentiable(_values(f, z)).sum(), z)  # f'(z) at every node: (M, D)
        terms = torch.cat([grad_z, grad_z * 0.5 * sigma * eps], dim=1)  # (M, 2D)
        variance = (mean(terms**2) - mean(terms) ** 2) / n
    else:
        with torch.no_grad():
            values = _values(f, mu + sigma * eps)[:, None]  # (M, 1)
        score = torch.cat([eps / sigma, 0.5 * (eps**2 - 1)], dim=1)  # (M, 2D)
        gradient = mean(values * score)
        if estimator == "score_function":
            variance = (mean((values * score) ** 2) - gradient**2) / n
        else:
            f_mean, f_square = mean(values), mean(values**2)
            zeta1 = (mean((values - f_mean) ** 2 * score**2) - gradient**2) / 4
            zeta2 = (mean(values**2 * score**2) + f_square * mean(score**2)) / 2 - f_mean * mean(values * score**2)
            variance = 2.0 / (n * (n - 1)) * (2 * (n - 2) * zeta1 + zeta2)
    d = mu.shape[0]
    return GradientEstimate(variance[:d], variance[d:])

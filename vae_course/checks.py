"""The named checks of the lessons' exercises, each against an independent reference.

Each check calls the learner's function on a few chosen inputs and compares every result with a reference
computed here another way (scipy, torch.distributions, or a closed form written out in this file). None of
them calls `vae_course.kl`, the module the lessons teach, so a bug there cannot make a wrong answer pass.
They are built on the framework in `vae_course.checking`, whose generic checks (`check_function`,
`check_value`, `check_below`, `check_shape`) are importable from here too, so a lesson needs one import:

    from vae_course.checks import check_kl_normal_1d, check_value
    check_kl_normal_1d(my_kl)      # my_kl(mu1, sigma1, mu2, sigma2) -> float
"""

from __future__ import annotations

import inspect
from typing import Callable

import numpy as np
import torch
from scipy import integrate, special, stats
from torch import distributions as td

from .checking import (  # noqa: F401  (the generic checks are re-exported for the lessons)
    check_below,
    check_function,
    check_gradients,
    check_shape,
    check_value,
    require_function,
)


# ----------------------------------------------------------------------------------------------
# Densities


def check_normal_pdf(fn: Callable) -> None:
    """fn(x, sigma) (centred at 0) or fn(x, mu, sigma): the normal density N(x; mu, sigma^2), against scipy."""
    require_function(fn)
    rng = np.random.default_rng(0)
    grid = np.linspace(-6.0, 6.0, 25)
    try:
        n_args = len([p for p in inspect.signature(fn).parameters.values()
                      if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])
    except (TypeError, ValueError):  # a builtin without a signature: assume the general form
        n_args = 3
    if n_args == 2:
        cases = [(0.0, 1.0), (grid, 1.0), (grid, 0.3), (rng.normal(size=7) * 3, 2.5)]
        check_function(fn, lambda x, sigma: stats.norm(0.0, sigma).pdf(x), cases, arg_names=("x", "sigma"),
                       rtol=1e-9, atol=1e-15,
                       hint="N(x; 0, sigma^2) = exp(-x^2 / (2 sigma^2)) / (sigma sqrt(2 pi)); sigma is a standard deviation",
                       mistakes=[("the minus sign in the exponent is missing",
                                  lambda x, s: np.exp(np.asarray(x) ** 2 / (2 * s**2)) / (s * np.sqrt(2 * np.pi))),
                                 ("sigma was used where sigma^2 belongs in the exponent",
                                  lambda x, s: np.exp(-np.asarray(x) ** 2 / (2 * s)) / (s * np.sqrt(2 * np.pi)))])
        return
    cases = [(0.0, 0.0, 1.0), (grid, 1.5, 1.0), (grid, -2.0, 0.4), (rng.normal(size=7), 0.3, 2.5)]
    check_function(fn, lambda x, mu, sigma: stats.norm(mu, sigma).pdf(x), cases, arg_names=("x", "mu", "sigma"),
                   rtol=1e-9, atol=1e-15,
                   hint="N(x; mu, sigma^2) = exp(-(x - mu)^2 / (2 sigma^2)) / (sigma sqrt(2 pi))",
                   mistakes=[("the minus sign in the exponent is missing",
                              lambda x, m, s: np.exp((np.asarray(x) - m) ** 2 / (2 * s**2)) / (s * np.sqrt(2 * np.pi))),
                             ("sigma was used where sigma^2 belongs in the exponent",
                              lambda x, m, s: np.exp(-(np.asarray(x) - m) ** 2 / (2 * s)) / (s * np.sqrt(2 * np.pi)))])


def check_mvn_logpdf(fn: Callable) -> None:
    """fn(x, mu, cov) -> float: log N(x; mu, cov) for one point x of shape (d,), against scipy."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 3))
    cov3 = a @ a.T + 0.5 * np.eye(3)
    cases = [(np.zeros(2), np.zeros(2), np.eye(2)),
             (np.array([1.0, -0.5]), np.array([0.2, 0.1]), np.array([[2.0, 0.6], [0.6, 1.0]])),
             (rng.normal(size=3), rng.normal(size=3), cov3)]

    def wrong_normalizer(x, mu, cov):  # sqrt(2 pi det(cov)) instead of (2 pi)^(d/2) det(cov)^(1/2)
        diff = x - mu
        return float(-0.5 * np.log(2 * np.pi * np.linalg.det(cov)) - 0.5 * diff @ np.linalg.solve(cov, diff))

    check_function(fn, lambda x, mu, cov: float(stats.multivariate_normal(mu, cov).logpdf(x)), cases,
                   rtol=1e-9, atol=1e-12,
                   hint="log N = -d/2 log(2 pi) - 1/2 log det(cov) - 1/2 (x - mu)^T cov^-1 (x - mu)",
                   mistakes=[("the normalizer is sqrt(2 pi det(cov)); it must be (2 pi)^(d/2) det(cov)^(1/2)",
                              wrong_normalizer)])


# ----------------------------------------------------------------------------------------------
# Discrete KL


def _kl_sum(p, q, log=np.log) -> float:
    """sum_i p_i log(p_i / q_i) with no care for zeros: the form a first attempt usually takes."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    return float(np.sum(p * log(p / q)))


def check_kl_discrete(fn: Callable) -> None:
    """fn(p, q) -> float: KL(p || q) in nats for two probability vectors, against scipy.special.rel_entr.

    Includes the two conventions: a term with p_i = 0 adds 0, and q_i = 0 < p_i makes the KL +inf.
    """
    rng = np.random.default_rng(2)
    loaded, fair = np.array([0.1, 0.1, 0.1, 0.1, 0.2, 0.4]), np.full(6, 1 / 6)
    a, b = rng.dirichlet(np.ones(5), size=2)
    cases = [(loaded, fair), (fair, loaded), (a, b), (b, b),
             (np.array([0.5, 0.5, 0.0]), np.array([0.4, 0.4, 0.2])),   # p_i = 0: that term adds 0
             (np.array([0.4, 0.4, 0.2]), np.array([0.5, 0.5, 0.0]))]   # q_i = 0 < p_i: +inf
    check_function(fn, lambda p, q: float(special.rel_entr(p, q).sum()), cases, rtol=1e-9, atol=1e-12,
                   hint="KL(p || q) = sum_i p_i log(p_i / q_i) in nats; skip terms with p_i = 0, "
                        "and return inf when some q_i = 0 < p_i",
                   mistakes=[("the arguments are swapped: that is KL(q || p)", lambda p, q: _kl_sum(q, p)),
                             ("log base 2 gives bits; the course uses nats (natural log)",
                              lambda p, q: _kl_sum(p, q, np.log2))])


def check_kl_bernoulli(fn: Callable) -> None:
    """fn(a, b) -> float: KL(Bern(a) || Bern(b)) for heads-probabilities in (0, 1), against torch.distributions."""

    def reference(a, b):
        p = td.Bernoulli(probs=torch.tensor(a, dtype=torch.float64))
        q = td.Bernoulli(probs=torch.tensor(b, dtype=torch.float64))
        return float(td.kl_divergence(p, q))

    cases = [(0.5, 0.5), (0.5, 0.3), (0.9, 0.2), (0.01, 0.5), (0.3, 0.99)]
    check_function(fn, reference, cases, rtol=1e-9, atol=1e-12,
                   hint="a coin is a distribution on two outcomes: KL = a log(a/b) + (1-a) log((1-a)/(1-b))",
                   mistakes=[("the arguments are swapped: that is KL(Bern(b) || Bern(a))",
                              lambda a, b: reference(b, a)),
                             ("only the heads term a log(a/b) is there; add the tails term",
                              lambda a, b: a * np.log(a / b))])


# ----------------------------------------------------------------------------------------------
# Gaussian KL


def _kl_normal_closed(mu1, s1, mu2, s2) -> float:
    # written out here, apart from vae_course.kl, for the mistake models only (the reference is torch's)
    return float(np.log(s2 / s1) + (s1**2 + (mu1 - mu2) ** 2) / (2 * s2**2) - 0.5)


def check_kl_normal_1d(fn: Callable) -> None:
    """fn(mu1, sigma1, mu2, sigma2) -> float: KL(N(mu1, sigma1^2) || N(mu2, sigma2^2)), against torch.distributions.

    sigma1 and sigma2 are standard deviations.
    """

    def reference(mu1, sigma1, mu2, sigma2):
        as_t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
        return float(td.kl_divergence(td.Normal(as_t(mu1), as_t(sigma1)), td.Normal(as_t(mu2), as_t(sigma2))))

    cases = [(0.0, 1.0, 0.0, 1.0), (1.0, 1.0, 0.0, 1.0), (0.0, 2.0, 0.0, 1.0), (0.0, 1.0, 0.0, 2.0),
             (0.5, 0.3, -1.0, 2.0), (2.0, 1.5, 1.0, 0.5)]
    check_function(fn, reference, cases, rtol=1e-9, atol=1e-12,
                   hint="KL = log(sigma2/sigma1) + (sigma1^2 + (mu1 - mu2)^2) / (2 sigma2^2) - 1/2",
                   mistakes=[("the arguments are swapped: that is KL(N(mu2, sigma2^2) || N(mu1, sigma1^2))",
                              lambda m1, s1, m2, s2: _kl_normal_closed(m2, s2, m1, s1)),
                             ("sigma was treated as a variance; sigma1 and sigma2 are standard deviations",
                              lambda m1, s1, m2, s2: _kl_normal_closed(m1, np.sqrt(s1), m2, np.sqrt(s2))),
                             ("the constant -1/2 is missing",
                              lambda m1, s1, m2, s2: _kl_normal_closed(m1, s1, m2, s2) + 0.5)])


def check_kl_mvn(fn: Callable, *, tensors: bool = False) -> None:
    """fn(mu1, cov1, mu2, cov2) -> float: KL between two multivariate normals with full covariances.

    The arguments are float64 NumPy arrays, or float64 torch tensors with tensors=True (the result may
    then be a 0-d tensor). The reference is torch.distributions.MultivariateNormal.
    """
    require_function(fn)
    rng = np.random.default_rng(3)

    def spd(d):
        a = rng.normal(size=(d, d))
        return a @ a.T + 0.5 * np.eye(d)

    def reference(mu1, cov1, mu2, cov2):
        p = td.MultivariateNormal(torch.from_numpy(mu1), covariance_matrix=torch.from_numpy(cov1))
        q = td.MultivariateNormal(torch.from_numpy(mu2), covariance_matrix=torch.from_numpy(cov2))
        return float(td.kl_divergence(p, q))

    def closed(mu1, cov1, mu2, cov2, quad_cov=None):
        quad_cov = cov2 if quad_cov is None else quad_cov
        diff = mu2 - mu1
        return float(0.5 * (np.log(np.linalg.det(cov2) / np.linalg.det(cov1)) - len(mu1)
                            + np.trace(np.linalg.solve(cov2, cov1)) + diff @ np.linalg.solve(quad_cov, diff)))

    cases = [(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2)),
             (np.array([1.0]), np.array([[4.0]]), np.array([0.0]), np.array([[1.0]])),
             (np.array([1.0, -1.0]), np.diag([0.5, 2.0]), np.zeros(2), np.eye(2)),
             (rng.normal(size=3), spd(3), rng.normal(size=3), spd(3))]
    learner = fn
    if tensors:
        def learner(*arrays):  # the same cases, handed over as tensors
            return fn(*(torch.from_numpy(a) for a in arrays))

    check_function(learner, reference, cases, name=getattr(fn, "__name__", "your function"), rtol=1e-8, atol=1e-10,
                   hint="KL = 1/2 [log det(cov2)/det(cov1) - d + tr(cov2^-1 cov1) + (mu2 - mu1)^T cov2^-1 (mu2 - mu1)]",
                   mistakes=[("the arguments are swapped: that is KL(N(mu2, cov2) || N(mu1, cov1))",
                              lambda m1, c1, m2, c2: closed(m2, c2, m1, c1)),
                             ("the quadratic form uses cov1^-1; it must use cov2^-1",
                              lambda m1, c1, m2, c2: closed(m1, c1, m2, c2, quad_cov=c1)),
                             ("the factor 1/2 in front is missing",
                              lambda m1, c1, m2, c2: 2 * closed(m1, c1, m2, c2))])


def _gaussian_cases(seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(mu, logvar) pairs of shape (B, D), float32: zeros, random, one row, a wide spread of variances."""
    g = torch.Generator().manual_seed(seed)
    return [(torch.zeros(2, 3), torch.zeros(2, 3)),
            (torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g)),
            (torch.randn(1, 2, generator=g), torch.zeros(1, 2)),
            (torch.zeros(3, 2), torch.tensor([[-3.0, 3.0], [1.0, -1.0], [0.5, 2.0]]))]


def check_kl_diag_std_normal(fn: Callable) -> None:
    """fn(mu, logvar) -> tensor (B,): the VAE's KL(N(mu, diag(exp(logvar))) || N(0, I)), summed over the last dim.

    mu and logvar are float32 tensors of shape (B, D); logvar = log sigma^2. Checked against
    torch.distributions, and for gradients: d KL / d mu = mu, d KL / d logvar = (exp(logvar) - 1) / 2.
    """

    def reference(mu, logvar):
        sigma = (0.5 * logvar.double()).exp()
        return td.kl_divergence(td.Normal(mu.double(), sigma), td.Normal(0.0, 1.0)).sum(dim=-1).float()

    check_function(fn, reference, _gaussian_cases(0), rtol=1e-5, atol=1e-6,
                   hint="1/2 sum over the last dim of (mu^2 + sigma^2 - log sigma^2 - 1), with sigma^2 = exp(logvar); "
                        "keep one value per row: shape (B,)",
                   mistakes=[("logvar was used as log sigma; it is log sigma^2, so sigma^2 = exp(logvar)",
                              lambda mu, lv: 0.5 * (mu**2 + (2 * lv).exp() - 2 * lv - 1).sum(-1)),
                             ("the last dim was averaged; the KL of a diagonal Gaussian is the sum over dimensions",
                              lambda mu, lv: 0.5 * (mu**2 + lv.exp() - lv - 1).mean(-1)),
                             ("the factor 1/2 is missing", lambda mu, lv: (mu**2 + lv.exp() - lv - 1).sum(-1))])
    # the KL is a loss term: its gradient must reach mu and logvar, with the right values
    mu, logvar = _gaussian_cases(1)[1]
    check_gradients(fn, {"mu": mu, "logvar": logvar}, {"mu": mu, "logvar": 0.5 * (logvar.exp() - 1)})


# ----------------------------------------------------------------------------------------------
# Reparameterization


def check_reparameterize(fn: Callable) -> None:
    """fn(mu, logvar, eps) -> z = mu + sigma * eps with sigma = exp(logvar / 2); the gradient must reach mu and logvar."""

    def reference(mu, logvar, eps):
        # sigma = sqrt(sigma^2) = sqrt(exp(logvar)), computed through the square root on purpose
        return mu + torch.sqrt(torch.exp(logvar)) * eps

    g = torch.Generator().manual_seed(4)
    cases = [(torch.zeros(2, 3), torch.zeros(2, 3), torch.randn(2, 3, generator=g)),
             (torch.randn(4, 2, generator=g), torch.randn(4, 2, generator=g), torch.randn(4, 2, generator=g)),
             (torch.tensor([[1.0, -2.0]]), torch.tensor([[2.0, -2.0]]), torch.tensor([[0.5, 1.5]]))]
    check_function(fn, reference, cases, rtol=1e-5, atol=1e-6,
                   hint="z = mu + exp(logvar / 2) * eps: eps is the only randomness, mu and sigma are moved out of it",
                   mistakes=[("exp(logvar) is the variance; multiply eps by the standard deviation exp(logvar / 2)",
                              lambda mu, lv, eps: mu + lv.exp() * eps),
                             ("logvar was used as sigma; sigma = exp(logvar / 2)", lambda mu, lv, eps: mu + lv * eps),
                             ("eps was added unscaled; it must be multiplied by sigma: mu + sigma * eps",
                              lambda mu, lv, eps: mu + eps)])
    mu, logvar, eps = cases[1]
    # d sum(z) / d mu = 1 and d sum(z) / d logvar = eps * exp(logvar / 2) / 2
    check_gradients(fn, {"mu": mu, "logvar": logvar, "eps": eps},
                     {"mu": torch.ones_like(mu), "logvar": 0.5 * eps * (0.5 * logvar).exp()})


# ----------------------------------------------------------------------------------------------
# More lessons' exercises: a bound, the uniform against the normal, gradients, per-dimension KL


def check_kl_uniform_std_normal(fn: Callable) -> None:
    """fn(a) -> float: KL(U(-a, a) || N(0, 1)) for a > 0, against scipy quadrature of p log(p / q) over [-a, a]."""

    def reference(a):
        log_p = -np.log(2 * a)  # the uniform's log-density inside [-a, a]
        value, _ = integrate.quad(lambda x: np.exp(log_p) * (log_p - stats.norm.logpdf(x)), -a, a,
                                  epsabs=1e-13, epsrel=1e-12)
        return value

    constant = 0.5 * np.log(2 * np.pi)
    check_function(fn, reference, [(0.1,), (0.5,), (1.0,), (1.5,), (4.0,)], rtol=1e-8, atol=1e-10,
                   hint="KL = E_p[log p(x) - log q(x)] with log p = -log(2a) on [-a, a] and E_p[x^2] = a^2/3",
                   mistakes=[("E_p[x^2 / 2] = a^2/6: the 1/2 of the Gaussian's exponent is missing (a^2/3)",
                              lambda a: -np.log(2 * a) + constant + a**2 / 3),
                             ("U(-a, a) has width 2a: its log-density is -log(2a), not -log(a)",
                              lambda a: -np.log(a) + constant + a**2 / 6),
                             ("the sign of a term is flipped: KL = -log(2a) + log(2 pi)/2 + a^2/6",
                              lambda a: np.log(2 * a) + constant + a**2 / 6)])


def _kl_normal_1d_gradient(wrt: int) -> Callable:
    """The derivative of torch's KL(N(mu1, sigma1^2) || N(mu2, sigma2^2)) by argument `wrt` (0: mu1, 1: sigma1)."""

    def reference(mu1, sigma1, mu2, sigma2):
        args = [torch.tensor(float(v), dtype=torch.float64, requires_grad=(i == wrt))
                for i, v in enumerate((mu1, sigma1, mu2, sigma2))]
        td.kl_divergence(td.Normal(args[0], args[1]), td.Normal(args[2], args[3])).backward()
        return float(args[wrt].grad)

    return reference


_GRADIENT_CASES = [(0.0, 1.0, 0.0, 1.0), (0.7, 0.6, -0.4, 1.3), (2.0, 0.5, 0.0, 1.0), (-1.0, 2.0, 0.5, 0.7)]


def check_kl_normal_1d_grad_mu1(fn: Callable) -> None:
    """fn(mu1, sigma1, mu2, sigma2) -> float: d KL(N(mu1, sigma1^2) || N(mu2, sigma2^2)) / d mu1, by autograd."""
    check_function(fn, _kl_normal_1d_gradient(0), _GRADIENT_CASES, rtol=1e-9, atol=1e-12,
                   hint="only the term (mu1 - mu2)^2 / (2 sigma2^2) of the KL depends on mu1",
                   mistakes=[("the sign is flipped: the KL grows as mu1 moves away from mu2",
                              lambda m1, s1, m2, s2: (m2 - m1) / s2**2),
                             ("the denominator is sigma2^2 (the second distribution's variance), not sigma1^2",
                              lambda m1, s1, m2, s2: (m1 - m2) / s1**2)])


def check_kl_normal_1d_grad_sigma1(fn: Callable) -> None:
    """fn(mu1, sigma1, mu2, sigma2) -> float: d KL(N(mu1, sigma1^2) || N(mu2, sigma2^2)) / d sigma1, by autograd."""
    check_function(fn, _kl_normal_1d_gradient(1), _GRADIENT_CASES, rtol=1e-9, atol=1e-12,
                   hint="two terms depend on sigma1: log(sigma2 / sigma1) and sigma1^2 / (2 sigma2^2)",
                   mistakes=[("the derivative of log(sigma2 / sigma1), -1 / sigma1, is missing",
                              lambda m1, s1, m2, s2: s1 / s2**2),
                             ("the sign is flipped", lambda m1, s1, m2, s2: 1 / s1 - s1 / s2**2),
                             ("d/dsigma1 of sigma1^2 / (2 sigma2^2) is sigma1 / sigma2^2: a factor 2 is lost",
                              lambda m1, s1, m2, s2: -1 / s1 + s1 / (2 * s2**2))])


def check_kl_normal_from_logvar(fn: Callable) -> None:
    """fn(mu, logvar) -> KL(N(mu, exp(logvar)) || N(0, 1)), elementwise on floats or NumPy arrays, against torch."""

    def reference(mu, logvar):
        mu_t, logvar_t = torch.as_tensor(mu, dtype=torch.float64), torch.as_tensor(logvar, dtype=torch.float64)
        kl = td.kl_divergence(td.Normal(mu_t, torch.sqrt(torch.exp(logvar_t))), td.Normal(0.0, 1.0)).numpy()
        return float(kl) if kl.ndim == 0 else kl

    rng = np.random.default_rng(5)
    cases = [(0.0, 0.0), (1.0, 0.0), (0.0, np.log(4.0)), (np.array([0.0, 1.5, -0.3]), np.log([1.0, 0.04, 6.25])),
             (rng.normal(size=6), rng.normal(size=6))]
    check_function(fn, reference, cases, rtol=1e-9, atol=1e-12,
                   hint="KL = (mu^2 + sigma^2 - log sigma^2 - 1) / 2 with sigma^2 = exp(logvar), elementwise",
                   mistakes=[("logvar was used as log sigma; it is log sigma^2, so sigma^2 = exp(logvar)",
                              lambda mu, lv: 0.5 * (np.square(mu) + np.exp(2 * np.asarray(lv))
                                                    - 2 * np.asarray(lv) - 1)),
                             ("the factor 1/2 is missing",
                              lambda mu, lv: np.square(mu) + np.exp(lv) - np.asarray(lv) - 1)])


def check_kl_same_cov(fn: Callable) -> None:
    """fn(mu1, mu2, cov) -> float: KL(N(mu1, cov) || N(mu2, cov)) for NumPy arrays, against torch.distributions."""
    rng = np.random.default_rng(6)
    a = rng.normal(size=(4, 4))
    cov4, m1, m2 = a @ a.T + np.eye(4), rng.normal(size=4), rng.normal(size=4)

    def reference(mu1, mu2, cov):
        cov_t = torch.from_numpy(cov)
        return float(td.kl_divergence(td.MultivariateNormal(torch.from_numpy(mu1), covariance_matrix=cov_t),
                                      td.MultivariateNormal(torch.from_numpy(mu2), covariance_matrix=cov_t)))

    cases = [(np.zeros(2), np.zeros(2), np.eye(2)), (np.array([1.0]), np.array([-1.0]), np.array([[4.0]])),
             (np.array([1.0, 0.5]), np.array([0.0, 0.0]), np.array([[2.0, 0.6], [0.6, 1.0]])),
             (m1, m2, cov4), (m2, m1, cov4)]
    check_function(fn, reference, cases, rtol=1e-8, atol=1e-10,
                   hint="with equal covariances the log-det and trace terms cancel: "
                        "KL = (mu2 - mu1)^T cov^-1 (mu2 - mu1) / 2",
                   mistakes=[("the factor 1/2 is missing",
                              lambda m1, m2, c: float((m2 - m1) @ np.linalg.solve(c, m2 - m1))),
                             ("the quadratic form needs the inverse covariance, cov^-1, not cov",
                              lambda m1, m2, c: float(0.5 * (m2 - m1) @ c @ (m2 - m1)))])


def check_kl_per_dimension(fn: Callable) -> None:
    """fn(mu, logvar) -> tensor (D,): the mean over the N rows of each dimension's KL(N(mu, exp(logvar)) || N(0, 1)).

    mu and logvar are float32 tensors of shape (N, D); the reference is torch.distributions.
    """

    def reference(mu, logvar):
        sigma = torch.sqrt(torch.exp(logvar.double()))
        return td.kl_divergence(td.Normal(mu.double(), sigma), td.Normal(0.0, 1.0)).mean(dim=0).float()

    check_function(fn, reference, _gaussian_cases(5), rtol=1e-5, atol=1e-6,
                   hint="the KL of each entry is (mu^2 + exp(logvar) - logvar - 1) / 2; average over the rows "
                        "(dim 0), keeping one value per latent dimension: shape (D,)",
                   mistakes=[("the rows were summed; average them (dim 0) instead",
                              lambda mu, lv: 0.5 * (mu**2 + lv.exp() - lv - 1).sum(0)),
                             ("logvar was used as log sigma; it is log sigma^2, so sigma^2 = exp(logvar)",
                              lambda mu, lv: 0.5 * (mu**2 + (2 * lv).exp() - 2 * lv - 1).mean(0))])

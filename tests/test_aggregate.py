"""vae_course.aggregate: the split mean_n KL(q(z|x_n) || p(z)) = I_q(x; z) + KL(q(z) || p(z)) against
references computed by quadrature on 1-D latents, where every term is an ordinary integral."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch import nn

from vae_course.aggregate import elbo_surgery, log_aggregate_posterior, sample_aggregate_posterior
from vae_course.conditional import ConcatCVAE
from vae_course.vae import VAE


class Posteriors(nn.Module):
    """A stub encoder: image n is the one-hot row e_n and gets q(z | x_n) = N(means[n], sigmas[n]^2) in 1-D;
    the prior is N(0, 1)."""

    def __init__(self, means, sigmas):
        super().__init__()
        self.means = torch.tensor(means, dtype=torch.float64)[:, None]
        self.logvars = 2 * torch.log(torch.tensor(sigmas, dtype=torch.float64))[:, None]

    def encode(self, x):
        return x @ self.means, x @ self.logvars

    def log_prior(self, z):
        return -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)

    @property
    def images(self):
        return torch.eye(len(self.means), dtype=torch.float64)


def by_quadrature(means, sigmas):
    """(average KL, I_q, KL(q(z) || p(z))) for 1-D Gaussian posteriors and a N(0, 1) prior, by scipy.integrate."""
    posts = [stats.norm(m, s) for m, s in zip(means, sigmas)]
    q = lambda z: np.mean([p.pdf(z) for p in posts])  # noqa: E731
    lo, hi = min(means) - 12 * max(sigmas), max(means) + 12 * max(sigmas)
    points = sorted(means)
    info = np.mean([integrate.quad(lambda z, p=p: p.pdf(z) * (p.logpdf(z) - np.log(q(z))), lo, hi,
                                   points=points, limit=400)[0] for p in posts])
    marginal = integrate.quad(lambda z: q(z) * (np.log(q(z)) - stats.norm.logpdf(z)), lo, hi, points=points, limit=400)[0]
    average = np.mean([np.log(1 / s) + (s**2 + m**2) / 2 - 0.5 for m, s in zip(means, sigmas)])  # closed form
    return average, info, marginal


@pytest.mark.parametrize("means, sigmas", [
    ([0.3] * 4, [0.5] * 4),  # every image gets the same posterior: no information at all
    ([-20.0, 20.0], [1.0, 1.0]),  # two posteriors that never overlap: log 2 nats of information
    ([-1.2, -0.1, 0.4, 0.9, 2.0], [0.3, 0.8, 0.2, 0.5, 1.1]),  # overlapping ones
])
def test_each_term_matches_quadrature_within_its_standard_error(means, sigmas):
    stub = Posteriors(means, sigmas)
    split = elbo_surgery(stub, stub.images, n_samples=60_000, generator=0)  # a 0.01-nat bias is > 5 stderr
    average, info, marginal = by_quadrature(means, sigmas)
    for estimate, exact in ((split.average_kl, average), (split.mutual_information, info), (split.marginal_kl, marginal)):
        assert abs(estimate.mean - exact) < 5 * estimate.stderr + 1e-12, (estimate, exact)
    assert math.isclose(split.average_kl.mean, split.mutual_information.mean + split.marginal_kl.mean, abs_tol=1e-9)
    assert split.log_n == pytest.approx(math.log(len(means)))


def test_identical_posteriors_carry_no_information_draw_by_draw():
    stub = Posteriors([0.3] * 4, [0.5] * 4)
    split = elbo_surgery(stub, stub.images, n_samples=100, generator=1)
    assert abs(split.mutual_information.mean) < 1e-12 and split.mutual_information.stderr < 1e-12


def test_the_information_never_exceeds_log_n():
    stub = Posteriors([-50.0, 0.0, 50.0], [0.1, 0.1, 0.1])  # far apart: every draw identifies its image
    split = elbo_surgery(stub, stub.images, n_samples=200, generator=2)
    assert split.mutual_information.mean <= split.log_n + 1e-12
    assert split.mutual_information.mean == pytest.approx(math.log(3), abs=1e-9)


def test_on_a_vae_the_estimated_average_kl_is_its_closed_form_kl_term():
    torch.manual_seed(0)
    model = VAE(input_dim=12, hidden_dim=8, latent_dim=3)
    x = torch.bernoulli(torch.full((300, 12), 0.4), generator=torch.Generator().manual_seed(1))
    split = elbo_surgery(model, x, n_samples=20, generator=3)
    with torch.no_grad():
        closed = float(model.kl(*model.encode(x)).mean())
    assert abs(split.average_kl.mean - closed) < 5 * split.average_kl.stderr, (split.average_kl, closed)
    assert 0 <= split.mutual_information.mean <= split.log_n


def test_log_aggregate_posterior_is_the_mixture_density():
    mu, logvar = torch.tensor([[0.0, 1.0], [2.0, -1.0]], dtype=torch.float64), torch.tensor([[0.0, 0.5], [-1.0, 0.0]], dtype=torch.float64)
    z = torch.tensor([[0.3, 0.2], [1.5, -0.7], [9.0, 9.0]], dtype=torch.float64)
    comps = [stats.multivariate_normal(m.numpy(), np.diag(np.exp(v.numpy()))) for m, v in zip(mu, logvar)]
    expected = np.log(np.mean([c.pdf(z.numpy()) for c in comps], axis=0))
    np.testing.assert_allclose(log_aggregate_posterior(z, mu, logvar, chunk=2).numpy(), expected, rtol=1e-10)


def test_sample_aggregate_posterior_draws_from_the_mixture():
    stub = Posteriors([-3.0, 3.0], [0.5, 0.5])
    z = sample_aggregate_posterior(stub, stub.images, 20_000, generator=4)[:, 0].numpy()
    assert z.shape == (20_000,) and abs(np.mean(z > 0) - 0.5) < 5 * 0.5 / math.sqrt(20_000)
    mixture_cdf = lambda t: 0.5 * stats.norm(-3, 0.5).cdf(t) + 0.5 * stats.norm(3, 0.5).cdf(t)  # noqa: E731
    assert stats.kstest(z, mixture_cdf).pvalue > 1e-3


def test_bad_input_is_refused_by_name():
    stub = Posteriors([0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        elbo_surgery(stub, stub.images, n_samples=0)
    with pytest.raises(ValueError, match="model must be an unconditional model"):
        elbo_surgery(ConcatCVAE(input_dim=12, hidden_dim=4, latent_dim=2, n_classes=3), torch.rand(4, 12))
    with pytest.raises(ValueError, match=r"x must hold pixel values in \[0, 1\]"):
        elbo_surgery(stub, stub.images * 3)
    with pytest.raises(TypeError, match="generator must be"):
        sample_aggregate_posterior(stub, stub.images, 5, generator="0")

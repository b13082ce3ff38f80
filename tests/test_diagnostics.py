"""Posterior-collapse diagnostics (active units, KL per dimension) and the Gaussian-likelihood VAE.

The diagnostics are checked on a stub encoder whose means and variances are known exactly, against
numpy and torch.distributions; the Gaussian likelihood against torch.distributions.Normal.
"""

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from vae_course.checkpoints import load_checkpoint, save_checkpoint
from vae_course.evaluate import active_units, kl_per_dimension
from vae_course.models import VAE, GaussianVAE, gaussian_nll
from vae_course.train import fit


class StubEncoder(nn.Module):
    """encode(x) = (x @ scales, fixed logvar): latent dimension j is scales[j] times a column of x."""

    def __init__(self, scales: torch.Tensor, logvar: torch.Tensor):
        super().__init__()
        self.scales = nn.Parameter(scales, requires_grad=False)  # (D, L)
        self.logvar = logvar  # (L,)

    def encode(self, x):
        return x @ self.scales, self.logvar.expand(len(x), -1)


@pytest.fixture
def stub():
    # 40 images of 2 "pixels": each column is +1 for half of the images and -1 for the other half, so its
    # variance over the images is exactly 1 and the variance of c * column is exactly c^2
    x = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]], dtype=torch.float64).repeat(10, 1)
    scales = torch.tensor([[1.0, 0.2, 0.0, 0.0, 0.0],
                           [0.0, 0.0, 0.05, 0.0, 0.5]], dtype=torch.float64)  # dim 3 never moves
    logvar = torch.tensor([-2.0, -1.0, 0.0, 0.0, 0.5], dtype=torch.float64)
    return StubEncoder(scales, logvar), x


def test_active_units_follows_burdas_definition(stub):
    model, x = stub
    result = active_units(model, x)
    mu = (x @ model.scales).numpy()
    assert np.allclose(result.variance.numpy(), np.var(mu, axis=0))  # numpy's variance, divided by N
    assert np.allclose(result.variance.numpy(), [1.0, 0.04, 0.0025, 0.0, 0.25])
    assert result.count == 3 and result.active.tolist() == [True, True, False, False, True]
    assert active_units(model, x, threshold=0.001).count == 4  # 0.0025 > 0.001
    assert active_units(model, x, threshold=0.5).count == 1


def test_kl_per_dimension_matches_torch_distributions_and_adds_up(stub):
    model, x = stub
    mu, logvar = model.encode(x)
    reference = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).mean(dim=0)
    per_dim = kl_per_dimension(model, x)
    assert per_dim.shape == (5,) and torch.allclose(per_dim, reference)
    # dim 3 has mu = 0 and sigma = 1 for every image: q = prior, no KL at all
    assert float(per_dim[3]) == 0.0
    assert torch.allclose(kl_per_dimension(model, x, batch_size=3), per_dim)  # batching changes nothing


def test_a_vae_with_one_silenced_dimension_shows_it_in_both_diagnostics():
    torch.manual_seed(0)
    model = VAE(input_dim=12, hidden_dim=16, latent_dim=4)
    with torch.no_grad():  # dimension 2: mu = 0 and log sigma^2 = 0 for every input, i.e. q(z_2 | x) = N(0, 1)
        for head in (model.to_mu, model.to_logvar):
            head.weight[2].zero_()
            head.bias[2].zero_()
    x = torch.bernoulli(torch.full((200, 12), 0.4), generator=torch.Generator().manual_seed(1))
    model.train()
    result, per_dim = active_units(model, x, threshold=1e-6), kl_per_dimension(model, x)
    assert model.training, "the diagnostics must leave the model in the mode they found it in"
    assert result.active.tolist() == [True, True, False, True] and float(result.variance[2]) == 0.0
    assert float(per_dim[2]) == 0.0 and bool((per_dim[[0, 1, 3]] > 0).all())


def test_the_diagnostics_refuse_bad_input(stub):
    model, x = stub
    with pytest.raises(ValueError, match="threshold must be a finite number > 0"):
        active_units(model, x, threshold=0.0)
    with pytest.raises(ValueError, match="threshold must be a finite number > 0"):
        active_units(model, x, threshold=float("nan"))
    with pytest.raises(ValueError, match="x must hold at least 2 images"):
        active_units(model, x[:1])
    with pytest.raises(ValueError, match="x must have at least 2 dimension"):
        kl_per_dimension(model, x[0])
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        kl_per_dimension(model, x, batch_size=0)
    with pytest.raises(ValueError, match="x must be finite"):
        active_units(model, torch.full_like(x, float("nan")))


# ----------------------------------------------------------------------------------------------
# Gaussian likelihood


def test_gaussian_nll_matches_torch_distributions_and_can_be_negative():
    g = torch.Generator().manual_seed(0)
    mean, x = torch.rand(6, 9, generator=g, dtype=torch.float64), torch.rand(6, 9, generator=g, dtype=torch.float64)
    for logvar in (torch.tensor(-3.0, dtype=torch.float64), torch.randn(6, 9, generator=g, dtype=torch.float64)):
        expected = -Normal(mean, torch.exp(0.5 * logvar)).log_prob(x).sum(dim=-1)
        assert torch.allclose(gaussian_nll(mean, logvar, x), expected)
    # a density, not a probability: with sigma = 0.01 and x at the mean, -log N = 1/2 log(2 pi 1e-4) < 0 per pixel
    at_mean = gaussian_nll(mean, torch.tensor(math.log(1e-4), dtype=torch.float64), mean)
    assert torch.allclose(at_mean, torch.full((6,), 9 * 0.5 * math.log(2 * math.pi * 1e-4), dtype=torch.float64))


def test_gaussian_vae_loss_is_the_gaussian_negative_elbo():
    torch.manual_seed(0)
    model = GaussianVAE(input_dim=12, hidden_dim=8, latent_dim=3, init_logvar=-2.0)
    x = torch.rand(10, 12, generator=torch.Generator().manual_seed(1))
    terms = model.loss(x, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        mu, logvar = model.encode(x)
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(2))
        mean = torch.sigmoid(model.decode(mu + torch.exp(0.5 * logvar) * eps))
        recon = -Normal(mean, math.exp(0.5 * -2.0)).log_prob(x).sum(dim=1).mean()
        kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(dim=1).mean()
    assert torch.allclose(terms.recon, recon, rtol=1e-5) and torch.allclose(terms.kl, kl, rtol=1e-5)
    assert torch.allclose(terms.total, recon + kl, rtol=1e-5)


def test_gaussian_vae_learns_its_variance_and_survives_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = GaussianVAE(input_dim=12, hidden_dim=8, latent_dim=2, init_logvar=0.0)
    x = torch.rand(64, 12, generator=torch.Generator().manual_seed(1))
    fit(model, x, epochs=10, batch_size=16, lr=5e-2, progress=False)
    # the pixels are independent and uniform: the best decoder outputs 1/2 and the best sigma^2 is their
    # variance 1/12 (log = -2.48); sigma^2 = 1 (log = 0), where training starts, is far too wide
    assert math.log(1 / 12) - 1.0 < float(model.pixel_logvar.detach()) < -1.0
    save_checkpoint(tmp_path / "g.pt", model)
    loaded, _, _ = load_checkpoint(tmp_path / "g.pt")
    assert type(loaded) is GaussianVAE and loaded.config() == model.config()
    assert torch.equal(loaded.pixel_logvar, model.pixel_logvar.detach())


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), "0", True])
def test_gaussian_vae_refuses_a_bad_initial_variance(bad):
    with pytest.raises(ValueError, match="init_logvar must be a finite number"):
        GaussianVAE(init_logvar=bad)

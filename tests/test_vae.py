"""vae_course.vae: shapes, the likelihoods and the loss against torch.distributions, free bits, sampling,
the Gaussian-pixel VAE, and refused settings."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Bernoulli, Normal, kl_divergence

from vae_course.checkpoints import load_checkpoint, save_checkpoint
from vae_course.train import fit
from vae_course.vae import VAE, GaussianVAE, Loss, bernoulli_nll, free_bits_kl, gaussian_nll, kl_elementwise


@pytest.fixture
def model():
    torch.manual_seed(0)
    return VAE(input_dim=12, hidden_dim=7, latent_dim=3)


def kl_by_dimension_reference(mu: torch.Tensor, logvar: torch.Tensor) -> list[float]:
    """Batch-mean KL of each latent dimension, from torch.distributions, one dimension at a time."""
    prior = Normal(0.0, 1.0)
    return [float(kl_divergence(Normal(mu[:, j], torch.exp(0.5 * logvar[:, j])), prior).mean())
            for j in range(mu.shape[1])]


def binary(n: int, d: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.bernoulli(torch.full((n, d), 0.4), generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------------------------
# The network


def test_default_network_is_the_articles_784_200_10():
    vae = VAE()
    first = vae.encoder.hidden[0]
    assert (first.in_features, first.out_features, vae.encoder.to_mu.out_features) == (784, 200, 10)
    # 784*200+200 (encoder) + 2*(200*10+10) (mu, logvar) + 10*200+200 + 200*784+784 (decoder)
    assert sum(p.numel() for p in vae.parameters()) == 157_000 + 4_020 + 2_200 + 157_584
    assert vae.config() == {"input_dim": 784, "hidden_dim": 200, "latent_dim": 10, "free_bits": 0.0}


def test_shapes(model):
    x = torch.rand(5, 12)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, 3)
    logits, mu2, _ = model(x)
    assert logits.shape == (5, 12) and torch.equal(mu, mu2)
    assert model.decode(torch.zeros(4, 6, 3)).shape == (4, 6, 12)  # any leading dims
    assert model.kl(mu, logvar).shape == (5,) and model.log_prior(torch.zeros(4, 6, 3)).shape == (4, 6)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"input_dim": 0}, ValueError, "input_dim must be a positive integer"),
    ({"latent_dim": 2.5}, TypeError, "latent_dim must be a positive integer"),
    ({"hidden_dim": True}, TypeError, "hidden_dim must be a positive integer"),
    ({"free_bits": -0.1}, ValueError, "free_bits must be >= 0"),
    ({"free_bits": float("nan")}, ValueError, "free_bits must be finite"),
    ({"free_bits": "1"}, TypeError, "free_bits must be a real number"),
    ({"free_bits": torch.tensor(0.5, requires_grad=True)}, TypeError, "free_bits must be a real number"),
])
def test_bad_settings_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        VAE(**kwargs)


def test_sample_gives_probabilities_and_follows_the_generator(model):
    a = model.sample(8, generator=torch.Generator().manual_seed(0))
    b = model.sample(8, generator=torch.Generator().manual_seed(0))
    assert a.shape == (8, 12) and torch.equal(a, b)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    z = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, torch.sigmoid(model.decode(z)))
    for bad, error in ((0, ValueError), (2.0, TypeError)):
        with pytest.raises(error, match="n must be a positive integer"):
            model.sample(bad)


# ----------------------------------------------------------------------------------------------
# Likelihoods, the KL and the loss, against torch.distributions


def test_bernoulli_nll_matches_torch_distributions():
    logits = torch.randn(4, 9, generator=torch.Generator().manual_seed(1)) * 5
    x = torch.bernoulli(torch.full((4, 9), 0.4), generator=torch.Generator().manual_seed(2))
    expected = -Bernoulli(logits=logits).log_prob(x).sum(-1)
    torch.testing.assert_close(bernoulli_nll(logits, x), expected)


def test_gaussian_nll_matches_torch_distributions_and_can_be_negative():
    g = torch.Generator().manual_seed(0)
    mean, x = torch.rand(6, 9, generator=g, dtype=torch.float64), torch.rand(6, 9, generator=g, dtype=torch.float64)
    for logvar in (torch.tensor(-3.0, dtype=torch.float64), torch.randn(6, 9, generator=g, dtype=torch.float64)):
        expected = -Normal(mean, torch.exp(0.5 * logvar)).log_prob(x).sum(dim=-1)
        assert torch.allclose(gaussian_nll(mean, logvar, x), expected)
    # a density, not a probability: with sigma = 0.01 and x at the mean, -log N = 1/2 log(2 pi 1e-4) < 0 per pixel
    at_mean = gaussian_nll(mean, torch.tensor(math.log(1e-4), dtype=torch.float64), mean)
    assert torch.allclose(at_mean, torch.full((6,), 9 * 0.5 * math.log(2 * math.pi * 1e-4), dtype=torch.float64))


def test_kl_elementwise_and_log_prior_match_torch_distributions(model):
    g = torch.Generator().manual_seed(3)
    mu, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0))
    torch.testing.assert_close(kl_elementwise(mu, logvar), expected)
    torch.testing.assert_close(model.kl(mu, logvar), expected.sum(-1))
    z = torch.randn(2, 5, 3, generator=g)
    torch.testing.assert_close(model.log_prior(z), Normal(0.0, 1.0).log_prob(z).sum(-1))


def test_loss_is_recon_plus_beta_kl_against_torch_distributions(model):
    x = binary(6, seed=3)
    loss = model.loss(x, beta=0.25, generator=torch.Generator().manual_seed(4))
    assert isinstance(loss, Loss) and set(loss.parts) == {"recon", "kl"} and loss["kl"] is loss.parts["kl"]
    # the same z by hand: z = mu + sigma * eps with the same generator's eps
    mu, logvar = model.encode(x)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(4))
    z = mu + torch.exp(0.5 * logvar) * eps
    recon = -Bernoulli(logits=model.decode(z)).log_prob(x).sum(-1).mean()
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(-1).mean()
    torch.testing.assert_close(loss["recon"], recon)
    torch.testing.assert_close(loss["kl"], kl)
    torch.testing.assert_close(loss.total, recon + 0.25 * kl)


def test_loss_takes_any_leading_batch_and_gives_scalars(model):
    loss = model.loss(binary(1))
    assert loss.total.shape == () and all(part.shape == () for part in loss.parts.values())


# ----------------------------------------------------------------------------------------------
# Free bits


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), free_bits=st.sampled_from([0.0, 0.05, 0.3, 1.0, 4.0]))
def test_free_bits_kl_matches_a_dimension_by_dimension_reference(seed, free_bits):
    g = torch.Generator().manual_seed(seed)
    mu = 2.0 * torch.randn(7, 5, generator=g, dtype=torch.float64)
    logvar = torch.randn(7, 5, generator=g, dtype=torch.float64)
    expected = sum(max(free_bits, kl_j) for kl_j in kl_by_dimension_reference(mu, logvar))
    assert math.isclose(float(free_bits_kl(mu, logvar, free_bits)), expected, rel_tol=1e-10)


def test_free_bits_zero_is_the_plain_kl_and_a_large_floor_is_flat():
    g = torch.Generator().manual_seed(3)
    mu, logvar = torch.randn(6, 4, generator=g), 0.3 * torch.randn(6, 4, generator=g)
    plain = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(dim=1).mean()
    assert torch.allclose(free_bits_kl(mu, logvar, 0.0), plain, rtol=1e-6)
    assert float(free_bits_kl(mu, logvar, 100.0)) == pytest.approx(4 * 100.0)


def test_free_bits_give_no_gradient_below_the_floor_and_the_plain_gradient_above():
    mu = torch.tensor([[3.0, 0.1], [2.0, -0.1]], requires_grad=True)  # dim 0: KL ~ 3.2 nats, dim 1: ~ 0.005
    logvar = torch.zeros(2, 2, requires_grad=True)
    free_bits_kl(mu, logvar, 0.5).backward()
    # the plain KL's gradient: d/dmu of mean_b 1/2 mu^2 = mu / B, d/dlogvar of 1/2 (e^logvar - logvar - 1) = 0 at 0
    assert torch.allclose(mu.grad[:, 0], mu.detach()[:, 0] / 2)
    assert torch.equal(mu.grad[:, 1], torch.zeros(2)) and torch.equal(logvar.grad, torch.zeros(2, 2))


def test_a_vae_with_free_bits_charges_the_floored_kl_and_reports_the_true_kl():
    torch.manual_seed(0)
    plain_model = VAE(input_dim=12, hidden_dim=8, latent_dim=3)
    floored_model = VAE(input_dim=12, hidden_dim=8, latent_dim=3, free_bits=0.4)
    floored_model.load_state_dict(plain_model.state_dict())
    x = binary(10)
    plain = plain_model.loss(x, beta=2.0, generator=torch.Generator().manual_seed(5))
    floored = floored_model.loss(x, beta=2.0, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        mu, logvar = plain_model.encode(x)
    expected_penalty = sum(max(0.4, kl_j) for kl_j in kl_by_dimension_reference(mu, logvar))
    assert torch.equal(floored["recon"], plain["recon"]) and torch.equal(floored["kl"], plain["kl"])
    assert math.isclose(float(floored.total.detach()), float(plain["recon"].detach()) + 2.0 * expected_penalty, rel_tol=1e-5)
    assert floored_model.config()["free_bits"] == 0.4


# ----------------------------------------------------------------------------------------------
# Gaussian pixels


def test_gaussian_vae_loss_is_the_gaussian_negative_elbo():
    torch.manual_seed(0)
    model = GaussianVAE(input_dim=12, hidden_dim=8, latent_dim=3, init_logvar=-2.0)
    x = torch.rand(10, 12, generator=torch.Generator().manual_seed(1))
    loss = model.loss(x, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        mu, logvar = model.encode(x)
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(2))
        mean = torch.sigmoid(model.decode(mu + torch.exp(0.5 * logvar) * eps))
        recon = -Normal(mean, math.exp(0.5 * -2.0)).log_prob(x).sum(dim=1).mean()
        kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(dim=1).mean()
    assert torch.allclose(loss["recon"], recon, rtol=1e-5) and torch.allclose(loss["kl"], kl, rtol=1e-5)
    assert torch.allclose(loss.total, recon + kl, rtol=1e-5)


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


def test_a_gaussian_vae_can_give_its_variance_a_step_size_of_its_own():
    from vae_course.train import make_optimizer

    torch.manual_seed(0)
    model = GaussianVAE(input_dim=12, hidden_dim=8, latent_dim=2, logvar_lr=0.05)
    groups = make_optimizer(model, 1e-3).param_groups
    assert [g["lr"] for g in groups] == [1e-3, 0.05] and groups[1]["params"] == [model.pixel_logvar]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert [g["lr"] for g in make_optimizer(GaussianVAE(input_dim=12, hidden_dim=8), 1e-3).param_groups] == [1e-3]
    with pytest.raises(ValueError, match="logvar_lr must be > 0"):
        GaussianVAE(logvar_lr=0.0)


@pytest.mark.parametrize("bad, error", [(float("inf"), ValueError), (float("nan"), ValueError), ("0", TypeError),
                                        (True, TypeError)])
def test_gaussian_vae_refuses_a_bad_initial_variance(bad, error):
    with pytest.raises(error, match="init_logvar must be"):
        GaussianVAE(init_logvar=bad)


@pytest.mark.parametrize("x, kwargs, error, message", [
    (torch.zeros(0, 12), {}, ValueError, r"x must be a non-empty batch of shape \(B, 12\)"),
    (torch.rand(3, 11), {}, ValueError, r"x must be a non-empty batch of shape \(B, 12\), got shape \(3, 11\)"),
    (torch.rand(3, 12).double(), {}, TypeError, "x is torch.float64 .* but the model's weights are torch.float32"),
    (torch.ones(3, 12, dtype=torch.long), {}, TypeError, "x must be a floating-point tensor"),
    (torch.rand(3, 12), {"beta": float("nan")}, ValueError, "beta must be finite"),
    (torch.rand(3, 12), {"beta": -1.0}, ValueError, "beta must be >= 0"),
    (torch.rand(3, 12), {"y": torch.zeros(3, dtype=torch.long)}, ValueError, "y was given, but VAE takes no labels"),
])
def test_loss_refuses_what_it_can_see_without_reading_the_device(model, x, kwargs, error, message):
    with pytest.raises(error, match=message):
        model.loss(x, **kwargs)

"""vae_course.models: shapes, the loss against torch.distributions, sampling, and refused inputs."""

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from vae_course.models import VAE, LossTerms, bernoulli_nll


@pytest.fixture
def model():
    torch.manual_seed(0)
    return VAE(input_dim=12, hidden_dim=7, latent_dim=3)


def test_default_network_is_the_articles_784_200_10():
    vae = VAE()
    assert (vae.encoder[0].in_features, vae.encoder[0].out_features, vae.to_mu.out_features) == (784, 200, 10)
    # 784*200+200 (encoder) + 2*(200*10+10) (mu, logvar) + 10*200+200 + 200*784+784 (decoder)
    assert sum(p.numel() for p in vae.parameters()) == 157_000 + 4_020 + 2_200 + 157_584


def test_shapes(model):
    x = torch.rand(5, 12)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, 3)
    logits, mu2, _ = model(x)
    assert logits.shape == (5, 12) and torch.equal(mu, mu2)
    assert model.decode(torch.zeros(4, 6, 3)).shape == (4, 6, 12)  # any leading dims


def test_bernoulli_nll_matches_torch_distributions():
    logits = torch.randn(4, 9, generator=torch.Generator().manual_seed(1)) * 5
    x = torch.bernoulli(torch.full((4, 9), 0.4), generator=torch.Generator().manual_seed(2))
    expected = -Bernoulli(logits=logits).log_prob(x).sum(-1)
    torch.testing.assert_close(bernoulli_nll(logits, x), expected)


def test_loss_is_recon_plus_beta_kl_against_torch_distributions(model):
    x = torch.bernoulli(torch.full((6, 12), 0.5), generator=torch.Generator().manual_seed(3))
    terms = model.loss(x, beta=0.25, generator=torch.Generator().manual_seed(4))
    assert isinstance(terms, LossTerms)
    # the same z by hand: z = mu + sigma * eps with the same generator's eps
    mu, logvar = model.encode(x)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(4))
    z = mu + torch.exp(0.5 * logvar) * eps
    recon = -Bernoulli(logits=model.decode(z)).log_prob(x).sum(-1).mean()
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(-1).mean()
    torch.testing.assert_close(terms.recon, recon)
    torch.testing.assert_close(terms.kl, kl)
    torch.testing.assert_close(terms.total, recon + 0.25 * kl)


def test_sample_gives_probabilities_and_follows_the_generator(model):
    a = model.sample(8, generator=torch.Generator().manual_seed(0))
    b = model.sample(8, generator=torch.Generator().manual_seed(0))
    assert a.shape == (8, 12) and torch.equal(a, b)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    z = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, torch.sigmoid(model.decode(z)))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"input_dim": 0}, ValueError, "input_dim must be a positive integer"),
    ({"latent_dim": 2.5}, TypeError, "latent_dim must be a positive integer"),
    ({"hidden_dim": True}, TypeError, "hidden_dim must be a positive integer"),
])
def test_bad_sizes_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        VAE(**kwargs)


def test_bad_inputs_are_refused(model):
    with pytest.raises(ValueError, match="x must have 12 features"):
        model.encode(torch.rand(2, 11))
    with pytest.raises(ValueError, match="x must be finite"):
        model.encode(torch.full((2, 12), float("nan")))
    with pytest.raises(ValueError, match="z must have 3 entries"):
        model.decode(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="n must be a positive integer"):
        model.sample(0)

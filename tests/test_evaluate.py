"""vae_course.evaluate: the ELBO and the IWAE bound against log p(x) computed by quadrature, each model
scored with its own likelihood, the posterior-collapse diagnostics on a stub encoder with known answers,
and refused input.

With a 1-D latent, log p(x) = log integral p(x | z) N(z; 0, 1) dz can be computed on a fine grid:
an exact reference that shares no code with the estimators.
"""

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, Normal, kl_divergence

from vae_course.evaluate import active_units, elbo, encode_all, iwae_bound, kl_per_dimension
from vae_course.vae import VAE, GaussianVAE


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = VAE(input_dim=6, hidden_dim=8, latent_dim=1).double()
    with torch.no_grad():  # a decoder that depends strongly on z, so the posterior is far from the prior
        model.decoder[0].weight.mul_(4.0)
    x = torch.bernoulli(torch.full((40, 6), 0.5, dtype=torch.float64), generator=torch.Generator().manual_seed(1))
    return model, x, log_evidence_by_quadrature(model, x)


@torch.no_grad()
def log_evidence_by_quadrature(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """log p(x) per image by the midpoint rule on z in [-12, 12] (the prior's mass outside is ~1e-33)."""
    edges = torch.linspace(-12.0, 12.0, 20_001, dtype=torch.float64)
    z = (edges[1:] + edges[:-1]) / 2
    dz = float(edges[1] - edges[0])
    log_px_z = Bernoulli(logits=model.decode(z[:, None])[:, None, :]).log_prob(x).sum(-1)  # (Z, N)
    log_prior = Normal(0.0, 1.0).log_prob(z)[:, None]
    return torch.logsumexp(log_px_z + log_prior, dim=0) + math.log(dz)


def test_elbo_matches_an_independent_monte_carlo_estimate(setup):
    model, x, _ = setup
    value = elbo(model, x, n_samples=4000, generator=torch.Generator().manual_seed(2), reduction="none")
    # log p(x | z) + log p(z) - log q(z | x) with torch.distributions, z ~ q
    with torch.no_grad():
        mu, logvar = model.encode(x)
        q = Normal(mu, torch.exp(0.5 * logvar))
        z = q.sample((4000,))  # (S, N, 1)
        terms = (Bernoulli(logits=model.decode(z)).log_prob(x).sum(-1)
                 + Normal(0.0, 1.0).log_prob(z).sum(-1) - q.log_prob(z).sum(-1))  # (S, N)
    # both are means of 4000 draws; the closed-form KL makes `value` the less noisy of the two, so the
    # difference has a standard error below sqrt(2) times the reference's: allow 5 of those
    stderr = terms.std(0) / math.sqrt(4000)
    assert ((value - terms.mean(0)).abs() < 5 * math.sqrt(2) * stderr).all(), (value, terms.mean(0))


def test_elbo_and_iwae_bounds_sit_below_log_evidence_and_rise_with_k(setup):
    model, x, log_px = setup
    g = torch.Generator().manual_seed(3)
    e = elbo(model, x, n_samples=2000, generator=g)
    many = x.repeat(20, 1)  # 800 images: the rise from k to 4k is far above the Monte Carlo noise
    bounds = [iwae_bound(model, many, k, generator=g) for k in (1, 4, 16, 64, 256)]
    exact = float(log_px.mean())
    assert e < exact - 0.1, (e, exact)  # a real gap for this deliberately poor encoder
    # IWAE_1 is a one-sample estimate of the ELBO: over 40 images x 50 repeats it agrees within 5 stderr
    one = torch.stack([iwae_bound(model, x, 1, generator=g, reduction="none") for _ in range(50)])
    assert abs(float(one.mean()) - e) < 5 * float(one.std()) / math.sqrt(one.numel()), (float(one.mean()), e)
    assert all(a < b for a, b in zip(bounds, bounds[1:])), bounds
    assert bounds[-1] <= exact + 0.01, (bounds, exact)


def test_iwae_converges_to_log_evidence_across_many_chunks(setup):
    model, x, log_px = setup
    values = iwae_bound(model, x, 20_000, max_rows=3_000, generator=torch.Generator().manual_seed(4), reduction="none")
    assert values.shape == (40,)
    torch.testing.assert_close(values, log_px, atol=0.03, rtol=0.0)


def test_a_gaussian_pixel_model_is_scored_with_its_own_likelihood():
    """For GaussianVAE both bounds are log-densities of N(x; sigmoid(decode(z)), sigma^2 I), not Bernoulli scores."""
    torch.manual_seed(0)
    model = GaussianVAE(input_dim=6, hidden_dim=8, latent_dim=1, init_logvar=-3.0).double()
    x = torch.rand(30, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    edges = torch.linspace(-12.0, 12.0, 20_001, dtype=torch.float64)
    z = (edges[1:] + edges[:-1]) / 2
    with torch.no_grad():
        mean = torch.sigmoid(model.decode(z[:, None]))[:, None, :]
        log_px_z = Normal(mean, math.exp(-1.5)).log_prob(x).sum(-1)  # (Z, N)
    log_px = torch.logsumexp(log_px_z + Normal(0.0, 1.0).log_prob(z)[:, None], 0) + math.log(float(edges[1] - edges[0]))
    values = iwae_bound(model, x, 20_000, generator=torch.Generator().manual_seed(2), reduction="none")
    torch.testing.assert_close(values, log_px, atol=0.05, rtol=0.0)
    assert elbo(model, x, n_samples=500, generator=0) < float(log_px.mean())


def test_evaluation_gives_the_model_back_in_the_mode_it_had(setup):
    model, x, _ = setup
    model.train()
    elbo(model, x)
    iwae_bound(model, x, 3)
    kl_per_dimension(model, x)
    assert model.training
    model.eval()
    elbo(model, x)
    assert not model.training


def test_bad_arguments_are_refused(setup):
    model, x, _ = setup
    with pytest.raises(ValueError, match="k must be a positive integer"):
        iwae_bound(model, x, 0)
    with pytest.raises(ValueError, match=r"x must hold pixel values in \[0, 1\]"):
        elbo(model, x * 2)
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'none'"):
        elbo(model, x, reduction="sum")
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        elbo(model, x, n_samples=0)
    with pytest.raises(ValueError, match="y was given, but VAE takes no labels"):
        elbo(model, x, torch.zeros(len(x), dtype=torch.long))
    with pytest.raises(ValueError, match="x must hold at least one image"):
        iwae_bound(model, x[:0], 5)
    with pytest.raises(TypeError, match="model must be a vae_course latent-variable model"):
        elbo(nn.Linear(6, 2), x)
    with pytest.raises(TypeError, match="generator must be a torch.Generator, an int seed or None"):
        elbo(model, x, generator="seed")


def test_float64_images_are_scored_by_a_float32_model():
    torch.manual_seed(0)
    model = VAE(input_dim=6, hidden_dim=8, latent_dim=2)
    x = torch.bernoulli(torch.full((10, 6), 0.5, dtype=torch.float64), generator=torch.Generator().manual_seed(1))
    assert math.isclose(elbo(model, x, generator=3), elbo(model, x.float(), generator=3), rel_tol=1e-6)


# ----------------------------------------------------------------------------------------------
# Posterior collapse diagnostics


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
    # 40 images of 2 pixels: each column is 1 for half of the images and 0 for the other half, so its
    # variance over the images is exactly 1/4 and the variance of 2c * column is exactly c^2
    x = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=torch.float64).repeat(10, 1)
    scales = 2 * torch.tensor([[1.0, 0.2, 0.0, 0.0, 0.0],
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
        for head in (model.encoder.to_mu, model.encoder.to_logvar):
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
    with pytest.raises(ValueError, match="threshold must be > 0"):
        active_units(model, x, threshold=0.0)
    with pytest.raises(ValueError, match="threshold must be finite"):
        active_units(model, x, threshold=float("nan"))
    with pytest.raises(ValueError, match="x must hold at least 2 images"):
        active_units(model, x[:1])
    with pytest.raises(ValueError, match="x must have at least 2 dimension"):
        kl_per_dimension(model, x[0])
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        kl_per_dimension(model, x, batch_size=0)
    with pytest.raises(ValueError, match="x must be finite"):
        active_units(model, torch.full_like(x, float("nan")))
    with pytest.raises(TypeError, match="model must be a vae_course latent-variable model with encode"):
        encode_all(nn.Linear(2, 2), x)


# ----------------------------------------------------------------------------------------------
# binomial_interval: the Wilson score interval against scipy and a closed form

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy import stats  # noqa: E402

from vae_course.evaluate import binomial_interval  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 100_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.floats(0.5, 0.999))
def test_binomial_interval_is_scipys_wilson_interval(counts, confidence):
    successes, n = counts
    low, high = binomial_interval(successes, n, confidence)
    reference = stats.binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    assert low == pytest.approx(reference.low, abs=1e-12) and high == pytest.approx(reference.high, abs=1e-12)
    assert 0.0 <= low <= successes / n <= high <= 1.0


@pytest.mark.parametrize("n", [1, 10, 500, 1000])
def test_binomial_interval_at_no_success_and_all_successes(n):
    """At 0 successes the Wilson interval is [0, z^2 / (n + z^2)], and at n it is its mirror image."""
    z = stats.norm.ppf(0.975)
    assert binomial_interval(0, n) == (0.0, pytest.approx(z * z / (n + z * z), rel=1e-12))
    assert binomial_interval(n, n) == (pytest.approx(n / (n + z * z), rel=1e-12), 1.0)


def test_binomial_interval_widens_with_confidence_and_narrows_with_n():
    assert binomial_interval(940, 1000, 0.99)[0] < binomial_interval(940, 1000, 0.95)[0]
    low_small, high_small = binomial_interval(47, 50)
    low_large, high_large = binomial_interval(940, 1000)
    assert high_large - low_large < (high_small - low_small) / 3  # the width shrinks like 1 / sqrt(n)


@pytest.mark.parametrize("args, error, message", [
    ((5, 4), ValueError, r"successes must lie in 0..n = 0..4, got 5"),
    ((-1, 4), ValueError, r"successes must lie in 0..n = 0..4, got -1"),
    ((2.0, 4), TypeError, "successes must be an integer count"),
    ((True, 4), TypeError, "successes must be an integer count"),
    ((0, 0), ValueError, "n must be a positive integer"),
    ((1, 4, 1.0), ValueError, r"confidence must be > 0 and < 1, got 1"),
    ((1, 4, 0.0), ValueError, r"confidence must be > 0 and < 1, got 0"),
    ((1, 4, float("nan")), ValueError, "confidence must be finite"),
])
def test_binomial_interval_refuses_bad_arguments(args, error, message):
    with pytest.raises(error, match=message):
        binomial_interval(*args)

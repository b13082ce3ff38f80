"""vae_course.evaluate: the ELBO and the IWAE bound against log p(x) computed by quadrature.

With a 1-D latent, log p(x) = log integral p(x | z) N(z; 0, 1) dz can be computed on a fine grid:
an exact reference that shares no code with the estimators.
"""

import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal

from vae_course.evaluate import elbo, iwae_bound
from vae_course.models import VAE


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

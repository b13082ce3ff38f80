"""vae_course.gaps against independent routes: for a VAE with a one-number latent, log p(x) by adaptive
quadrature and the ELBO of any Gaussian q by Gauss-Hermite quadrature (so the best q by a grid search);
for any VAE, the ELBO from torch.distributions by Monte Carlo with stated standard errors."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, optimize
from torch.distributions import Bernoulli, Normal, kl_divergence

from vae_course.conditional import ConcatCVAE
from vae_course.evaluate import encode_all, iwae_bound
from vae_course.gaps import elbo_at, inference_gaps, iwae_bound_at, mean_and_stderr, optimize_posteriors
from vae_course.vae import VAE

Z_GRID = np.linspace(-8, 8, 8_001)  # the 1-D latent, for the trapezoid rule (a ReLU decoder has kinks: no Gauss-Hermite)


def small_vae(latent_dim: int = 1, seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    model = VAE(input_dim=6, hidden_dim=5, latent_dim=latent_dim).double()
    with torch.no_grad():  # a decoder that depends strongly on z, so that the posterior is far from the prior
        model.decoder[0].weight.mul_(3.0)
    return model


def binary(n: int, d: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.bernoulli(torch.full((n, d), 0.4, dtype=torch.float64), generator=torch.Generator().manual_seed(seed))


def log_likelihood(model: VAE, x: torch.Tensor, z: np.ndarray) -> np.ndarray:
    """log p(x | z) for one image x at the 1-D latent points z, from torch.distributions."""
    with torch.no_grad():
        logits = model.decode(torch.as_tensor(z, dtype=torch.float64)[:, None])
        return Bernoulli(logits=logits).log_prob(x).sum(-1).numpy()


def log_evidence(model: VAE, x: torch.Tensor) -> float:
    """log p(x) = log integral N(z; 0, 1) p(x | z) dz, by adaptive quadrature."""
    f = lambda t: math.exp(-0.5 * t * t - 0.5 * math.log(2 * math.pi) + float(log_likelihood(model, x, np.array([t]))[0]))
    return math.log(integrate.quad(f, -12, 12, limit=400, epsabs=0, epsrel=1e-8)[0])


def elbo_by_trapezoid(model: VAE, x: torch.Tensor, mu, sigma) -> np.ndarray:
    """ELBO(N(mu, sigma^2)) for one image, broadcasting over arrays mu and sigma: E_q[log p(x | z)] by the
    trapezoid rule on Z_GRID, minus the closed-form KL."""
    mu, sigma = np.broadcast_arrays(np.asarray(mu, float), np.asarray(sigma, float))
    ll = log_likelihood(model, x, Z_GRID)
    m, s = mu.reshape(-1, 1), sigma.reshape(-1, 1)
    q = np.exp(-0.5 * ((Z_GRID - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))  # (n, grid)
    expected = integrate.trapezoid(q * ll, Z_GRID, axis=1).reshape(mu.shape)
    return expected - 0.5 * (mu**2 + sigma**2 - 1 - 2 * np.log(sigma))


def best_gaussian(model: VAE, x: torch.Tensor) -> float:
    """The highest ELBO over Gaussians q for one image: a coarse grid over (mu, log sigma), then Nelder-Mead."""
    means, log_sigmas = np.linspace(-3, 3, 31), np.linspace(-3, 0.5, 15)
    values = elbo_by_trapezoid(model, x, means[:, None], np.exp(log_sigmas)[None, :])
    i, j = np.unravel_index(values.argmax(), values.shape)
    result = optimize.minimize(lambda t: -float(elbo_by_trapezoid(model, x, t[0], math.exp(t[1]))),
                               [means[i], log_sigmas[j]], method="Nelder-Mead", options={"xatol": 1e-5, "fatol": 1e-7})
    return -float(result.fun)


# ----------------------------------------------------------------------------------------------
# the ELBO and the bound for a q you give


def test_the_trapezoid_reference_matches_adaptive_quadrature():
    model, x = small_vae(), binary(1)[0]
    for m, sigma in [(0.3, 0.05), (-1.0, 0.7)]:
        f = lambda t: math.exp(-0.5 * ((t - m) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi)) * float(
            log_likelihood(model, x, np.array([t]))[0])
        expected = integrate.quad(f, m - 12 * sigma, m + 12 * sigma, limit=400, epsabs=1e-11)[0]
        kl = 0.5 * (m**2 + sigma**2 - 1 - 2 * math.log(sigma))
        assert float(elbo_by_trapezoid(model, x, m, sigma)) == pytest.approx(expected - kl, abs=1e-6)


def test_elbo_at_matches_quadrature():
    model, x = small_vae(), binary(5)
    mu = torch.linspace(-1.5, 1.5, 5, dtype=torch.float64)[:, None]
    logvar = torch.linspace(-3, 0.5, 5, dtype=torch.float64)[:, None]
    values = elbo_at(model, x, mu, logvar, n_samples=20_000, generator=0)
    exact = torch.tensor([float(elbo_by_trapezoid(model, xi, float(m), math.exp(0.5 * float(lv))))
                          for xi, m, lv in zip(x, mu, logvar)], dtype=torch.float64)
    # the Monte Carlo standard error of each image's estimate, measured from 20 repeats
    repeats = torch.stack([elbo_at(model, x, mu, logvar, n_samples=1000, generator=s) for s in range(1, 21)])
    se = repeats.std(0) / math.sqrt(20)  # of a mean over 20,000 draws = 20 x 1,000
    assert bool(((values - exact).abs() < 5 * se + 1e-6).all())


def test_elbo_at_matches_torch_distributions_in_ten_dimensions():
    torch.manual_seed(1)
    model = VAE(input_dim=12, hidden_dim=7, latent_dim=10).double()
    x = binary(8, d=12)
    mu, logvar = torch.randn(8, 10, dtype=torch.float64), torch.randn(8, 10, dtype=torch.float64) - 1
    q = Normal(mu, torch.exp(0.5 * logvar))
    torch.manual_seed(2)
    z = q.sample((20_000,))
    with torch.no_grad():
        terms = Bernoulli(logits=model.decode(z)).log_prob(x).sum(-1)  # (S, B)
    reference = terms.mean(0) - kl_divergence(q, Normal(0.0, 1.0)).sum(-1)
    se = terms.std(0) / math.sqrt(len(z))
    values = elbo_at(model, x, mu, logvar, n_samples=20_000, generator=3)
    assert bool(((values - reference).abs() < 5 * math.sqrt(2) * se).all())


def test_iwae_bound_at_climbs_to_the_quadrature_evidence():
    model, x = small_vae(), binary(4, seed=1)
    exact = torch.tensor([log_evidence(model, xi) for xi in x], dtype=torch.float64)
    mu, logvar = encode_all(model, x)
    means, ses = [], []
    for k, repeats in ((1, 4000), (10, 400), (1000, 40)):  # about 40,000 draws for each k
        values = torch.stack([iwae_bound_at(model, x, mu, logvar, k, generator=s) for s in range(repeats)])
        mean, se = values.mean(0), values.std(0) / math.sqrt(repeats)
        assert bool((mean < exact + 5 * se).all()), f"L_{k} above log p(x)"
        means.append(mean)
        ses.append(se)
    for low, high, se_low, se_high in zip(means, means[1:], ses, ses[1:]):  # never falls with k
        assert bool((high > low - 5 * torch.sqrt(se_low**2 + se_high**2)).all()), "L_k fell as k grew"
    assert bool((exact - means[0] > 0.05).all()), "a test where L_1 sits visibly below log p(x)"
    assert bool(((exact - means[2]) < 5 * ses[2] + 0.01).all()), "L_1000 should be within 0.01 nats of log p(x) here"


def test_iwae_bound_at_with_the_encoders_q_is_evaluate_iwae_bound():
    model, x = small_vae(latent_dim=3), binary(6, seed=2)
    mu, logvar = encode_all(model, x)
    ours = torch.stack([iwae_bound_at(model, x, mu, logvar, 50, generator=s) for s in range(30)])
    theirs = torch.stack([iwae_bound(model, x, 50, generator=100 + s, reduction="none") for s in range(30)])
    se = torch.sqrt(ours.var(0) / 30 + theirs.var(0) / 30)
    assert bool(((ours.mean(0) - theirs.mean(0)).abs() < 5 * se).all())


# ----------------------------------------------------------------------------------------------
# the optimized q and the split


def test_optimize_posteriors_finds_the_best_gaussian():
    model, x = small_vae(), binary(6, seed=3)
    mu, logvar = optimize_posteriors(model, x, steps=300, lr=0.02, n_samples=20, generator=0)
    mu, logvar = optimize_posteriors(model, x, steps=300, lr=0.02, n_samples=20, start=(mu, logvar), generator=1)
    for xi, m, lv in zip(x, mu, logvar):
        best = best_gaussian(model, xi)
        found = float(elbo_by_trapezoid(model, xi, float(m), math.exp(0.5 * float(lv))))
        assert best - 0.01 < found < best + 1e-6, f"optimized ELBO {found:.4f}, the best {best:.4f}"


def test_inference_gaps_against_quadrature():
    model, x = small_vae(seed=4), binary(6, seed=4)
    gaps = inference_gaps(model, x, k=2000, steps=600, lr=0.02, n_samples=20, elbo_samples=20_000, generator=1)
    mu, logvar = encode_all(model, x)
    for n, xi in enumerate(x):
        exact_px, best = log_evidence(model, xi), best_gaussian(model, xi)
        encoder = float(elbo_by_trapezoid(model, xi, float(mu[n]), math.exp(0.5 * float(logvar[n]))))
        assert float(gaps.elbo_encoder[n]) == pytest.approx(encoder, abs=0.05)
        assert float(gaps.amortization[n]) == pytest.approx(best - encoder, abs=0.05)
        assert float(gaps.approximation[n]) == pytest.approx(exact_px - best, abs=0.05)
    assert float(gaps.amortization.mean()) > 0.5, "a model where the split is visible"
    summary = gaps.summary()
    assert summary["inference"].mean == pytest.approx(summary["approximation"].mean + summary["amortization"].mean)


def test_mean_and_stderr():
    values = torch.tensor([1.0, 2.0, 3.0, 6.0])
    estimate = mean_and_stderr(values)
    assert estimate.mean == pytest.approx(3.0)
    assert estimate.stderr == pytest.approx(np.std([1, 2, 3, 6], ddof=1) / 2)
    assert estimate.n_samples == 4


@pytest.mark.parametrize("call, error, message", [
    (lambda m, x: elbo_at(m, x, torch.zeros(3, 1), torch.zeros(3, 1)), ValueError, r"mu and logvar must have shape \(4, 1\)"),
    (lambda m, x: elbo_at(m, x, torch.zeros(4, 1), torch.zeros(4, 2)), ValueError, "mu and logvar must have the same shape"),
    (lambda m, x: iwae_bound_at(m, x, torch.zeros(4, 1), torch.zeros(4, 1), 0), ValueError, "k must be a positive integer"),
    (lambda m, x: optimize_posteriors(m, x, steps=0), ValueError, "steps must be a positive integer"),
    (lambda m, x: optimize_posteriors(m, x, lr=0.0), ValueError, "lr must be > 0"),
    (lambda m, x: optimize_posteriors(m, 2 * x), ValueError, r"x must hold pixel values in \[0, 1\]"),
    (lambda m, x: optimize_posteriors(m, x, start=(torch.zeros(4, 2), torch.zeros(4, 2))), ValueError,
     r"mu and logvar must have shape \(4, 1\)"),
    (lambda m, x: inference_gaps(ConcatCVAE(6, 5, 1, n_classes=2), x), ValueError, "must be an unconditional model"),
    (lambda m, x: elbo_at(torch.nn.Linear(2, 2), x, None, None), TypeError, "must be a vae_course latent-variable model"),
])
def test_refused_input(call, error, message):
    with pytest.raises(error, match=message):
        call(small_vae(), binary(4))

"""vae_course.iwae.IWAE: its loss against torch.distributions with the same draws, the bound's expectation
against quadrature of log p(x) for a one-number latent, and training through fit."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special
from torch.distributions import Bernoulli, Normal, kl_divergence

from vae_course.checkpoints import load_checkpoint, save_checkpoint
from vae_course.iwae import IWAE
from vae_course.train import fit


def small_iwae(k: int = 5, objective: str = "iwae", latent_dim: int = 3, seed: int = 0) -> IWAE:
    torch.manual_seed(seed)
    model = IWAE(input_dim=6, hidden_dim=5, latent_dim=latent_dim, k=k, objective=objective).double()
    with torch.no_grad():
        model.decoder[0].weight.mul_(3.0)  # a decoder that depends strongly on z
    return model


def binary(n: int, d: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.bernoulli(torch.full((n, d), 0.4, dtype=torch.float64), generator=torch.Generator().manual_seed(seed))


def reference_log_weights(model: IWAE, x: torch.Tensor, seed: int) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """log w_j = log p(x | z_j) + log p(z_j) - log q(z_j | x) from torch.distributions, with the loss's draws."""
    mu, logvar = model.encode(x)
    # the model draws its noise in float32 (as vae_course.evaluate does) and converts it
    eps = torch.randn((model.k, *mu.shape), generator=torch.Generator().manual_seed(seed)).double()
    q = Normal(mu, torch.exp(0.5 * logvar))
    z = mu + torch.exp(0.5 * logvar) * eps
    log_px_z = Bernoulli(logits=model.decode(z)).log_prob(x).sum(-1)
    log_w = log_px_z + Normal(0.0, 1.0).log_prob(z).sum(-1) - q.log_prob(z).sum(-1)
    return log_w.numpy(), -log_px_z, kl_divergence(q, Normal(0.0, 1.0)).sum(-1)


def test_iwae_loss_against_torch_distributions():
    model, x = small_iwae(k=7), binary(9)
    with torch.no_grad():
        loss = model.loss(x, generator=torch.Generator().manual_seed(3))
        log_w, nll, kl = reference_log_weights(model, x, 3)
    bound = special.logsumexp(log_w, axis=0) - math.log(7)  # log (1/k) sum_j w_j, in NumPy
    assert float(loss.total) == pytest.approx(-bound.mean(), rel=1e-10)
    assert float(loss["recon"]) == pytest.approx(float(nll.mean()), rel=1e-10)
    assert float(loss["kl"]) == pytest.approx(float(kl.mean()), rel=1e-10)
    assert float(loss["gain"]) == pytest.approx(float(nll.mean() + kl.mean()) + bound.mean(), rel=1e-8, abs=1e-10)


def test_elbo_objective_against_torch_distributions():
    model, x = small_iwae(k=4, objective="elbo"), binary(9)
    with torch.no_grad():
        loss = model.loss(x, beta=2.0, generator=torch.Generator().manual_seed(4))
        _, nll, kl = reference_log_weights(model, x, 4)
    assert set(loss.parts) == {"recon", "kl"}
    assert float(loss.total) == pytest.approx(float(nll.mean() + 2.0 * kl.mean()), rel=1e-10)


def test_k_one_is_a_one_draw_elbo():
    model, x = small_iwae(k=1), binary(5)
    with torch.no_grad():
        loss = model.loss(x, generator=torch.Generator().manual_seed(5))
        log_w, _, _ = reference_log_weights(model, x, 5)
    assert float(loss.total) == pytest.approx(-log_w.mean(), rel=1e-10)


def log_evidence(model: IWAE, x: torch.Tensor) -> float:
    """log p(x) for a one-number latent, by adaptive quadrature of N(z; 0, 1) p(x | z)."""
    def joint(t: float) -> float:
        with torch.no_grad():
            logits = model.decode(torch.tensor([t], dtype=torch.float64))
            return math.exp(-0.5 * t * t + float(Bernoulli(logits=logits).log_prob(x).sum())) / math.sqrt(2 * math.pi)
    return math.log(integrate.quad(joint, -12, 12, limit=400, epsrel=1e-10)[0])


def test_the_loss_is_minus_a_bound_that_rises_with_k_towards_log_px():
    x = binary(3, seed=1)
    exact = np.array([log_evidence(small_iwae(latent_dim=1), xi) for xi in x])
    means = []
    for k in (1, 5, 50):
        model = small_iwae(k=k, latent_dim=1)  # the same weights for every k
        with torch.no_grad():
            totals = torch.stack([model.loss(x[n:n + 1], generator=torch.Generator().manual_seed(s)).total
                                  for n in range(len(x)) for s in range(2000)]).reshape(len(x), 2000)
        bound, se = -totals.mean(1).numpy(), totals.std(1).numpy() / math.sqrt(2000)
        assert (bound < exact + 5 * se).all(), f"-loss above log p(x) at k = {k}"
        means.append((bound, se))
    for (low, se_low), (high, se_high) in zip(means, means[1:]):
        assert (high > low - 5 * np.hypot(se_low, se_high)).all(), "the bound fell as k grew"
    (first, se_first), (last, se_last) = means[0], means[-1]
    assert (last > first + 5 * np.hypot(se_first, se_last)).all(), "the bound should rise clearly from k = 1 to 50"
    assert (exact - last < 5 * se_last + 0.02).all(), "at k = 50 the bound should be within 0.02 nats of log p(x)"


def test_fit_trains_both_objectives_and_checkpoints_keep_them(tmp_path):
    x = binary(256, seed=2).float()
    for objective in ("iwae", "elbo"):
        model = small_iwae(objective=objective).float()
        history = fit(model, x, epochs=10, batch_size=64, lr=1e-2, progress=False)
        assert history.train["total"][-1] < history.train["total"][0] - 0.1  # 6 pixels: little to learn
        save_checkpoint(tmp_path / f"{objective}.pt", model, history=history)
        loaded, _, _ = load_checkpoint(tmp_path / f"{objective}.pt")
        assert isinstance(loaded, IWAE) and loaded.config() == model.config()
    assert set(history.train) == {"total", "recon", "kl"}


@pytest.mark.parametrize("kwargs, error, message", [
    ({"k": 0}, ValueError, "k must be a positive integer"),
    ({"k": 2.0}, TypeError, "k must be a positive integer"),
    ({"objective": "vae"}, ValueError, "objective must be one of"),
])
def test_refused_settings(kwargs, error, message):
    with pytest.raises(error, match=message):
        IWAE(**kwargs)

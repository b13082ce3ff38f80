"""KL annealing (`LinearWarmup`) and free bits (`free_bits_kl`, `fit(free_bits=...)`) against hand-made references."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Normal, kl_divergence

from vae_course.models import VAE, LossTerms, free_bits_kl
from vae_course.train import LinearWarmup, evaluate_terms, fit


def kl_by_dimension_reference(mu: torch.Tensor, logvar: torch.Tensor) -> list[float]:
    """Batch-mean KL of each latent dimension, from torch.distributions, one dimension at a time."""
    prior = Normal(0.0, 1.0)
    return [float(kl_divergence(Normal(mu[:, j], torch.exp(0.5 * logvar[:, j])), prior).mean())
            for j in range(mu.shape[1])]


def binary_data(n: int = 96, d: int = 12, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.full((n, d), 0.3), generator=g)


def small_vae(seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(input_dim=12, hidden_dim=8, latent_dim=3)


# ----------------------------------------------------------------------------------------------
# LinearWarmup


def test_linear_warmup_values_by_hand():
    schedule = LinearWarmup(4, beta_max=2.0)
    assert [schedule(e) for e in range(1, 8)] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    assert [LinearWarmup(1)(e) for e in (1, 2, 3)] == [0.0, 1.0, 1.0]
    assert "warmup_epochs=4" in repr(schedule) and "beta_max=2.0" in repr(schedule)


def test_fit_uses_the_schedule_of_each_epoch():
    x = binary_data()
    history = fit(small_vae(), x, epochs=5, batch_size=32, beta=LinearWarmup(3, beta_max=3.0),
                  x_val=binary_data(40, seed=1), progress=False)
    expected_betas = [0.0, 1.0, 2.0, 3.0, 3.0]  # (epoch - 1) / 3 * 3, capped at 3
    for split in (history.train, history.val):
        for total, recon, kl, beta in zip(split["total"], split["recon"], split["kl"], expected_betas):
            assert math.isclose(total, recon + beta * kl, rel_tol=1e-5, abs_tol=1e-4), (total, recon, kl, beta)


@pytest.mark.parametrize("kwargs, message", [
    (dict(warmup_epochs=0), "warmup_epochs must be a positive integer"),
    (dict(warmup_epochs=2.5), "warmup_epochs must be a positive integer"),
    (dict(warmup_epochs=3, beta_max=-1.0), "beta_max must be a finite number >= 0"),
    (dict(warmup_epochs=3, beta_max=float("nan")), "beta_max must be a finite number >= 0"),
])
def test_linear_warmup_refuses_bad_settings(kwargs, message):
    error = TypeError if isinstance(kwargs["warmup_epochs"], float) else ValueError
    with pytest.raises(error, match=message):
        LinearWarmup(**kwargs)


def test_linear_warmup_refuses_epoch_zero():
    with pytest.raises(ValueError, match="epoch must be a positive integer"):
        LinearWarmup(3)(0)


# ----------------------------------------------------------------------------------------------
# free bits


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


def test_vae_loss_with_free_bits_charges_the_floored_kl_and_reports_the_true_kl():
    model, x = small_vae(), binary_data(10)
    plain = model.loss(x, beta=2.0, generator=torch.Generator().manual_seed(5))
    floored = model.loss(x, beta=2.0, free_bits=0.4, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        mu, logvar = model.encode(x)
    expected_penalty = sum(max(0.4, kl_j) for kl_j in kl_by_dimension_reference(mu, logvar))
    assert torch.equal(floored.recon, plain.recon) and torch.equal(floored.kl, plain.kl)
    assert math.isclose(float(floored.total.detach()), float(plain.recon.detach()) + 2.0 * expected_penalty, rel_tol=1e-5)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), True, "1"])
def test_free_bits_refuses_bad_values(bad):
    with pytest.raises(ValueError, match="free_bits must be a finite number >= 0"):
        free_bits_kl(torch.zeros(2, 3), torch.zeros(2, 3), bad)
    with pytest.raises(ValueError, match="free_bits must be a finite number >= 0"):
        fit(small_vae(), binary_data(), epochs=1, free_bits=bad, progress=False)


def test_fit_with_a_high_floor_minimizes_the_reconstruction_plus_a_constant():
    # every dimension's KL stays far below 50 nats, so each batch is charged exactly latent_dim * 50
    history = fit(small_vae(), binary_data(), epochs=3, batch_size=32, beta=0.5, free_bits=50.0,
                  x_val=binary_data(40, seed=1), progress=False)
    for split in (history.train, history.val):
        for total, recon, kl in zip(split["total"], split["recon"], split["kl"]):
            assert math.isclose(total - recon, 0.5 * 3 * 50.0, rel_tol=1e-5)
            assert 0.0 <= kl < 50.0  # History keeps the true KL
    terms = evaluate_terms(small_vae(), binary_data(40), free_bits=50.0)
    assert math.isclose(terms["total"] - terms["recon"], 3 * 50.0, rel_tol=1e-5)


class NoFreeBits(VAE):
    """A model whose loss follows the base protocol only: loss(x, y=None, beta=1.0)."""

    def loss(self, x, y=None, beta=1.0):
        return super().loss(x, y, beta)


def test_fit_refuses_free_bits_for_a_model_that_cannot_take_them():
    torch.manual_seed(0)
    model = NoFreeBits(input_dim=12, hidden_dim=8, latent_dim=3)
    with pytest.raises(ValueError, match="free_bits needs a model whose loss takes free_bits; NoFreeBits"):
        fit(model, binary_data(), epochs=1, free_bits=0.5, progress=False)
    history = fit(model, binary_data(), epochs=1, progress=False)  # without free bits it trains as before
    assert isinstance(model.loss(binary_data(4)), LossTerms) and history.epochs == 1

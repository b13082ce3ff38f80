"""vae_course.train.fit: it learns, it is reproducible, it stops cleanly on a NaN, and it refuses bad input."""

import math

import pytest
import torch
from torch import nn

from vae_course.models import VAE, LossTerms
from vae_course.train import History, NonFiniteLossError, TrainConfig, fit


def two_prototypes(n: int = 256, d: int = 16, seed: int = 0):
    """Binary images drawn from two fixed pixel-probability patterns (0.05 / 0.95), labels 0 / 1."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.tensor([[0.05, 0.95] * (d // 2), [0.95, 0.05] * (d // 2)])
    y = torch.randint(0, 2, (n,), generator=g)
    return torch.bernoulli(protos[y], generator=g), y


def fresh_vae(seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(input_dim=16, hidden_dim=16, latent_dim=2)


def test_loss_decreases_below_the_best_model_without_a_latent():
    x, _ = two_prototypes()
    history = fit(fresh_vae(), x, epochs=40, batch_size=32, lr=3e-3, progress=False)
    # the best independent-pixel Bernoulli model has NLL = sum_i H(mean_i); it cannot tell the two
    # patterns apart (about 16 log 2 = 11 nats), while the true model needs about 3.9 nats
    p = x.mean(0).clamp(1e-6, 1 - 1e-6)
    independent_nll = float(-(p * p.log() + (1 - p) * (1 - p).log()).sum())
    assert history.train["total"][-1] < history.train["total"][0]
    assert history.train["total"][-1] < independent_nll - 2.0, (history.train["total"][-1], independent_nll)


def test_history_terms_add_up_and_validation_is_recorded():
    x, _ = two_prototypes()
    history = fit(fresh_vae(), x[:200], epochs=3, beta=0.5, x_val=x[200:], progress=False)
    assert isinstance(history, History) and history.epochs == 3 and history.seconds > 0
    for split in (history.train, history.val):
        assert all(len(v) == 3 for v in split.values())
        for total, recon, kl in zip(split["total"], split["recon"], split["kl"]):
            assert math.isclose(total, recon + 0.5 * kl, rel_tol=1e-5)
    assert History.from_dict(history.as_dict()) == history


def test_same_seed_gives_identical_weights_and_restores_the_global_generator():
    x, _ = two_prototypes()
    runs = []
    for seed in (0, 0, 1):
        model = fresh_vae()
        torch.manual_seed(123)
        fit(model, x, epochs=2, batch_size=50, seed=seed, binarize=True, progress=False)
        runs.append((model.state_dict(), torch.rand(3)))
    (a, after_a), (b, after_b), (c, _) = runs
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    torch.manual_seed(123)
    assert torch.equal(after_a, torch.rand(3)) and torch.equal(after_a, after_b)


class NaNAfter(nn.Module):
    """A VAE whose loss turns NaN from the given step on (a stand-in for a diverging run)."""

    def __init__(self, bad_step: int):
        super().__init__()
        self.vae, self.bad_step, self.steps = fresh_vae(), bad_step, 0

    def loss(self, x, y=None, beta=1.0):
        self.steps += 1
        terms = self.vae.loss(x, y, beta)
        if self.steps >= self.bad_step:
            return LossTerms(terms.total * float("nan"), terms.recon, terms.kl)
        return terms


@pytest.mark.parametrize("refresh_every", [1, 100])
def test_nan_stops_training_naming_the_epoch_and_keeps_the_last_good_weights(refresh_every):
    x, _ = two_prototypes()  # 256 images, batch 64: 4 steps per epoch; step 10 is in epoch 3
    model = NaNAfter(bad_step=10)
    with pytest.raises(NonFiniteLossError, match="non-finite .* in epoch 3.*from the end of epoch 2") as caught:
        fit(model, x, epochs=5, batch_size=64, progress=False, refresh_every=refresh_every)
    assert caught.value.history.epochs == 2
    reference = fresh_vae()
    fit(reference, x, epochs=2, batch_size=64, progress=False)
    assert all(torch.equal(v, model.vae.state_dict()[k]) for k, v in reference.state_dict().items())


def test_labels_reach_the_loss_row_by_row():
    class Check(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))
            self.betas = []

        def loss(self, x, y=None, beta=1.0):
            assert torch.equal(x[:, 0].long(), y)  # the row's label travels with the row
            self.betas.append(beta)
            value = ((self.w - x.mean()) ** 2).sum()  # a scalar, as the protocol says
            return LossTerms(value, value, value * 0)

    y = torch.arange(100) % 10
    x = torch.cat([y[:, None].float(), torch.rand(100, 3)], dim=1)
    model = Check()
    fit(model, x, y, epochs=3, batch_size=32, beta=lambda epoch: epoch / 10, progress=False)
    assert sorted(set(model.betas)) == [0.1, 0.2, 0.3]


def test_train_config_feeds_fit():
    x, _ = two_prototypes()
    config = TrainConfig(epochs=1, batch_size=64, lr=1e-3, seed=3)
    assert fit(fresh_vae(), x, progress=False, **vars(config)).epochs == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"epochs": 1, "batch_size": 0}, "batch_size must be a positive integer"),
    ({"epochs": 1, "lr": -1.0}, "lr must be > 0"),
    ({"epochs": 1, "beta": -0.5}, "beta must be a finite number >= 0"),
    ({"epochs": 1, "y_train": torch.zeros(5, dtype=torch.long)}, "y_train must have one label per row"),
    ({"epochs": 1, "y_train": torch.zeros(256)}, "y_train must be an integer tensor"),
    ({"epochs": 1, "y_val": torch.zeros(5, dtype=torch.long)}, "y_val was given without x_val"),
])
def test_bad_arguments_are_refused(kwargs, message):
    x, _ = two_prototypes()
    with pytest.raises(ValueError, match=message):
        fit(fresh_vae(), x, progress=False, **kwargs)


def test_bad_data_and_models_are_refused():
    with pytest.raises(ValueError, match="x_train must have at least 2 dimension"):
        fit(fresh_vae(), torch.rand(16), epochs=1, progress=False)
    with pytest.raises(ValueError, match="x_train must be finite"):
        fit(fresh_vae(), torch.full((4, 16), float("nan")), epochs=1, progress=False)
    with pytest.raises(ValueError, match="model must have a loss"):
        fit(nn.Linear(16, 2), torch.rand(4, 16), epochs=1, progress=False)


def test_progress_bar_shows_the_running_loss(capsys):
    x, _ = two_prototypes()
    fit(fresh_vae(), x, epochs=2, batch_size=64, progress=True, refresh_every=2)
    err = capsys.readouterr().err
    assert "training" in err and "loss=" in err and "epoch=2" in err and "8/8" in err


def test_data_follow_the_model_dtype():
    x, _ = two_prototypes()
    model = fresh_vae().double()
    history = fit(model, x, epochs=1, batch_size=64, progress=False)  # float32 data, float64 model
    assert history.epochs == 1 and next(model.parameters()).dtype == torch.float64

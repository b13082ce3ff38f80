"""vae_course.train: fit learns, records every named part of the loss, is reproducible, reads the device
rarely, stops cleanly on a NaN, follows KL-annealing schedules, and refuses bad input by name."""

import math

import pytest
import torch
from torch import nn

from vae_course.train import READ_EVERY, History, LinearWarmup, NonFiniteLossError, evaluate_terms, fit
from vae_course.vae import VAE, Loss


def two_prototypes(n: int = 256, d: int = 16, seed: int = 0):
    """Binary images drawn from two fixed pixel-probability patterns (0.05 / 0.95), labels 0 / 1."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.tensor([[0.05, 0.95] * (d // 2), [0.95, 0.05] * (d // 2)])
    y = torch.randint(0, 2, (n,), generator=g)
    return torch.bernoulli(protos[y], generator=g), y


def fresh_vae(seed: int = 0, **kwargs) -> VAE:
    torch.manual_seed(seed)
    return VAE(input_dim=16, hidden_dim=16, latent_dim=2, **kwargs)


def test_loss_decreases_below_the_best_model_without_a_latent():
    x, _ = two_prototypes()
    history = fit(fresh_vae(), x, epochs=40, batch_size=32, lr=3e-3, progress=False)
    # the best independent-pixel Bernoulli model has NLL = sum_i H(mean_i); it cannot tell the two
    # patterns apart (about 16 log 2 = 11 nats), while the true model needs about 3.9 nats
    p = x.mean(0).clamp(1e-6, 1 - 1e-6)
    independent_nll = float(-(p * p.log() + (1 - p) * (1 - p).log()).sum())
    assert history.train["total"][-1] < history.train["total"][0]
    assert history.train["total"][-1] < independent_nll - 2.0, (history.train["total"][-1], independent_nll)


def test_history_records_every_part_and_validation():
    x, _ = two_prototypes()
    history = fit(fresh_vae(), x[:200], epochs=3, beta=0.5, x_val=x[200:], progress=False)
    assert isinstance(history, History) and history.epochs == 3 and history.seconds > 0
    for split in (history.train, history.val):
        assert set(split) == {"total", "recon", "kl"} and all(len(v) == 3 for v in split.values())
        for total, recon, kl in zip(split["total"], split["recon"], split["kl"]):
            assert math.isclose(total, recon + 0.5 * kl, rel_tol=1e-5)
    assert History.from_dict(history.as_dict()) == history
    with pytest.raises(ValueError, match="not a History"):
        History.from_dict({"train": {"total": ["x"]}})


class ThreeParts(nn.Module):
    """A model with a part the VAE has not: the protocol carries any named parts."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(3))

    def loss(self, x, y=None, beta=1.0, generator=None):
        a = (self.w[0] - x.mean()) ** 2
        b = (self.w[1] - 1.0) ** 2
        c = self.w[2] ** 2 + 0.5
        return Loss(a + beta * b + c, {"fit": a, "pull": b, "floor": c})


def test_any_named_parts_are_recorded_and_validated():
    x = torch.rand(64, 4, generator=torch.Generator().manual_seed(0))
    history = fit(ThreeParts(), x, epochs=2, batch_size=16, beta=2.0, x_val=x[:10], progress=False)
    assert set(history.train) == set(history.val) == {"total", "fit", "pull", "floor"}
    for split in (history.train, history.val):
        for total, a, b, c in zip(split["total"], split["fit"], split["pull"], split["floor"]):
            assert math.isclose(total, a + 2.0 * b + c, rel_tol=1e-6)
    terms = evaluate_terms(ThreeParts(), x, beta=3.0)
    assert math.isclose(terms["pull"], 1.0) and math.isclose(terms["total"], terms["fit"] + 3.0 + 0.5, rel_tol=1e-6)


def test_same_seed_gives_identical_weights_and_restores_the_global_generator():
    x, _ = two_prototypes()
    runs = []
    for generator in (0, 0, 1):
        model = fresh_vae()
        torch.manual_seed(123)
        fit(model, x, epochs=2, batch_size=50, generator=generator, binarize=True, progress=False)
        runs.append((model.state_dict(), torch.rand(3)))
    (a, after_a), (b, after_b), (c, _) = runs
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same computation twice in one process: bit-identical
    assert not all(torch.equal(a[k], c[k]) for k in a)
    torch.manual_seed(123)
    assert torch.equal(after_a, torch.rand(3)) and torch.equal(after_a, after_b)
    d = fresh_vae()
    fit(d, x, epochs=2, batch_size=50, generator=torch.Generator().manual_seed(7), binarize=True, progress=False)
    e = fresh_vae()
    fit(e, x, epochs=2, batch_size=50, generator=torch.Generator().manual_seed(7), binarize=True, progress=False)
    assert all(torch.equal(v, e.state_dict()[k]) for k, v in d.state_dict().items())


# ----------------------------------------------------------------------------------------------
# Reads from the device, and NaN


READS = ("item", "tolist", "__float__", "__int__", "__bool__", "__index__")


def count_reads(monkeypatch) -> dict[str, int]:
    counts = dict.fromkeys(READS, 0)
    for name in READS:
        original = getattr(torch.Tensor, name)

        def wrapper(self, *args, _original=original, _name=name, **kwargs):
            counts[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, wrapper)
    return counts


def test_a_training_step_reads_from_the_device_at_most_once_per_read_every_steps(monkeypatch):
    x, _ = two_prototypes(n=512)
    model = fresh_vae()
    counts = count_reads(monkeypatch)
    before = sum(counts.values())
    fit(model, x, epochs=10, batch_size=32, x_val=x[:64], binarize=True, progress=True)  # 160 steps
    reads = sum(counts.values()) - before
    # the entry checks of the two data sets (finite, in [0, 1]), one read every READ_EVERY steps, and the last
    steps = 10 * 512 // 32
    assert reads <= steps // READ_EVERY + 1 + 2 * 3, (reads, counts)


class NaNAfter(nn.Module):
    """A VAE whose loss turns NaN from the given step on (a stand-in for a diverging run)."""

    def __init__(self, bad_step: int):
        super().__init__()
        self.vae, self.bad_step, self.steps = fresh_vae(), bad_step, 0

    def loss(self, x, y=None, beta=1.0, generator=None):
        self.steps += 1
        loss = self.vae.loss(x, y, beta)
        if self.steps >= self.bad_step:
            return Loss(loss.total * float("nan"), loss.parts)
        return loss


@pytest.mark.parametrize("epochs", [5, 30])  # the NaN is noticed at the end, or at a read in the middle
def test_nan_stops_training_naming_the_epoch_and_keeps_the_last_good_weights(epochs):
    x, _ = two_prototypes()  # 256 images, batch 64: 4 steps per epoch; step 10 is in epoch 3
    model = NaNAfter(bad_step=10)
    with pytest.raises(NonFiniteLossError, match="non-finite .* in epoch 3.*from the end of epoch 2") as caught:
        fit(model, x, epochs=epochs, batch_size=64, progress=False)
    assert caught.value.history.epochs == 2 and len(caught.value.history.train["kl"]) == 2
    assert all(math.isfinite(v) for values in caught.value.history.train.values() for v in values)
    reference = fresh_vae()
    fit(reference, x, epochs=2, batch_size=64, progress=False)
    assert all(torch.equal(v, model.vae.state_dict()[k]) for k, v in reference.state_dict().items())


def test_nan_in_the_first_epoch_keeps_the_initial_weights():
    x, _ = two_prototypes()
    model = NaNAfter(bad_step=2)
    with pytest.raises(NonFiniteLossError, match="in epoch 1.*from before training"):
        fit(model, x, epochs=3, batch_size=64, progress=False)
    assert all(torch.equal(v, model.vae.state_dict()[k]) for k, v in fresh_vae().state_dict().items())


# ----------------------------------------------------------------------------------------------
# Labels, schedules, dtypes


def test_labels_reach_the_loss_row_by_row():
    class Check(nn.Module):
        takes_labels = True

        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))
            self.betas = []

        def loss(self, x, y=None, beta=1.0, generator=None):
            assert torch.equal((x[:, 0] * 10).round().long(), y)  # the row's label travels with the row
            self.betas.append(beta)
            value = ((self.w - x.mean()) ** 2).sum()  # a scalar, as the protocol says
            return Loss(value, {"value": value})

    y = torch.arange(100) % 10
    x = torch.cat([y[:, None].float() / 10, torch.rand(100, 3)], dim=1)
    model = Check()
    fit(model, x, y, epochs=3, batch_size=32, beta=lambda epoch: epoch / 10, progress=False)
    assert sorted(set(model.betas)) == [0.1, 0.2, 0.3]


def test_linear_warmup_values_by_hand():
    schedule = LinearWarmup(4, beta_max=2.0)
    assert [schedule(e) for e in range(1, 8)] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    assert [LinearWarmup(1)(e) for e in (1, 2, 3)] == [0.0, 1.0, 1.0]
    assert "warmup_epochs=4" in repr(schedule) and "beta_max=2.0" in repr(schedule)


def test_fit_uses_the_schedule_of_each_epoch():
    x, _ = two_prototypes(96)
    history = fit(fresh_vae(), x, epochs=5, batch_size=32, beta=LinearWarmup(3, beta_max=3.0),
                  x_val=two_prototypes(40, seed=1)[0], progress=False)
    expected_betas = [0.0, 1.0, 2.0, 3.0, 3.0]  # (epoch - 1) / 3 * 3, capped at 3
    for split in (history.train, history.val):
        for total, recon, kl, beta in zip(split["total"], split["recon"], split["kl"], expected_betas):
            assert math.isclose(total, recon + beta * kl, rel_tol=1e-5, abs_tol=1e-4), (total, recon, kl, beta)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(warmup_epochs=0), ValueError, "warmup_epochs must be a positive integer"),
    (dict(warmup_epochs=2.5), TypeError, "warmup_epochs must be a positive integer"),
    (dict(warmup_epochs=3, beta_max=-1.0), ValueError, "beta_max must be >= 0"),
    (dict(warmup_epochs=3, beta_max=float("nan")), ValueError, "beta_max must be finite"),
])
def test_linear_warmup_refuses_bad_settings(kwargs, error, message):
    with pytest.raises(error, match=message):
        LinearWarmup(**kwargs)
    with pytest.raises(ValueError, match="epoch must be a positive integer"):
        LinearWarmup(3)(0)


def test_fit_with_a_high_free_bits_floor_minimizes_the_reconstruction_plus_a_constant():
    # every dimension's KL stays far below 50 nats, so each batch is charged exactly latent_dim * 50
    x, _ = two_prototypes(96)
    history = fit(fresh_vae(free_bits=50.0), x, epochs=3, batch_size=32, beta=0.5, x_val=x[:40], progress=False)
    for split in (history.train, history.val):
        for total, recon, kl in zip(split["total"], split["recon"], split["kl"]):
            assert math.isclose(total - recon, 0.5 * 2 * 50.0, rel_tol=1e-5)
            assert 0.0 <= kl < 50.0  # History keeps the true KL


def test_data_follow_the_model_dtype():
    x, _ = two_prototypes()
    model = fresh_vae().double()
    history = fit(model, x, epochs=1, batch_size=64, progress=False)  # float32 data, float64 model
    assert history.epochs == 1 and next(model.parameters()).dtype == torch.float64
    history = fit(fresh_vae(), x.double(), epochs=1, batch_size=64, progress=False)  # float64 data, float32 model
    assert history.epochs == 1


def test_progress_ends_with_a_summary_of_the_run(capsys):
    x, _ = two_prototypes()
    fit(fresh_vae(), x, epochs=2, batch_size=64, x_val=x[:32], progress=True)
    err = capsys.readouterr().err
    assert "trained 2 epochs (8 steps of 64 images)" in err and "(validation" in err and "nats per image" in err


# ----------------------------------------------------------------------------------------------
# Bad input, refused by name before any training


@pytest.mark.parametrize("kwargs, error, message", [
    ({"epochs": 0}, ValueError, "epochs must be a positive integer"),
    ({"epochs": 2.0}, TypeError, "epochs must be a positive integer"),
    ({"epochs": 1, "batch_size": 0}, ValueError, "batch_size must be a positive integer"),
    ({"epochs": 1, "lr": -1.0}, ValueError, "lr must be > 0"),
    ({"epochs": 1, "lr": True}, TypeError, "lr must be a real number"),
    ({"epochs": 1, "lr": torch.tensor(1e-3, requires_grad=True)}, TypeError, "lr must be a real number"),
    ({"epochs": 1, "beta": -0.5}, ValueError, "beta must be >= 0"),
    ({"epochs": 1, "beta": float("nan")}, ValueError, "beta must be finite"),
    ({"epochs": 1, "beta": lambda e: -1.0}, ValueError, r"beta \(the schedule's value for epoch 1\) must be >= 0"),
    ({"epochs": 1, "y_train": torch.zeros(5, dtype=torch.long)}, ValueError, "y_train was given, but VAE takes no labels"),
    ({"epochs": 1, "y_val": torch.zeros(5, dtype=torch.long)}, ValueError, "y_val was given without x_val"),
    ({"epochs": 1, "x_val": torch.zeros(0, 16)}, ValueError, "x_val must hold at least one image"),
    ({"epochs": 1, "x_val": torch.rand(4, 15)}, ValueError, "x_val must have 16 pixels per image"),
    ({"epochs": 1, "generator": None}, TypeError, "generator must be a torch.Generator or an int seed"),
    ({"epochs": 1, "generator": -1}, ValueError, "generator must be a seed in"),
    ({"epochs": 1, "callback": "print"}, TypeError, "callback must be a function"),
])
def test_bad_arguments_are_refused(kwargs, error, message):
    x, _ = two_prototypes()
    model = fresh_vae()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(error, match=message):
        fit(model, x, progress=False, **kwargs)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # nothing was trained


@pytest.mark.parametrize("x, error, message", [
    (torch.rand(16), ValueError, "x_train must have at least 2 dimension"),
    (torch.full((4, 16), float("nan")), ValueError, "x_train must be finite"),
    (torch.zeros(0, 16), ValueError, "x_train must hold at least one image"),
    (torch.rand(4, 16) * 255, ValueError, r"x_train must hold pixel values in \[0, 1\]"),
    (-torch.rand(4, 16), ValueError, r"x_train must hold pixel values in \[0, 1\]"),
    (torch.ones(4, 16, dtype=torch.long), TypeError, "x_train must be a floating-point tensor"),
    ([[0.5] * 16], TypeError, "x_train must be a torch.Tensor"),
])
def test_bad_data_are_refused(x, error, message):
    with pytest.raises(error, match=message):
        fit(fresh_vae(), x, epochs=1, progress=False)


def test_bad_models_are_refused():
    with pytest.raises(TypeError, match="model must be an nn.Module with a loss"):
        fit(nn.Linear(16, 2), torch.rand(4, 16), epochs=1, progress=False)
    with pytest.raises(TypeError, match="model must be an nn.Module with a loss"):
        fit(None, torch.rand(4, 16), epochs=1, progress=False)

    class NoParameters(nn.Module):
        def loss(self, x, y=None, beta=1.0, generator=None):
            return Loss(x.sum(), {})

    with pytest.raises(ValueError, match="model must have parameters to train"):
        fit(NoParameters(), torch.rand(4, 16), epochs=1, progress=False)

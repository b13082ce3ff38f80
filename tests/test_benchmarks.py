"""The training benchmark compares like with like: same images, same objective, same batches' worth of work.

No timings are asserted here (CONTRIBUTING: speed is measured by the scripts, not by tests).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks` sits beside the package

from benchmarks import training_speed  # noqa: E402
from vae_course.data import ImageData  # noqa: E402
from vae_course.vae import VAE  # noqa: E402


def tiny_data(n_train: int = 300, n_test: int = 20) -> ImageData:
    """Grey images that are exact multiples of 1/255, as idx files hold them."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n_train + n_test, 784), generator=g).float() / 255
    y = torch.randint(0, 10, (n_train + n_test,), generator=g)
    return ImageData(x[:n_train], y[:n_train], x[n_train:], y[n_train:], "test")


@pytest.mark.parametrize("fashion", [False, True])
def test_torchvision_dataset_holds_the_same_images(tmp_path, fashion):
    data = tiny_data()
    root = training_speed.write_torchvision_layout(tmp_path, "FashionMNIST" if fashion else "MNIST", data)
    dataset = training_speed.example_dataset(root, fashion)
    assert len(dataset) == len(data.x_train)
    for i in (0, 17, len(dataset) - 1):
        image, label = dataset[i]
        assert image.shape == (1, 28, 28)
        assert torch.equal(image.view(-1), data.x_train[i]), f"image {i} differs after ToTensor"
        assert label == int(data.y_train[i])


def test_pipeline_loss_is_fits_loss_on_the_same_batch():
    torch.manual_seed(0)
    model = VAE(784, 400, 20)
    x = torch.bernoulli(tiny_data().x_train[:64], generator=torch.Generator().manual_seed(2))  # Bernoulli wants 0/1
    logits, mu, logvar = model(x, generator=torch.Generator().manual_seed(1))
    example = training_speed.example_loss(logits, x, mu, logvar)
    fits = model.loss(x, generator=torch.Generator().manual_seed(1)).total  # what fit and loop (b) minimize
    # an independent route: torch.distributions' Bernoulli log-probability and Gaussian KL, per image, averaged
    reference = (-Bernoulli(logits=logits).log_prob(x).sum(1)
                 + kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(1)).mean()
    assert torch.allclose(example, reference, rtol=1e-5), f"pipeline (a) loss {example} != reference {reference}"
    assert torch.allclose(fits, reference, rtol=1e-5), f"fit's loss {fits} != reference {reference}"


def test_each_contender_steps_once_per_batch_of_the_same_images(tmp_path, monkeypatch):
    from torch.utils.data import DataLoader

    from vae_course import train
    from vae_course.train import fit

    data = tiny_data(n_train=300)  # 3 batches of 128 (the last one 44 images)
    dataset = training_speed.example_dataset(training_speed.write_torchvision_layout(tmp_path, "MNIST", data), False)
    seen = {}

    def counting_optimizer(name):
        torch.manual_seed(0)
        model = VAE(784, 400, 20)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        optimizer.register_step_post_hook(lambda *_: seen.__setitem__(name, seen.get(name, 0) + 1))
        return model, optimizer

    model, optimizer = counting_optimizer("a")
    mean_loss = training_speed.epoch_pipeline(model, optimizer, DataLoader(dataset, batch_size=training_speed.BATCH))
    model, optimizer = counting_optimizer("b")
    training_speed.epoch_bare(model, optimizer, list(data.x_train.split(training_speed.BATCH)))
    model, optimizer = counting_optimizer("fit")
    monkeypatch.setattr(train, "make_optimizer", lambda m, lr: optimizer)  # fit builds its optimizer with this
    history = fit(model, data.x_train, epochs=1, batch_size=training_speed.BATCH, progress=False)
    assert seen == {"a": 3, "b": 3, "fit": 3}, f"optimizer steps per epoch differ: {seen}"
    # both report the mean loss per image of the epoch; from the same initial weights they start alike
    # (an untrained decoder pays about 784 log 2 nats per image), so they agree to a few nats
    assert abs(mean_loss - history.train["total"][0]) < 20, (mean_loss, history.train["total"][0])


def test_bits_per_dimension_converts_nats_per_image():
    """One nat is log2(e) bits; per dimension, divide by the pixels. 784 ln 2 nats per image is one bit a pixel."""
    import math

    from benchmarks.quality import bits_per_dim

    assert bits_per_dim(784 * math.log(2), 784) == pytest.approx(1.0, rel=1e-12)
    assert bits_per_dim(86.76, 784) == pytest.approx(86.76 * math.log2(math.e) / 784, rel=1e-12)  # Burda et al.'s VAE

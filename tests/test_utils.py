"""seed_everything and get_device."""

import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from vae_course import get_device, seed_everything


def draws():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_seed_everything_makes_every_generator_repeat():
    seed_everything(123)
    first = draws()
    seed_everything(123)
    assert draws() == first
    seed_everything(124)
    assert draws() != first


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "0", None, True])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*32\)"):
        seed_everything(bad)


def test_importing_the_package_seeds_nothing():
    code = ("import torch; torch.manual_seed(7); import vae_course, vae_course.kl; a = float(torch.rand(1)); "
            "torch.manual_seed(7); b = float(torch.rand(1)); assert a == b, 'importing vae_course reseeded torch'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_get_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert get_device() == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert get_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device() == torch.device("cuda")


def test_get_device_prefer(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="prefer='cuda' but no cuda device is available here"):
        get_device("cuda")
    with pytest.raises(ValueError, match=r"prefer must be one of \['cpu', 'cuda', 'mps'\] or None, got 'tpu'"):
        get_device("tpu")


def test_check_requirements_reports_missing_old_and_good_packages(monkeypatch):
    from vae_course import utils

    declared = ["numpy>=1.24", "torch>=2.2", "ghost>=1.0", "pytest>=8.0; extra == 'test'"]
    versions = {"numpy": "1.23.5", "torch": "2.14.1"}

    def version(name):
        if name not in versions:
            raise utils.metadata.PackageNotFoundError(name)
        return versions[name]

    monkeypatch.setattr(utils.metadata, "requires", lambda dist: declared)
    monkeypatch.setattr(utils.metadata, "version", version)
    rows = {row.name: row for row in utils.check_requirements()}
    assert set(rows) == {"numpy", "torch", "ghost"}  # the test extra is not a runtime requirement
    assert (rows["numpy"].installed, rows["numpy"].ok) == ("1.23.5", False)
    assert (rows["torch"].installed, rows["torch"].ok) == ("2.14.1", True)
    assert (rows["ghost"].installed, rows["ghost"].ok) == (None, False)


def test_check_requirements_on_this_environment_and_a_missing_distribution():
    from vae_course.utils import check_requirements

    assert {"numpy", "torch", "ipywidgets"} <= {row.name for row in check_requirements()}
    with pytest.raises(ValueError, match="distribution 'no-such-course' is not installed"):
        check_requirements("no-such-course")


def test_eval_mode_turns_off_training_and_gradients_and_restores_the_mode():
    import torch
    from torch import nn

    from vae_course.utils import eval_mode, model_device

    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    for was_training in (True, False):
        model.train(was_training)
        with eval_mode(model):
            assert not model.training and not torch.is_grad_enabled()
        assert model.training is was_training and torch.is_grad_enabled()
    model.train()
    try:
        with eval_mode(model):
            raise KeyError("inside")
    except KeyError:
        pass
    assert model.training  # restored even when the block fails
    assert model_device(model) == torch.device("cpu") and model_device(nn.ReLU()) == torch.device("cpu")

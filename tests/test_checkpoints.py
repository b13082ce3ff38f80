"""vae_course.checkpoints: round trip, damaged and foreign files, the atomic write, load_or_train."""

import pickle

import pytest
import torch
from torch import nn

from vae_course import checkpoints
from vae_course.checkpoints import CheckpointError, load_checkpoint, load_or_train, save_checkpoint
from vae_course.models import VAE
from vae_course.train import History, fit


def small_vae(seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(input_dim=10, hidden_dim=6, latent_dim=2)


def a_history() -> History:
    return History({"total": [3.0, 2.0], "recon": [2.5, 1.5], "kl": [0.5, 0.5]},
                   {"total": [], "recon": [], "kl": []}, 1.25)


def test_round_trip_rebuilds_the_same_model(tmp_path):
    model = small_vae()
    path = save_checkpoint(tmp_path / "sub" / "m.pt", model, history=a_history(), key={"epochs": 2, "source": "offline"})
    loaded, history, key = load_checkpoint(path)
    assert type(loaded) is VAE and loaded.config() == model.config() and not loaded.training
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    x = torch.rand(3, 10)
    torch.testing.assert_close(loaded.decode(loaded.encode(x)[0]), model.decode(model.encode(x)[0]))
    assert history == a_history() and key == {"epochs": 2, "source": "offline"}


def test_truncated_file_gives_a_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", small_vae())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)


class Foreign:
    pass


@pytest.mark.parametrize("writer, message", [
    (lambda p: p.write_bytes(b"\x00" * 100), "not a readable checkpoint"),
    (lambda p: p.write_bytes(pickle.dumps(Foreign(), protocol=2)), "not a readable checkpoint"),  # code in a pickle
    (lambda p: torch.save({"weights": torch.zeros(2)}, p), "not a vae_course checkpoint"),
    (lambda p: torch.save(torch.zeros(2), p), "not a vae_course checkpoint"),
])
def test_foreign_files_give_a_clear_error(tmp_path, writer, message):
    path = tmp_path / "foreign.pt"
    writer(path)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_a_class_outside_the_package_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", small_vae())
    payload = torch.load(path, weights_only=True)
    payload["model_class"] = "os:system"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="outside vae_course"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="must be a vae_course model"):
        save_checkpoint(tmp_path / "x.pt", nn.Linear(2, 2))
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "absent.pt")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "m.pt", small_vae(0))
    before = path.read_bytes()

    def crash(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints.torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, small_vae(1))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_load_or_train_trains_once_then_reuses(tmp_path, capsys):
    x = torch.bernoulli(torch.full((64, 10), 0.3), generator=torch.Generator().manual_seed(0))
    calls = []

    def train(model):
        calls.append(1)
        return fit(model, x, epochs=1, progress=False)

    path = tmp_path / "vae.pt"
    first, h1 = load_or_train(path, small_vae, train, key={"epochs": 1})
    second, h2 = load_or_train(path, small_vae, train, key={"epochs": 1})
    assert len(calls) == 1 and h1 == h2
    assert all(torch.equal(v, second.state_dict()[k]) for k, v in first.state_dict().items())
    assert "Loaded the trained model" in capsys.readouterr().out
    load_or_train(path, small_vae, train, key={"epochs": 2})  # other settings: train again
    assert len(calls) == 2 and "other settings" in capsys.readouterr().out
    path.write_bytes(b"garbage")  # a damaged file is replaced, with a message
    load_or_train(path, small_vae, train, key={"epochs": 2})
    assert len(calls) == 3 and "not a readable checkpoint" in capsys.readouterr().out
    assert load_checkpoint(path)[2] == {"epochs": 2}

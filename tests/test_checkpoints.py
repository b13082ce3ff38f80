"""vae_course.checkpoints: round trip, damaged and foreign files, the atomic write, load_or_train, and the
faults that must never cost the user a saved model (a missing device, keys that cannot be stored, a config
or a file of another version)."""

import os
import pickle

import numpy as np

import pytest
import torch
from torch import nn

from vae_course import checkpoints
from vae_course.checkpoints import CheckpointError, load_checkpoint, load_or_train, save_checkpoint
from vae_course.vae import VAE
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
    with pytest.raises(TypeError, match="must be a vae_course model"):
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
    path.write_bytes(b"garbage")  # a damaged file is replaced, with a message, and kept aside
    load_or_train(path, small_vae, train, key={"epochs": 2})
    out = capsys.readouterr().out
    assert len(calls) == 3 and "not a readable checkpoint" in out and "kept as vae.replaced-" in out
    assert load_checkpoint(path)[2] == {"epochs": 2}
    kept = sorted(p.name for p in tmp_path.glob("vae.replaced-*.pt"))
    assert len(kept) == 2 and b"garbage" in [(tmp_path / name).read_bytes() for name in kept]


# ----------------------------------------------------------------------------------------------
# Faults: no file the user saved is lost


def trained_file(tmp_path, key=None):
    x = torch.bernoulli(torch.full((64, 10), 0.3), generator=torch.Generator().manual_seed(0))
    path = tmp_path / "vae.pt"
    load_or_train(path, small_vae, lambda m: fit(m, x, epochs=1, progress=False), key=key or {"epochs": 1})
    return path


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_missing_device_is_an_error_and_the_file_is_untouched(tmp_path):
    path = trained_file(tmp_path)
    before = path.read_bytes()
    calls = []
    with pytest.raises(ValueError, match="map_location='cuda', but there is no such device here"):
        load_or_train(path, small_vae, lambda m: calls.append(1), key={"epochs": 1}, map_location="cuda")
    with pytest.raises(ValueError, match="map_location='cuda'"):
        load_checkpoint(path, map_location="cuda")
    assert calls == [] and path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["vae.pt"]
    with pytest.raises(ValueError, match="map_location must name a device"):
        load_checkpoint(path, map_location="gpu please")


def test_numpy_numbers_in_a_key_are_stored_as_plain_numbers_and_read_back(tmp_path):
    key = {"lr": np.float64(1e-3), "epochs": np.int64(3), "flags": [np.bool_(True)], "nested": {"beta": np.float32(0.5)}}
    path = save_checkpoint(tmp_path / "m.pt", small_vae(), key=key)
    _, _, saved = load_checkpoint(path)
    assert saved == {"lr": 1e-3, "epochs": 3, "flags": [True], "nested": {"beta": 0.5}}
    assert type(saved["lr"]) is float and type(saved["epochs"]) is int


@pytest.mark.parametrize("key, message", [
    ({"x": torch.zeros(2)}, r"key\['x'\] must hold plain values"),
    ({"f": print}, r"key\['f'\] must hold plain values"),
    ({"deep": [1, {"obj": object()}]}, r"key\['deep'\]\[1\]\['obj'\] must hold plain values"),
    ({1: "a"}, "key must have string keys"),
])
def test_keys_a_checkpoint_could_not_read_back_are_refused_before_writing(tmp_path, key, message):
    with pytest.raises(TypeError, match=message):
        save_checkpoint(tmp_path / "m.pt", small_vae(), key=key)
    with pytest.raises(TypeError, match=message):
        load_or_train(tmp_path / "n.pt", small_vae, lambda m: None, key=key)
    assert list(tmp_path.iterdir()) == []


def rewrite(path, change):
    payload = torch.load(path, weights_only=True)
    change(payload)
    torch.save(payload, path)


@pytest.mark.parametrize("change, message", [
    (lambda p: p["config"].update(colour="blue"), "does not build a vae_course.vae:VAE"),
    (lambda p: p.pop("state_dict"), "incomplete: its 'state_dict'"),
    (lambda p: p.update(history=[1, 2]), "incomplete: its 'history'"),
    (lambda p: p.update(history={"train": {"total": ["x"]}, "val": {}, "seconds": 0}), "the history do not fit"),
    (lambda p: p["state_dict"].pop("decoder.2.bias"), "the weights or the history do not fit"),
    (lambda p: p.update(version=1), "checkpoint version 1"),
    (lambda p: p.update(model_class="vae_course.models:VAE"), "does not exist in this version"),
])
def test_files_this_version_cannot_rebuild_give_a_checkpoint_error(tmp_path, change, message):
    path = trained_file(tmp_path)
    rewrite(path, change)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_load_or_train_keeps_a_file_of_another_version_and_says_so(tmp_path, capsys):
    path = trained_file(tmp_path)
    rewrite(path, lambda p: p["config"].update(colour="blue"))
    before = path.read_bytes()
    trained_file(tmp_path)
    out = capsys.readouterr().out
    kept = list(tmp_path.glob("vae.replaced-*.pt"))
    assert "does not build" in out and len(kept) == 1 and kept[0].read_bytes() == before


def test_a_crash_mid_save_of_load_or_train_keeps_the_old_file(tmp_path, monkeypatch):
    path = trained_file(tmp_path)
    before = path.read_bytes()

    def crash(obj, f):
        f.write(b"half")
        raise KeyboardInterrupt  # the learner presses stop while the file is written

    monkeypatch.setattr(checkpoints.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        load_or_train(path, small_vae, lambda m: fit(m, torch.rand(8, 10), epochs=1, progress=False),
                      key={"epochs": 1}, retrain=True)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["vae.pt"]


def test_checkpoints_get_the_users_usual_file_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "m.pt", small_vae())
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_load_or_train_refuses_bad_functions_and_histories(tmp_path):
    with pytest.raises(TypeError, match="build and train must be functions"):
        load_or_train(tmp_path / "m.pt", None, lambda m: None)
    with pytest.raises(TypeError, match="train must return the History"):
        load_or_train(tmp_path / "m.pt", small_vae, lambda m: {"total": [1.0]})
    assert not (tmp_path / "m.pt").exists()
    with pytest.raises(TypeError, match="history must be a vae_course.train.History"):
        save_checkpoint(tmp_path / "m.pt", small_vae(), history={"train": {}})

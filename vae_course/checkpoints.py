"""Save a trained model with what it takes to rebuild it, load it safely, or train it once and reuse it.

A checkpoint is a dict of plain values written by `torch.save`:
    {"format": "vae_course-checkpoint", "version": 1, "model_class": "vae_course.models:VAE",
     "config": {...init kwargs...}, "state_dict": {...}, "history": {...} or None, "key": {...}}
It is read back with `torch.load(weights_only=True)`, which unpickles tensors and plain containers
only, never code: the class is looked up by name, and only inside the vae_course package.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .train import History

FORMAT = "vae_course-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a complete vae_course checkpoint (truncated, foreign, or of another version)."""


def _class_name(model: nn.Module) -> str:
    cls = type(model)
    if not cls.__module__.startswith("vae_course.") or not callable(getattr(model, "config", None)):
        raise ValueError(f"model must be a vae_course model with a config() method, got {cls.__module__}.{cls.__qualname__}")
    return f"{cls.__module__}:{cls.__qualname__}"


def save_checkpoint(path: str | Path, model: nn.Module, *, history: History | None = None,
                    key: dict | None = None) -> Path:
    """Write the model, its config, its History and a `key` (what it was trained on, with what settings).

    The file appears complete or not at all: it is written to a temporary file in the same folder,
    flushed to disk, then renamed over `path` (an atomic step on POSIX and Windows).
    """
    path = Path(path)
    payload = {
        "format": FORMAT, "version": VERSION, "model_class": _class_name(model), "config": dict(model.config()),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "history": None if history is None else history.as_dict(), "key": dict(key or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _model_class(name: str) -> type[nn.Module]:
    module_name, _, qualname = name.partition(":")
    if not module_name.startswith("vae_course.") or not qualname.isidentifier():
        raise CheckpointError(f"the checkpoint names a model class outside vae_course: {name!r}")
    cls = getattr(importlib.import_module(module_name), qualname, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise CheckpointError(f"the checkpoint's model class {name!r} does not exist in this version of vae_course")
    return cls


def read_checkpoint(path: str | Path, map_location: str | torch.device | None = "cpu") -> dict:
    """The checkpoint's dict, checked: CheckpointError if the file is truncated, foreign or of another version."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # a truncated zip, a pickle with code in it, random bytes, ...
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or not written by "
                              f"vae_course.save_checkpoint): {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a torch file but not a vae_course checkpoint")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {payload.get('version')!r}; this code reads version {VERSION}")
    return payload


def load_checkpoint(path: str | Path, map_location: str | torch.device | None = "cpu") -> tuple[nn.Module, History | None, dict]:
    """Rebuild the saved model in eval mode on `map_location`; return (model, history or None, key)."""
    payload = read_checkpoint(path, map_location)
    model = _model_class(payload["model_class"])(**payload["config"])
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(f"{path}: the weights do not fit the saved config: {str(error).splitlines()[0]}") from None
    model.to(map_location or "cpu").eval()
    history = None if payload["history"] is None else History.from_dict(payload["history"])
    return model, history, payload["key"]


def load_or_train(path: str | Path, build: Callable[[], nn.Module], train: Callable[[nn.Module], History], *,
                  key: dict | None = None, map_location: str | torch.device | None = "cpu",
                  retrain: bool = False) -> tuple[nn.Module, History]:
    """Reuse the model saved at `path` if it matches, else build it, train it and save it.

    It matches when it loads cleanly, has the class and config of `build()`'s model and was saved with
    the same `key` (put in it whatever changes the result: the data source, epochs, lr, seed). A file
    that is damaged or does not match is replaced, with a one-line message saying why.
    """
    model = build()
    key = dict(key or {})
    path = Path(path)
    if path.exists() and not retrain:
        try:
            saved, history, saved_key = load_checkpoint(path, map_location)
            same = (type(saved) is type(model) and saved.config() == model.config() and saved_key == key
                    and history is not None)
            if same:
                print(f"Loaded the trained model from {path} (delete the file or pass retrain=True to train again).")
                return saved, history
            print(f"{path} was trained with other settings; training again.")
        except CheckpointError as error:
            print(f"{error}; training again.")
    history = train(model)
    save_checkpoint(path, model, history=history, key=key)
    model.eval()
    return model, history

"""Save a trained model with what it takes to rebuild it, load it safely, or train it once and reuse it.

A checkpoint is a dict of plain values written by `torch.save`:
    {"format": "vae_course-checkpoint", "version": 2, "model_class": "vae_course.vae:VAE",
     "config": {...init kwargs...}, "state_dict": {...}, "history": {...} or None, "key": {...}}
It is read back with `torch.load(weights_only=True)`, which unpickles tensors and plain containers only,
never code: the class is looked up by name, and only inside the vae_course package.

What protects the user's files: a checkpoint is written to a temporary file next to it and renamed over
the old one only when complete (a crash mid-save leaves the old file); `config` and `key` must be plain
values (NumPy scalars are converted, anything else refused) so that every file written can be read
again; and `load_or_train` replaces a file only when the file itself is at fault (damaged, of another
format or trained with other settings), keeping the old one under another name and saying so. A problem
that is not the file's (a device that is not there) is an error, and the file is left alone.
"""

from __future__ import annotations

import importlib
import os
import secrets
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .train import History

FORMAT = "vae_course-checkpoint"
VERSION = 2
PLAIN_TYPES = (type(None), bool, int, float, str)


class CheckpointError(ValueError):
    """A file that is not a complete vae_course checkpoint (truncated, foreign, or of another version)."""


def plain(name: str, value: Any) -> Any:
    """`value` made of plain Python values only (None, bool, int, float, str, lists, tuples, dicts with str
    keys), NumPy scalars converted; TypeError naming the offending entry otherwise."""
    if isinstance(value, np.generic) and not isinstance(value, np.object_):
        return value.item()
    if isinstance(value, PLAIN_TYPES):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(plain(f"{name}[{i}]", v) for i, v in enumerate(value))
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                raise TypeError(f"{name} must have string keys, got the key {k!r}")
        return {k: plain(f"{name}[{k!r}]", v) for k, v in value.items()}
    raise TypeError(f"{name} must hold plain values (numbers, strings, lists, dicts) that a checkpoint can store "
                    f"and read back, got {type(value).__name__} {value!r}")


def _class_name(model: nn.Module) -> str:
    cls = type(model)
    if not isinstance(model, nn.Module) or not cls.__module__.startswith("vae_course.") \
            or not callable(getattr(model, "config", None)):
        raise TypeError(f"model must be a vae_course model with a config() method, got {cls.__module__}.{cls.__qualname__}")
    return f"{cls.__module__}:{cls.__qualname__}"


def _device(map_location) -> torch.device:
    """map_location as a device that exists here; ValueError (not the file's fault) otherwise."""
    try:
        device = torch.device("cpu" if map_location is None else map_location)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"map_location must name a device such as 'cpu' or 'cuda', got {map_location!r}: {error}") from None
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if not available.get(device.type, False) or (device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count()):
        raise ValueError(f"map_location={map_location!r}, but there is no such device here; "
                         f"use map_location='cpu' or vae_course.get_device()")
    return device


def save_checkpoint(path: str | Path, model: nn.Module, *, history: History | None = None,
                    key: dict | None = None) -> Path:
    """Write the model, its config, its History and a `key` (what it was trained on, with what settings).

    The file appears complete or not at all: it is written to a temporary file in the same folder, flushed
    to disk, then renamed over `path`. It gets the user's usual file permissions.
    """
    path = Path(path)
    if history is not None and not isinstance(history, History):
        raise TypeError(f"history must be a vae_course.train.History or None, got {type(history).__name__}")
    payload = {
        "format": FORMAT, "version": VERSION, "model_class": _class_name(model),
        "config": plain("config", dict(model.config())),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "history": None if history is None else history.as_dict(), "key": plain("key", dict(key or {})),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        with open(tmp, "xb") as f:  # a new file, created with the permissions the user's umask gives
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _model_class(name: str) -> type[nn.Module]:
    module_name, _, qualname = name.partition(":")
    if not module_name.startswith("vae_course.") or not qualname.isidentifier():
        raise CheckpointError(f"the checkpoint names a model class outside vae_course: {name!r}")
    try:
        cls = getattr(importlib.import_module(module_name), qualname, None)
    except ImportError:
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise CheckpointError(f"the checkpoint's model class {name!r} does not exist in this version of vae_course")
    return cls


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint's dict, read on the CPU and checked: CheckpointError if the file is truncated, foreign,
    of another version or incomplete."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated zip, a pickle with code in it, random bytes, ...
        first = str(error).splitlines()[0] if str(error) else ""
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or not written by "
                              f"vae_course.save_checkpoint): {type(error).__name__}: {first}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a torch file but not a vae_course checkpoint")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {payload.get('version')!r}; this code reads version {VERSION}")
    expected = {"model_class": str, "config": dict, "state_dict": dict, "key": dict, "history": (dict, type(None))}
    for field, kind in expected.items():
        if not isinstance(payload.get(field, ...), kind):
            raise CheckpointError(f"{path} is incomplete: its {field!r} is missing or of the wrong kind")
    return payload


def load_checkpoint(path: str | Path, map_location: str | torch.device | None = "cpu") -> tuple[nn.Module, History | None, dict]:
    """Rebuild the saved model in eval mode on `map_location`; return (model, history or None, key).

    CheckpointError when the file is at fault (damaged, foreign, a config or weights this version cannot
    rebuild); ValueError when map_location names a device that is not here (the file is fine).
    """
    device = _device(map_location)
    payload = read_checkpoint(path)
    try:
        model = _model_class(payload["model_class"])(**payload["config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: its config {payload['config']} does not build a {payload['model_class']} "
                              f"in this version of vae_course: {error}") from None
    try:
        model.load_state_dict(payload["state_dict"])
        history = None if payload["history"] is None else History.from_dict(payload["history"])
    except (RuntimeError, ValueError) as error:
        raise CheckpointError(f"{path}: the weights or the history do not fit the saved config: "
                              f"{str(error).splitlines()[0]}") from None
    return model.to(device).eval(), history, payload["key"]


def _set_aside(path: Path) -> Path:
    """Rename `path` to '<stem>.replaced-<time><suffix>' next to it (never over another file); return the new path."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        aside = path.with_name(f"{path.stem}.replaced-{stamp}{f'-{n}' if n else ''}{path.suffix}")
        if not aside.exists():
            os.replace(path, aside)
            return aside
    raise FileExistsError(f"could not find a free name to keep {path} before replacing it")


def _differences(saved: dict, wanted: dict) -> str:
    names = sorted(set(saved) | set(wanted))
    return ", ".join(f"{n}: saved {saved.get(n, '(none)')!r}, now {wanted.get(n, '(none)')!r}"
                     for n in names if saved.get(n, ...) != wanted.get(n, ...))


def load_or_train(path: str | Path, build: Callable[[], nn.Module], train: Callable[[nn.Module], History], *,
                  key: dict | None = None, map_location: str | torch.device | None = "cpu",
                  retrain: bool = False) -> tuple[nn.Module, History]:
    """Reuse the model saved at `path` if it matches, else build it, train it and save it.

    It matches when it loads cleanly, has the class and config of `build()`'s model, was saved with the same
    `key` (put in it whatever changes the result: the data source, epochs, lr, seed) and has a History. A file
    that is damaged or does not match is kept under another name ('<stem>.replaced-<time>.pt'), with a
    one-line message saying why, and the model is trained again. retrain=True trains again and overwrites.
    A map_location that is not available here raises ValueError and touches no file.
    """
    if not callable(build) or not callable(train):
        raise TypeError("build and train must be functions: build() -> model, train(model) -> History")
    path = Path(path)
    key = plain("key", dict(key or {}))
    _device(map_location)
    model = build()
    if path.exists() and not retrain:
        try:
            saved, history, saved_key = load_checkpoint(path, map_location)
        except CheckpointError as error:
            reason = str(error)
        else:
            if type(saved) is not type(model) or saved.config() != model.config():
                reason = f"{path} holds a {type(saved).__name__} {saved.config()}, not the {type(model).__name__} {model.config()} asked for"
            elif saved_key != key:
                reason = f"{path} was trained with other settings ({_differences(saved_key, key)})"
            elif history is None:
                reason = f"{path} has no training history"
            else:
                print(f"Loaded the trained model from {path} (delete the file or pass retrain=True to train again).")
                return saved, history
        aside = _set_aside(path)
        print(f"{reason}; it is kept as {aside.name} and the model is trained again.")
    history = train(model)
    if not isinstance(history, History):
        raise TypeError(f"train must return the History that fit returns, got {type(history).__name__}")
    save_checkpoint(path, model, history=history, key=key)
    return model.eval(), history

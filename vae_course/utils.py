"""Reproducibility and device choice, the two things every notebook's setup cell needs."""

from __future__ import annotations

import os
import random
from contextlib import contextmanager
from importlib import metadata
from typing import Iterator, NamedTuple

import numpy as np
import torch
from packaging.requirements import Requirement as PackagingRequirement
from torch import nn


def seed_everything(seed: int = 0) -> None:
    """Seed Python's `random`, NumPy's global generator and PyTorch (CPU and every GPU)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    os.environ["PYTHONHASHSEED"] = str(seed)  # for subprocesses started from here


def get_device(prefer: str | None = None) -> torch.device:
    """The fastest device present: CUDA, then Apple's MPS, then the CPU.

    `prefer` ("cuda", "mps" or "cpu") forces one, with a ValueError if it is not available.
    """
    available = {
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
        "cpu": True,
    }
    if prefer is not None:
        if prefer not in available:
            raise ValueError(f"prefer must be one of {sorted(available)} or None, got {prefer!r}")
        if not available[prefer]:
            raise ValueError(f"prefer={prefer!r} but no {prefer} device is available here")
        return torch.device(prefer)
    return torch.device(next(name for name, ok in available.items() if ok))


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put `model` in eval mode and turn gradients off for the block; restore the mode it had on the way out."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (the CPU for a model without parameters)."""
    parameter = next(model.parameters(), None)
    return torch.device("cpu") if parameter is None else parameter.device


class Requirement(NamedTuple):
    """One of the course's declared dependencies and what this environment has of it."""

    name: str
    required: str  # the version range pyproject.toml asks for, e.g. ">=2.2"
    installed: str | None  # None when the package is missing
    ok: bool


def check_requirements(distribution: str = "vae-course") -> list[Requirement]:
    """Compare the installed version of each runtime dependency of `distribution` with its declared range."""
    try:
        declared = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:
        raise ValueError(f"distribution {distribution!r} is not installed; run `make lab` or `pip install -e .`") from None
    rows = []
    for line in declared:
        requirement = PackagingRequirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue  # a test extra or a backport for another Python
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            installed = None
        ok = installed is not None and requirement.specifier.contains(installed, prereleases=True)
        rows.append(Requirement(requirement.name, str(requirement.specifier), installed, ok))
    return rows

"""Argument checks shared by the package: each raises ValueError naming the argument and the problem."""

from __future__ import annotations

import math

import numpy as np
import torch


def _first_bad(values: np.ndarray, bad: np.ndarray) -> float:
    return float(np.asarray(values)[bad].flat[0])


def as_finite_array(name: str, value) -> np.ndarray:
    """`value` as a float64 array; ValueError if it is not numeric or holds NaN or inf."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number or an array of them, got {value!r}") from None
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(f"{name} must be finite, got {_first_bad(array, bad)}")
    return array


def as_positive_array(name: str, value) -> np.ndarray:
    """`value` as a finite float64 array with every entry > 0."""
    array = as_finite_array(name, value)
    bad = array <= 0
    if bad.any():
        raise ValueError(f"{name} must be > 0, got {_first_bad(array, bad)}")
    return array


def broadcast_arrays(**named: np.ndarray) -> list[np.ndarray]:
    """np.broadcast_arrays, with an error that names the arguments whose shapes clash."""
    try:
        return list(np.broadcast_arrays(*named.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {np.shape(v)}" for k, v in named.items())
        raise ValueError(f"shapes do not broadcast together: {shapes}") from None


def require_positive_int(name: str, value) -> int:
    """`value` as an int >= 1 (bools and floats with a fraction are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def require_tensor(name: str, value, *, min_dim: int = 1) -> torch.Tensor:
    """`value` must be a floating-point tensor of at least `min_dim` dimensions with finite entries."""
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if value.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimension(s), got shape {tuple(value.shape)}")
    # min and max see NaN and +-inf, and cost far less than a full isfinite mask on every batch
    if value.numel() and not all(map(math.isfinite, (float(v) for v in torch.aminmax(value.detach())))):
        raise ValueError(f"{name} must be finite, got a non-finite entry")
    return value

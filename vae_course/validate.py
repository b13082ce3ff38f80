"""Argument checks for the package's public entry points: each raises an error naming the argument.

One small set of helpers, used where users call in (constructors, `fit`, `evaluate`, the public math
functions), never inside the per-step code (`encode`, `decode`, `reparameterize`, `loss`). A wrong
type is a TypeError, a wrong value a ValueError; both name the argument and what was wrong:
`ValueError: sigma1 must be > 0, got -1.0`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from scipy import linalg


def _first_bad(values: np.ndarray, bad: np.ndarray) -> float:
    return float(np.asarray(values)[bad].flat[0])


def as_finite_array(name: str, value) -> np.ndarray:
    """`value` as a float64 array; ValueError if it is not numeric or holds NaN or inf."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if np.iscomplexobj(value):
        raise TypeError(f"{name} must be real, got a complex value {value!r}")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number or an array of them, got {value!r}") from None
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


def as_mean_and_covariance(mu_name: str, mu, cov_name: str, cov) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check a Gaussian's (mean, covariance) pair; return mu, cov and cov's lower Cholesky factor."""
    mu, cov = as_finite_array(mu_name, mu), as_finite_array(cov_name, cov)
    if mu.ndim != 1 or mu.size == 0:
        raise ValueError(f"{mu_name} must be a non-empty 1-D vector, got shape {mu.shape}")
    d = mu.shape[0]
    if cov.shape != (d, d):
        raise ValueError(f"{cov_name} must have shape ({d}, {d}) to match {mu_name}, got {cov.shape}")
    scale = max(1.0, float(np.abs(cov).max()))
    if not np.allclose(cov, cov.T, rtol=0.0, atol=1e-10 * scale):
        asym = float(np.abs(cov - cov.T).max())
        raise ValueError(f"{cov_name} must be symmetric, got max |cov - cov.T| = {asym:.3g}")
    try:
        chol = linalg.cholesky(cov, lower=True)
    except linalg.LinAlgError:
        smallest = float(np.linalg.eigvalsh(cov).min())
        raise ValueError(f"{cov_name} must be positive definite, got smallest eigenvalue {smallest:.3g}") from None
    return mu, cov, chol


def require_number(name: str, value, *, minimum: float | None = None, maximum: float | None = None,
                   strict: bool = False) -> float:
    """`value` as a finite float, within [minimum, maximum] (or the open interval when `strict`).

    Booleans, complex numbers and tensors are refused (a tensor that requires grad is no setting).
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    below = minimum is not None and (value <= minimum if strict else value < minimum)
    above = maximum is not None and (value >= maximum if strict else value > maximum)
    if below or above:
        low = "" if minimum is None else f"{'>' if strict else '>='} {minimum:g}"
        high = "" if maximum is None else f"{'<' if strict else '<='} {maximum:g}"
        raise ValueError(f"{name} must be {' and '.join(p for p in (low, high) if p)}, got {value:g}")
    return value


def require_positive_int(name: str, value) -> int:
    """`value` as an int >= 1 (bools and floats are refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive integer, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def require_tensor(name: str, value, *, min_dim: int = 1) -> torch.Tensor:
    """`value` must be a floating-point tensor of at least `min_dim` dimensions with finite entries."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if value.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimension(s), got shape {tuple(value.shape)}")
    if value.numel() and not bool(torch.isfinite(value.detach()).all()):
        raise ValueError(f"{name} must be finite, got a non-finite entry")
    return value


def require_mu_logvar(mu, logvar) -> None:
    """mu and logvar (log sigma^2) of a diagonal Gaussian: finite float tensors of the same shape."""
    require_tensor("mu", mu)
    require_tensor("logvar", logvar)
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")


# ----------------------------------------------------------------------------------------------
# Added for the toy model and the gradient estimators (issue 14): booleans, tensors that require
# grad, callables, generators, flags and empty tensors. The helpers above are unchanged.


def _holds_bool(value) -> bool:
    """True if `value` is a boolean or a container of booleans (nested lists, arrays, tensors)."""
    if isinstance(value, (bool, np.bool_)):
        return True
    if isinstance(value, torch.Tensor):
        return value.dtype == torch.bool
    if isinstance(value, np.ndarray):
        return value.dtype == np.bool_ or (value.dtype == object and any(_holds_bool(v) for v in value.flat))
    if isinstance(value, (list, tuple)):
        return any(_holds_bool(v) for v in value)
    return False


def as_real_array(name: str, value) -> np.ndarray:
    """`as_finite_array`, refusing what would be silently converted: booleans (True is not 1.0 here) and
    tensors that require grad (the result would carry no gradient back to them). Both are TypeErrors."""
    if value is None:
        raise TypeError(f"{name} must be a real number or an array of them, got None")
    if isinstance(value, torch.Tensor) and value.requires_grad:
        raise TypeError(f"{name} must be a number or an array of numbers, got a tensor that requires grad "
                        f"(no gradient flows back through this function: pass {name}.detach())")
    if _holds_bool(value):
        raise TypeError(f"{name} must be a real number or an array of them, got a boolean {value!r}")
    return as_finite_array(name, value)


def require_callable(name: str, value):
    """`value` must be callable (a function of samples); TypeError otherwise, None included."""
    if not callable(value):
        raise TypeError(f"{name} must be callable (a function), got {type(value).__name__} {value!r}")
    return value


def require_generator(name: str, value) -> torch.Generator | None:
    """`value` must be a torch.Generator or None (torch's global generator); an int seed is refused."""
    if value is not None and not isinstance(value, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None, got {type(value).__name__} {value!r} "
                        f"(for a seed s, pass torch.Generator().manual_seed(s))")
    return value


def require_flag(name: str, value) -> bool:
    """`value` must be a bool (True or False); 1, 0, 'yes' and None are refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def require_nonempty_tensor(name: str, value, *, min_dim: int = 1) -> torch.Tensor:
    """`require_tensor`, and at least one entry."""
    require_tensor(name, value, min_dim=min_dim)
    if value.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(value.shape)}")
    return value

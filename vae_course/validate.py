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
# Added for vae_course.kl and the KL figures: numbers that are not booleans or tensors with a
# gradient, functions, NumPy generators, probability vectors, and covariances float64 can resolve.


def _describe(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def as_real_array(name: str, value) -> np.ndarray:
    """`as_finite_array`, refusing what it would silently convert: None, booleans (True is not 1.0 here)
    and a tensor that requires grad (converting it would drop its gradient). Each is a TypeError."""
    if value is None:
        raise TypeError(f"{name} must be a real number or an array of them, got None")
    if isinstance(value, torch.Tensor):
        if value.requires_grad:
            raise TypeError(f"{name} must be a number or an array, got a tensor that requires grad "
                            "(its gradient would be lost here: pass tensor.detach(), or use a torch function)")
        is_bool = value.dtype == torch.bool
    else:
        flat = value if isinstance(value, (list, tuple)) else [value]
        is_bool = any(isinstance(v, (bool, np.bool_)) for v in flat) or getattr(value, "dtype", None) == np.bool_
    if is_bool:
        raise TypeError(f"{name} must be a real number or an array of them, not booleans, got {_describe(value)}")
    return as_finite_array(name, value)


def require_callable(name: str, value) -> None:
    """`value` must be a function (anything callable); a TypeError naming `name` otherwise."""
    if not callable(value):
        raise TypeError(f"{name} must be callable (a function), got {_describe(value)}")


def as_generator(name: str, value) -> np.random.Generator:
    """A NumPy generator from `value`: a numpy.random.Generator (used as it is), an int seed >= 0, or None
    (fresh entropy). Anything else is a TypeError, a negative seed a ValueError."""
    if value is None or isinstance(value, np.random.Generator):
        return np.random.default_rng(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a numpy.random.Generator, an int seed >= 0 or None, got {_describe(value)}")
    if value < 0:
        raise ValueError(f"{name} must be a seed >= 0, got {value}")
    return np.random.default_rng(int(value))


def as_probability_vector(name: str, value, *, atol: float = 1e-9) -> np.ndarray:
    """`value` as a non-empty 1-D float64 array with entries >= 0 that sum to 1 within `atol`.

    1e-9 is far above the rounding of a sum of float64 probabilities (about n * 1.1e-16 for n entries)
    and far below what would change a KL visibly.
    """
    v = as_real_array(name, value)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D probability vector, got shape {v.shape}")
    if (v < 0).any():
        raise ValueError(f"{name} must have no negative entries, got {_first_bad(v, v < 0)}")
    total = float(v.sum())
    if not abs(total - 1.0) <= atol:
        raise ValueError(f"{name} must sum to 1 (within {atol:g}), got {total!r}: divide it by its sum")
    return v


def require_resolvable_covariance(name: str, cov: np.ndarray, chol: np.ndarray, *, max_condition: float = 1e12) -> float:
    """Refuse a covariance whose correlation structure float64 cannot resolve; return its condition number.

    The condition number is that of the correlation matrix D^-1/2 cov D^-1/2 (D = diag(cov)), so that a
    matrix is not refused for its units (diag(1e-8, 1e8) is exact). Rounding one entry by one step moves
    quantities such as b^T cov^-1 b by up to about condition * 1.1e-16 relative: 1e-4 at 1e12, the whole
    answer near 1e16, which is where a singular matrix typically lands once rounded. `chol` is cov's
    lower Cholesky factor (from `as_mean_and_covariance`, which already refuses a failed factorization).
    """
    scaled = chol / np.sqrt(np.diag(cov))[:, None]  # the Cholesky factor of the correlation matrix
    singular_values = np.linalg.svd(scaled, compute_uv=False)
    condition = np.inf if singular_values[-1] == 0 else float((singular_values[0] / singular_values[-1]) ** 2)
    if not condition <= max_condition:
        raise ValueError(f"{name} is singular or too ill-conditioned for float64: the condition number of its "
                         f"correlation matrix is {condition:.3g} > {max_condition:.0e}, so rounding alone moves "
                         "the result (a singular covariance has no density, and its KL is infinite)")
    return condition

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


def seed_from(name: str, generator) -> int:
    """The seed of a run: an int seed as it is (checked), or one drawn from the torch.Generator given."""
    if isinstance(generator, torch.Generator):
        return int(torch.randint(0, 2**62, (1,), generator=generator))
    if generator is None:
        raise TypeError(f"{name} must be a torch.Generator or an int seed, got None")
    return int(as_torch_generator(name, generator).initial_seed())


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


def _describe(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def as_finite_array(name: str, value) -> np.ndarray:
    """`value` as a float64 array of finite real numbers.

    TypeError for what is not a real number or an array of them, and for what NumPy would convert
    silently but wrongly: None, strings, booleans (True is not 1.0 here), complex numbers, and a tensor
    that requires grad (the result would carry no gradient back to it). ValueError for NaN or inf.
    """
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a real number or an array of them, got {_describe(value)}")
    if isinstance(value, torch.Tensor):
        if value.requires_grad:
            raise TypeError(f"{name} must be a number or an array of numbers, got a tensor that requires grad "
                            f"(its gradient would be lost here: pass {name}.detach(), or use a torch function)")
        value = value.detach().cpu().numpy()
    if _holds_bool(value):
        raise TypeError(f"{name} must be a real number or an array of them, not booleans, got {_describe(value)}")
    if np.iscomplexobj(value):
        raise TypeError(f"{name} must be real, got a complex value {value!r}")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number or an array of them, got {_describe(value)}") from None
    if np.asarray(value).dtype.kind in "USO" and np.asarray(value).dtype != object:
        raise TypeError(f"{name} must be a real number or an array of them, got text {_describe(value)}")
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
    """Check a Gaussian's (mean, covariance) pair; return mu, cov and cov's lower Cholesky factor.

    The covariance must be symmetric, positive definite and resolvable in float64
    (`require_resolvable_covariance`): a singular or nearly singular one is refused, naming `cov_name`.
    """
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
        raise ValueError(f"{cov_name} must be positive definite, got smallest eigenvalue {smallest:.3g} (a singular "
                         "covariance has no density)") from None
    require_resolvable_covariance(cov_name, cov, chol)
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


def require_labels(name: str, labels, n_classes: int, n_rows: int | None = None) -> torch.Tensor:
    """`labels` as a 1-D int64 tensor of class indices in 0..n_classes-1, one per row when n_rows is given."""
    if labels is None:
        raise ValueError(f"{name} must be given: this model needs one class label per image")
    if isinstance(labels, np.ndarray):
        labels = torch.from_numpy(labels)
    if not isinstance(labels, torch.Tensor):
        try:
            labels = torch.as_tensor(labels)
            labels = labels.long() if labels.numel() == 0 else labels  # [] becomes float32 otherwise
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"{name} must be a sequence of integer labels, got {type(labels).__name__}") from None
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer labels, got dtype {labels.dtype}")
    if labels.dim() != 1:
        raise ValueError(f"{name} must be a 1-D tensor of labels, got shape {tuple(labels.shape)}")
    if n_rows is not None and len(labels) != n_rows:
        raise ValueError(f"{name} must have one label per row: {len(labels)} labels for {n_rows} rows")
    bad = labels[(labels < 0) | (labels >= n_classes)]
    if len(bad):
        raise ValueError(f"{name} must lie in 0..{n_classes - 1}, got {int(bad[0])}")
    return labels.long()


def require_images(name: str, value, features: int | None = None, *, allow_empty: bool = False) -> torch.Tensor:
    """A batch of flattened images: a finite float tensor (N, features) with every pixel in [0, 1]."""
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    require_tensor(name, value, min_dim=2)
    if value.dim() != 2:
        raise ValueError(f"{name} must be a 2-D tensor (images, pixels), got shape {tuple(value.shape)}")
    if features is not None and value.shape[1] != features:
        raise ValueError(f"{name} must have {features} pixels per image (the model's input_dim), "
                         f"got shape {tuple(value.shape)}")
    if not allow_empty and len(value) == 0:
        raise ValueError(f"{name} must hold at least one image, got shape {tuple(value.shape)}")
    if value.numel():
        low, high = (float(v) for v in torch.aminmax(value.detach()))
        if low < 0.0 or high > 1.0:
            raise ValueError(f"{name} must hold pixel values in [0, 1] (grey levels or probabilities), got values "
                             f"in [{low:g}, {high:g}]; divide 0..255 images by 255")
    return value


def as_torch_generator(name: str, value, device: torch.device | str = "cpu") -> torch.Generator | None:
    """`value` as a torch.Generator: a Generator is used as it is, an int seeds a new one, None stays None."""
    if value is None or isinstance(value, torch.Generator):
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a torch.Generator, an int seed or None, got {type(value).__name__} {value!r}")
    if not 0 <= value < 2**63:
        raise ValueError(f"{name} must be a seed in [0, 2**63), got {value}")
    return torch.Generator(device=device).manual_seed(int(value))


# ----------------------------------------------------------------------------------------------
# Booleans, tensors that require grad, callables, flags and empty tensors


def require_callable(name: str, value):
    """`value` must be callable (a function of samples); TypeError otherwise, None included."""
    if not callable(value):
        raise TypeError(f"{name} must be callable (a function), got {type(value).__name__} {value!r}")
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


def as_numpy_generator(name: str, value) -> np.random.Generator:
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
    v = as_finite_array(name, value)
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

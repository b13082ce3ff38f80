"""The checking framework behind the exercises: compare a learner's function or value with a reference.

A check is silent about how the answer was written; it calls the learner's function on chosen inputs and
compares each result with a reference computed another way. On success it prints one line; on failure it
raises AssertionError naming the input, the expected value, what came back, and a hint (and, when the
wrong answer equals what a known mistake gives, that mistake). A function that still raises
NotImplementedError, or a name still holding None, is told to replace the stub. The named checks of the
lessons, built on this framework, are in `vae_course.checks`.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

STUB_HINT = ("it still raises NotImplementedError: replace the stub `raise NotImplementedError(...)` "
             "with your solution, run that cell, then run this check again")

STUB_VALUE_HINT = ("it is still None, as the stub left it: replace the stub `raise NotImplementedError(...)` "
                   "with your solution, run that cell, then run this check again")

Mistake = tuple[str, Callable[..., Any]]  # (what the learner probably did, a function that does it)


def _show(value: Any) -> str:
    """A short, one-line rendering of an argument or a result for a failure message."""
    if isinstance(value, torch.Tensor):
        kind = str(value.dtype).replace("torch.", "")
        return f"tensor {_show(value.detach().cpu().numpy())}, {kind}"
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return _show(float(value))
        flat = np.array2string(value.ravel(), precision=6, threshold=8, edgeitems=3, separator=", ",
                               max_line_width=10_000)
        return flat if value.ndim == 1 else f"{flat} (shape {value.shape}, flattened)"
    if isinstance(value, (float, np.floating)):
        text = f"{float(value):.10g}"
        return text if any(c in text for c in ".einfa") else text + ".0"
    return repr(value)


def _as_numpy(value: Any) -> np.ndarray | None:
    """The value as a float64 array, or None if it is not numeric."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().double().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array


def _close(got: Any, expected: Any, rtol: float, atol: float) -> bool:
    """True if `got` has the shape of `expected` and the same values (same infinities, no NaN)."""
    got_array, expected_array = _as_numpy(got), _as_numpy(expected)
    return (got_array is not None and got_array.shape == expected_array.shape
            and bool(np.all(np.isclose(got_array, expected_array, rtol=rtol, atol=atol))))


def _what_is_off(got: Any, expected: Any) -> str | None:
    """A sentence on the kind of mismatch (None if it is only the numbers that differ)."""
    if got is None:
        return "the function returned None: did you forget `return`?"
    if isinstance(expected, torch.Tensor) and not isinstance(got, torch.Tensor):
        return (f"expected a torch.Tensor (so that gradients can flow back to the encoder), got {type(got).__name__}: "
                "compute with torch operations, not NumPy or math")
    got_array = _as_numpy(got)
    if got_array is None:
        return f"expected a number or an array of numbers, got {type(got).__name__}"
    expected_shape = _as_numpy(expected).shape
    if got_array.shape != expected_shape:
        return f"the shape is {got_array.shape}, expected {expected_shape}"
    if np.isnan(got_array).any():
        return "the result contains NaN: look for 0 * log(0), a log of a negative number, or inf - inf"
    return None


def _copy(value: Any) -> Any:
    """A fresh copy, so that a function that changes its inputs in place cannot change the reference's."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


def require_function(fn: Any) -> None:
    if not callable(fn):
        raise ValueError(f"fn must be a function (pass the function itself, not its result), got {type(fn).__name__}")


def _require_tolerances(rtol: float, atol: float) -> None:
    for name, value in (("rtol", rtol), ("atol", atol)):
        if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def _with_hint(message: str, hint: str) -> str:
    return f"{message}\n  hint:     {hint}" if hint else message


def _stub_value(name: str, hint: str) -> AssertionError:
    """The message for a name that still holds the None the student edition's stub gave it."""
    return AssertionError(_with_hint(f"{name}: {STUB_VALUE_HINT}", hint))


def _call(fn: Callable, args: tuple, call: str, hint: str = "") -> Any:
    """fn(*args), with NotImplementedError and any other error turned into a readable AssertionError."""
    try:
        return fn(*(_copy(a) for a in args))
    except NotImplementedError:
        raise AssertionError(_with_hint(f"{call}: {STUB_HINT}", hint)) from None
    except Exception as error:  # the learner's code failed: say where and with what
        raise AssertionError(f"{call} raised {type(error).__name__}: {error}") from error


def _failure(name: str, shown: str, expected: Any, got: Any, hint: str, mistakes: Sequence[Mistake],
             args: tuple, rtol: float, atol: float) -> AssertionError:
    lines = [f"{name} gives a wrong result", f"  input:    {shown}", f"  expected: {_show(expected)}",
             f"  got:      {_show(got)}"]
    off = _what_is_off(got, expected)
    if off:
        lines.append(f"  problem:  {off}")
    for description, mistake in ([] if off else mistakes):
        with np.errstate(all="ignore"):
            try:
                matches = _close(got, mistake(*(_copy(a) for a in args)), rtol, atol)
            except Exception:  # a mistake model that cannot run on this input says nothing
                matches = False
        if matches:
            lines.append(f"  likely:   {description}")
            break
    if hint:
        lines.append(f"  hint:     {hint}")
    return AssertionError("\n".join(lines))


def check_function(fn: Callable, reference: Callable, cases: Iterable[tuple], *, name: str | None = None,
                   arg_names: Sequence[str] | None = None, rtol: float = 1e-6, atol: float = 1e-9,
                   hint: str = "", mistakes: Sequence[Mistake] = ()) -> None:
    """Check that fn(*case) matches reference(*case) for every case; AssertionError on the first that does not.

    cases: tuples of positional arguments. arg_names: names shown in messages (default: reference's).
    mistakes: (description, function) pairs; when a wrong answer equals what a mistake function returns,
    the message names that mistake. Prints one line when every case passes.
    """
    require_function(fn)
    _require_tolerances(rtol, atol)
    name = name or getattr(fn, "__name__", "your function")
    if arg_names is None:
        arg_names = list(inspect.signature(reference).parameters)
    cases = list(cases)
    if not cases:
        raise ValueError("cases must hold at least one tuple of arguments, got none")
    for args in cases:
        args = tuple(args)
        shown = ", ".join(f"{n}={_show(a)}" for n, a in zip(arg_names, args))
        call = f"{name}({shown})"
        got = _call(fn, args, call, hint)
        expected = reference(*(_copy(a) for a in args))
        if _what_is_off(got, expected) or not _close(got, expected, rtol, atol):
            raise _failure(name, shown, expected, got, hint, mistakes, args, rtol, atol)
    print(f"{name}: correct on all {len(cases)} inputs checked.")


def check_gradients(fn: Callable, inputs: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    """Backpropagate sum(fn(*inputs)) and compare the gradient of each input named in `expected`."""
    name = getattr(fn, "__name__", "your function")
    leaves = {k: v.detach().clone().requires_grad_(k in expected) for k, v in inputs.items()}
    try:
        fn(*leaves.values()).sum().backward()
    except Exception as error:
        raise AssertionError(f"{name}: backpropagating through the result failed with {type(error).__name__}: "
                             f"{error}\n  hint:     compute with torch operations, without .detach(), .numpy() "
                             "or .item()") from error
    for arg, want in expected.items():
        grad = leaves[arg].grad
        if grad is None or not torch.allclose(grad, want, rtol=1e-5, atol=1e-6):
            raise AssertionError(f"{name}: the gradient of the summed result with respect to {arg} is wrong\n"
                                 f"  expected: {_show(want)}\n  got:      {_show(grad)}\n"
                                 "  hint:     the gradient must flow through torch operations on "
                                 + " and ".join(expected))
    print(f"{name}: the gradients with respect to {' and '.join(expected)} are right too.")


def check_value(name: str, value: Any, expected: Any, *, rtol: float = 1e-6, atol: float = 1e-9,
                hint: str = "") -> None:
    """Check one computed value (a number, an array or a tensor) against an independent `expected`."""
    _require_tolerances(rtol, atol)
    if value is None:
        raise _stub_value(name, hint)
    off = _what_is_off(value, expected)
    if off or not _close(value, expected, rtol, atol):
        lines = [f"{name} is wrong", f"  expected: {_show(expected)}", f"  got:      {_show(value)}"]
        if off:
            lines.append(f"  problem:  {off}")
        if hint:
            lines.append(f"  hint:     {hint}")
        raise AssertionError("\n".join(lines))
    print(f"{name}: correct.")



def check_below(name: str, value: Any, limit: float, *, hint: str = "") -> None:
    """Check that a computed number (a standard error, a variance, a gap) is below `limit`."""
    if value is None:
        raise _stub_value(name, hint)
    array = _as_numpy(value)
    if array is None or array.size != 1:
        raise AssertionError(f"{name} is wrong\n  problem:  expected one number, got {_show(value)}")
    if not float(array) < limit:  # NaN fails too
        lines = [f"{name} is too large", f"  expected: below {_show(float(limit))}",
                 f"  got:      {_show(float(array))}"]
        if hint:
            lines.append(f"  hint:     {hint}")
        raise AssertionError("\n".join(lines))
    print(f"{name}: {float(array):.4g} < {float(limit):.4g}, as it should be.")


def check_shape(name: str, value: Any, shape: tuple[int, ...], *, hint: str = "") -> None:
    """Check that an array or a tensor has the given shape (one row per sample, one column per coordinate...)."""
    if value is None:
        raise _stub_value(name, hint)
    got = tuple(value.shape) if hasattr(value, "shape") else None
    if got != tuple(shape):
        shown = f"shape {got}" if got is not None else f"{type(value).__name__}, which has no shape"
        lines = [f"{name} has the wrong shape", f"  expected: shape {tuple(shape)}", f"  got:      {shown}"]
        if hint:
            lines.append(f"  hint:     {hint}")
        raise AssertionError("\n".join(lines))
    print(f"{name}: shape {got}, correct.")

"""vae_course.kl.kl_uniform (lesson 01) against scipy quadrature of the defining integral."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from vae_course.kl import kl_uniform


def quadrature_kl(a1, b1, a2, b2) -> float:
    p, q = stats.uniform(a1, b1 - a1), stats.uniform(a2, b2 - a2)
    value, _ = integrate.quad(lambda x: p.pdf(x) * np.log(p.pdf(x) / q.pdf(x)), a1, b1)
    return value


@settings(max_examples=60, deadline=None)
@given(a2=st.floats(-5, 5), width2=st.floats(0.1, 10), start=st.floats(0, 1), share=st.floats(0.01, 1))
def test_nested_intervals_match_quadrature(a2, width2, start, share):
    # [a1, b1] inside [a2, b2]: the KL is finite
    b2 = a2 + width2
    a1 = a2 + start * (1 - share) * width2
    b1 = min(a1 + share * width2, b2)
    assert kl_uniform(a1, b1, a2, b2) == pytest.approx(quadrature_kl(a1, b1, a2, b2), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("a1, b1, a2, b2", [(0, 2, 0, 1), (-0.1, 0.5, 0, 1), (0.5, 1.01, 0, 1), (2, 3, 0, 1)])
def test_mass_outside_the_second_support_gives_infinity(a1, b1, a2, b2):
    assert kl_uniform(a1, b1, a2, b2) == np.inf
    # binning agrees: some bin has p > 0 and q = 0
    edges = np.linspace(min(a1, a2), max(b1, b2), 1001)
    p = np.diff(stats.uniform(a1, b1 - a1).cdf(edges))
    q = np.diff(stats.uniform(a2, b2 - a2).cdf(edges))
    assert np.any((p > 0) & (q == 0))


def test_equal_intervals_give_zero_and_the_direction_matters():
    assert kl_uniform(-1, 1, -1, 1) == pytest.approx(0.0, abs=1e-15)
    assert kl_uniform(0, 1, 0, 2) == pytest.approx(np.log(2), rel=1e-15)
    assert kl_uniform(0, 2, 0, 1) == np.inf


def test_widths_beyond_float64_do_not_overflow():
    # [-1e308, 1e308] is 2e308 wide, more than float64 holds: the KL is log(2e308) = 308 log 10 + log 2
    assert kl_uniform(0, 1, -1e308, 1e308) == pytest.approx(308 * np.log(10) + np.log(2), rel=1e-14)


@pytest.mark.parametrize("args, message", [
    ((1.0, 0.0, 0.0, 1.0), "b1 must be > a1"),
    ((0.0, 1.0, 2.0, 2.0), "b2 must be > a2"),
    ((np.nan, 1.0, 0.0, 1.0), "a1 must be finite"),
    ((0.0, np.inf, 0.0, 1.0), "b1 must be finite"),
    ((0.0, 1.0, "x", 1.0), "a2 must be a real number"),
    ((0.0, [1.0, 2.0], 0.0, 1.0), "b1 must be a single number"),
    ((0.0, 1.0, None, 1.0), "a2 must be a real number"),
    ((True, 2.0, 0.0, 3.0), "a1 must be a real number or an array of them, not booleans"),
    ((0.0, 1.0, 0.0, 2 + 0j), "b2 must be real, got a complex value"),
    ((0.0, torch.tensor(1.0, requires_grad=True), 0.0, 2.0), "b1 must be a number or an array of numbers, got a tensor that requires grad"),
])
def test_kl_uniform_refuses(args, message):
    error = TypeError if "real" in message or "tensor" in message else ValueError
    with pytest.raises(error, match=message):
        kl_uniform(*args)

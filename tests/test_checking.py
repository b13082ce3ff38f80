"""vae_course.checking, the framework behind every exercise check: a right answer passes and says so, a
wrong one fails naming the input, the expected value and what came back, and bad arguments are refused."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from vae_course import checking


def test_check_function_stops_at_the_first_failing_case_and_names_it():
    calls = []

    def square(x):
        calls.append(x)
        return x * x if x < 2 else x * x + 1

    with pytest.raises(AssertionError, match=r"square gives a wrong result\n  input:    x=2\n  expected: 4\n  got:      5"):
        checking.check_function(square, lambda x: x**2, [(0,), (1,), (2,), (3,)])
    assert calls == [0, 1, 2]


@settings(max_examples=50, deadline=None)
@given(st.floats(-5, 5), st.floats(0.1, 5), st.floats(1e-4, 10) | st.floats(-10, -1e-4))
def test_any_offset_beyond_the_tolerance_fails(mu, sigma, relative_offset):
    def reference(m, s):
        return stats.norm(m, s).logpdf(0.3)

    def off(m, s):  # off by at least 1e-4 relative, a hundred times the tolerance
        return reference(m, s) + relative_offset * max(1.0, abs(reference(m, s)))

    with pytest.raises(AssertionError, match="gives a wrong result"):
        checking.check_function(off, reference, [(mu, sigma)], rtol=1e-6, atol=1e-9)


def test_infinities_must_match_exactly():
    checking.check_function(lambda x: math.inf if x else 0.0, lambda x: math.inf if x else 0.0, [(0,), (1,)])
    with pytest.raises(AssertionError, match="expected: inf"):
        checking.check_function(lambda x: 1e300, lambda x: math.inf, [(1,)])


def test_check_value_passes_fails_and_names_a_missing_result(capsys):
    checking.check_value("kl_bits", 0.25, 0.25)
    assert "kl_bits: correct." in capsys.readouterr().out
    with pytest.raises(AssertionError, match=r"kl_bits is wrong\n  expected: 0.25\n  got:      0.5\n  hint:     bits"):
        checking.check_value("kl_bits", 0.5, 0.25, hint="bits")
    with pytest.raises(AssertionError, match="is still None, as the stub left it: replace the stub"):
        checking.check_value("kl_bits", None, 0.25)
    with pytest.raises(AssertionError, match=r"shape is \(3,\), expected \(2,\)"):
        checking.check_value("counts", np.zeros(3), np.zeros(2))


def test_check_below_passes_fails_with_the_limit_and_refuses_none_nan_and_arrays(capsys):
    checking.check_below("stderr", 0.0099, 0.0105)
    assert "stderr: 0.0099 < 0.0105, as it should be." in capsys.readouterr().out
    with pytest.raises(AssertionError,
                       match=r"stderr is too large\n  expected: below 0.0105\n  got:      0.02\n  hint:     square"):
        checking.check_below("stderr", torch.tensor(0.02, dtype=torch.float64), 0.0105, hint="square")
    with pytest.raises(AssertionError, match="got:      nan"):
        checking.check_below("stderr", math.nan, 0.0105)
    with pytest.raises(AssertionError, match="is still None, as the stub left it: replace the stub"):
        checking.check_below("stderr", None, 0.0105)
    with pytest.raises(AssertionError, match=r"expected one number, got \[0.1, 0.2\]"):
        checking.check_below("stderr", np.array([0.1, 0.2]), 0.0105)


def test_check_shape_passes_and_names_both_shapes(capsys):
    checking.check_shape("per_sample", torch.zeros(5, 2), (5, 2))
    checking.check_shape("grid", np.zeros((4, 2)), (4, 2))
    assert "per_sample: shape (5, 2), correct." in capsys.readouterr().out
    wrong = r"per_sample has the wrong shape\n  expected: shape \(5, 2\)\n  got:      shape \(5,\)\n  hint:     rows"
    with pytest.raises(AssertionError, match=wrong):
        checking.check_shape("per_sample", torch.zeros(5), (5, 2), hint="rows")
    with pytest.raises(AssertionError, match="got:      list, which has no shape"):
        checking.check_shape("per_sample", [0.0] * 5, (5,))


def test_bad_check_arguments_are_value_errors():
    with pytest.raises(ValueError, match="rtol must be a finite number >= 0"):
        checking.check_function(abs, abs, [(1,)], rtol=-1)
    with pytest.raises(ValueError, match="atol must be a finite number >= 0"):
        checking.check_value("x", 1.0, 1.0, atol=float("nan"))
    with pytest.raises(ValueError, match="cases must hold at least one"):
        checking.check_function(abs, abs, [])


def test_a_stub_gets_the_replace_the_stub_message_with_the_checks_hint():
    def stub(x):
        raise NotImplementedError("Exercise: write the body of f here")

    with pytest.raises(AssertionError, match=r"f\(x=1\): it still raises NotImplementedError.*\n  hint:     square it"):
        checking.check_function(stub, lambda x: x * x, [(1,)], name="f", hint="square it")
    for check, args in ((checking.check_value, (1.0,)), (checking.check_below, (1.0,)), (checking.check_shape, ((2,),))):
        with pytest.raises(AssertionError, match=r"v: it is still None, as the stub left it.*\n  hint:     look"):
            check("v", None, *args, hint="look")

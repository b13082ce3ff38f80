"""vae_course.validate: each helper accepts what it should, converts what it promises, and refuses the rest
with the right error type and a message that names the argument."""

import math

import numpy as np
import pytest
import torch

from vae_course import validate as v


@pytest.mark.parametrize("value, expected", [(1, [1.0]), (2.5, [2.5]), ([1, 2], [1.0, 2.0]), (np.float32(0.5), [0.5]),
                                             (torch.tensor([3.0, 4.0]), [3.0, 4.0]), (np.int64(7), [7.0])])
def test_as_finite_array_converts_real_numbers_to_float64(value, expected):
    array = v.as_finite_array("a", value)
    assert array.dtype == np.float64 and np.array_equal(array.reshape(-1), expected)


@pytest.mark.parametrize("value, error, message", [
    (None, TypeError, "a must be a real number or an array of them, got NoneType"),
    ("1", TypeError, "a must be a real number or an array of them, got str"),
    (["1", "2"], TypeError, "a must be a real number or an array of them, got text"),
    (True, TypeError, "not booleans"),
    ([1.0, False], TypeError, "not booleans"),
    (torch.tensor([True]), TypeError, "not booleans"),
    (1 + 2j, TypeError, "a must be real"),
    (torch.tensor(1.0, requires_grad=True), TypeError, "a tensor that requires grad"),
    ([1.0, math.nan], ValueError, "a must be finite, got nan"),
    (-math.inf, ValueError, "a must be finite, got -inf"),
    ({"x": 1}, TypeError, "a must be a real number or an array of them"),
])
def test_as_finite_array_refuses(value, error, message):
    with pytest.raises(error, match=message):
        v.as_finite_array("a", value)


def test_positive_arrays_and_broadcasting():
    assert v.as_positive_array("s", [0.5, 2.0]).tolist() == [0.5, 2.0]
    with pytest.raises(ValueError, match="s must be > 0, got 0.0"):
        v.as_positive_array("s", [1.0, 0.0])
    a, b = v.broadcast_arrays(x=np.zeros(3), y=np.ones(1))
    assert a.shape == b.shape == (3,)
    with pytest.raises(ValueError, match=r"shapes do not broadcast together: x \(3,\), y \(2,\)"):
        v.broadcast_arrays(x=np.zeros(3), y=np.ones(2))


def test_as_mean_and_covariance_returns_the_cholesky_factor_and_refuses_bad_matrices():
    cov = np.array([[2.0, 0.6], [0.6, 1.0]])
    mu, cov_out, chol = v.as_mean_and_covariance("m", [0.0, 1.0], "c", cov)
    np.testing.assert_allclose(chol @ chol.T, cov, rtol=1e-14)
    assert np.allclose(np.triu(chol, 1), 0.0)
    v.as_mean_and_covariance("m", [0.0, 0.0], "c", np.diag([1e-8, 1e8]))  # well conditioned once scaled
    for bad, message in ((np.ones((2, 2)), "c must be positive definite"),
                         (np.array([[1.0, 0.5], [0.0, 1.0]]), "c must be symmetric"),
                         (np.eye(3), r"c must have shape \(2, 2\) to match m"),
                         (np.array([[1.0, 1 - 1e-14], [1 - 1e-14, 1.0]]), "c is singular or too ill-conditioned")):
        with pytest.raises(ValueError, match=message):
            v.as_mean_and_covariance("m", [0.0, 0.0], "c", bad)
    with pytest.raises(ValueError, match="m must be a non-empty 1-D vector"):
        v.as_mean_and_covariance("m", [], "c", np.eye(1))


@pytest.mark.parametrize("kwargs, value, error, message", [
    ({}, "1", TypeError, "n must be a real number, got str"),
    ({}, True, TypeError, "n must be a real number, got bool"),
    ({}, torch.tensor(1.0), TypeError, "n must be a real number, got Tensor"),
    ({}, math.nan, ValueError, "n must be finite"),
    ({"minimum": 0.0}, -1.0, ValueError, "n must be >= 0, got -1"),
    ({"minimum": 0.0, "strict": True}, 0.0, ValueError, "n must be > 0, got 0"),
    ({"minimum": 0.0, "maximum": 1.0}, 2.0, ValueError, "n must be >= 0 and <= 1, got 2"),
])
def test_require_number_refuses(kwargs, value, error, message):
    with pytest.raises(error, match=message):
        v.require_number("n", value, **kwargs)


def test_require_number_and_positive_int_accept_numpy_scalars():
    assert v.require_number("n", np.float32(0.25), minimum=0.0) == 0.25
    assert v.require_positive_int("k", np.int64(3)) == 3 and type(v.require_positive_int("k", np.int64(3))) is int
    for bad, error in ((0, ValueError), (-2, ValueError), (2.0, TypeError), (True, TypeError), (None, TypeError)):
        with pytest.raises(error, match="k must be a positive integer"):
            v.require_positive_int("k", bad)


def test_tensors_images_and_labels():
    assert v.require_tensor("t", torch.zeros(2, 3), min_dim=2).shape == (2, 3)
    with pytest.raises(ValueError, match="t must have at least 2 dimension"):
        v.require_tensor("t", torch.zeros(3), min_dim=2)
    images = v.require_images("x", np.full((2, 4), 0.5, dtype=np.float32), 4)
    assert isinstance(images, torch.Tensor)
    with pytest.raises(ValueError, match=r"x must hold pixel values in \[0, 1\].*got values in \[0, 255\]"):
        v.require_images("x", torch.tensor([[0.0, 255.0]]))
    with pytest.raises(ValueError, match="x must be a 2-D tensor"):
        v.require_images("x", torch.zeros(2, 2, 2))
    assert v.require_images("x", torch.zeros(0, 4), allow_empty=True).shape == (0, 4)
    labels = v.require_labels("y", np.array([0, 2, 1]), 3, 3)
    assert labels.dtype == torch.int64 and labels.tolist() == [0, 2, 1]
    assert v.require_labels("y", [], 3).dtype == torch.int64
    with pytest.raises(ValueError, match="y must lie in 0..2, got 3"):
        v.require_labels("y", [0, 3], 3)
    with pytest.raises(TypeError, match="y must hold integer labels"):
        v.require_labels("y", torch.tensor([True]), 3)
    with pytest.raises(ValueError, match="mu and logvar must have the same shape"):
        v.require_mu_logvar(torch.zeros(2), torch.zeros(3))
    with pytest.raises(ValueError, match="z must not be empty"):
        v.require_nonempty_tensor("z", torch.zeros(0, 2))


def test_generators_and_seeds():
    g = torch.Generator().manual_seed(5)
    assert v.as_torch_generator("g", g) is g and v.as_torch_generator("g", None) is None
    seeded = v.as_torch_generator("g", 5)
    assert torch.equal(torch.rand(3, generator=seeded), torch.rand(3, generator=torch.Generator().manual_seed(5)))
    for bad, error in ((-1, ValueError), (2**63, ValueError), (1.5, TypeError), (True, TypeError), ("0", TypeError)):
        with pytest.raises(error, match="g must be"):
            v.as_torch_generator("g", bad)
    assert v.seed_from("g", 7) == 7
    assert v.seed_from("g", torch.Generator().manual_seed(1)) == v.seed_from("g", torch.Generator().manual_seed(1))
    with pytest.raises(TypeError, match="g must be a torch.Generator or an int seed, got None"):
        v.seed_from("g", None)
    rng = np.random.default_rng(0)
    assert v.as_numpy_generator("g", rng) is rng
    assert v.as_numpy_generator("g", 3).integers(1000) == np.random.default_rng(3).integers(1000)
    with pytest.raises(ValueError, match="g must be a seed >= 0"):
        v.as_numpy_generator("g", -3)
    with pytest.raises(TypeError, match="g must be a numpy.random.Generator"):
        v.as_numpy_generator("g", torch.Generator())


def test_callables_flags_and_probability_vectors():
    assert v.require_callable("f", abs) is abs
    with pytest.raises(TypeError, match="f must be callable"):
        v.require_callable("f", None)
    assert v.require_flag("b", np.bool_(True)) is True
    with pytest.raises(TypeError, match="b must be True or False, got int 1"):
        v.require_flag("b", 1)
    assert v.as_probability_vector("p", [0.25, 0.75]).tolist() == [0.25, 0.75]
    for bad, message in (([0.5, 0.6], "p must sum to 1"), ([-0.5, 1.5], "p must have no negative entries"),
                         ([[0.5, 0.5]], "p must be a non-empty 1-D probability vector")):
        with pytest.raises(ValueError, match=message):
            v.as_probability_vector("p", bad)

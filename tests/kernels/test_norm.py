"""The lrn kernel and batch_norm with a fused activation, against plain float64 NumPy
references (LRN: tests/support/norm_reference.py; batch norm: written here)."""

import numpy as np
import pytest

import pyinfer
from pyinfer import kernels as K
from support.norm_reference import lrn_ref


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 7])
@pytest.mark.parametrize("shape", [(2, 5, 3, 7), (1, 3, 17), (1, 9, 2, 3, 5), (1, 16, 33, 1)])
def test_lrn_sizes_and_ranks(isa, rng, size, shape):
    x = rng.standard_normal(shape).astype(np.float32) * 4
    for alpha, beta, bias in ((1e-4, 0.75, 1.0), (0.5, 0.75, 2.0), (0.3, 0.6, 1.5)):
        y = K.lrn(x, size, alpha, beta, bias)
        assert y.shape == x.shape and y.dtype == np.float32
        np.testing.assert_allclose(y, lrn_ref(x, size, alpha, beta, bias), rtol=1e-5, atol=0)


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.75, 1.0, 0.25, 1.3, 2.0, 3.7, -0.5])
def test_lrn_betas(isa, rng, beta):
    x = rng.standard_normal((2, 6, 5, 19)).astype(np.float32) * 3
    for alpha, bias in ((1e-4, 1.0), (2.0, 0.5), (0.9, 3.0)):
        np.testing.assert_allclose(K.lrn(x, 3, alpha, beta, bias), lrn_ref(x, 3, alpha, beta, bias),
                                   rtol=1e-5, atol=0)


def test_lrn_channels_fewer_than_size(isa, rng):
    x = rng.standard_normal((3, 2, 4, 5)).astype(np.float32)
    for size in (3, 4, 7, 11):
        np.testing.assert_allclose(K.lrn(x, size, 0.7, 0.75, 1.0), lrn_ref(x, size, 0.7, 0.75, 1.0), rtol=1e-5)
    one = rng.standard_normal((1, 1, 37)).astype(np.float32)
    np.testing.assert_allclose(K.lrn(one, 5, 1.0, 0.8, 1.0), lrn_ref(one, 5, 1.0, 0.8, 1.0), rtol=1e-5)


def test_lrn_large_and_mixed_magnitudes(isa, rng):
    # A huge channel next to tiny ones: a running sum of squares would cancel here.
    x = rng.standard_normal((1, 12, 7, 9)).astype(np.float32)
    x[:, ::4] *= 1e5
    x[:, 1::4] *= 1e-4
    for alpha, beta, bias in ((1e-4, 0.75, 1.0), (1.0, 0.75, 1.0), (0.5, 1.7, 2.0), (1e-3, 0.5, 1e-3)):
        np.testing.assert_allclose(K.lrn(x, 5, alpha, beta, bias), lrn_ref(x, 5, alpha, beta, bias), rtol=1e-5)


def test_lrn_zeros_and_specials(isa):
    x = np.zeros((1, 4, 21), np.float32)
    np.testing.assert_array_equal(K.lrn(x, 3, 1e-4, 0.75, 1.0), x)
    x[0, 1, 3] = np.nan
    x[0, 2, 5] = np.inf
    with np.errstate(invalid="ignore"):
        ref = lrn_ref(x, 3, 1e-4, 0.75, 1.0)
        ref_general = lrn_ref(x, 3, 1e-4, 0.9, 1.0)
    np.testing.assert_array_equal(np.isnan(K.lrn(x, 3, 1e-4, 0.75, 1.0)), np.isnan(ref))
    np.testing.assert_array_equal(np.isnan(K.lrn(x, 3, 1e-4, 0.9, 1.0)), np.isnan(ref_general))
    # bias 0 with an all-zero window: 0 / 0 is NaN, as in the formula
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.zeros((1, 2, 3), np.float32)
        np.testing.assert_array_equal(np.isnan(K.lrn(z, 3, 1.0, 0.6, 0.0)), np.isnan(lrn_ref(z, 3, 1.0, 0.6, 0.0)))


def test_lrn_threads_identical(isa, rng):
    x = rng.standard_normal((3, 64, 23, 29)).astype(np.float32)
    one = K.lrn(x, 5, 1e-4, 0.75, 2.0, num_threads=1)
    two = K.lrn(x, 5, 1e-4, 0.75, 2.0, num_threads=2)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_allclose(one, lrn_ref(x, 5, 1e-4, 0.75, 2.0), rtol=1e-5)


def test_lrn_non_contiguous_input(isa, rng):
    x = rng.standard_normal((2, 7, 6, 10)).astype(np.float32)[:, :, :, ::2]
    np.testing.assert_allclose(K.lrn(x, 3, 0.1, 0.75, 1.0), lrn_ref(x, 3, 0.1, 0.75, 1.0), rtol=1e-5)


def test_lrn_empty(isa):
    for shape in ((0, 3, 4), (2, 0, 4), (2, 3, 0, 5)):
        y = K.lrn(np.zeros(shape, np.float32), 3)
        assert y.shape == shape


@pytest.mark.parametrize("call", [
    lambda: K.lrn(np.zeros((2, 3), np.float32), 3),                 # rank 2
    lambda: K.lrn(np.zeros((1, 3, 4), np.float64), 3),              # dtype
    lambda: K.lrn(np.zeros((1, 3, 4), np.float32), 0),              # size
    lambda: K.lrn(np.zeros((1, 3, 4), np.float32), 3, alpha=float("nan")),
    lambda: K.lrn(np.zeros((1, 3, 4), np.float32), 3, beta=float("inf")),
])
def test_lrn_bad_arguments(call):
    with pytest.raises(pyinfer.KernelArgumentError):
        call()


# --- batch_norm with a fused activation -------------------------------------------------

def _bn_ref(x, scale, bias, mean, var, eps):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    f = lambda v: v.astype(np.float64).reshape(shape)  # noqa: E731
    return (x.astype(np.float64) - f(mean)) / np.sqrt(f(var) + eps) * f(scale) + f(bias)


_ACTS = {
    "relu": ({}, lambda y: np.maximum(y, 0)),
    "relu6": ({}, lambda y: np.clip(y, 0, 6)),
    "clip": ({"clip_min": -0.5, "clip_max": 1.25}, lambda y: np.clip(y, -0.5, 1.25)),
    "leaky_relu": ({"activation_alpha": 0.3}, lambda y: np.where(y >= 0, y, 0.3 * y)),
    "sigmoid": ({}, lambda y: 1 / (1 + np.exp(-y))),
    "tanh": ({}, np.tanh),
    "hard_sigmoid": ({"activation_alpha": 0.3, "activation_beta": 0.4}, lambda y: np.clip(0.3 * y + 0.4, 0, 1)),
    "hard_swish": ({}, lambda y: y * np.clip(y / 6 + 0.5, 0, 1)),
}


@pytest.mark.parametrize("act", sorted(_ACTS))
@pytest.mark.parametrize("shape", [(2, 3, 17), (1, 5, 4, 7), (2, 4, 70, 70)])
def test_batch_norm_activation(isa, rng, act, shape):
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    c = shape[1]
    params = (rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32),
              rng.standard_normal(c).astype(np.float32), rng.uniform(0.1, 3.0, c).astype(np.float32))
    kw, f = _ACTS[act]
    y = K.batch_norm(x, *params, epsilon=1e-3, activation=act, **kw)
    np.testing.assert_allclose(y, f(_bn_ref(x, *params, 1e-3)), rtol=1e-5, atol=1e-6)


def test_batch_norm_activation_bad_arguments():
    p = [np.ones(3, np.float32)] * 4
    x = np.zeros((1, 3, 4), np.float32)
    with pytest.raises(pyinfer.KernelArgumentError):
        K.batch_norm(x, *p, activation="swish")
    with pytest.raises(pyinfer.KernelArgumentError):
        K.batch_norm(x, *p, activation="relu", activation_alpha=0.1)


@pytest.mark.parametrize("act,kw", [("relu", {}), ("clip", {"clip_min": 0.0, "clip_max": 6.0}),
                                    ("leaky_relu", {"activation_alpha": 0.1}), ("sigmoid", {})])
def test_batch_norm_activation_special_values(isa, act, kw):
    x = np.array([np.nan, np.inf, -np.inf, 3.0, -3.0], np.float32).reshape(1, 1, 5)
    one, zero = np.ones(1, np.float32), np.zeros(1, np.float32)
    y = K.batch_norm(x, one, zero, zero, one, epsilon=0.0, activation=act, **kw)
    plain = K.batch_norm(x, one, zero, zero, one, epsilon=0.0)
    want = getattr(K, act)(plain, **({"alpha": 0.1} if act == "leaky_relu" else
                                     {"min": 0.0, "max": 6.0} if act == "clip" else {}))
    np.testing.assert_array_equal(y, want)

"""The layer_norm kernel (layer and RMS normalization with the residual add in front) against a
float64 NumPy reference, under every SIMD tier."""

import numpy as np
import pytest

import pyinfer
from pyinfer import kernels as K


def reference(x, gamma, beta=None, axis=-1, epsilon=1e-5, rms=False, skip=None, bias=None):
    s = x.astype(np.float64)
    if skip is not None:
        s = s + skip
    if bias is not None:
        s = s + bias
    axes = tuple(range(axis % x.ndim, x.ndim))
    mean = np.zeros_like(s.mean(axis=axes, keepdims=True)) if rms else s.mean(axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt(((s - mean) ** 2).mean(axis=axes, keepdims=True) + epsilon)
    y = (s - mean) * inv * gamma
    if beta is not None:
        y = y + beta
    return y, mean, inv, s


@pytest.mark.parametrize("cols", [1, 7, 16, 17, 33, 64, 100, 384])
@pytest.mark.parametrize("rms", [False, True])
def test_widths(isa, rng, cols, rms):
    x = rng.standard_normal((3, 5, cols)).astype(np.float32) * 2 + 0.5
    g, b = rng.standard_normal((2, cols)).astype(np.float32)
    y = K.layer_norm(x, g, b, rms=rms, epsilon=1e-6)
    np.testing.assert_allclose(y, reference(x, g, b, rms=rms, epsilon=1e-6)[0], rtol=2e-5, atol=2e-5)
    y = K.layer_norm(x, g, rms=rms)
    np.testing.assert_allclose(y, reference(x, g, rms=rms)[0], rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("skip_shape", [(2, 6, 48), (6, 48), (1, 6, 48)])
def test_skip_bias_and_outputs(isa, rng, skip_shape):
    x = rng.standard_normal((2, 6, 48)).astype(np.float32)
    skip = rng.standard_normal(skip_shape).astype(np.float32)
    g, b, bias = rng.standard_normal((3, 48)).astype(np.float32)
    y, mean, inv, s = K.layer_norm(x, g, b, skip=skip, bias=bias, epsilon=1e-12, stats=True)
    ry, rmean, rinv, rs = reference(x, g, b, epsilon=1e-12, skip=skip, bias=bias)
    np.testing.assert_allclose(y, ry, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(s, rs, rtol=1e-6, atol=1e-6)
    assert mean.shape == inv.shape == (2, 6, 1)
    np.testing.assert_allclose(mean, rmean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(inv, rinv, rtol=1e-5)
    _, no_mean, rms_inv, rms_sum = K.layer_norm(x, g, skip=skip, rms=True, stats=True)
    assert no_mean is None
    np.testing.assert_allclose(rms_inv, reference(x, g, rms=True, skip=skip)[2], rtol=1e-5)
    np.testing.assert_allclose(rms_sum, x + skip, rtol=1e-6)


def test_leading_axis_and_parameter_shapes(isa, rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    g, b = rng.standard_normal((2, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(K.layer_norm(x, g, b, axis=2), reference(x, g, b, axis=2)[0], rtol=2e-5, atol=2e-5)
    g1 = g.reshape(1, 4, 5)  # leading 1s are allowed
    np.testing.assert_allclose(K.layer_norm(x, g1, axis=-2), reference(x, g1, axis=-2)[0], rtol=2e-5, atol=2e-5)
    g3 = rng.standard_normal((3, 4, 5)).astype(np.float32)
    y, mean, _, _ = K.layer_norm(x, g3, axis=1, stats=True)
    assert mean.shape == (2, 1, 1, 1)
    np.testing.assert_allclose(y, reference(x, g3, axis=1)[0], rtol=2e-5, atol=2e-5)


def test_rows_far_from_zero_keep_their_variance(isa, rng):
    # mean 1e4, spread 1: E[x^2] - E[x]^2 in float32 would cancel to noise; the kernel sums
    # the squares around the mean.
    x = (1e4 + rng.standard_normal((4, 256))).astype(np.float32)
    g = np.ones(256, np.float32)
    np.testing.assert_allclose(K.layer_norm(x, g), reference(x, g)[0], atol=2e-3)


def test_thread_counts_agree(rng):
    x = rng.standard_normal((300, 256)).astype(np.float32)
    g, b = rng.standard_normal((2, 256)).astype(np.float32)
    one = K.layer_norm(x, g, b, num_threads=1)
    np.testing.assert_array_equal(K.layer_norm(x, g, b, num_threads=2), one)
    np.testing.assert_array_equal(K.layer_norm(x, g, b, num_threads=4), one)


def test_prepared_kernel_specs():
    k = K.prepare_layer_norm([2, 8, 32], [32], [32], skip_shape=[8, 32], bias=True)
    assert [s[0] for s in k.inputs] == ["x", "gamma", "beta", "skip", "bias"]
    assert [(s[0], s[3]) for s in k.outputs] == [("y", True), ("mean", False), ("inv_std", False), ("sum", False)]
    assert k.outputs[1][1] == (2, 8, 1)


@pytest.mark.parametrize("kwargs, message", [
    (dict(x_shape=[4, 8], gamma_shape=[7]), "gamma"),
    (dict(x_shape=[4, 8], gamma_shape=[8], beta_shape=[4, 8]), "beta"),
    (dict(x_shape=[4, 8], gamma_shape=[8], skip_shape=[3, 8]), "skip"),
    (dict(x_shape=[4, 8], gamma_shape=[8], axis=2), "axis"),
    (dict(x_shape=[4, 8], gamma_shape=[8], epsilon=-1.0), "epsilon"),
])
def test_bad_shapes_are_refused(kwargs, message):
    with pytest.raises(pyinfer.KernelArgumentError, match=message):
        K.prepare_layer_norm(**kwargs)


def test_channel_parameters_are_instance_normalization(isa, rng):
    x = rng.standard_normal((2, 5, 3, 7)).astype(np.float32) * 2 + 1
    scale, bias = rng.standard_normal((2, 5)).astype(np.float32)
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=(2, 3), keepdims=True)
    want = (x64 - mean) / np.sqrt(x64.var(axis=(2, 3), keepdims=True) + 1e-5) * scale[:, None, None] + bias[:, None, None]
    np.testing.assert_allclose(K.layer_norm(x, scale, bias, axis=2, channel_params=True), want, rtol=2e-5, atol=2e-5)
    with pytest.raises(pyinfer.KernelArgumentError, match="per-channel"):
        K.prepare_layer_norm([2, 5, 8], [5], axis=1, channel_params=True)

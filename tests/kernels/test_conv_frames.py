"""3-D convolutions with constant weights run as 2-D ones per frame (csrc/conv/frames.cpp): one
prepared 2-D convolution per temporal tap, summed over the taps inside the input. Against the
float64 reference: temporal strides, pads (asymmetric) and dilations, spatial strides (R3D-18's
3x7x7 stem), 1x1x1 shortcuts, groups, batches, the fused residual and activation, and the
im2col + GEMM path the 'im2col' switch keeps."""
import numpy as np
import pytest

import pyinfer
from pyinfer import kernels
from support.conv_reference import ref_conv3d

# (N, C, D, H, W, M, kernel, strides, pads, dilations, group)
CASES = [
    (1, 16, 8, 14, 14, 24, (3, 3, 3), (1, 1, 1), (1, 1, 1, 1, 1, 1), (1, 1, 1), 1),  # R3D's 3x3x3
    (2, 3, 5, 20, 18, 8, (3, 7, 7), (1, 2, 2), (1, 3, 3, 1, 3, 3), (1, 1, 1), 1),    # its stem, a batch
    (1, 12, 6, 9, 9, 12, (3, 3, 3), (2, 2, 2), (1, 1, 1, 1, 1, 1), (1, 1, 1), 1),    # downsampling
    (1, 8, 4, 7, 7, 6, (1, 1, 1), (2, 2, 2), (0,) * 6, (1, 1, 1), 1),                # 1x1x1 shortcut
    (1, 8, 7, 8, 8, 8, (3, 3, 3), (1, 1, 1), (2, 1, 1, 0, 1, 1), (2, 1, 1), 2),      # dilated, groups
    (1, 4, 2, 5, 5, 3, (3, 3, 3), (1, 1, 1), (3, 1, 1, 3, 1, 1), (1, 1, 1), 1),      # frames of padding only
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"C{c[1]}_D{c[2]}_k{''.join(map(str, c[6]))}_s{c[7][0]}")
def test_matches_reference(rng, case):
    N, C, D, H, W, M, k, s, p, d, g = case
    x = rng.standard_normal((N, C, D, H, W)).astype(np.float32)
    w = rng.standard_normal((M, C // g) + k).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)
    prepared = kernels.prepare_conv(x.shape, kernels.ConvWeights(w, group=g), M, strides=list(s), pads=list(p),
                                    dilations=list(d), group=g)
    assert prepared.algorithm.startswith("frames(")
    got = prepared(x, None, b, None)
    np.testing.assert_allclose(got, ref_conv3d(x, w, b, s, p, d, g), rtol=1e-3, atol=1e-3)


def test_fused_residual_and_activation(rng):
    x = rng.standard_normal((2, 8, 4, 6, 6)).astype(np.float32)
    w = rng.standard_normal((8, 8, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    res = rng.standard_normal((2, 8, 4, 6, 6)).astype(np.float32)
    got = kernels.conv(x, kernels.ConvWeights(w), b, pads=[1] * 6, residual=res, activation="relu")
    want = np.maximum(ref_conv3d(x, w, b, (1, 1, 1), (1,) * 6, (1, 1, 1)) + res, 0)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)


def test_agrees_with_im2col_and_across_thread_counts(rng):
    x = rng.standard_normal((1, 32, 6, 12, 12)).astype(np.float32)
    w = kernels.ConvWeights(rng.standard_normal((32, 32, 3, 3, 3)).astype(np.float32))
    runs = [kernels.conv(x, w, None, pads=[1] * 6, num_threads=t) for t in (1, 2, 4)]
    assert all(np.array_equal(runs[0], r) for r in runs[1:])
    pyinfer._kernels._set_conv_algorithm("im2col")
    try:
        prepared = kernels.prepare_conv(x.shape, w, -1, pads=[1] * 6)
        assert prepared.algorithm == "im2col_gemm"
        np.testing.assert_allclose(prepared(x, None, None, None), runs[0], rtol=1e-4, atol=1e-3)
    finally:
        pyinfer._kernels._set_conv_algorithm("auto")

"""Convolution as one GEMM per kernel tap over the positions that tap reads inside the map
(csrc/conv/tap_gemm.cpp), against the float64 reference of test_conv_direct: forced on every
geometry it applies to (strides, dilations, asymmetric pads, groups, 1-D, batches, fused
epilogues), and chosen by itself where the taps mostly read padding (DeepLabV3's ASPP)."""
import numpy as np
import pytest

import pyinfer
from pyinfer import kernels

from support.conv_reference import ref_conv2d

RTOL, ATOL = 1e-3, 1e-4


@pytest.fixture
def forced():
    pyinfer._kernels._set_conv_algorithm("tap_gemm")
    yield
    pyinfer._kernels._set_conv_algorithm("auto")


# (C, H, W, M, kernel, pads [t, l, b, r], strides, dilations, group)
CASES = [
    (40, 14, 14, 24, (3, 3), (12, 12, 12, 12), (1, 1), (12, 12), 1),  # ASPP rate 12 on 14 x 14
    (17, 9, 11, 13, (3, 3), (1, 1, 1, 1), (1, 1), (1, 1), 1),
    (8, 13, 17, 13, (3, 3), (2, 0, 1, 2), (1, 1), (1, 1), 1),  # asymmetric pads
    (16, 15, 15, 9, (3, 3), (1, 1, 1, 1), (2, 2), (1, 1), 1),  # stride 2: gathered columns
    (12, 10, 12, 8, (5, 3), (6, 2, 4, 3), (1, 2), (3, 2), 1),
    (34, 14, 14, 66, (3, 3), (4, 4, 4, 4), (1, 1), (4, 4), 2),  # groups
    (6, 5, 5, 7, (3, 3), (9, 9, 9, 9), (1, 1), (9, 9), 1),  # taps beyond the map on both sides
    (20, 7, 7, 30, (1, 1), (0, 0, 0, 0), (1, 1), (1, 1), 1),  # 1x1: one tap, the map in place
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:4])) + f"k{c[4]}d{c[7]}s{c[6]}g{c[8]}")
@pytest.mark.parametrize("batch", [1, 2])
def test_forced_tap_gemm_matches_reference(forced, rng, case, batch):
    C, H, W, M, k, pads, strides, dil, group = case
    x = rng.standard_normal((batch, C, H, W)).astype(np.float32)
    w = rng.standard_normal((M, C // group) + k).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)
    prepared = kernels.prepare_conv(x.shape, kernels.ConvWeights(w, group=group), M, strides=list(strides),
                                    pads=list(pads), dilations=list(dil), group=group)
    assert prepared.algorithm == "tap_gemm"
    got = prepared(x, None, b, None)
    want = ref_conv2d(x, w, b, pads, dilations=dil, group=group, strides=strides)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL * 10)


def test_fused_bias_residual_and_activation(forced, rng):
    x = rng.standard_normal((2, 24, 14, 14)).astype(np.float32)
    w = rng.standard_normal((16, 24, 3, 3)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    res = rng.standard_normal((2, 16, 14, 14)).astype(np.float32)
    got = kernels.conv(x, w, b, pads=[12] * 4, dilations=[12, 12], residual=res, activation="relu")
    want = np.maximum(ref_conv2d(x, w, b, (12,) * 4, dilations=(12, 12)) + res, 0)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL * 10)


def test_one_dimensional(forced, rng):
    x = rng.standard_normal((2, 6, 50)).astype(np.float32)
    w = rng.standard_normal((9, 6, 5)).astype(np.float32)
    got = kernels.conv(x, w, None, pads=[2, 1], strides=[3], dilations=[2])
    want = ref_conv2d(x[:, :, None], w[:, :, None], None, (0, 2, 0, 1), dilations=(1, 2), strides=(1, 3))[:, :, 0]
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-3)


def test_weights_given_at_run_time(forced, rng):
    x = rng.standard_normal((1, 10, 8, 8)).astype(np.float32)
    w = rng.standard_normal((5, 10, 3, 3)).astype(np.float32)
    prepared = kernels.prepare_conv(x.shape, list(w.shape), -1, pads=[6] * 4, dilations=[6, 6])
    assert prepared.algorithm == "tap_gemm"
    got = prepared(x, w, None, None)
    np.testing.assert_allclose(got, ref_conv2d(x, w, None, (6,) * 4, dilations=(6, 6)), rtol=RTOL, atol=1e-3)


@pytest.mark.parametrize("channels, hw, rate, chosen", [
    (64, 14, 12, True),   # DeepLabV3-MobileNetV3's ASPP at 224: 18% of the products are useful
    (64, 28, 12, True),   # the same at 448 (or an output stride of 8): 51%
    (64, 56, 12, True),   # 73%
    (64, 28, 2, False),   # 91%: the direct / im2col kernels
    (64, 4, 1, False),    # undilated on a tiny map (69%): the direct kernels skip padding themselves
    (32, 14, 12, False),  # 32 channels: too shallow a product per tap
])
def test_auto_chooses_it_for_dilated_convolutions_that_mostly_read_padding(channels, hw, rate, chosen):
    prepared = kernels.prepare_conv([1, channels, hw, hw], [32, channels, 3, 3], 32, pads=[rate] * 4,
                                    dilations=[rate, rate])
    assert (prepared.algorithm == "tap_gemm") == chosen, prepared.algorithm


def test_bit_identical_for_any_thread_count(forced, rng):
    x = rng.standard_normal((1, 96, 14, 14)).astype(np.float32)
    w = kernels.ConvWeights(rng.standard_normal((64, 96, 3, 3)).astype(np.float32))
    runs = [kernels.conv(x, w, None, pads=[12] * 4, dilations=[12, 12], num_threads=t) for t in (1, 2, 4)]
    assert all(np.array_equal(runs[0], r) for r in runs[1:])

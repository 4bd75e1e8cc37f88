"""Depthwise convolutions with 5x5 and larger kernels run with channels as vector lanes
(csrc/conv/depthwise_lanes_isa.cpp, driven by depthwise.cpp): blocks of channels moved into a
zero-padded [row][column][channel] layout and back. Against the float64 reference on the shapes
that layout has to get right: channel counts that leave a partial block, strides, dilations,
asymmetric pads, rows narrower than the four positions computed at once, batches, and the fused
bias / residual / activation."""
import numpy as np
import pytest

from pyinfer import kernels
from support.conv_reference import ref_conv2d

# (C, H, W, kernel, stride, dilation, pads [t, l, b, r])
CASES = [
    (1152, 7, 7, 5, 1, 1, (2, 2, 2, 2)),   # MNASNet / EfficientNet's last stage
    (37, 14, 14, 7, 1, 1, (3, 3, 3, 3)),   # ConvNeXt's 7x7, a partial channel block
    (20, 15, 13, 5, 2, 1, (2, 2, 2, 2)),   # stride 2
    (18, 12, 12, 5, 1, 2, (4, 4, 4, 4)),   # atrous (DeepLab-style)
    (9, 6, 3, 5, 1, 1, (2, 1, 0, 3)),      # asymmetric pads, rows of 3 (< 4 positions)
    (16, 2, 2, 7, 1, 1, (3, 3, 3, 3)),     # every tap but the centre's reads padding
    (5, 9, 10, 5, 1, 1, (0, 0, 0, 0)),     # no padding
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"C{c[0]}_{c[1]}x{c[2]}_k{c[3]}_s{c[4]}_d{c[5]}")
@pytest.mark.parametrize("batch", [1, 2])
def test_matches_reference(isa, rng, case, batch):
    C, H, W, k, s, d, pads = case
    x = rng.standard_normal((batch, C, H, W)).astype(np.float32)
    w = rng.standard_normal((C, 1, k, k)).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32)
    got = kernels.conv(x, w, b, strides=[s, s], pads=list(pads), dilations=[d, d], group=C)
    want = ref_conv2d(x, w, b, pads, dilations=(d, d), group=C, strides=(s, s))
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * 10)


@pytest.mark.parametrize("with_bias", [True, False])
def test_fused_residual_and_activation(isa, rng, with_bias):
    # 196 positions: whole vectors of positions and a part one, on every tier
    x = rng.standard_normal((2, 40, 14, 14)).astype(np.float32)
    w = rng.standard_normal((40, 1, 7, 7)).astype(np.float32)
    b = rng.standard_normal(40).astype(np.float32) if with_bias else None
    res = rng.standard_normal((2, 40, 14, 14)).astype(np.float32)
    got = kernels.conv(x, w, b, pads=[3] * 4, group=40, residual=res, activation="relu")
    want = np.maximum(ref_conv2d(x, w, b, (3,) * 4, group=40) + res, 0)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)


def test_bit_identical_for_any_thread_count(rng):
    x = rng.standard_normal((1, 96, 14, 14)).astype(np.float32)
    w = rng.standard_normal((96, 1, 5, 5)).astype(np.float32)
    runs = [kernels.conv(x, w, None, pads=[2] * 4, group=96, num_threads=t) for t in (1, 2, 4)]
    assert all(np.array_equal(runs[0], r) for r in runs[1:])

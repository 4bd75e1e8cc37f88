"""Depthwise 2-D convolution (group == input channels) against a plain NumPy reference.

The reference follows the definition directly, in float64:
  y[n, m, oh, ow] = b[m] + sum_{kh, kw} x[n, m // mult, oh*sh - pt + kh*dh, ow*sw - pl + kw*dw] * w[m, 0, kh, kw]
(taps outside x read zero), then the activation.
"""
import numpy as np
import pytest

import pyinfer
from pyinfer import kernels

RTOL, ATOL = 1e-3, 1e-4


@pytest.fixture(autouse=True, params=["depthwise_flat", "depthwise_lanes"])
def kernel_path(request):
    """Every case on both 3x3 kernels (auto times the two once per shape and keeps the faster,
    so which one a shape gets depends on the machine)."""
    pyinfer._kernels._set_conv_algorithm(request.param)
    yield request.param
    pyinfer._kernels._set_conv_algorithm("auto")


def ref_depthwise(x, w, b, strides, pads, dilations):
    x, w = x.astype(np.float64), w.astype(np.float64)
    n, c, h, wd = x.shape
    m, _, kh_, kw_ = w.shape
    mult = m // c
    sh, sw = strides
    dh, dw = dilations
    pt, pl, pb, pr = pads
    oh_ = (h + pt + pb - ((kh_ - 1) * dh + 1)) // sh + 1
    ow_ = (wd + pl + pr - ((kw_ - 1) * dw + 1)) // sw + 1
    xp = np.zeros((n, c, h + pt + pb, wd + pl + pr))
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    y = np.zeros((n, m, oh_, ow_))
    for mm in range(m):
        for kh in range(kh_):
            for kw in range(kw_):
                r0, c0 = kh * dh, kw * dw
                patch = xp[:, mm // mult, r0:r0 + (oh_ - 1) * sh + 1:sh, c0:c0 + (ow_ - 1) * sw + 1:sw]
                y[:, mm] += w[mm, 0, kh, kw] * patch
    if b is not None:
        y += b.astype(np.float64)[None, :, None, None]
    return y


ACTS = {
    "none": lambda v: v,
    "relu": lambda v: np.maximum(v, 0),
    "relu6": lambda v: np.clip(v, 0, 6),
    "leaky_relu": lambda v: np.where(v >= 0, v, 0.01 * v),
    "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
}

# (N, C, mult, H, W, K, stride, pads [t, l, b, r], dilation)
CASES = [
    (1, 17, 1, 7, 7, 3, 1, (1, 1, 1, 1), 1),
    (1, 40, 1, 14, 14, 3, 2, (1, 1, 1, 1), 1),
    (1, 3, 1, 1, 1, 3, 1, (1, 1, 1, 1), 1),
    (1, 5, 1, 2, 3, 3, 1, (1, 1, 1, 1), 1),
    (2, 17, 1, 15, 17, 3, 1, (1, 1, 1, 1), 1),
    (2, 17, 1, 15, 17, 3, 2, (1, 1, 1, 1), 1),
    (1, 3, 1, 112, 112, 3, 1, (1, 1, 1, 1), 1),
    (1, 3, 1, 112, 112, 3, 2, (1, 1, 1, 1), 1),
    (1, 17, 1, 14, 14, 3, 1, (0, 0, 0, 0), 1),
    (1, 17, 1, 14, 14, 3, 2, (0, 0, 0, 0), 1),
    (1, 17, 1, 14, 14, 3, 2, (0, 0, 1, 1), 1),  # TF "SAME" on an even map
    (1, 17, 1, 14, 14, 3, 1, (2, 2, 2, 2), 1),
    (1, 17, 1, 14, 14, 3, 1, (2, 0, 0, 2), 1),  # asymmetric, output as wide as the input
    (1, 17, 1, 15, 14, 3, 2, (1, 0, 2, 2), 1),
    (1, 17, 1, 14, 14, 3, 1, (1, 1, 1, 1), 2),  # dilation 2
    (1, 17, 1, 7, 7, 5, 1, (2, 2, 2, 2), 1),
    (1, 17, 1, 14, 14, 5, 2, (2, 2, 2, 2), 1),
    (1, 17, 1, 14, 14, 5, 2, (1, 2, 2, 1), 1),
    (1, 17, 1, 28, 28, 5, 1, (2, 2, 2, 2), 1),
    (2, 17, 1, 15, 17, 5, 1, (2, 2, 2, 2), 1),
    (2, 17, 1, 15, 17, 5, 2, (2, 2, 2, 2), 1),
    (1, 17, 1, 14, 14, 5, 1, (4, 4, 4, 4), 1),
    (2, 8, 2, 7, 7, 3, 1, (1, 1, 1, 1), 1),  # channel multiplier 2
    (2, 8, 2, 14, 14, 3, 2, (1, 1, 1, 1), 1),
    (1, 8, 2, 28, 28, 5, 1, (2, 2, 2, 2), 1),
    (1, 8, 2, 15, 17, 3, 2, (1, 1, 1, 1), 1),
    (1, 40, 1, 56, 56, 3, 1, (1, 1, 1, 1), 1),
    (1, 40, 1, 28, 28, 3, 2, (1, 1, 1, 1), 1),
    (1, 4, 1, 9, 20, 3, 1, (1, 1, 1, 1), 1),
    # 7x7 (ConvNeXt) and dilated (DeepLab / LRASPP atrous) kernels on the flat path
    (1, 17, 1, 14, 14, 7, 1, (3, 3, 3, 3), 1),
    (1, 9, 1, 56, 56, 7, 1, (3, 3, 3, 3), 1),
    (2, 17, 1, 15, 17, 7, 1, (3, 3, 3, 3), 1),
    (1, 17, 1, 14, 14, 7, 2, (3, 3, 3, 3), 1),
    (1, 17, 1, 7, 7, 7, 1, (3, 3, 3, 3), 1),
    (1, 17, 1, 14, 14, 5, 1, (4, 4, 4, 4), 2),  # MobileNetV3's dilated C4 stage
    (1, 17, 1, 33, 33, 3, 1, (2, 2, 2, 2), 2),
    (1, 17, 1, 28, 28, 3, 1, (4, 4, 4, 4), 4),
    (1, 17, 1, 14, 14, 3, 2, (2, 2, 2, 2), 2),
    (1, 17, 1, 15, 17, 5, 2, (4, 4, 4, 4), 2),
    (1, 8, 2, 20, 20, 3, 1, (3, 3, 3, 3), 3),
    (1, 17, 1, 6, 6, 3, 1, (6, 6, 6, 6), 6),  # taps past every edge
]


def make(rng, case):
    n, c, mult, h, wd, k, s, pads, d = case
    x = rng.standard_normal((n, c, h, wd)).astype(np.float32)
    w = rng.standard_normal((c * mult, 1, k, k)).astype(np.float32)
    b = rng.standard_normal(c * mult).astype(np.float32)
    return x, w, b


@pytest.mark.parametrize("case", CASES, ids=lambda c: "n{}c{}x{}_{}x{}_k{}s{}p{}d{}".format(
    c[0], c[1], c[2], c[3], c[4], c[5], c[6], "".join(map(str, c[7])), c[8]))
@pytest.mark.parametrize("threads", [1, 2])
def test_depthwise_matches_reference(isa, rng, case, threads):
    x, w, b = make(rng, case)
    _, c, _, _, _, _, s, pads, d = case
    y = kernels.conv(x, w, b, strides=[s, s], pads=list(pads), dilations=[d, d], group=c, num_threads=threads)
    np.testing.assert_allclose(y, ref_depthwise(x, w, b, (s, s), pads, (d, d)), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("case", [CASES[0], CASES[1], CASES[6], CASES[16], CASES[23], CASES[-12], CASES[-7],
                                  CASES[-4]])
def test_depthwise_fused_activation_and_residual(isa, rng, case, act):
    x, w, b = make(rng, case)
    _, c, _, _, _, _, s, pads, d = case
    expected = ref_depthwise(x, w, b, (s, s), pads, (d, d))
    residual = rng.standard_normal(expected.shape).astype(np.float32)
    y = kernels.conv(x, w, b, strides=[s, s], pads=list(pads), dilations=[d, d], group=c, activation=act)
    np.testing.assert_allclose(y, ACTS[act](expected), rtol=RTOL, atol=ATOL)
    y = kernels.conv(x, w, None, strides=[s, s], pads=list(pads), dilations=[d, d], group=c,
                     residual=residual, activation=act)
    np.testing.assert_allclose(y, ACTS[act](expected - b[None, :, None, None] + residual), rtol=RTOL, atol=ATOL)


def test_depthwise_inf_next_to_a_row_end_stays_local(isa):
    # An Inf at the end of a row must not reach the next row's first output (whose taps to
    # the left fall in the padding), nor turn into NaN there.
    x = np.zeros((1, 16, 7, 7), np.float32)
    x[:, :, 2, 6] = np.inf
    w = np.ones((16, 1, 3, 3), np.float32)
    y = kernels.conv(x, w, None, strides=[1, 1], pads=[1, 1, 1, 1], group=16)
    with np.errstate(invalid="ignore"):
        expected = ref_depthwise(x, w, None, (1, 1), (1, 1, 1, 1), (1, 1))
    np.testing.assert_array_equal(y, expected.astype(np.float32))

"""pyinfer.kernels conv / conv_transpose / conv{1,2,3}d against plain NumPy references.

The references below follow the definitions directly, in float64:
  conv:           y[n, m, o] = sum_{c, k} x[n, c, o * s + k * d - pad_begin] * w[m, c, k]
  conv_transpose: every x[n, c, i] scatters x * w[c, m, k] into full[n, m, i * s + k * d],
                  then full is cropped by the pads.
"""
import numpy as np
import pytest
import torch

import pyinfer
from pyinfer import kernels

RTOL, ATOL = 1e-3, 1e-4


@pytest.fixture(autouse=True)
def exact_paths():
    """The paths here (direct kernels, im2col + GEMM) round like the float64 reference sum, so
    they are held to atol 1e-4 on unit-scale data. Winograd's transforms round more (an error
    bound proportional to sum |x| |w|): test_conv_winograd.py tests it, and auto dispatch to it."""
    pyinfer._kernels._set_conv_algorithm("no_winograd")
    yield
    pyinfer._kernels._set_conv_algorithm("auto")


def ref_conv(x, w, b, strides, pads, dilations, group):
    x, w = x.astype(np.float64), w.astype(np.float64)
    nd = x.ndim - 2
    n, c = x.shape[:2]
    m, kernel = w.shape[0], w.shape[2:]
    cg, mg = c // group, m // group
    out = [(x.shape[2 + i] + pads[i] + pads[nd + i] - (kernel[i] - 1) * dilations[i] - 1) // strides[i] + 1
           for i in range(nd)]
    y = np.zeros((n, m, *out))
    for o in np.ndindex(*out):
        for k in np.ndindex(*kernel):
            idx = [o[i] * strides[i] + k[i] * dilations[i] - pads[i] for i in range(nd)]
            if any(not 0 <= idx[i] < x.shape[2 + i] for i in range(nd)):
                continue  # reads padding (zeros)
            xv = x[(slice(None), slice(None)) + tuple(idx)]  # [N, C]
            for g in range(group):
                wk = w[(slice(g * mg, (g + 1) * mg), slice(None)) + k]  # [Mg, Cg]
                y[(slice(None), slice(g * mg, (g + 1) * mg)) + o] += xv[:, g * cg:(g + 1) * cg] @ wk.T
    if b is not None:
        y += b.astype(np.float64).reshape((1, m) + (1,) * nd)
    return y


def ref_conv_transpose(x, w, b, strides, pads, dilations, group, output_padding):
    x, w = x.astype(np.float64), w.astype(np.float64)
    nd = x.ndim - 2
    n, c = x.shape[:2]
    mg, kernel = w.shape[1], w.shape[2:]
    m, cg = mg * group, c // group
    full = [strides[i] * (x.shape[2 + i] - 1) + (kernel[i] - 1) * dilations[i] + 1 + output_padding[i]
            for i in range(nd)]
    y = np.zeros((n, m, *full))
    for i in np.ndindex(*x.shape[2:]):
        for k in np.ndindex(*kernel):
            pos = tuple(i[d] * strides[d] + k[d] * dilations[d] for d in range(nd))
            for g in range(group):
                xv = x[(slice(None), slice(g * cg, (g + 1) * cg)) + i]  # [N, Cg]
                wk = w[(slice(g * cg, (g + 1) * cg), slice(None)) + k]  # [Cg, Mg]
                y[(slice(None), slice(g * mg, (g + 1) * mg)) + pos] += xv @ wk
    y = y[(slice(None), slice(None)) + tuple(slice(pads[d], full[d] - pads[nd + d]) for d in range(nd))]
    if b is not None:
        y = y + b.astype(np.float64).reshape((1, m) + (1,) * nd)
    return y


def f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


# (spatial input, kernel, strides, pads, dilations, N, C, M, group, bias)
CONV_CASES = [
    ((7,), (3,), (1,), (0, 0), (1,), 2, 3, 4, 1, True),
    ((13,), (4,), (3,), (2, 1), (2,), 1, 4, 6, 2, False),
    ((5, 5), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, 1, 1, 1, False),
    ((9, 8), (3, 2), (2, 1), (1, 2, 0, 1), (2, 1), 2, 4, 6, 2, True),
    ((11, 7), (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 3, 6, 4, 2, True),  # pointwise, grouped
    ((11, 7), (1, 1), (2, 3), (0, 1, 1, 0), (1, 1), 1, 5, 3, 1, True),  # 1x1 but strided+padded
    ((10, 9), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 2, 6, 6, 6, True),  # depthwise
    ((10, 9), (5, 5), (2, 2), (2, 2, 2, 2), (1, 1), 1, 4, 8, 4, False),  # depthwise x2 multiplier
    ((6, 5), (3, 3), (1, 1), (4, 0, 3, 5), (1, 1), 1, 2, 3, 1, True),  # pads wider than kernel
    ((4, 5, 6), (2, 3, 3), (1, 2, 1), (1, 0, 1, 0, 1, 2), (1, 1, 2), 2, 4, 4, 2, True),
    ((5, 4, 3), (1, 1, 1), (1, 1, 1), (0,) * 6, (1, 1, 1), 1, 3, 5, 1, False),
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{len(c[0])}d-{c[0]}-k{c[1]}-s{c[2]}-g{c[8]}")
def test_conv_matches_reference(isa, rng, case, threads):
    spatial, kernel, strides, pads, dilations, n, c, m, group, has_bias = case
    x = f32(rng, n, c, *spatial)
    w = f32(rng, m, c // group, *kernel)
    b = f32(rng, m) if has_bias else None
    y = kernels.conv(x, w, b, strides=strides, pads=pads, dilations=dilations, group=group, num_threads=threads)
    expected = ref_conv(x, w, b, strides, pads, dilations, group)
    assert y.dtype == np.float32 and y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=ATOL)


def random_conv_case(rng):
    nd = int(rng.integers(1, 4))
    group = int(rng.choice([1, 1, 2, 3]))
    c, m = group * int(rng.integers(1, 4)), group * int(rng.integers(1, 4))
    kernel = [int(rng.integers(1, 4)) for _ in range(nd)]
    strides = [int(rng.integers(1, 4)) for _ in range(nd)]
    dilations = [int(rng.integers(1, 3)) for _ in range(nd)]
    pads = [int(rng.integers(0, 3)) for _ in range(2 * nd)]
    spatial = [int(rng.integers((kernel[i] - 1) * dilations[i] + 1, 10 if nd < 3 else 6)) for i in range(nd)]
    return spatial, kernel, strides, pads, dilations, int(rng.integers(1, 3)), c, m, group, bool(rng.integers(2))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("seed", range(12))
def test_conv_random_shapes(isa, seed, threads):
    rng = np.random.default_rng(seed)
    spatial, kernel, strides, pads, dilations, n, c, m, group, has_bias = random_conv_case(rng)
    x = f32(rng, n, c, *spatial)
    w = f32(rng, m, c // group, *kernel)
    b = f32(rng, m) if has_bias else None
    y = kernels.conv(x, w, b, strides=strides, pads=pads, dilations=dilations, group=group, num_threads=threads)
    np.testing.assert_allclose(y, ref_conv(x, w, b, strides, pads, dilations, group), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("threads", [1, 2])
def test_conv_large_input_is_tiled(isa, rng, threads):
    # 32 channels x 3x3 = 288 column rows over 45x43 outputs: far more than one column tile.
    x = f32(rng, 2, 32, 45, 43)
    w = f32(rng, 16, 32, 3, 3)
    b = f32(rng, 16)
    y = kernels.conv2d(x, w, b, stride=1, padding=1, num_threads=threads)
    expected = torch.nn.functional.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(),
                                          torch.from_numpy(b).double(), padding=1).numpy()
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=1e-3)


@pytest.mark.parametrize("threads", [1, 2])
def test_conv_deep_kernel_3d_tiled(isa, rng, threads):
    # K = 16 * 27 = 432 rows: tiles of a few hundred output positions, 1 image, 1 group.
    x = f32(rng, 1, 16, 12, 11, 10)
    w = f32(rng, 8, 16, 3, 3, 3)
    y = kernels.conv3d(x, w, None, stride=(1, 2, 1), padding=(1, 0, 2), dilation=(1, 1, 2), num_threads=threads)
    expected = torch.nn.functional.conv3d(torch.from_numpy(x).double(), torch.from_numpy(w).double(),
                                          stride=(1, 2, 1), padding=(1, 0, 2), dilation=(1, 1, 2)).numpy()
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=1e-3)


TORCH_CASES = [
    # (x shape, w shape, stride, padding, dilation, groups)
    ((2, 3, 17, 15), (8, 3, 3, 3), 1, 1, 1, 1),
    ((1, 8, 16, 16), (8, 1, 3, 3), 2, 1, 1, 8),  # depthwise stride 2
    ((1, 8, 15, 16), (16, 2, 5, 5), (2, 1), (2, 0), (1, 2), 4),
    ((3, 4, 9, 10), (6, 4, 1, 1), 1, 0, 1, 1),
]


@pytest.mark.parametrize("case", TORCH_CASES)
def test_conv2d_matches_torch(isa, rng, case):
    xs, ws, stride, padding, dilation, groups = case
    x, w, b = f32(rng, *xs), f32(rng, *ws), f32(rng, ws[0])
    y = kernels.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    expected = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                                          stride=stride, padding=padding, dilation=dilation, groups=groups).numpy()
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=ATOL)


def test_conv1d_matches_reference(isa, rng):
    x, w, b = f32(rng, 2, 4, 20), f32(rng, 6, 2, 3), f32(rng, 6)
    y = kernels.conv1d(x, w, b, stride=2, padding=3, dilation=2, groups=2)
    np.testing.assert_allclose(y, ref_conv(x, w, b, [2], [3, 3], [2], 2), rtol=RTOL, atol=ATOL)


def test_conv_accepts_non_contiguous_input(isa, rng):
    x = f32(rng, 1, 3, 10, 12)[:, :, ::2, ::-1]
    w = f32(rng, 2, 3, 3, 3)
    y = kernels.conv(x, w, pads=[1, 1, 1, 1])
    np.testing.assert_allclose(y, ref_conv(x, w, None, [1, 1], [1, 1, 1, 1], [1, 1], 1), rtol=RTOL, atol=ATOL)


def test_conv_empty_batch(isa, rng):
    y = kernels.conv(np.zeros((0, 2, 5, 5), np.float32), f32(rng, 3, 2, 3, 3))
    assert y.shape == (0, 3, 3, 3)


def test_conv_output_shape_helper(rng):
    assert kernels.conv_output_shape([2, 4, 9, 8], [6, 2, 3, 2], strides=[2, 1], pads=[1, 2, 0, 1],
                                     dilations=[2, 1], group=2) == [2, 6, 3, 10]  # (9+1+0-5)//2+1, (8+2+1-2)+1
    with pytest.raises(pyinfer.KernelArgumentError):
        kernels.conv_output_shape([2, 4, 9, 8], [6, 3, 3, 2], group=2)


# --- ConvTranspose ------------------------------------------------------------------------
# (spatial input, kernel, strides, pads, dilations, output_padding, N, C, M, group, bias)
CONVT_CASES = [
    ((5,), (3,), (1,), (0, 0), (1,), (0,), 2, 3, 2, 1, True),
    ((6,), (4,), (3,), (1, 2), (2,), (2,), 1, 4, 6, 2, False),
    ((3, 3), (3, 3), (3, 2), (0, 0, 0, 0), (1, 1), (1, 1), 1, 1, 2, 1, False),
    ((4, 5), (3, 2), (2, 3), (1, 0, 0, 1), (1, 2), (1, 0), 2, 4, 6, 2, True),
    ((5, 4), (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), (0, 0), 1, 3, 5, 1, True),  # pointwise
    ((6, 6), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), (1, 1), 1, 6, 6, 6, True),  # depthwise
    ((3, 4, 3), (2, 3, 2), (2, 1, 2), (0, 1, 1, 1, 0, 0), (1, 2, 1), (1, 0, 0), 1, 4, 4, 2, True),
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", CONVT_CASES, ids=lambda c: f"{len(c[0])}d-{c[0]}-k{c[1]}-s{c[2]}-g{c[9]}")
def test_conv_transpose_matches_reference(isa, rng, case, threads):
    spatial, kernel, strides, pads, dilations, out_pad, n, c, m, group, has_bias = case
    x = f32(rng, n, c, *spatial)
    w = f32(rng, c, m // group, *kernel)
    b = f32(rng, m) if has_bias else None
    y = kernels.conv_transpose(x, w, b, strides=strides, pads=pads, dilations=dilations, group=group,
                               output_padding=out_pad, num_threads=threads)
    expected = ref_conv_transpose(x, w, b, strides, pads, dilations, group, out_pad)
    assert y.dtype == np.float32 and y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("threads", [1, 2])
def test_conv_transpose_large_matches_torch(isa, rng, threads):
    # 48 x 2x2... Kt = 24 * 16 = 384 column rows over 40x36 inputs: several column tiles.
    x = f32(rng, 2, 16, 40, 36)
    w = f32(rng, 16, 24, 4, 4)
    b = f32(rng, 24)
    y = kernels.conv_transpose(x, w, b, strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 0],
                               num_threads=threads)
    expected = torch.nn.functional.conv_transpose2d(
        torch.from_numpy(x).double(), torch.from_numpy(w).double(), torch.from_numpy(b).double(),
        stride=2, padding=1, output_padding=(1, 0)).numpy()
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=1e-3)


def test_conv_transpose2d_matches_torch(isa, rng):
    x, w, b = f32(rng, 2, 6, 7, 5), f32(rng, 6, 4, 3, 3), f32(rng, 8)
    y = kernels.conv_transpose(x, w, b, strides=[2, 3], pads=[1, 2, 1, 2], dilations=[2, 1], group=2,
                               output_padding=[1, 2])
    expected = torch.nn.functional.conv_transpose2d(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=(2, 3), padding=(1, 2),
        output_padding=(1, 2), dilation=(2, 1), groups=2).numpy()
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("seed", range(6))
def test_conv_transpose_random_shapes(isa, seed):
    rng = np.random.default_rng(100 + seed)
    nd = int(rng.integers(1, 4))
    group = int(rng.choice([1, 2]))
    c, m = group * int(rng.integers(1, 3)), group * int(rng.integers(1, 3))
    kernel = [int(rng.integers(1, 4)) for _ in range(nd)]
    strides = [int(rng.integers(1, 4)) for _ in range(nd)]
    dilations = [int(rng.integers(1, 3)) for _ in range(nd)]
    out_pad = [int(rng.integers(0, max(strides[i], dilations[i]))) for i in range(nd)]
    pads = [int(rng.integers(0, 2)) for _ in range(2 * nd)]
    x = f32(rng, 2, c, *[int(rng.integers(1, 6)) for _ in range(nd)])
    w = f32(rng, c, m // group, *kernel)
    b = f32(rng, m)
    y = kernels.conv_transpose(x, w, b, strides=strides, pads=pads, dilations=dilations, group=group,
                               output_padding=out_pad, num_threads=2)
    np.testing.assert_allclose(y, ref_conv_transpose(x, w, b, strides, pads, dilations, group, out_pad),
                               rtol=RTOL, atol=ATOL)


# --- argument errors ------------------------------------------------------------------------
def _x():
    return np.zeros((1, 4, 6, 6), np.float32)


CONV_ERRORS = [
    ("float64 x", lambda: kernels.conv(_x().astype(np.float64), np.zeros((2, 4, 3, 3), np.float32))),
    ("list x", lambda: kernels.conv([[1.0]], np.zeros((2, 4, 3, 3), np.float32))),
    ("x rank 2", lambda: kernels.conv(np.zeros((4, 6), np.float32), np.zeros((2, 4), np.float32))),
    ("w rank", lambda: kernels.conv(_x(), np.zeros((2, 4, 3), np.float32))),
    ("channels vs w", lambda: kernels.conv(_x(), np.zeros((2, 3, 3, 3), np.float32))),
    ("channels vs group", lambda: kernels.conv(_x(), np.zeros((3, 4, 3, 3), np.float32), group=3)),
    ("out channels vs group", lambda: kernels.conv(_x(), np.zeros((3, 2, 3, 3), np.float32), group=2)),
    ("group 0", lambda: kernels.conv(_x(), np.zeros((2, 4, 3, 3), np.float32), group=0)),
    ("bias length", lambda: kernels.conv(_x(), np.zeros((2, 4, 3, 3), np.float32), np.zeros(3, np.float32))),
    ("bias rank", lambda: kernels.conv(_x(), np.zeros((2, 4, 3, 3), np.float32), np.zeros((2, 1), np.float32))),
    ("zero stride", lambda: kernels.conv(_x(), np.zeros((2, 4, 3, 3), np.float32), strides=[1, 0])),
    ("negative dilation", lambda: kernels.conv(_x(), np.zeros((2, 4, 3, 3), np.float32), dilations=[-1, 1])),
    ("negative pad", lambda: kernels.conv(_x(), np.zeros((2, 4, 3, 3), np.float32), pads=[0, 0, -1, 0])),
    ("pads count", lambda: kernels.conv(_x(), np.zeros((2, 4, 3, 3), np.float32), pads=[1, 1])),
    ("strides count", lambda: kernels.conv(_x(), np.zeros((2, 4, 3, 3), np.float32), strides=[1, 1, 1])),
    ("empty output", lambda: kernels.conv(_x(), np.zeros((2, 4, 7, 3), np.float32))),
    ("dilated kernel too big", lambda: kernels.conv(_x(), np.zeros((2, 4, 3, 3), np.float32), dilations=[3, 1])),
    ("empty kernel", lambda: kernels.conv(_x(), np.zeros((2, 4, 0, 3), np.float32))),
    ("conv2d rank", lambda: kernels.conv2d(np.zeros((1, 4, 6), np.float32), np.zeros((2, 4, 3), np.float32))),
    ("conv1d padding count", lambda: kernels.conv1d(np.zeros((1, 4, 6), np.float32),
                                                    np.zeros((2, 4, 3), np.float32), padding=(1, 1))),
    ("convT w channels", lambda: kernels.conv_transpose(_x(), np.zeros((3, 2, 3, 3), np.float32))),
    ("convT output_padding", lambda: kernels.conv_transpose(_x(), np.zeros((4, 2, 3, 3), np.float32),
                                                            strides=[2, 2], output_padding=[2, 0])),
    ("convT bias", lambda: kernels.conv_transpose(_x(), np.zeros((4, 2, 3, 3), np.float32),
                                                  np.zeros(4, np.float32), group=1)),
    ("convT group", lambda: kernels.conv_transpose(_x(), np.zeros((4, 2, 3, 3), np.float32), group=3)),
    ("convT empty output", lambda: kernels.conv_transpose(np.zeros((1, 4, 1, 1), np.float32),
                                                          np.zeros((4, 2, 2, 2), np.float32), pads=[1, 1, 1, 1])),
    ("convT negative pad", lambda: kernels.conv_transpose(_x(), np.zeros((4, 2, 3, 3), np.float32),
                                                          pads=[-1, 0, 0, 0])),
]


@pytest.mark.parametrize("call", [c[1] for c in CONV_ERRORS], ids=[c[0] for c in CONV_ERRORS])
def test_conv_argument_errors(call):
    with pytest.raises(pyinfer.KernelArgumentError):
        call()


def test_conv_error_message_names_the_problem():
    with pytest.raises(pyinfer.KernelArgumentError, match="divisible by group"):
        kernels.conv(_x(), np.zeros((3, 4, 3, 3), np.float32), group=3)
    with pytest.raises(pyinfer.KernelArgumentError, match="empty output"):
        kernels.conv(_x(), np.zeros((2, 4, 7, 3), np.float32))


# --- direct depthwise path (2-D, one input channel per group) ------------------------------
# (C, multiplier, H, W, kernel, strides, pads [t, l, b, r], dilations)
DEPTHWISE_CASES = [
    (4, 1, 12, 45, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    (3, 1, 11, 50, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1)),
    (2, 1, 9, 37, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1)),
    (2, 1, 10, 40, (5, 5), (2, 2), (2, 1, 0, 2), (1, 1)),
    (3, 2, 8, 33, (3, 3), (1, 1), (0, 3, 1, 0), (2, 2)),  # multiplier 2, dilated, asymmetric
    (2, 1, 6, 70, (1, 7), (1, 1), (0, 3, 0, 3), (1, 1)),
    (1, 3, 7, 20, (3, 4), (2, 1), (4, 5, 4, 6), (1, 3)),  # pads wider than the kernel
    (2, 1, 9, 61, (3, 3), (1, 3), (1, 1, 1, 1), (1, 2)),  # column stride 3 (subsampled row)
    (2, 1, 9, 61, (3, 3), (2, 5), (1, 2, 1, 2), (1, 1)),  # column stride 5 (scalar loop)
    (2, 1, 5, 3, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),  # narrower than one vector
    (2, 1, 5, 4, (3, 5), (1, 1), (0, 0, 0, 1), (1, 1)),  # no interior column
    # register-blocked 3x3 / 5x5 path: widths over 4 vectors with a tail, odd row counts,
    # stride 2 on rows and/or columns (even / odd column split), pads 0..2, multiplier 2
    (3, 1, 13, 83, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    (2, 2, 15, 71, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1)),
    (2, 1, 14, 14, (3, 3), (2, 2), (0, 0, 1, 1), (1, 1)),
    (2, 1, 9, 40, (3, 3), (1, 2), (1, 0, 0, 1), (1, 1)),
    (2, 1, 10, 37, (3, 3), (2, 1), (0, 1, 1, 0), (1, 1)),
    (2, 1, 12, 70, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1)),
    (2, 1, 17, 35, (5, 5), (2, 2), (2, 1, 1, 2), (1, 1)),
    (2, 1, 7, 7, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1)),
    (2, 1, 3, 3, (5, 5), (2, 2), (2, 2, 2, 2), (1, 1)),  # all but the centre in padding
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=str)
def test_depthwise_matches_torch(isa, rng, case, threads):
    c, mult, h, wd, kernel, strides, pads, dilations = case
    x, w, b = f32(rng, 2, c, h, wd), f32(rng, c * mult, 1, *kernel), f32(rng, c * mult)
    y = kernels.conv(x, w, b, strides=strides, pads=[pads[0], pads[1], pads[2], pads[3]], dilations=dilations,
                     group=c, num_threads=threads)
    xt = torch.nn.functional.pad(torch.from_numpy(x).double(), (pads[1], pads[3], pads[0], pads[2]))
    expected = torch.nn.functional.conv2d(xt, torch.from_numpy(w).double(), torch.from_numpy(b).double(),
                                          stride=strides, dilation=dilations, groups=c).numpy()
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=ATOL)


def test_depthwise_small_matches_reference(isa, rng):
    x, w = f32(rng, 1, 3, 6, 19), f32(rng, 6, 1, 3, 2)
    y = kernels.conv(x, w, None, strides=[1, 1], pads=[1, 0, 2, 1], dilations=[1, 2], group=3)
    np.testing.assert_allclose(y, ref_conv(x, w, None, [1, 1], [1, 0, 2, 1], [1, 2], 3), rtol=RTOL, atol=ATOL)


# --- ConvWeights (packed once) and the fused epilogue --------------------------------------
EPILOGUE_ACTS = [
    ("none", {}, lambda v: v),
    ("relu", {}, lambda v: np.maximum(v, 0)),
    ("relu6", {}, lambda v: np.clip(v, 0, 6)),
    ("clip", dict(clip_min=-1.0, clip_max=0.5), lambda v: np.clip(v, -1.0, 0.5)),
    ("leaky_relu", dict(activation_alpha=0.2), lambda v: np.where(v >= 0, v, 0.2 * v)),
    ("sigmoid", {}, lambda v: 1 / (1 + np.exp(-v))),
    ("hard_swish", {}, lambda v: v * np.clip(v / 6 + 0.5, 0, 1)),
]
# (x shape, w shape, strides, pads, group): im2col (2 tiles), pointwise, grouped, depthwise s1/s2, 3-D
PACKED_CASES = [
    ((2, 32, 45, 43), (16, 32, 3, 3), (1, 1), (1, 1, 1, 1), 1),
    ((1, 24, 14, 14), (40, 24, 1, 1), (1, 1), (0, 0, 0, 0), 1),
    ((1, 8, 15, 16), (12, 2, 5, 5), (2, 1), (2, 0, 2, 0), 4),
    ((2, 6, 13, 11), (6, 1, 3, 3), (1, 1), (1, 1, 1, 1), 6),
    ((1, 5, 14, 14), (10, 1, 3, 3), (2, 2), (1, 1, 1, 1), 5),
    ((1, 3, 6, 7, 5), (4, 3, 2, 3, 2), (1, 2, 1), (1, 0, 1, 0, 1, 0), 1),
    ((1, 3, 29, 29), (7, 3, 7, 7), (2, 2), (3, 3, 3, 3), 1),
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", PACKED_CASES, ids=lambda c: f"x{c[0]}-w{c[1]}-g{c[4]}")
def test_conv_weights_packed_with_epilogue(isa, rng, case, threads):
    xs, ws, strides, pads, group = case
    x, w, b = f32(rng, *xs), f32(rng, *ws), f32(rng, ws[0])
    nd = len(xs) - 2
    base = ref_conv(x, w, b, strides, pads, [1] * nd, group)
    res = f32(rng, *base.shape)
    packed = kernels.ConvWeights(w, group=group)
    assert list(packed.shape) == list(ws) and packed.group == group
    args = dict(strides=strides, pads=pads, group=group, num_threads=threads)
    np.testing.assert_allclose(kernels.conv(x, packed, b, **args), base, rtol=RTOL, atol=ATOL)
    for act, params, fn in EPILOGUE_ACTS:
        want = fn(base + res)
        for weights in (packed, w):
            y = kernels.conv(x, weights, b, residual=res, activation=act, **args, **params)
            np.testing.assert_allclose(y, want, rtol=RTOL, atol=ATOL, err_msg=act)
    y = kernels.conv(x, packed, None, activation="relu", **args)  # no bias, no residual
    np.testing.assert_allclose(y, np.maximum(ref_conv(x, w, None, strides, pads, [1] * nd, group), 0),
                               rtol=RTOL, atol=ATOL)


def test_conv_weights_argument_errors(rng):
    x = f32(rng, 1, 4, 6, 6)
    w = f32(rng, 6, 2, 3, 3)
    packed = kernels.ConvWeights(w, group=2)
    with pytest.raises(pyinfer.KernelArgumentError, match="group"):
        kernels.conv(x, packed, group=1)  # w's shape fits group 1 with 2 channels? no: C=4
    with pytest.raises(pyinfer.KernelArgumentError):
        kernels.conv(f32(rng, 1, 2, 6, 6), packed, group=1)  # shapes fit, packing for group 2 does not
    with pytest.raises(pyinfer.KernelArgumentError, match="multiple of group"):
        kernels.ConvWeights(w, group=4)
    with pytest.raises(pyinfer.KernelArgumentError, match="rank"):
        kernels.ConvWeights(f32(rng, 6, 2), group=1)
    with pytest.raises(pyinfer.KernelArgumentError, match="residual must have"):
        kernels.conv(x, packed, group=2, residual=f32(rng, 1, 6, 4, 5))
    with pytest.raises(pyinfer.KernelArgumentError, match="unknown activation"):
        kernels.conv(x, packed, group=2, activation="swish")
    with pytest.raises(pyinfer.KernelArgumentError, match="'softplus' cannot be fused"):  # an activation, not an epilogue one
        kernels.conv(x, packed, group=2, activation="softplus")
    with pytest.raises(pyinfer.KernelArgumentError, match="not a parameter"):
        kernels.conv(x, packed, group=2, activation="relu", activation_alpha=1.0)


def _conv_model(w, b, **attrs):
    from onnx import TensorProto, helper, numpy_helper

    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def test_conv_op_packs_constant_weights_and_fuses(rng):
    x, w, b = f32(rng, 1, 8, 12, 12), f32(rng, 16, 8, 3, 3), f32(rng, 16)
    sess = pyinfer.InferenceSession(_conv_model(w, b, pads=[1, 1, 1, 1]))
    op = sess._executor.steps[0][0]
    assert op._packed is not None
    base = ref_conv(x, w, b, [1, 1], [1, 1, 1, 1], [1, 1], 1)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], base, rtol=RTOL, atol=ATOL)
    # the hook a graph-level fusion pass uses: Conv + Add(residual) + Relu in one kernel call
    res = f32(rng, *base.shape)
    op.set_epilogue("relu")
    np.testing.assert_allclose(op.run(x, op._packed_source, b, res)[0], np.maximum(base + res, 0),
                               rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(op.run(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                                      res.astype(np.float64))[0], np.maximum(base + res, 0), rtol=RTOL, atol=ATOL)
    with pytest.raises(pyinfer.Error, match="takes no parameter"):
        op.set_epilogue("relu", clip_max=1.0)
    # a different W array (e.g. a feed overriding the initializer) bypasses the packing
    w2 = f32(rng, 16, 8, 3, 3)
    op.set_epilogue()
    np.testing.assert_allclose(op.run(x, w2, b)[0], ref_conv(x, w2, b, [1, 1], [1, 1, 1, 1], [1, 1], 1),
                               rtol=RTOL, atol=ATOL)


# CNN-layer shapes of the packed-panel path (im2col straight into GEMM panels): stems with few
# channels and large strides, strided 1x1, a 7x7 map whose output channels are split across
# threads, K deeper than one cache block, dilation, and 1-D with a stride of 3.
# (x shape, w shape, stride, padding, dilation)
LAYER_CASES = [
    ((1, 3, 45, 45), (64, 3, 7, 7), 2, 3, 1),
    ((1, 3, 50, 50), (24, 3, 11, 11), 4, 2, 1),
    ((1, 3, 33, 33), (32, 3, 3, 3), 2, 1, 1),
    ((1, 40, 15, 15), (24, 40, 1, 1), 2, 0, 1),
    ((1, 64, 7, 7), (72, 64, 3, 3), 1, 1, 1),
    ((2, 48, 9, 9), (20, 48, 3, 3), 1, 1, 1),
    ((1, 16, 20, 21), (16, 16, 3, 3), 1, 2, 2),
    ((2, 5, 37), (7, 5, 5), 3, 2, 1),
    ((1, 4, 23, 26), (6, 4, 3, 3), 2, 2, 2),  # dilation 2 at stride 2: every tap one phase
    ((1, 2, 19, 20), (5, 2, 4, 4), 3, 4, 1),  # pads as wide as the kernel, stride 3
]


@pytest.mark.parametrize("case", LAYER_CASES, ids=lambda c: f"x{c[0]}-w{c[1]}-s{c[2]}")
def test_conv_layer_shapes_match_torch_for_any_thread_count(isa, rng, case):
    xs, ws, stride, padding, dilation = case
    x, w, b = f32(rng, *xs), f32(rng, *ws), f32(rng, ws[0])
    fn = torch.nn.functional.conv2d if len(xs) == 4 else torch.nn.functional.conv1d
    want = fn(torch.from_numpy(x).double(), torch.from_numpy(w).double(), torch.from_numpy(b).double(),
              stride=stride, padding=padding, dilation=dilation).numpy()
    nd = len(xs) - 2
    args = dict(strides=[stride] * nd, pads=[padding] * 2 * nd, dilations=[dilation] * nd)
    packed = kernels.ConvWeights(w)
    ys = [kernels.conv(x, weights, b, **args, num_threads=t) for weights in (packed, w) for t in (1, 2, 3)]
    np.testing.assert_allclose(ys[0], want, rtol=RTOL, atol=ATOL)
    for y in ys[1:]:
        np.testing.assert_array_equal(y, ys[0])  # same summation order whatever the threads

"""The direct convolution kernels (csrc/conv/direct*.{h,cpp}) against a plain NumPy reference:
y[n, m, oh, ow] = b[m] + sum_{c, kh, kw} xpad[n, c, oh*sh + kh*dh, ow*sw + kw*dw] * w[m, c, kh, kw],
computed in float64 one kernel tap at a time on the explicitly zero-padded input.

conv picks a direct kernel by a measured rule; _set_conv_algorithm forces each of them (and
im2col + GEMM) so every kernel sees every shape here.
"""
import numpy as np
import pytest

import pyinfer
from pyinfer import kernels
from support.conv_reference import ref_conv2d

RTOL, ATOL = 1e-3, 1e-4
MODES = {"auto": "auto", "positions": "direct_positions", "channels": "direct_channels"}


@pytest.fixture(params=sorted(MODES))
def mode(request):
    pyinfer._kernels._set_conv_algorithm(MODES[request.param])
    yield request.param
    pyinfer._kernels._set_conv_algorithm("auto")


# (C, H, W, M, kernel, pads [t, l, b, r], group)
CASES = [
    (17, 13, 17, 11, (3, 3), (1, 1, 1, 1), 1),
    (3, 14, 14, 50, (5, 5), (2, 2, 2, 2), 1),
    (1, 7, 7, 5, (7, 7), (3, 3, 3, 3), 1),
    (64, 7, 7, 70, (3, 3), (1, 1, 1, 1), 1),
    (130, 3, 3, 10, (2, 3), (0, 0, 0, 0), 2),
    (64, 1, 1, 33, (3, 3), (1, 1, 1, 1), 1),
    (8, 13, 17, 13, (3, 3), (2, 0, 1, 2), 1),   # asymmetric pads
    (34, 14, 14, 66, (3, 3), (1, 1, 1, 1), 2),  # groups, 17 channels per group
    (3, 56, 56, 17, (3, 3), (0, 0, 0, 0), 1),
    (64, 56, 56, 64, (3, 3), (1, 1, 1, 1), 1),
    (20, 9, 11, 7, (7, 7), (2, 1, 0, 3), 1),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:4])) + f"_k{c[4][0]}{c[4][1]}_p{''.join(map(str, c[5]))}_g{c[6]}")
@pytest.mark.parametrize("threads", [1, 2])
def test_direct_conv_matches_reference(isa, mode, rng, case, threads):
    c, h, w_, m, k, pads, group = case
    x = rng.standard_normal((2, c, h, w_)).astype(np.float32)
    w = rng.standard_normal((m, c // group, *k)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    want = ref_conv2d(x, w, b, pads, group=group)
    got = kernels.conv(x, w, b, pads=list(pads), group=group, num_threads=threads)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL * np.sqrt(c // group * k[0] * k[1]))


@pytest.mark.parametrize("case", [CASES[0], CASES[3], CASES[7], CASES[9]], ids=["13x17", "7x7", "g2", "56x56"])
def test_direct_conv_fused_epilogue_with_packed_weights(isa, mode, rng, case):
    c, h, w_, m, k, pads, group = case
    x = rng.standard_normal((2, c, h, w_)).astype(np.float32)
    w = rng.standard_normal((m, c // group, *k)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    conv = ref_conv2d(x, w, b, pads, group=group)
    residual = rng.standard_normal(conv.shape).astype(np.float32)
    want = np.maximum(conv + residual, 0.0)
    packed = kernels.ConvWeights(w, group=group)
    for threads in (1, 2):
        got = kernels.conv(x, packed, b, pads=list(pads), group=group, residual=residual,
                           activation="relu", num_threads=threads)
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL * np.sqrt(c // group * k[0] * k[1]))
    # no bias, no epilogue: the kernels' plain output
    got = kernels.conv(x, packed, None, pads=list(pads), group=group)
    np.testing.assert_allclose(got, conv - b[None, :, None, None], rtol=RTOL,
                               atol=ATOL * np.sqrt(c // group * k[0] * k[1]))


def test_direct_conv_dilated_and_1d(isa, mode, rng):
    x = rng.standard_normal((2, 9, 15, 12)).astype(np.float32)
    w = rng.standard_normal((19, 9, 3, 2)).astype(np.float32)
    got = kernels.conv(x, w, None, pads=[2, 1, 1, 2], dilations=[2, 3])
    np.testing.assert_allclose(got, ref_conv2d(x, w, None, (2, 1, 1, 2), dilations=(2, 3)), rtol=RTOL, atol=1e-3)
    # 1-D: a 2-D conv over a single row
    x1 = rng.standard_normal((2, 30, 41)).astype(np.float32)
    w1 = rng.standard_normal((13, 30, 5)).astype(np.float32)
    got = kernels.conv(x1, w1, None, pads=[3, 1])
    want = ref_conv2d(x1[:, :, None], w1[:, :, None], None, (0, 3, 0, 1))[:, :, 0]
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-3)


@pytest.mark.parametrize("case", [CASES[3], CASES[9]], ids=["7x7", "56x56"])
def test_direct_conv_bit_identical_for_any_thread_count(isa, mode, rng, case):
    c, h, w_, m, k, pads, group = case
    x = rng.standard_normal((1, c, h, w_)).astype(np.float32)
    w = rng.standard_normal((m, c // group, *k)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    packed = kernels.ConvWeights(w, group=group)
    one = kernels.conv(x, packed, b, pads=list(pads), group=group, num_threads=1)
    for threads in (2, 3, 4):
        assert np.array_equal(one, kernels.conv(x, packed, b, pads=list(pads), group=group, num_threads=threads))


# Output-channel counts that are not multiples of the cv kernel's 64-channel panel: its last
# panel is narrowed to whole vectors (16 / 32 / 48 channels on AVX-512, any of 8 on AVX2).
@pytest.mark.parametrize("hw", [7, 14, 28])
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("m", [16, 32, 48, 96, 160])
def test_direct_conv_narrow_last_panel(isa, mode, rng, m, k, hw):
    c, p = 64, k // 2
    pads = (p, p, p, p)
    x = rng.standard_normal((1, c, hw, hw)).astype(np.float32)
    w = rng.standard_normal((m, c, k, k)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    conv = ref_conv2d(x, w, b, pads)
    residual = rng.standard_normal(conv.shape).astype(np.float32)
    atol = ATOL * np.sqrt(c * k * k)
    packed = kernels.ConvWeights(w)
    # bias only, then bias + residual + Relu (the fused epilogue), at 1 and 3 threads
    np.testing.assert_allclose(kernels.conv(x, packed, b, pads=list(pads)), conv, rtol=RTOL, atol=atol)
    want = np.maximum(conv + residual, 0.0)
    one = kernels.conv(x, packed, b, pads=list(pads), residual=residual, activation="relu", num_threads=1)
    np.testing.assert_allclose(one, want, rtol=RTOL, atol=atol)
    three = kernels.conv(x, packed, b, pads=list(pads), residual=residual, activation="relu", num_threads=3)
    assert np.array_equal(one, three)
    # no bias at all: the kernels' plain sums
    np.testing.assert_allclose(kernels.conv(x, packed, None, pads=list(pads)), conv - b[None, :, None, None],
                               rtol=RTOL, atol=atol)


# (C, H, W, M, kernel, strides, pads [t, l, b, r], dilations, group)
STRIDED = [
    (3, 23, 23, 64, (7, 7), (2, 2), (3, 3, 3, 3), (1, 1), 1),      # ResNet stem, odd size
    (3, 225, 225, 32, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1),   # MobileNetV2 stem, odd size
    (3, 47, 45, 64, (11, 11), (4, 4), (2, 2, 2, 2), (1, 1), 1),   # AlexNet stem
    (3, 35, 139, 24, (11, 11), (4, 4), (2, 2, 2, 2), (1, 1), 1),  # wide rows: vector stride-4 split
    (3, 31, 29, 20, (3, 3), (2, 2), (0, 1, 1, 0), (1, 1), 1),     # asymmetric pads, M < 64
    (24, 15, 17, 19, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1),
    (128, 14, 14, 72, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1),   # ResNet 3x3 s2, deep K
    (40, 13, 11, 33, (1, 1), (2, 2), (0, 0, 0, 0), (1, 1), 1),    # 1x1 s2 downsample, odd
    (256, 8, 8, 70, (1, 1), (2, 2), (0, 0, 0, 0), (1, 1), 1),     # 1x1 s2, deep K
    (10, 12, 12, 9, (1, 1), (3, 3), (1, 0, 0, 1), (1, 1), 1),     # 1x1 s3 with pads
    (9, 20, 19, 11, (3, 3), (3, 3), (1, 2, 0, 1), (1, 1), 1),     # stride 3
    (6, 19, 22, 13, (4, 5), (2, 3), (1, 2, 2, 1), (1, 1), 1),     # mixed strides, even kernel
    (8, 21, 20, 17, (3, 3), (2, 2), (2, 2, 2, 2), (2, 2), 1),     # dilation 2 + stride 2
    (7, 21, 23, 12, (3, 2), (2, 3), (2, 1, 0, 2), (3, 2), 1),     # dilation 3x2 + strides 2x3
    (12, 15, 15, 18, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 3),    # groups
    (66, 9, 9, 132, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 2),     # groups, deep
    (64, 13, 14, 64, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 4),    # ResNeXt s2: 16-channel groups
    (5, 3, 3, 8, (5, 5), (4, 4), (2, 2, 2, 2), (1, 1), 1),        # a single output row/column
    # no padding: the channels kernel reads the input in place at any stride / dilation
    (16, 19, 23, 20, (3, 2), (2, 3), (0, 0, 0, 0), (2, 1), 2),    # strided, dilated, groups
    (70, 9, 10, 66, (1, 1), (2, 1), (0, 0, 0, 0), (1, 1), 1),     # 1x1 with row stride only
]


def _strided_id(c):
    return (f"{c[0]}x{c[1]}x{c[2]}to{c[3]}_k{c[4][0]}{c[4][1]}_s{c[5][0]}{c[5][1]}"
            f"_p{''.join(map(str, c[6]))}_d{c[7][0]}{c[7][1]}_g{c[8]}")


@pytest.mark.parametrize("case", STRIDED, ids=_strided_id)
def test_direct_conv_strided_matches_reference(isa, mode, rng, case):
    c, h, w_, m, k, strides, pads, dil, group = case
    x = rng.standard_normal((2, c, h, w_)).astype(np.float32)
    w = rng.standard_normal((m, c // group, *k)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    want = ref_conv2d(x, w, b, pads, dilations=dil, group=group, strides=strides)
    atol = ATOL * np.sqrt(c // group * k[0] * k[1])
    for threads in (1, 2):
        got = kernels.conv(x, w, b, pads=list(pads), strides=list(strides), dilations=list(dil),
                           group=group, num_threads=threads)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=atol)


EPILOGUES = {
    "bias": (dict(), lambda v: v),
    "relu": (dict(activation="relu"), lambda v: np.maximum(v, 0.0)),
    "clip": (dict(activation="clip", clip_min=-0.5, clip_max=0.75), lambda v: np.clip(v, -0.5, 0.75)),
    "sigmoid": (dict(activation="sigmoid"), lambda v: 1.0 / (1.0 + np.exp(-v))),
}


# Wide rows (whole micro-tiles inside one output row: stored from registers) and narrow ones.
WIDE = (13, 5, 150, 21, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1)


@pytest.mark.parametrize("case", [STRIDED[0], STRIDED[1], STRIDED[2], STRIDED[6], STRIDED[8], STRIDED[15], WIDE],
                         ids=["stem7", "stem3", "stem11", "3x3s2", "1x1s2", "groups", "wide"])
@pytest.mark.parametrize("epilogue", sorted(EPILOGUES))
@pytest.mark.parametrize("with_residual", [False, True], ids=["", "residual"])
def test_direct_conv_strided_epilogues(isa, mode, rng, case, epilogue, with_residual):
    c, h, w_, m, k, strides, pads, dil, group = case
    x = rng.standard_normal((1, c, h, w_)).astype(np.float32)
    w = rng.standard_normal((m, c // group, *k)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    conv = ref_conv2d(x, w, b, pads, dilations=dil, group=group, strides=strides)
    residual = rng.standard_normal(conv.shape).astype(np.float32) if with_residual else None
    kwargs, act = EPILOGUES[epilogue]
    want = act(conv + (residual if with_residual else 0.0))
    packed = kernels.ConvWeights(w, group=group)
    got = kernels.conv(x, packed, b, pads=list(pads), strides=list(strides), dilations=list(dil),
                       group=group, residual=residual, **kwargs)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL * np.sqrt(c // group * k[0] * k[1]))


@pytest.mark.parametrize("case", [STRIDED[0], STRIDED[6], STRIDED[8], STRIDED[15], WIDE],
                         ids=["stem7", "3x3s2", "1x1s2", "groups", "wide"])
def test_direct_conv_strided_bit_identical_for_any_thread_count(isa, mode, rng, case):
    c, h, w_, m, k, strides, pads, dil, group = case
    x = rng.standard_normal((2, c, h, w_)).astype(np.float32)
    w = rng.standard_normal((m, c // group, *k)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    packed = kernels.ConvWeights(w, group=group)
    args = dict(pads=list(pads), strides=list(strides), dilations=list(dil), group=group, activation="relu")
    one = kernels.conv(x, packed, b, num_threads=1, **args)
    for threads in (2, 3, 4):
        assert np.array_equal(one, kernels.conv(x, packed, b, num_threads=threads, **args))


def test_direct_conv_strided_1d(isa, mode, rng):
    x = rng.standard_normal((2, 6, 50)).astype(np.float32)
    w = rng.standard_normal((9, 6, 5)).astype(np.float32)
    got = kernels.conv(x, w, None, pads=[2, 1], strides=[3], dilations=[2])
    want = ref_conv2d(x[:, :, None], w[:, :, None], None, (0, 2, 0, 1), dilations=(1, 2), strides=(1, 3))[:, :, 0]
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-3)


def test_algorithm_switch_rejects_unknown_names():
    with pytest.raises(pyinfer.KernelArgumentError, match="got 'fastest'$"):
        pyinfer._kernels._set_conv_algorithm("fastest")


def test_numbers_in_messages():
    # A number in a message needs no iostream locale (csrc/common/check.h): a build with
    # libstdc++ linked statically printed nothing (GCC 12) or crashed (GCC 13) here.
    with pytest.raises(pyinfer.KernelArgumentError, match="group must be >= 1, got -7$"):
        kernels.ConvWeights(np.ones((4, 1, 3, 3), np.float32), group=-7)


@pytest.mark.parametrize("m", [64, 40])
def test_one_weight_layout_until_a_layer_needs_both(isa, rng, m):
    """Packed weights hold one layout: the channels kernel's replaces the panels when a call
    first needs it; a later call on the other kernels rebuilds the panels (values unchanged) and
    from then on the layer keeps both. Every call matches the reference on the way."""
    w = rng.standard_normal((m, 48, 3, 3)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    pw = kernels.ConvWeights(w)
    one_layout = pw.nbytes
    try:
        for step, (mode_name, hw) in enumerate([("channels", 7), ("channels", 9), ("positions", 12),
                                                 ("im2col", 5), ("channels", 7)]):
            pyinfer._kernels._set_conv_algorithm({**MODES, "im2col": "im2col"}[mode_name])
            x = rng.standard_normal((2, 48, hw, hw)).astype(np.float32)
            got = kernels.conv(x, pw, b, pads=[1, 1, 1, 1])
            np.testing.assert_allclose(got, ref_conv2d(x, w, b, (1, 1, 1, 1)), rtol=RTOL, atol=ATOL * 10,
                                       err_msg=f"step {step} ({mode_name})")
            if step < 2:  # only the channels layout so far (the panels were freed)
                assert pw.nbytes <= one_layout * 1.2, (step, pw.nbytes, one_layout)
            else:  # the panels came back for the other kernels; both stay
                assert pw.nbytes >= one_layout * 1.8, (step, pw.nbytes, one_layout)
    finally:
        pyinfer._kernels._set_conv_algorithm("auto")


def test_layout_switch_under_concurrent_calls(rng):
    """Calls on one ConvWeights from several threads, some needing the channels layout and some
    the panels, while the first switch happens: every result right (no freed layout read)."""
    import threading

    w = rng.standard_normal((64, 32, 3, 3)).astype(np.float32)
    pw = kernels.ConvWeights(w)
    xs = {hw: rng.standard_normal((1, 32, hw, hw)).astype(np.float32) for hw in (7, 40)}
    want = {hw: ref_conv2d(x, w, None, (1, 1, 1, 1)) for hw, x in xs.items()}
    errors = []

    def work(hw):
        try:
            for _ in range(20):
                got = kernels.conv(xs[hw], pw, None, pads=[1, 1, 1, 1], num_threads=1)
                np.testing.assert_allclose(got, want[hw], rtol=RTOL, atol=ATOL * 10)
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    threads = [threading.Thread(target=work, args=(hw,)) for hw in (7, 40, 7, 40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


# Stride-1 layers whose padded input per group exceeds conv.cpp's kWindowMinFloats (2^18):
# the positions kernel pads row windows per work unit instead of the whole input.
WINDOWED = [
    (16, 130, 131, 9, (3, 3), (1, 1, 1, 1), (1, 1), 1),
    (32, 120, 140, 20, (3, 3), (2, 0, 1, 2), (1, 1), 2),  # asymmetric pads, 16 channels per group
    (12, 150, 149, 7, (5, 3), (4, 2, 4, 2), (2, 1), 1),  # dilated rows, a 5-row reach
    (3, 400, 224, 17, (7, 7), (3, 3, 3, 3), (1, 1), 1),  # few channels: windows of many rows
    (16, 130, 128, 9, (3, 3), (1, 1, 1, 1), (1, 1), 1),  # rows of whole vectors (any tier)
]


@pytest.mark.parametrize("case", WINDOWED, ids=["16ch", "groups", "dilated", "3ch7x7", "rowvec"])
def test_direct_conv_row_windows(isa, mode, rng, case):
    c, h, w_, m, k, pads, dil, group = case
    x = rng.standard_normal((2, c, h, w_)).astype(np.float32)
    w = rng.standard_normal((m, c // group, *k)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    conv = ref_conv2d(x, w, b, pads, dilations=dil, group=group)
    residual = rng.standard_normal(conv.shape).astype(np.float32)
    want = np.maximum(conv + residual, 0.0)
    packed = kernels.ConvWeights(w, group=group)
    args = dict(pads=list(pads), dilations=list(dil), group=group)
    atol = ATOL * np.sqrt(c // group * k[0] * k[1])
    one = kernels.conv(x, packed, b, residual=residual, activation="relu", num_threads=1, **args)
    np.testing.assert_allclose(one, want, rtol=RTOL, atol=atol)
    for threads in (2, 3):  # any split gives the same bits
        assert np.array_equal(one, kernels.conv(x, packed, b, residual=residual, activation="relu",
                                                num_threads=threads, **args))
    np.testing.assert_allclose(kernels.conv(x, w, None, **args), conv - b[None, :, None, None],
                               rtol=RTOL, atol=atol)


# Output rows of whole vectors (OW a multiple of 16: every tier's vector width divides it): the
# positions kernel walks output positions, a strip's vectors each in one row, possibly
# several rows per strip (direct.h, DirectConvShape::rows).
ROW_VECTORS = [
    (3, 32, 32, 32, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),     # CIFAR conv1: K = 27
    (8, 16, 16, 20, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),     # 16 wide: 3 rows per strip
    (3, 64, 95, 24, (7, 7), (2, 2), (3, 3, 3, 3), (1, 1), 1),     # a stem: stride 2, 48 wide
    (5, 9, 34, 11, (3, 5), (1, 1), (1, 2, 1, 4), (1, 2), 1),      # dilated, asymmetric pads: 32 wide
    (12, 6, 64, 18, (3, 3), (1, 2), (1, 1, 1, 1), (1, 1), 3),     # groups, column stride 2: 32 wide
]


@pytest.mark.parametrize("case", ROW_VECTORS, ids=["cifar", "16wide", "stem", "dilated", "groups"])
@pytest.mark.parametrize("epilogue", ["relu", "sigmoid"])
def test_direct_conv_row_vectors(isa, mode, rng, case, epilogue):
    c, h, w_, m, k, strides, pads, dil, group = case
    x = rng.standard_normal((2, c, h, w_)).astype(np.float32)
    w = rng.standard_normal((m, c // group, *k)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    conv = ref_conv2d(x, w, b, pads, dilations=dil, group=group, strides=strides)
    residual = rng.standard_normal(conv.shape).astype(np.float32)
    kwargs, act = EPILOGUES[epilogue]
    want = act(conv + residual)
    packed = kernels.ConvWeights(w, group=group)
    args = dict(pads=list(pads), strides=list(strides), dilations=list(dil), group=group, residual=residual,
                **kwargs)
    atol = ATOL * np.sqrt(c // group * k[0] * k[1])
    one = kernels.conv(x, packed, b, num_threads=1, **args)
    np.testing.assert_allclose(one, want, rtol=RTOL, atol=atol)
    assert np.array_equal(one, kernels.conv(x, packed, b, num_threads=3, **args))

"""Winograd F(4x4, 3x3) convolution (csrc/conv/winograd*) against a float64 reference.

Winograd's transforms add and scale many terms before the products, so its rounding error
grows with the magnitudes summed, not with the result: |y - ref| <= ~1e-6 * sum |x| |w| here
(measured), against the ~1e-7 of the direct kernels. The bound below allows 1e-5 of
conv(|x|, |w|) on top of the usual tolerance; a wrong transform coefficient or a misplaced tile
is off by the size of the output itself.
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

import pyinfer
from pyinfer import kernels

RTOL, ATOL = 1e-3, 1e-4
WINOGRAD, AUTO, NO_WINOGRAD = "winograd", "auto", "no_winograd"


@pytest.fixture
def mode():
    yield lambda m: pyinfer._kernels._set_conv_algorithm(m)
    pyinfer._kernels._set_conv_algorithm("auto")


def conv64(x, w, b, pads):
    """float64 conv2d with ONNX pads [top, left, bottom, right]."""
    xt = torch.nn.functional.pad(torch.from_numpy(x).double(), (pads[1], pads[3], pads[0], pads[2]))
    bt = None if b is None else torch.from_numpy(b).double()
    return torch.nn.functional.conv2d(xt, torch.from_numpy(w).double(), bt).numpy()


def assert_winograd_close(y, x, w, b, pads, want=None):
    want = conv64(x, w, b, pads) if want is None else want
    scale = conv64(np.abs(x), np.abs(w), None, pads)  # sum |x| |w| per output
    err = np.abs(y.astype(np.float64) - want)
    bound = ATOL + RTOL * np.abs(want) + 1e-5 * scale
    assert np.all(err <= bound), f"max error {err.max():.3g}, worst excess {(err - bound).max():.3g}"


def f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


# (x shape, output channels, pads): output edges that cut tiles (7, 9, 13, 11 wide), channel
# counts off the vector width (5, 17, 40), output channels for each panel width (3, 16, 24, 35,
# 70, 96, 130), no / one / two / uneven pads, batch 2.
CASES = [
    ((1, 16, 8, 8), 16, (1, 1, 1, 1)),
    ((1, 5, 7, 9), 3, (1, 1, 1, 1)),
    ((2, 20, 13, 11), 35, (1, 1, 1, 1)),
    ((1, 33, 10, 10), 70, (0, 0, 0, 0)),
    ((1, 17, 12, 12), 24, (2, 2, 2, 2)),
    ((1, 40, 9, 14), 96, (0, 1, 2, 0)),
    ((2, 64, 16, 16), 130, (1, 1, 1, 1)),
    ((1, 8, 3, 3), 8, (1, 1, 1, 1)),  # one tile, mostly padding
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"x{c[0]}-k{c[1]}-p{c[2]}")
def test_winograd_matches_reference(isa, rng, mode, case):
    xs, k, pads = case
    x, w, b = f32(rng, *xs), f32(rng, k, xs[1], 3, 3), f32(rng, k)
    mode(WINOGRAD)
    packed = kernels.ConvWeights(w)
    ys = [kernels.conv(x, weights, b, pads=list(pads), num_threads=t) for weights in (packed, w) for t in (1, 2, 3)]
    assert_winograd_close(ys[0], x, w, b, pads)
    for y in ys[1:]:
        np.testing.assert_array_equal(y, ys[0])  # every tile sums the same way on any thread


# Transformed weights over 8 MiB (256 x 256 channels and up) run the shared schedule: the
# transforms and the products one after another over chunks of up to ~220 tiles here.
@pytest.mark.parametrize("xs, k", [((1, 256, 9, 9), 256), ((1, 256, 62, 61), 260)], ids=["one-chunk", "two-chunks"])
def test_winograd_large_weights_schedule(rng, mode, xs, k):
    x, w, b = f32(rng, *xs), f32(rng, k, xs[1], 3, 3), f32(rng, k)
    res = f32(rng, 1, k, xs[2], xs[3])
    mode(WINOGRAD)
    packed = kernels.ConvWeights(w)
    ys = [kernels.conv(x, packed, b, pads=[1] * 4, residual=res, activation="relu", num_threads=t) for t in (1, 2)]
    want = np.maximum(conv64(x, w, b, (1, 1, 1, 1)) + res, 0)
    assert_winograd_close(ys[0], x, w, b, (1, 1, 1, 1), want=want)
    np.testing.assert_array_equal(ys[1], ys[0])


@pytest.mark.parametrize("threads", [1, 2])
def test_winograd_epilogue(isa, rng, mode, threads):
    x, w, b = f32(rng, 2, 24, 11, 10), f32(rng, 40, 24, 3, 3), f32(rng, 40)
    pads = (1, 1, 1, 1)
    base = conv64(x, w, b, pads)
    res = f32(rng, *base.shape)
    mode(WINOGRAD)
    packed = kernels.ConvWeights(w)
    for act, params, fn in [("relu", {}, lambda v: np.maximum(v, 0)),
                            ("clip", dict(clip_min=-1.0, clip_max=0.5), lambda v: np.clip(v, -1.0, 0.5)),
                            ("sigmoid", {}, lambda v: 1 / (1 + np.exp(-v)))]:
        y = kernels.conv(x, packed, b, pads=list(pads), residual=res, activation=act, num_threads=threads, **params)
        # the activations are 1-Lipschitz: the bound on the sum carries over
        assert_winograd_close(y, x, w, b, pads, want=fn(base + res))
    y = kernels.conv(x, packed, None, pads=list(pads), num_threads=threads)
    assert_winograd_close(y, x, w, None, pads)


def test_auto_dispatch_takes_winograd_where_it_pays(rng, mode):
    x, w, b = f32(rng, 1, 64, 28, 28), f32(rng, 64, 64, 3, 3), f32(rng, 64)
    packed = kernels.ConvWeights(w)
    ys = {}
    for m in (AUTO, WINOGRAD, NO_WINOGRAD):
        mode(m)
        ys[m] = kernels.conv(x, packed, b, pads=[1] * 4)
    np.testing.assert_array_equal(ys[AUTO], ys[WINOGRAD])
    assert not np.array_equal(ys[WINOGRAD], ys[NO_WINOGRAD])  # the two really differ
    assert_winograd_close(ys[AUTO], x, w, b, (1, 1, 1, 1))


@pytest.mark.parametrize("xs, k, attrs", [
    ((1, 3, 32, 32), 32, {}),                      # 3 input channels: transforms cost more
    ((1, 512, 7, 7), 512, {}),                     # 4 tiles, 38 MB of transformed weights
    ((1, 32, 16, 16), 32, dict(strides=[2, 2])),   # stride 2
    ((1, 32, 16, 16), 32, dict(dilations=[2, 2])),  # dilation 2
])
def test_auto_dispatch_keeps_direct_kernels_elsewhere(rng, mode, xs, k, attrs):
    x, w = f32(rng, *xs), f32(rng, k, xs[1], 3, 3)
    packed = kernels.ConvWeights(w)
    mode(AUTO)
    y_auto = kernels.conv(x, packed, None, pads=[1] * 4, **attrs)
    mode(NO_WINOGRAD)
    np.testing.assert_array_equal(y_auto, kernels.conv(x, packed, None, pads=[1] * 4, **attrs))


@pytest.mark.parametrize("ws, group", [((32, 16, 3, 3), 2), ((32, 32, 5, 5), 1), ((32, 32, 3, 1), 1)])
def test_other_convolutions_never_take_winograd(rng, mode, ws, group):
    x, w = f32(rng, 1, 32, 12, 12), f32(rng, *ws)
    mode(WINOGRAD)  # forced where it applies: grouped, 5x5 and 3x1 kernels must not go there
    y = kernels.conv(x, w, None, group=group)
    want = torch.nn.functional.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), groups=group)
    np.testing.assert_allclose(y, want.numpy(), rtol=RTOL, atol=ATOL)  # the exact paths' accuracy


def test_transformed_weights_are_counted_and_made_once(rng, mode):
    x, w = f32(rng, 1, 32, 16, 16), f32(rng, 48, 32, 3, 3)
    packed = kernels.ConvWeights(w)
    before = packed.nbytes
    mode(WINOGRAD)
    y1 = kernels.conv(x, packed, None, pads=[1] * 4)
    after = packed.nbytes
    # 36 transform points x 32 input channels x the 48 output channels rounded up to whole
    # weight panels (48 or 64 floats), on top of the packed panels it was made from
    per_channel = 36 * 32 * 4
    assert (after - before) % per_channel == 0 and 48 <= (after - before) // per_channel <= 64
    np.testing.assert_array_equal(kernels.conv(x, packed, None, pads=[1] * 4), y1)
    assert packed.nbytes == after


def test_weights_follow_an_isa_switch(rng, mode):
    isas = pyinfer.cpu_info()["supported_isas"]
    if len(isas) < 2:
        pytest.skip("needs two SIMD tiers on this CPU")
    x, w = f32(rng, 1, 24, 10, 10), f32(rng, 40, 24, 3, 3)
    mode(WINOGRAD)
    packed = kernels.ConvWeights(w)
    active = pyinfer._kernels.active_isa()
    try:
        for isa in isas:
            pyinfer._kernels.set_isa(isa)  # the transformed weights are remade for its layout
            assert_winograd_close(kernels.conv(x, packed, None, pads=[1] * 4), x, w, None, (1, 1, 1, 1))
    finally:
        pyinfer._kernels.set_isa(active)


def test_concurrent_first_calls_share_one_transform(rng, mode):
    x, w = f32(rng, 1, 32, 20, 20), f32(rng, 64, 32, 3, 3)
    mode(WINOGRAD)
    packed = kernels.ConvWeights(w)  # its transformed weights do not exist yet
    with ThreadPoolExecutor(6) as pool:  # raises here if a call did
        results = list(pool.map(lambda _: kernels.conv(x, packed, None, pads=[1] * 4, num_threads=1), range(6)))
    assert_winograd_close(results[0], x, w, None, (1, 1, 1, 1))
    for y in results[1:]:
        np.testing.assert_array_equal(y, results[0])

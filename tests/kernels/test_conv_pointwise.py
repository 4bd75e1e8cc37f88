"""1x1 stride-1 convolutions (csrc/conv/conv.cpp: the direct kernels read the input in place,
no copy) against a plain NumPy float64 reference:
y[n, g*Mg + m, p] = b[m] + sum_c w[g*Mg + m, c] * x[n, g*Cg + c, p]  (p: flat positions),
then residual and activation.

_set_conv_algorithm forces each path (positions kernel, channels kernel, im2col + GEMM,
and the measured auto rule), so every kernel sees every shape here, including the remainder
columns that the kernels load and store masked.
"""
import ctypes
import mmap

import numpy as np
import pytest

import pyinfer
from pyinfer import kernels

RTOL, ATOL = 1e-3, 1e-4
MODES = {"auto": "auto", "positions": "direct_positions", "im2col": "im2col", "channels": "direct_channels"}


def ref_pointwise(x, w, b=None, group=1, residual=None, act=None):
    """x [N, C, *spatial], w [M, C/group, 1(, 1)] -> y [N, M, *spatial], in float64."""
    n, c = x.shape[:2]
    m = w.shape[0]
    cg, mg = c // group, m // group
    xf = x.reshape(n, c, -1).astype(np.float64)
    wf = w.reshape(m, cg).astype(np.float64)
    y = np.empty((n, m, xf.shape[2]))
    for g in range(group):
        y[:, g * mg:(g + 1) * mg] = np.matmul(wf[g * mg:(g + 1) * mg], xf[:, g * cg:(g + 1) * cg])
    if b is not None:
        y += b.astype(np.float64)[None, :, None]
    y = y.reshape(n, m, *x.shape[2:])
    if residual is not None:
        y += residual
    return act(y) if act else y


@pytest.fixture(params=sorted(MODES))
def mode(request):
    pyinfer._kernels._set_conv_algorithm(MODES[request.param])
    yield request.param
    pyinfer._kernels._set_conv_algorithm("auto")


def _atol(cg):
    return ATOL * np.sqrt(cg)


CHANNELS = [1, 3, 16, 17, 64, 130]
OUTPUTS = [1, 5, 16, 64, 70]
MAPS = [(1, 1), (7, 7), (13, 17), (56, 56)]


@pytest.mark.parametrize("hw", MAPS, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("m", OUTPUTS)
@pytest.mark.parametrize("c", CHANNELS)
def test_pointwise_matches_reference(isa, mode, rng, c, m, hw):
    x = rng.standard_normal((2, c, *hw)).astype(np.float32)
    w = rng.standard_normal((m, c, 1, 1)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    got = kernels.conv(x, w, b, num_threads=1)
    np.testing.assert_allclose(got, ref_pointwise(x, w, b), rtol=RTOL, atol=_atol(c))


@pytest.mark.parametrize("c,m,length", [(17, 5, 1), (64, 70, 50), (130, 16, 333), (3, 64, 16)])
def test_pointwise_1d(isa, mode, rng, c, m, length):
    x = rng.standard_normal((2, c, length)).astype(np.float32)
    w = rng.standard_normal((m, c, 1)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    for threads in (1, 2):
        got = kernels.conv(x, w, b, num_threads=threads)
        np.testing.assert_allclose(got, ref_pointwise(x, w, b), rtol=RTOL, atol=_atol(c))


# (C, M, group): ShuffleNet-style grouped 1x1 convs, odd channels per group.
GROUPED = [(16, 16, 2), (64, 70, 2), (130, 64, 2), (34, 10, 2), (24, 12, 3), (240, 240, 3)]


@pytest.mark.parametrize("hw", [(7, 7), (13, 17), (28, 28)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("c,m,group", GROUPED, ids=lambda v: str(v))
def test_pointwise_grouped(isa, mode, rng, c, m, group, hw):
    x = rng.standard_normal((2, c, *hw)).astype(np.float32)
    w = rng.standard_normal((m, c // group, 1, 1)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    want = ref_pointwise(x, w, b, group=group)
    packed = kernels.ConvWeights(w, group=group)
    for threads in (1, 2):
        got = kernels.conv(x, packed, b, group=group, num_threads=threads)
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=_atol(c // group))


EPILOGUES = {
    "none": (dict(), None),
    "relu": (dict(activation="relu"), lambda v: np.maximum(v, 0.0)),
    "clip": (dict(activation="clip", clip_min=0.0, clip_max=6.0), lambda v: np.clip(v, 0.0, 6.0)),
    "sigmoid": (dict(activation="sigmoid"), lambda v: 1.0 / (1.0 + np.exp(-v))),
}
# ResNet-50 / MobileNetV2 shapes (each kernel's auto choice) and small odd ones.
EPI_CASES = [(64, 56, 56, 64), (320, 7, 7, 1280 // 8), (256, 14, 14, 128), (17, 13, 17, 70), (130, 7, 7, 5)]


@pytest.mark.parametrize("case", EPI_CASES, ids=lambda c: "x".join(map(str, c)))
@pytest.mark.parametrize("epilogue", sorted(EPILOGUES))
@pytest.mark.parametrize("with_residual", [False, True], ids=["", "residual"])
@pytest.mark.parametrize("with_bias", [False, True], ids=["nobias", "bias"])
def test_pointwise_fused_epilogues(isa, mode, rng, case, epilogue, with_residual, with_bias):
    c, h, w_, m = case
    x = rng.standard_normal((2, c, h, w_)).astype(np.float32)
    w = rng.standard_normal((m, c, 1, 1)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32) if with_bias else None
    residual = rng.standard_normal((2, m, h, w_)).astype(np.float32) if with_residual else None
    kwargs, act = EPILOGUES[epilogue]
    want = ref_pointwise(x, w, b, residual=residual, act=act)
    got = kernels.conv(x, kernels.ConvWeights(w), b, residual=residual, **kwargs)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=_atol(c))


@pytest.mark.parametrize("case", [(64, 56, 56, 64, 1), (512, 7, 7, 200, 1), (130, 13, 17, 70, 2), (1024, 14, 14, 96, 1)],
                         ids=lambda c: "x".join(map(str, c)))
def test_pointwise_bit_identical_for_any_thread_count(isa, mode, rng, case):
    c, h, w_, m, group = case
    x = rng.standard_normal((2, c, h, w_)).astype(np.float32)
    w = rng.standard_normal((m, c // group, 1, 1)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    residual = rng.standard_normal((2, m, h, w_)).astype(np.float32)
    packed = kernels.ConvWeights(w, group=group)
    args = dict(group=group, residual=residual, activation="relu")
    one = kernels.conv(x, packed, b, num_threads=1, **args)
    np.testing.assert_allclose(one, ref_pointwise(x, w, b, group=group, residual=residual,
                                                  act=lambda v: np.maximum(v, 0.0)),
                               rtol=RTOL, atol=_atol(c // group))
    for threads in (2, 3, 4):
        assert np.array_equal(one, kernels.conv(x, packed, b, num_threads=threads, **args))


def _array_before_guard_page(shape):
    """A float32 array whose last element is the last float before an inaccessible page, so
    a kernel reading past the input (rather than loading its remainder masked) faults."""
    libc = ctypes.CDLL(None, use_errno=True)
    n = int(np.prod(shape))
    page = mmap.PAGESIZE
    data_pages = (n * 4 + page - 1) // page
    buf = mmap.mmap(-1, (data_pages + 1) * page)
    base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    assert libc.mprotect(ctypes.c_void_p(base + data_pages * page), page, 0) == 0  # PROT_NONE
    arr = np.frombuffer(buf, dtype=np.float32, count=n, offset=data_pages * page - n * 4)
    return arr.reshape(shape), buf


@pytest.mark.parametrize("shape", [(1, 64, 7, 7), (2, 130, 13, 17), (1, 17, 1, 1), (1, 32, 5)],
                         ids=lambda s: "x".join(map(str, s)))
def test_pointwise_reads_nothing_past_the_input(isa, mode, rng, shape):
    x, buf = _array_before_guard_page(shape)
    x[...] = rng.standard_normal(shape).astype(np.float32)
    m = 70
    w = rng.standard_normal((m, shape[1], *([1] * (len(shape) - 2)))).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    got = kernels.conv(x, w, b, num_threads=2)
    np.testing.assert_allclose(got, ref_pointwise(x, w, b), rtol=RTOL, atol=_atol(shape[1]))
    del x


def test_pointwise_with_pads_still_correct(isa, mode, rng):
    # 1x1 with padding cannot read in place: the padded copy path takes it.
    x = rng.standard_normal((2, 20, 9, 11)).astype(np.float32)
    w = rng.standard_normal((33, 20, 1, 1)).astype(np.float32)
    got = kernels.conv(x, w, None, pads=[1, 0, 2, 3])
    xp = np.pad(x, ((0, 0), (0, 0), (1, 2), (0, 3)))
    np.testing.assert_allclose(got, ref_pointwise(xp, w), rtol=RTOL, atol=_atol(20))

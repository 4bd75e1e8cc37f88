"""Pooling kernels against a plain NumPy reference that walks every window tap by tap."""
import itertools
import math

import numpy as np
import pytest

import pyinfer
from pyinfer import kernels

torch = pytest.importorskip("torch")
F = torch.nn.functional


# --- reference ------------------------------------------------------------------------
def ref_out_size(n, k, s, pb, pe, d, ceil_mode):
    span = n + pb + pe - ((k - 1) * d + 1)
    if not ceil_mode:
        return span // s + 1
    out = math.ceil(span / s) + 1
    if (out - 1) * s >= n + pb:  # the last window may not start in the right padding
        out -= 1
    return out


def ref_pool(x, kind, kernel, strides, pads, dilations, ceil_mode, count_include_pad=False, p=2.0,
             storage_order=0):
    """kind: max | sum | avg | lp. Returns (y float64, indices or None)."""
    x = x.astype(np.float64)
    r = len(kernel)
    spatial = x.shape[2:]
    outs = [ref_out_size(spatial[a], kernel[a], strides[a], pads[a], pads[r + a], dilations[a], ceil_mode)
            for a in range(r)]
    y = np.zeros(x.shape[:2] + tuple(outs))
    idx = np.full(y.shape, -1, dtype=np.int64)
    plane_offsets = np.arange(x.shape[0] * x.shape[1]).reshape(x.shape[:2]) * int(np.prod(spatial))
    for o in np.ndindex(*outs):
        taps, padded = [], 1
        for a in range(r):
            positions = [o[a] * strides[a] - pads[a] + t * dilations[a] for t in range(kernel[a])]
            taps.append([q for q in positions if 0 <= q < spatial[a]])
            padded *= sum(1 for q in positions if q < spatial[a] + pads[r + a])
        cells = list(itertools.product(*taps))  # row-major window order
        at = (slice(None), slice(None)) + o
        if not cells:
            y[at] = {"max": -np.inf, "sum": 0.0, "lp": 0.0}.get(kind, np.nan if not count_include_pad else 0.0)
            continue
        vals = np.stack([x[(slice(None), slice(None)) + c] for c in cells], axis=-1)
        if kind == "max":
            y[at] = vals.max(axis=-1)  # NaN propagates
            first = vals.argmax(axis=-1)  # first maximum, or first NaN
            order = "F" if storage_order == 1 else "C"
            flat = np.array([np.ravel_multi_index(c, spatial, order=order) for c in cells])
            idx[at] = plane_offsets + flat[first]
        elif kind == "sum":
            y[at] = vals.sum(axis=-1)
        elif kind == "avg":
            y[at] = vals.sum(axis=-1) / (padded if count_include_pad else len(cells))
        else:
            y[at] = (np.abs(vals) ** p).sum(axis=-1) ** (1.0 / p)
    return y, idx


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


# --- random configurations -------------------------------------------------------------
def random_case(rng, rank):
    while True:
        kernel = [int(rng.integers(1, 4)) for _ in range(rank)]
        strides = [int(rng.integers(1, 4)) for _ in range(rank)]
        dilations = [int(rng.integers(1, 3)) for _ in range(rank)]
        # Mostly pads below the kernel size; sometimes up to past the window extent, so that
        # some windows see padding only.
        wide = rng.random() < 0.3
        pads = [int(rng.integers(0, k * d + 1 if wide else k)) for _ in "be" for k, d in zip(kernel, dilations)]
        ceil_mode = bool(rng.integers(0, 2))
        hi = {1: 40, 2: 13, 3: 7}[rank]
        shape = [int(rng.integers(1, 4)), int(rng.integers(1, 4))] + [int(rng.integers(1, hi)) for _ in range(rank)]
        outs = [ref_out_size(shape[2 + a], kernel[a], strides[a], pads[a], pads[rank + a], dilations[a], ceil_mode)
                for a in range(rank)]
        if min(outs) >= 1:
            return shape, kernel, strides, pads, dilations, ceil_mode


CASES = [(rank, seed) for rank in (1, 2, 3) for seed in range(8)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("rank,seed", CASES)
def test_random_windows(isa, rank, seed, threads):
    rng = np.random.default_rng(100 * rank + seed)
    shape, kernel, strides, pads, dilations, ceil_mode = random_case(rng, rank)
    x = rng.standard_normal(shape).astype(np.float32)
    args = dict(strides=strides, pads=pads, dilations=dilations, ceil_mode=ceil_mode, num_threads=threads)
    ref = lambda kind, **kw: ref_pool(x, kind, kernel, strides, pads, dilations, ceil_mode, **kw)  # noqa: E731

    y_ref, i_ref = ref("max")
    np.testing.assert_array_equal(kernels.max_pool(x, kernel, **args), y_ref.astype(np.float32))
    for order in (0, 1):
        y, i = kernels.max_pool(x, kernel, storage_order=order, return_indices=True, **args)
        y_ref, i_ref = ref("max", storage_order=order)
        np.testing.assert_array_equal(y, y_ref.astype(np.float32))
        assert i.dtype == np.int64
        np.testing.assert_array_equal(i, i_ref)
    close(kernels.sum_pool(x, kernel, **args), ref("sum")[0])
    for include in (False, True):
        close(kernels.avg_pool(x, kernel, count_include_pad=include, **args), ref("avg", count_include_pad=include)[0])
    for p in (1.0, 2.0, 3.0):
        close(kernels.lp_pool(x, kernel, p=p, **args), ref("lp", p=p)[0])


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("stride", [1, 2])
def test_wide_rows_vector_path(isa, rng, threads, stride):
    # Wide rows make the stride-1 interior run in full vectors plus a partial tail.
    x = rng.standard_normal((2, 3, 5, 53)).astype(np.float32)
    kernel, strides, pads, dil = [3, 4], [1, stride], [1, 2, 1, 1], [1, 2]
    args = dict(strides=strides, pads=pads, dilations=dil, num_threads=threads)
    np.testing.assert_array_equal(kernels.max_pool(x, kernel, **args),
                                  ref_pool(x, "max", kernel, strides, pads, dil, False)[0].astype(np.float32))
    close(kernels.avg_pool(x, kernel, count_include_pad=True, **args),
          ref_pool(x, "avg", kernel, strides, pads, dil, False, count_include_pad=True)[0])
    close(kernels.avg_pool(x, kernel, **args), ref_pool(x, "avg", kernel, strides, pads, dil, False)[0])
    close(kernels.sum_pool(x, kernel, **args), ref_pool(x, "sum", kernel, strides, pads, dil, False)[0])


def test_nan_propagates_like_numpy_max(isa):
    x = np.arange(2 * 40, dtype=np.float32).reshape(1, 2, 40)
    x[0, 0, 7] = np.nan
    x[0, 1, 30] = np.nan
    x[0, 1, 32] = np.nan
    for strides in ([1], [3]):
        y, i = kernels.max_pool(x, [4], strides=strides, pads=[1, 1], return_indices=True)
        y_ref, i_ref = ref_pool(x, "max", [4], strides, [1, 1], [1], False)
        np.testing.assert_array_equal(y, y_ref.astype(np.float32))  # NaN positions compare equal
        np.testing.assert_array_equal(i, i_ref)
        np.testing.assert_array_equal(kernels.max_pool(x, [4], strides=strides, pads=[1, 1]), y)
    g = kernels.global_max_pool(x)
    assert np.isnan(g).all()


def test_ceil_mode_windows_past_the_pads(isa):
    # in 4, k 3, s 2, ceil -> 2 outputs; the second window covers positions 2, 3, 4 (4 is past
    # the input and the end pad): count_include_pad divides by 2 there, never by 3.
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4) + 1
    y = kernels.avg_pool(x, [3, 3], strides=[2, 2], ceil_mode=True, count_include_pad=True)
    np.testing.assert_allclose(y, [[[[6, 7.5], [12, 13.5]]]])
    # With a begin pad of 1, the second window (positions 1, 2, 3) ends inside; one more
    # output would start at 3 + 1 - ... in the right padding and is dropped.
    assert kernels.pool_output_shape((1, 1, 2, 2), [3, 3], [3, 3], [1, 1, 1, 1], None, True) == (1, 1, 1, 1)
    y = kernels.avg_pool(x[:, :, :2, :2], [3, 3], strides=[3, 3], pads=[1, 1, 1, 1], ceil_mode=True,
                         count_include_pad=True)
    np.testing.assert_allclose(y, [[[[(1 + 2 + 5 + 6) / 9]]]])


def test_windows_entirely_in_padding(isa):
    # pads as large as the window: the first output sees padding only.
    x = np.array([[[1.0, 2.0]]], dtype=np.float32)
    y, i = kernels.max_pool(x, [2], pads=[2, 0], return_indices=True)
    np.testing.assert_array_equal(y, [[[-np.inf, 1.0, 2.0]]])
    np.testing.assert_array_equal(i, [[[-1, 0, 1]]])
    np.testing.assert_array_equal(kernels.max_pool(x, [2], pads=[2, 0]), y)
    assert np.isnan(kernels.avg_pool(x, [2], pads=[2, 0])[0, 0, 0])
    np.testing.assert_allclose(kernels.avg_pool(x, [2], pads=[2, 0], count_include_pad=True), [[[0.0, 0.5, 1.5]]])
    np.testing.assert_allclose(kernels.sum_pool(x, [2], pads=[2, 0]), [[[0.0, 1.0, 3.0]]])


def test_output_shape_rule():
    for n, k, s, pb, pe, d, c in itertools.product(range(1, 9), range(1, 4), range(1, 4), range(3), range(3),
                                                   range(1, 3), (False, True)):
        expected = ref_out_size(n, k, s, pb, pe, d, c)
        if expected < 1:
            with pytest.raises(pyinfer.KernelArgumentError):
                kernels.pool_output_shape((1, 1, n), [k], [s], [pb, pe], [d], c)
        else:
            assert kernels.pool_output_shape((1, 1, n), [k], [s], [pb, pe], [d], c) == (1, 1, expected)


@pytest.mark.parametrize("threads", [1, 2])
def test_global_pools(isa, rng, threads):
    for shape in [(2, 3, 7), (2, 5, 9, 11), (1, 2, 3, 4, 5), (3, 4, 1, 1)]:
        x = rng.standard_normal(shape).astype(np.float32)
        axes = tuple(range(2, x.ndim))
        x64 = x.astype(np.float64)
        close(kernels.global_avg_pool(x, num_threads=threads), x64.mean(axis=axes, keepdims=True))
        np.testing.assert_array_equal(kernels.global_max_pool(x, num_threads=threads), x.max(axis=axes, keepdims=True))
        for p in (1.0, 2.0, 3.0):
            close(kernels.global_lp_pool(x, p, num_threads=threads),
                  (np.abs(x64) ** p).sum(axis=axes, keepdims=True) ** (1 / p))


# --- against PyTorch ----------------------------------------------------------------------
def test_matches_torch(isa, rng):
    x = rng.standard_normal((2, 3, 11, 14)).astype(np.float32)
    t = torch.from_numpy(x)
    for k, s, pad, dil, ceil in [(3, 1, 1, 1, False), (2, 2, 0, 1, True), (3, 2, 1, 2, True), ((2, 3), (3, 2), (1, 1), 1, False)]:
        np.testing.assert_array_equal(kernels.max_pool2d(x, k, s, pad, dil, ceil),
                                      F.max_pool2d(t, k, s, pad, dil, ceil).numpy())
    for k, s, pad, ceil, inc in [(3, 2, 1, True, True), (3, 2, 1, True, False), (2, None, 0, False, True), (3, 1, 1, False, False)]:
        close(kernels.avg_pool2d(x, k, s, pad, ceil, inc), F.avg_pool2d(t, k, s, pad, ceil, inc).numpy())
    xa = np.abs(x)  # torch raises x (not |x|) to p
    close(kernels.lp_pool2d(xa, 2, 3, 2), F.lp_pool2d(torch.from_numpy(xa), 2, 3, 2).numpy())
    close(kernels.lp_pool2d(xa, 3, (2, 3)), F.lp_pool2d(torch.from_numpy(xa), 3, (2, 3)).numpy())
    close(kernels.sum_pool2d(x, 2), F.avg_pool2d(t, 2).numpy() * 4)
    # 3-D input without the batch axis
    np.testing.assert_array_equal(kernels.max_pool2d(x[0], 2), F.max_pool2d(t[0], 2).numpy())
    # 1-D and 3-D with indices (torch's are per plane: add the plane offsets)
    x1 = rng.standard_normal((2, 3, 30)).astype(np.float32)
    y, i = kernels.max_pool(x1, [4], strides=[3], pads=[2, 2], dilations=[2], ceil_mode=True, return_indices=True)
    ty, ti = F.max_pool1d(torch.from_numpy(x1), 4, 3, 2, 2, True, return_indices=True)
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(i, ti.numpy() + np.arange(6).reshape(2, 3, 1) * 30)
    x3 = rng.standard_normal((1, 2, 6, 7, 8)).astype(np.float32)
    y, i = kernels.max_pool(x3, [2, 3, 2], strides=[2, 2, 1], pads=[1, 1, 0, 1, 1, 0], return_indices=True)
    ty, ti = F.max_pool3d(torch.from_numpy(x3), (2, 3, 2), (2, 2, 1), (1, 1, 0), return_indices=True)
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(i, ti.numpy() + np.arange(2).reshape(1, 2, 1, 1, 1) * 6 * 7 * 8)
    close(kernels.avg_pool(x3, [3, 3, 3], strides=[2, 2, 2], pads=[1] * 6, ceil_mode=True, count_include_pad=True),
          F.avg_pool3d(torch.from_numpy(x3), 3, 2, 1, True, True).numpy())


def test_non_contiguous_input(isa, rng):
    x = rng.standard_normal((2, 3, 8, 10)).astype(np.float32).transpose(0, 1, 3, 2)
    np.testing.assert_array_equal(kernels.max_pool(x, [2, 2], strides=[2, 2]),
                                  ref_pool(np.ascontiguousarray(x), "max", [2, 2], [2, 2], [0] * 4, [1, 1], False)[0])


# --- argument errors ----------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda x: kernels.max_pool(x[0, 0], [2]),  # rank 2
    lambda x: kernels.max_pool(x[None, None], [2, 2, 2, 2]),  # 4 spatial axes
    lambda x: kernels.max_pool(x, [2]),  # kernel length
    lambda x: kernels.max_pool(x, [0, 2]),
    lambda x: kernels.avg_pool(x, [2, 2], strides=[0, 1]),
    lambda x: kernels.avg_pool(x, [2, 2], dilations=[1, -1]),
    lambda x: kernels.sum_pool(x, [2, 2], pads=[0, -1, 0, 0]),
    lambda x: kernels.sum_pool(x, [2, 2], pads=[0, 0]),
    lambda x: kernels.max_pool(x, [9, 2]),  # window larger than the padded input
    lambda x: kernels.max_pool(x, [2, 2], dilations=[5, 1]),
    lambda x: kernels.max_pool(x, [2, 2], storage_order=2, return_indices=True),
    lambda x: kernels.max_pool(x.astype(np.float64), [2, 2]),
    lambda x: kernels.lp_pool(x, [2, 2], p=0.0),
    lambda x: kernels.global_lp_pool(x, -1.0),
    lambda x: kernels.global_avg_pool(x[0, 0, 0]),
    lambda x: kernels.max_pool2d(x, (2, 2, 2)),
    lambda x: kernels.avg_pool2d(x[0, 0], 2),
])
def test_argument_errors(call):
    x = np.zeros((1, 2, 4, 5), dtype=np.float32)
    with pytest.raises(pyinfer.KernelArgumentError):
        call(x)


# --- strided windows (the vector paths: stride 2 deinterleave, gathers, margins) ------------
def np_pool2d(x, kind, k, s, pads, d, ceil_mode, include_pad=False):
    """Plain NumPy 2-D pool (float64): the padded input (NaN marks the pads) viewed window by
    window; ceil_mode windows past the end pad see more NaN pad."""
    n, c, h, w = x.shape
    pt, pl, pb, pr = pads
    oh = ref_out_size(h, k[0], s[0], pt, pb, d[0], ceil_mode)
    ow = ref_out_size(w, k[1], s[1], pl, pr, d[1], ceil_mode)
    need_h = (oh - 1) * s[0] + (k[0] - 1) * d[0] + 1
    need_w = (ow - 1) * s[1] + (k[1] - 1) * d[1] + 1
    big_h, big_w = max(need_h, pt + h + pb), max(need_w, pl + w + pr)
    xp = np.full((n, c, big_h, big_w), np.nan)
    xp[:, :, pt:pt + h, pl:pl + w] = x
    inside = np.zeros((big_h, big_w), bool)
    inside[pt:pt + h, pl:pl + w] = True
    in_pads = np.zeros((big_h, big_w), bool)  # input or explicit pads, not the ceil_mode overhang
    in_pads[:pt + h + pb, :pl + w + pr] = True
    y = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            rows = i * s[0] + d[0] * np.arange(k[0])
            cols = j * s[1] + d[1] * np.arange(k[1])
            win = xp[:, :, rows[:, None], cols[None, :]].reshape(n, c, -1)
            mask = inside[rows[:, None], cols[None, :]].ravel()
            vals = win[:, :, mask]
            if kind == "max":
                y[:, :, i, j] = vals.max(axis=-1) if vals.shape[-1] else -np.inf  # NaN propagates
            else:
                divisor = in_pads[rows[:, None], cols[None, :]].sum() if include_pad else mask.sum()
                y[:, :, i, j] = vals.sum(axis=-1) / divisor if divisor else np.nan
    return y


STRIDED = [
    # (H, W, kernel, stride, pads [t, l, b, r], dilation, ceil_mode)
    (112, 112, 3, 2, [1, 1, 1, 1], 1, False),  # ResNet stem
    (16, 16, 2, 2, [0, 0, 0, 0], 1, False),  # CIFAR: windows tile the rows
    (15, 33, 2, 2, [0, 0, 0, 0], 1, False),  # odd width: the last column unused
    (55, 55, 3, 2, [0, 0, 0, 0], 1, False),  # AlexNet
    (28, 28, 3, 2, [0, 0, 0, 0], 1, True),  # Inception ceil_mode
    (13, 29, 3, 2, [0, 1, 2, 0], 1, True),  # ceil_mode with pads
    (9, 47, 5, 2, [2, 2, 2, 2], 1, False),
    (9, 40, 5, 2, [1, 2, 0, 1], 1, True),
    (10, 37, 3, 3, [1, 1, 1, 1], 1, False),  # stride 3: gathers
    (11, 50, 2, 3, [0, 0, 0, 0], 1, True),
    (12, 64, 5, 3, [2, 2, 2, 2], 1, True),
    (10, 35, 3, 2, [1, 1, 1, 1], 2, False),  # dilation
    (9, 31, 2, 3, [0, 2, 1, 1], 3, True),
    (28, 28, 3, 1, [1, 1, 1, 1], 1, False),  # Inception 3x3 s1 p1
    (6, 18, 3, 1, [2, 2, 2, 2], 1, True),
]
TINY = [(h, w, k, s, [p, p, p, p], 1, c) for w in range(1, 6) for (h, k, s, p, c) in
        [(3, 2, 2, 0, True), (4, 3, 2, 1, False), (5, 3, 2, 1, True), (3, 2, 3, 1, True), (4, 5, 2, 2, False)]]


def _strided_case(rng, h, w, k, s, pads, d, ceil_mode, threads, nan):
    x = rng.standard_normal((2, 3, h, w)).astype(np.float32)
    if nan:
        x[0, 1, rng.integers(0, h), rng.integers(0, w)] = np.nan
        x[1, 2, :, -1] = np.nan  # a NaN column: every window that reaches the last column
    args = dict(strides=[s, s], pads=[pads[0], pads[1], pads[2], pads[3]], dilations=[d, d], ceil_mode=ceil_mode,
                num_threads=threads)
    kk, ss, dd = (k, k), (s, s), (d, d)
    ref = lambda kind, inc=False: np_pool2d(x.astype(np.float64), kind, kk, ss, pads, dd, ceil_mode, inc)  # noqa: E731
    np.testing.assert_array_equal(kernels.max_pool(x, [k, k], **args), ref("max").astype(np.float32))
    for inc in (False, True):
        close(kernels.avg_pool(x, [k, k], count_include_pad=inc, **args), ref("avg", inc))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", STRIDED, ids=lambda c: f"{c[0]}x{c[1]}k{c[2]}s{c[3]}p{c[4]}d{c[5]}c{int(c[6])}")
def test_strided_windows_match_numpy(isa, rng, case, threads):
    for nan in (False, True):
        _strided_case(rng, *case, threads=threads, nan=nan)


@pytest.mark.parametrize("case", TINY, ids=lambda c: f"{c[0]}x{c[1]}k{c[2]}s{c[3]}p{c[4][0]}c{int(c[6])}")
def test_strided_tiny_widths(isa, rng, case):
    h, w, k, s, pads, d, ceil_mode = case
    if ref_out_size(w, k, s, pads[1], pads[3], d, ceil_mode) < 1 or ref_out_size(h, k, s, pads[0], pads[2], d,
                                                                                  ceil_mode) < 1:
        pytest.skip("no window fits")
    for nan in (False, True):
        _strided_case(rng, h, w, k, s, pads, d, ceil_mode, threads=1, nan=nan)


@pytest.mark.parametrize("threads", [1, 2])
def test_strided_1d_and_3d(isa, rng, threads):
    # 1-D rows and 3-D volumes go through the same row reduction + slide.
    x1 = rng.standard_normal((2, 3, 37)).astype(np.float32)
    x1[1, 1, 20] = np.nan
    for k, s, pads, d, ceil in [(3, 2, [1, 1], 1, False), (2, 2, [0, 0], 1, True), (5, 3, [2, 1], 1, True),
                                (3, 2, [0, 2], 2, True)]:
        args = dict(strides=[s], pads=pads, dilations=[d], ceil_mode=ceil, num_threads=threads)
        np.testing.assert_array_equal(kernels.max_pool(x1, [k], **args),
                                      ref_pool(x1, "max", [k], [s], pads, [d], ceil)[0].astype(np.float32))
        for inc in (False, True):
            close(kernels.avg_pool(x1, [k], count_include_pad=inc, **args),
                  ref_pool(x1, "avg", [k], [s], pads, [d], ceil, count_include_pad=inc)[0])
    x3 = rng.standard_normal((1, 2, 5, 7, 19)).astype(np.float32)
    for k, s, pads, ceil in [([3, 3, 3], [2, 2, 2], [1] * 6, True), ([2, 2, 2], [2, 2, 2], [0] * 6, False),
                             ([1, 3, 3], [1, 2, 3], [0, 1, 1, 0, 1, 1], True)]:
        args = dict(strides=s, pads=pads, ceil_mode=ceil, num_threads=threads)
        np.testing.assert_array_equal(kernels.max_pool(x3, k, **args),
                                      ref_pool(x3, "max", k, s, pads, [1] * 3, ceil)[0].astype(np.float32))
        for inc in (False, True):
            close(kernels.avg_pool(x3, k, count_include_pad=inc, **args),
                  ref_pool(x3, "avg", k, s, pads, [1] * 3, ceil, count_include_pad=inc)[0])


def test_huge_pads_and_strides_stay_correct(isa):
    # Margins past kPoolMaxMargin / strides past the vector limit take the clipped edge path.
    x = np.arange(1, 11, dtype=np.float32).reshape(1, 1, 10)
    y = kernels.max_pool(x, [2], strides=[100], pads=[100, 100])
    np.testing.assert_array_equal(y, ref_pool(x, "max", [2], [100], [100, 100], [1], False)[0])
    y = kernels.avg_pool(x, [3], strides=[(1 << 27) + 1], pads=[1, 0], count_include_pad=True)
    np.testing.assert_allclose(y, ref_pool(x, "avg", [3], [(1 << 27) + 1], [1, 0], [1], False, count_include_pad=True)[0])
    y = kernels.max_pool(x, [1], strides=[3], pads=[0, 70], ceil_mode=True)
    np.testing.assert_array_equal(y, ref_pool(x, "max", [1], [3], [0, 70], [1], True)[0])


# 2x2 stride-2 max windows without padding take a path of their own (no row buffer): odd
# sizes (the last input row / column unused), widths around the vector length, NaN anywhere.
@pytest.mark.parametrize("shape", [(2, 3, 9, 35), (1, 4, 64, 64), (1, 2, 6, 66), (3, 1, 5, 3), (1, 1, 2, 2),
                                   (2, 2, 4, 1024)])
@pytest.mark.parametrize("threads", [1, 3])
def test_max_2x2_stride2(isa, rng, shape, threads):
    x = rng.standard_normal(shape).astype(np.float32)
    x.flat[rng.choice(x.size, size=max(1, x.size // 50), replace=False)] = np.nan
    n, c, h, w = shape
    ho, wo = h // 2, w // 2
    want = x[:, :, :2 * ho, :2 * wo].reshape(n, c, ho, 2, wo, 2).max(axis=(3, 5))  # NaN propagates
    got = kernels.max_pool(x, [2, 2], strides=[2, 2], num_threads=threads)
    np.testing.assert_array_equal(got, want)


# 3x3 windows, stride 1, padding 1 on maps up to 64 wide run whole planes at a time (column
# then row reductions along the flat plane, pool_kernels_isa.cpp planes_3x3): every kind, NaN,
# single rows / columns, the width limit.
@pytest.mark.parametrize("shape", [(2, 3, 7, 7), (1, 4, 14, 13), (1, 2, 1, 5), (1, 2, 5, 1), (1, 1, 1, 1),
                                   (1, 2, 3, 64), (1, 2, 3, 65), (2, 1, 40, 2)])
@pytest.mark.parametrize("threads", [1, 3])
def test_3x3_stride1_planes(isa, rng, shape, threads):
    x = rng.standard_normal(shape).astype(np.float32)
    x.flat[rng.choice(x.size, size=max(1, x.size // 40), replace=False)] = np.nan
    k, s, p, d = [3, 3], [1, 1], [1, 1, 1, 1], [1, 1]
    args = dict(strides=s, pads=p, num_threads=threads)
    np.testing.assert_array_equal(kernels.max_pool(x, k, **args), ref_pool(x, "max", k, s, p, d, False)[0].astype(np.float32))
    close(kernels.sum_pool(x, k, **args), ref_pool(x, "sum", k, s, p, d, False)[0])
    for include in (False, True):
        close(kernels.avg_pool(x, k, count_include_pad=include, **args),
              ref_pool(x, "avg", k, s, p, d, False, count_include_pad=include)[0])

"""Indexing operators (pyinfer/ops/indexing.py) against plain NumPy loops, spec examples and onnx.reference."""
import itertools

import numpy as np
import pytest

import pyinfer
from support.one_node import assert_same, reference, run

i64 = np.int64


def arange(*shape, dtype=np.float32):
    return np.arange(int(np.prod(shape))).astype(dtype).reshape(shape)


# --- Gather family ------------------------------------------------------------------------------

@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_negative_indices(axis):
    x = arange(3, 4, 5)
    idx = np.array([[0, -1], [2, 1]], np.int32)
    want = np.take(x, np.where(idx < 0, idx + x.shape[axis], idx), axis=axis)
    assert_same(run("Gather", [x, idx], axis=axis), want)


@pytest.mark.parametrize("bad", [3, -4])
def test_gather_out_of_range_is_an_error(bad):
    with pytest.raises(pyinfer.Error, match="out of range"):
        run("Gather", [arange(3, 2), np.array([0, bad], i64)])


def test_gather_strings():
    x = np.array(["a", "b", "c"], dtype=object)
    assert run("Gather", [x, np.array([2, 0], i64)]).tolist() == ["c", "a"]


def test_gather_elements_loop():
    x = arange(3, 4)
    idx = np.array([[2, -1, 0], [1, 0, 3]], i64)  # smaller than data on axis 0 is allowed
    want = np.empty(idx.shape, np.float32)
    for i, j in itertools.product(range(2), range(3)):
        want[i, j] = x[i, idx[i, j] % 4]
    assert_same(run("GatherElements", [x, idx], axis=1), want)
    with pytest.raises(pyinfer.Error):
        run("GatherElements", [x, np.array([[4]], i64)], axis=1)


@pytest.mark.parametrize("batch_dims, ishape", [(0, (2, 2)), (0, (3, 1)), (1, (2, 1)), (1, (2, 3, 2)), (2, (2, 3, 1))])
def test_gather_nd_vs_reference(batch_dims, ishape):
    x = arange(2, 3, 4)
    rng = np.random.default_rng(0)
    k = ishape[-1]
    hi = x.shape[batch_dims:batch_dims + k]
    idx = np.stack([rng.integers(0, h, ishape[:-1]) for h in hi], axis=-1).astype(i64)
    assert_same(run("GatherND", [x, idx], batch_dims=batch_dims), reference("GatherND", [x, idx], batch_dims=batch_dims))


def test_gather_nd_hand_and_error():
    x = np.array([[1, 2], [3, 4]], np.int32)
    assert_same(run("GatherND", [x, np.array([[1, 0], [0, -1]], i64)]), np.array([3, 2], np.int32))
    with pytest.raises(pyinfer.Error):
        run("GatherND", [x, np.array([[2, 0]], i64)])


# --- Scatter family -----------------------------------------------------------------------------

_PY = {"none": lambda a, b: b, "add": lambda a, b: a + b, "mul": lambda a, b: a * b, "max": max, "min": min}


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_elements_loop(reduction):
    x = arange(3, 3) + 1
    idx = np.array([[1, 0, 2], [0, 2, 1]], i64) if reduction == "none" else np.array([[1, 1, -1], [1, 0, 2]], i64)
    upd = np.array([[10, -3, 7], [0.5, 2, 9]], np.float32)
    want = x.copy()
    for i, j in itertools.product(range(2), range(3)):
        want[i, idx[i, j] % 3] = _PY[reduction](want[i, idx[i, j] % 3], upd[i, j])
    attrs = {} if reduction == "none" else {"reduction": reduction}
    assert_same(run("ScatterElements", [x, idx, upd], axis=1, **attrs), want)


def test_scatter_deprecated_and_errors():
    x = np.zeros((2, 3), np.int32)
    idx = np.array([[2], [0]], i64)
    upd = np.array([[5], [6]], np.int32)
    assert_same(run("Scatter", [x, idx, upd], opset=10, axis=1), np.array([[0, 0, 5], [6, 0, 0]], np.int32))
    with pytest.raises(pyinfer.Error):
        run("ScatterElements", [x, np.array([[3], [0]], i64), upd], axis=1)
    with pytest.raises(pyinfer.Error):  # max needs opset 18
        run("ScatterElements", [x, idx, upd], opset=16, axis=1, reduction="max")


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_nd_loop(reduction):
    x = arange(4, 2) + 1
    idx = np.array([[1], [3], [-4]], i64) if reduction == "none" else np.array([[1], [1], [-3]], i64)
    upd = np.array([[5, 6], [7, 8], [-1, 0.5]], np.float32)
    want = x.copy()
    for r in range(3):
        row = idx[r, 0] % 4
        for c in range(2):
            want[row, c] = _PY[reduction](want[row, c], upd[r, c])
    attrs = {} if reduction == "none" else {"reduction": reduction}
    assert_same(run("ScatterND", [x, idx, upd], **attrs), want)


def test_scatter_nd_errors():
    x = np.zeros((2, 2), np.float32)
    with pytest.raises(pyinfer.Error):
        run("ScatterND", [x, np.array([[2, 0]], i64), np.array([1], np.float32)])
    with pytest.raises(pyinfer.Error):
        run("ScatterND", [x, np.array([[1, 0]], i64), np.array([1, 2], np.float32)])


# --- Slice --------------------------------------------------------------------------------------

def _slice_ref(dim, start, end, step):
    """ONNX Slice clamping written out plainly, returning the selected positions."""
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    out, i = [], start
    while (i < end) if step > 0 else (i > end):
        out.append(i)
        i += step
    return out


@pytest.mark.parametrize("start, end, step", [
    (0, 3, 1), (1, -1, 2), (-100, 100, 1), (100, -100, -1), (-1, -100, -2), (2, 9223372036854775807, 1),
    (4, 0, -1), (3, 3, 1), (-2, -9223372036854775808, -1), (0, 5, 3),
])
def test_slice_clamping(start, end, step):
    x = arange(3, 5)
    out = run("Slice", [x, np.array([start], i64), np.array([end], i64), np.array([1], i64), np.array([step], i64)])
    assert_same(out, x[:, _slice_ref(5, start, end, step)])


def test_slice_default_axes_int32_and_attribute_form():
    x = arange(4, 6, dtype=np.int8)
    out = run("Slice", [x, np.array([1, -3], np.int32), np.array([3, 100], np.int32)])
    assert_same(out, x[1:3, 3:])
    assert_same(run("Slice", [x], opset=1, starts=[1], ends=[1000], axes=[1]), x[:, 1:])


@pytest.mark.parametrize("axes, steps", [([0], [0]), ([0, 0], [1, 1]), ([2], [1])])
def test_slice_errors(axes, steps):
    n = len(axes)
    with pytest.raises(pyinfer.Error):
        run("Slice", [arange(3, 4), np.zeros(n, i64), np.ones(n, i64), np.array(axes, i64), np.array(steps, i64)])


# --- OneHot / NonZero / Compress ----------------------------------------------------------------

def test_onehot_negative_and_out_of_range():
    idx = np.array([[1, -1], [5, 0]], i64)
    values = np.array([2, 9], np.int32)
    out = run("OneHot", [idx, np.array(3, i64), values], axis=1)
    want = np.full((2, 3, 2), 2, np.int32)
    for i, j in itertools.product(range(2), range(2)):
        k = idx[i, j] + 3 if idx[i, j] < 0 else idx[i, j]
        if 0 <= k < 3:
            want[i, k, j] = 9
    assert_same(out, want)
    # opset 9: a negative index is out of range (all off)
    out9 = run("OneHot", [np.array([-1, 1], i64), np.array([3.0], np.float32), np.array([0.0, 1.0], np.float32)], opset=9)
    assert_same(out9, np.array([[0, 0, 0], [0, 1, 0]], np.float32))


def test_nonzero():
    x = np.array([[0, 2, 0], [3, 0, 1]], np.int32)
    assert_same(run("NonZero", [x]), np.array(np.nonzero(x), i64))
    assert run("NonZero", [np.zeros((2, 0), bool)]).shape == (2, 0)


@pytest.mark.parametrize("axis", [None, 0, -1])
def test_compress(axis):
    x = arange(3, 4)
    cond = np.array([True, False, True])
    attrs = {} if axis is None else {"axis": axis}
    assert_same(run("Compress", [x, cond], **attrs), np.compress(cond, x, axis=axis))
    with pytest.raises(pyinfer.Error):
        run("Compress", [x, np.array([False] * 4 + [True])], axis=0)


# --- TopK / ArgMax / ArgMin ---------------------------------------------------------------------

def test_topk_ties_prefer_lower_index():
    x = np.array([[3, 1, 3, 2, 3, 1]], np.int64)
    v, i = run("TopK", [x, np.array([4], i64)], n_outputs=2)
    assert_same(v, np.array([[3, 3, 3, 2]], i64))
    assert_same(i, np.array([[0, 2, 4, 3]], i64))
    v, i = run("TopK", [x, np.array([3], i64)], n_outputs=2, largest=0)
    assert_same(v, np.array([[1, 1, 2]], i64))
    assert_same(i, np.array([[1, 5, 3]], i64))


@pytest.mark.parametrize("largest, axis", [(1, -1), (0, 0), (1, 1)])
def test_topk_vs_reference(largest, axis):
    x = np.random.default_rng(3).integers(0, 4, (4, 5, 3)).astype(np.float32)
    args = [x, np.array([2], i64)]
    got = run("TopK", args, n_outputs=2, largest=largest, axis=axis)
    want = reference("TopK", args, n_outputs=2, largest=largest, axis=axis)
    assert_same(got[0], want[0])
    assert_same(got[1], want[1])


def test_topk_attribute_form_and_bad_k():
    x = np.array([1.0, 5.0, 3.0], np.float32)
    v, i = run("TopK", [x], n_outputs=2, opset=1, k=2)
    assert_same(i, np.array([1, 2], i64))
    with pytest.raises(pyinfer.Error):
        run("TopK", [x, np.array([4], i64)], n_outputs=2)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("last", [0, 1])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_arg_reduce(op, last, keepdims):
    x = np.array([[2, 7, 7, 0, 0], [1, 1, 5, 5, 1]], np.int32)
    pick = max if op == "ArgMax" else min
    want = []
    for row in x.tolist():
        target = pick(row)
        hits = [j for j, v in enumerate(row) if v == target]
        want.append(hits[-1] if last else hits[0])
    want = np.array(want, i64)
    out = run(op, [x], axis=-1, keepdims=keepdims, select_last_index=last)
    assert_same(out, want[:, None] if keepdims else want)


# --- Trilu / CumSum / ReverseSequence / Unique --------------------------------------------------

@pytest.mark.parametrize("upper", [0, 1])
@pytest.mark.parametrize("k", [None, -1, 2, 7])
def test_trilu(upper, k):
    x = arange(2, 3, 4, dtype=np.int64) + 1
    want = (np.triu if upper else np.tril)(x, 0 if k is None else k)
    inputs = [x] if k is None else [x, np.array(k, i64)]
    assert_same(run("Trilu", inputs, upper=upper), want)


@pytest.mark.parametrize("exclusive, reverse, want", [
    (0, 0, [1, 3, 6, 10]), (1, 0, [0, 1, 3, 6]), (0, 1, [10, 9, 7, 4]), (1, 1, [9, 7, 4, 0]),
])
def test_cumsum_1d(exclusive, reverse, want):
    x = np.array([1, 2, 3, 4], np.int32)
    out = run("CumSum", [x, np.array(0, np.int32)], exclusive=exclusive, reverse=reverse)
    assert_same(out, np.array(want, np.int32))


def test_cumsum_axis():
    x = arange(2, 3, dtype=np.float64)
    assert_same(run("CumSum", [x, np.array(-1, i64)]), np.cumsum(x, axis=1))


def test_reverse_sequence_spec_examples():
    x = np.array([[0, 4, 8, 12], [1, 5, 9, 13], [2, 6, 10, 14], [3, 7, 11, 15]], np.float32)
    out = run("ReverseSequence", [x, np.array([4, 3, 2, 1], i64)], time_axis=0, batch_axis=1)
    assert_same(out, np.array([[3, 6, 9, 12], [2, 5, 8, 13], [1, 4, 10, 14], [0, 7, 11, 15]], np.float32))
    y = np.arange(16, dtype=np.float32).reshape(4, 4)
    out = run("ReverseSequence", [y, np.array([1, 2, 3, 4], i64)], time_axis=1, batch_axis=0)
    assert_same(out, np.array([[0, 1, 2, 3], [5, 4, 6, 7], [10, 9, 8, 11], [15, 14, 13, 12]], np.float32))


def test_unique_spec_examples():
    x = np.array([2, 1, 1, 3, 4, 3], np.float32)
    y, idx, inv, cnt = run("Unique", [x], n_outputs=4, sorted=0)
    assert_same(y, np.array([2, 1, 3, 4], np.float32))
    assert_same(idx, np.array([0, 1, 3, 4], i64))
    assert_same(inv, np.array([0, 1, 1, 2, 3, 2], i64))
    assert_same(cnt, np.array([1, 2, 2, 1], i64))
    x = np.array([[1, 0, 0], [1, 0, 0], [2, 3, 4]], np.int64)
    y, idx, inv, cnt = run("Unique", [x], n_outputs=4, sorted=1, axis=0)
    assert_same(y, np.array([[1, 0, 0], [2, 3, 4]], i64))
    assert_same(idx, np.array([0, 2], i64))
    assert_same(inv, np.array([0, 0, 1], i64))
    assert_same(cnt, np.array([2, 1], i64))

"""The indexing kernels (csrc/indexing/, common/strided_copy) against NumPy, and each op as a
native step of a compiled plan with the Python path's results."""
import numpy as np
import pytest

import pyinfer
from pyinfer import kernels
from pyinfer.ops.indexing import stable_order
from support.one_node import assert_native, run_in_plan


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint8, np.bool_, np.float16])
def test_slice_any_steps_and_dtypes(rng, dtype):
    x = (rng.standard_normal((4, 5, 6)) * 10).astype(dtype)
    np.testing.assert_array_equal(kernels.slice(x, [1, -1, 5], [3, -6, 0], [0, 1, 2], [1, -2, -2]),
                                  x[1:3, -1:-6:-2, 5:0:-2])
    np.testing.assert_array_equal(kernels.slice(x, [0, -100], [2 ** 62, 100], [2, 0], [2, 1]), x[:, :, ::2])
    assert kernels.slice(x, [3], [1], [1], [1]).shape == (4, 0, 6)


def test_slice_plan_fixed_and_dynamic_bounds(rng):
    x = rng.standard_normal((4, 5, 6)).astype(np.float32)
    starts, ends, axes, steps = np.array([4, 1]), np.array([0, 6]), np.array([1, 2]), np.array([-1, 2])
    (y,) = assert_native("Slice", [x, starts, ends, axes, steps], opset=13, consts=(1, 2, 3, 4))
    np.testing.assert_array_equal(y, x[:, 4:0:-1, 1:6:2])
    # starts / ends as feeds (a plan computes them from shapes): read on every run
    model_inputs = [x, starts.astype(np.int32), ends.astype(np.int32), axes.astype(np.int32), steps.astype(np.int32)]
    (y,) = assert_native("Slice", model_inputs, opset=13, consts=(3, 4))
    np.testing.assert_array_equal(y, x[:, 4:0:-1, 1:6:2])
    k = kernels.prepare_slice_dynamic([4, 5, 6], "float32", [1], [1], [4, 3, 6])
    np.testing.assert_array_equal(k(x, np.array([1]), np.array([4])), x[:, 1:4])
    with pytest.raises(pyinfer.KernelArgumentError, match="shape changed"):
        k(x, np.array([1]), np.array([5]))


def test_split_expand_tile_plans(rng):
    x = rng.standard_normal((2, 7, 3)).astype(np.float32)
    ys = assert_native("Split", [x, np.array([2, 5])], n_outputs=2, opset=13, consts=(1,), axis=1)
    np.testing.assert_array_equal(ys[1], x[:, 2:])
    ys = assert_native("Split", [x], n_outputs=3, opset=18, axis=-1, num_outputs=3)
    np.testing.assert_array_equal(ys[2], x[..., 2:])
    got, want, kinds = run_in_plan("Split", [x], n_outputs=7, opset=18, axis=1, num_outputs=7)
    assert kinds == ["py"] * 7  # a step writes at most 4 outputs: a Python step, no error
    np.testing.assert_array_equal(got[6], x[:, 6:])
    small = rng.integers(0, 9, (3, 1)).astype(np.int64)
    (y,) = assert_native("Expand", [small, np.array([2, 3, 4])], opset=13, consts=(1,))
    np.testing.assert_array_equal(y, np.broadcast_to(small, (2, 3, 4)))
    (y,) = assert_native("Expand", [small, np.array([2, 1, 4])], opset=13)  # the shape read on every run
    np.testing.assert_array_equal(y, np.broadcast_to(small, (2, 3, 4)))
    (y,) = assert_native("Tile", [x, np.array([2, 1, 3])], opset=13, consts=(1,))
    np.testing.assert_array_equal(y, np.tile(x, [2, 1, 3]))
    (y,) = assert_native("Tile", [x > 0, np.array([1, 2, 2])], opset=13)
    np.testing.assert_array_equal(y, np.tile(x > 0, [1, 2, 2]))


def test_where_broadcasts_three_ways(rng):
    cond = rng.random((5, 1, 6)) > 0.5
    x, y = rng.standard_normal((4, 6)).astype(np.float32), rng.standard_normal((5, 4, 1)).astype(np.float32)
    np.testing.assert_array_equal(kernels.where(cond, x, y), np.where(cond, x, y))
    (out,) = assert_native("Where", [cond, x.astype(np.int64), y.astype(np.int64)], opset=16)
    np.testing.assert_array_equal(out, np.where(cond, x.astype(np.int64), y.astype(np.int64)))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_elements(rng, axis):
    x = rng.standard_normal((4, 5, 6)).astype(np.float32)
    shape = [3, 4, 5]
    shape[axis] = 7
    n = x.shape[axis]
    idx = rng.integers(-n, n, shape)
    kept = tuple(slice(None) if d == axis % 3 else slice(0, s) for d, s in enumerate(shape))  # indices' extent
    np.testing.assert_array_equal(kernels.gather_elements(x, idx, axis),
                                  np.take_along_axis(x[kept], np.where(idx < 0, idx + n, idx), axis))
    assert_native("GatherElements", [x, idx], opset=13, axis=axis)
    with pytest.raises(pyinfer.KernelArgumentError, match="out of range"):
        kernels.gather_elements(x, np.full(shape, n), axis)


def test_gather_nd_and_scatter_nd(rng):
    x = rng.standard_normal((4, 5, 6)).astype(np.float32)
    idx = np.stack([rng.integers(-4, 4, 3), rng.integers(0, 5, 3)], 1)
    (y,) = assert_native("GatherND", [x, idx], opset=13)
    np.testing.assert_array_equal(y, x[idx[:, 0], idx[:, 1]])
    batch_idx = rng.integers(0, 5, (4, 3, 1))
    (y,) = assert_native("GatherND", [x, batch_idx], opset=13, batch_dims=1)
    np.testing.assert_array_equal(y, x[np.arange(4)[:, None], batch_idx[..., 0]])
    rows = np.array([[1], [3], [1]])
    updates = rng.standard_normal((3, 5, 6)).astype(np.float32)
    (y,) = assert_native("ScatterND", [x, rows, updates], opset=18)
    want = x.copy()
    want[rows[:, 0]] = updates  # the repeated row: the last update wins
    np.testing.assert_array_equal(y, want)
    for reduction, ufunc in [("add", np.add), ("max", np.maximum)]:
        got, want_py, kinds = run_in_plan("ScatterND", [x, rows, updates], opset=18, reduction=reduction)
        want = x.copy()
        ufunc.at(want, rows[:, 0], updates)
        assert kinds == ["out"]
        np.testing.assert_allclose(got[0], want, rtol=1e-6)


@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cumsum(rng, exclusive, reverse):
    x = rng.integers(-9, 9, (3, 4, 5)).astype(np.int64)
    (y,) = assert_native("CumSum", [x, np.array(1)], opset=14, exclusive=exclusive, reverse=reverse)
    ref = np.cumsum(np.flip(x, 1) if reverse else x, 1)
    ref = np.concatenate([np.zeros_like(ref[:, :1]), ref[:, :-1]], 1) if exclusive else ref
    np.testing.assert_array_equal(y, np.flip(ref, 1) if reverse else ref)


@pytest.mark.parametrize("shape,axis", [((7, 40, 19), 1), ((300, 5), 0), ((6, 33), 1)])
def test_arg_reduce_matches_numpy(isa, rng, shape, axis):
    x = rng.standard_normal(shape).astype(np.float32)
    x.flat[::17] = 0.5  # ties
    x.flat[7] = np.nan  # NaN wins (numpy picks the first)
    for largest, pick in ((True, np.argmax), (False, np.argmin)):
        np.testing.assert_array_equal(kernels.arg_reduce(x, axis, largest, False), pick(x, axis))
        last = x.shape[axis] - 1 - pick(np.flip(x, axis), axis)
        np.testing.assert_array_equal(kernels.arg_reduce(x, axis, largest, False, True), last)
    assert_native("ArgMax", [x], opset=13, axis=axis, keepdims=1)
    assert_native("ArgMin", [np.nan_to_num(x * 10).astype(np.int32)], opset=13, axis=axis, keepdims=0, select_last_index=1)


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_matches_stable_order(rng, dtype, largest):
    x = (rng.standard_normal((3, 50, 4)) * 5).astype(dtype)
    if dtype == np.float32:
        x[0, 3, 1] = np.nan
    values, indices = kernels.topk(x, 7, 1, largest)
    want = np.take(stable_order(x, 1, largest), np.arange(7), axis=1)
    np.testing.assert_array_equal(indices, want)
    np.testing.assert_array_equal(values, np.take_along_axis(x, want, 1))
    assert_native("TopK", [x, np.array([7])], n_outputs=2, opset=11, consts=(1,), axis=1, largest=int(largest))
    assert_native("TopK", [x, np.array([7])], n_outputs=2, opset=11, axis=1)  # K read on every run


def test_nonzero_for_the_count_the_plan_saw(rng):
    x = rng.random((3, 4, 5)) > 0.6
    (y,) = assert_native("NonZero", [x], opset=13)
    np.testing.assert_array_equal(y, np.array(np.nonzero(x)))
    k = kernels.prepare_nonzero([3, 4, 5], "bool", int(x.sum()))
    with pytest.raises(pyinfer.KernelArgumentError, match="shape changed"):
        k(~x)


@pytest.mark.parametrize("reduction", ["none", "add", "min"])
def test_scatter_elements(rng, reduction):
    x = rng.standard_normal((4, 5, 6)).astype(np.float32)
    idx = rng.integers(-5, 5, (3, 5, 2))
    updates = rng.standard_normal((3, 5, 2)).astype(np.float32)
    got, want, kinds = run_in_plan("ScatterElements", [x, idx, updates], opset=18, axis=1, reduction=reduction)
    ref = x.copy()
    grid = np.ix_(range(3), range(5), range(2))
    where = (grid[0], np.where(idx < 0, idx + 5, idx), grid[2])
    if reduction == "none":  # repeated positions: the last update wins, as numpy's assignment does
        ref[where] = updates
    else:
        {"add": np.add, "min": np.minimum}[reduction].at(ref, where, updates)
    np.testing.assert_allclose(got[0], ref, rtol=1e-6)
    np.testing.assert_array_equal(got[0], want[0])  # the Python path runs the kernel too
    assert kinds == ["out"]


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "wrap"])
def test_pad_every_mode(rng, mode):
    x = rng.standard_normal((2, 5, 6)).astype(np.float32)
    pads = np.array([0, 2, -1, 1, 3, 2])  # crop one column first, pad around it
    (y,) = assert_native("Pad", [x, pads, np.array(1.5, np.float32)], opset=19, consts=(1, 2), mode=mode)
    cropped = x[:, :, 1:]
    width = [(0, 1), (2, 3), (0, 2)]
    want = np.pad(cropped, width, constant_values=1.5) if mode == "constant" else np.pad(cropped, width, mode=mode)
    np.testing.assert_array_equal(y, want)

"""kernels.reduce (float32 max / min / sum / mean / prod / sum_square / l1 / l2 / log_sum /
log_sum_exp over any axes) against a plain float64 NumPy reference, and the Reduce* ops that
use it."""
import numpy as np
import pytest
from onnx import helper

import pyinfer
from pyinfer import kernels as K

KINDS = ("max", "min", "sum", "mean")


def reference(x, axes, kind, keepdims):
    """float64 NumPy; axes None = every axis."""
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        return {"max": np.max, "min": np.min, "sum": np.sum, "mean": np.mean}[kind](
            x64, axis=axes, keepdims=keepdims)


def count_of(shape, axes):
    if axes is None:
        return int(np.prod(shape))
    axes = (axes,) if isinstance(axes, int) else axes
    return int(np.prod([shape[a] for a in axes]))


def check(x, axes, kind, keepdims=True, num_threads=0):
    y = K.reduce(x, axes, kind, keepdims, num_threads)
    if axes is not None and not isinstance(axes, int):
        axes = tuple(int(a) for a in axes)
    ref = reference(x, axes, kind, keepdims)
    assert y.dtype == np.float32 and y.shape == np.shape(ref)
    if kind in ("max", "min"):  # exact: the answer is one of the inputs (NaN == NaN here)
        np.testing.assert_array_equal(y, ref.astype(np.float32))
    else:  # float32 sums: rounding grows at most ~sqrt(r) x eps x the sum of magnitudes
        r = count_of(x.shape, axes)
        scale = reference(np.abs(x), axes, kind, keepdims)
        with np.errstate(invalid="ignore"):
            err = np.abs(y.astype(np.float64) - ref)
        finite = np.isfinite(ref)
        np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))
        np.testing.assert_array_equal(y[~finite & ~np.isnan(ref)], ref[~finite & ~np.isnan(ref)])
        assert np.all(err[finite] <= 1e-6 * np.sqrt(r) * scale[finite] + 1e-30), (err.max(), r)
    return y


# inner == 1 (contiguous rows) and inner > 1 (columns); r from 1 to > 100, lengths around the
# vector widths (8, 16), the 4-vector unroll (32, 64) and the kernels' chunk sizes.
ROW_SHAPES = [(7, 1), (3, 2), (5, 4), (5, 5), (4, 7), (4, 15), (4, 16), (4, 17), (3, 31), (3, 33),
              (3, 63), (3, 64), (3, 65), (2, 100, 38), (2, 127), (2, 1000), (2, 4099)]
COLUMN_SHAPES = [((3, 5, 2), 1), ((2, 100, 38), 1), ((3, 130, 5), 1), ((2, 7, 129), 1), ((3, 200, 70), 1),
                 ((1, 2048, 49), 1), ((5, 1, 17), 1), ((2, 3, 2100), 1), ((4, 65, 3, 3), 1)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", ROW_SHAPES)
def test_last_axis_rows(isa, rng, kind, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    check(x, (len(shape) - 1,), kind, keepdims=True)
    check(x, -1, kind, keepdims=False)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape,axis", COLUMN_SHAPES)
def test_middle_axis_columns(isa, rng, kind, shape, axis):
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    check(x, (axis,), kind, keepdims=True)
    check(x, (axis - len(shape),), kind, keepdims=False)


@pytest.mark.parametrize("kind", KINDS)
def test_axis_runs_and_all_axes(isa, rng, kind):
    x = rng.standard_normal((2, 3, 5, 7)).astype(np.float32)
    for axes in [(2, 3), (3, 2), (-1, -2), (1, 2), (0, 1), (0, 1, 2), (1, 2, 3), None, (0, 1, 2, 3), (0,), ()]:
        for keepdims in (True, False):
            check(x, axes, kind, keepdims)
    big = rng.standard_normal((3, 50, 700)).astype(np.float32)  # one row of 105000: chunked
    check(big, None, kind, keepdims=False)
    check(big, (1, 2), kind, keepdims=True)
    scalar = np.array(2.5, np.float32)
    assert K.reduce(scalar, None, kind).shape == () and float(K.reduce(scalar, None, kind)) == 2.5


@pytest.mark.parametrize("kind", KINDS)
def test_axes_of_extent_one_may_split_the_run(isa, rng, kind):
    x = rng.standard_normal((4, 1, 6)).astype(np.float32)
    check(x, (0, 2), kind, keepdims=True)  # axis 1 between them has extent 1
    y = rng.standard_normal((1, 5, 3)).astype(np.float32)
    check(y, (0, 2), kind, keepdims=False)  # reduced axis 0 has extent 1: a last-axis reduction


@pytest.mark.parametrize("kind", ["max", "min", "sum", "mean"])
@pytest.mark.parametrize("shape,axis", [((6, 37), 1), ((6, 3), 1), ((4, 70, 21), 1), ((2, 20000), 1)])
def test_nan_propagates(isa, rng, kind, shape, axis):
    x = rng.standard_normal(shape).astype(np.float32)
    flat = np.moveaxis(x, axis, -1)  # a view: one reduced set per leading index
    lead = flat.reshape(-1, flat.shape[-1]).shape[0]
    for i, pos in enumerate([0, shape[axis] - 1, shape[axis] // 2, 1]):
        if i < lead:
            idx = np.unravel_index(i, flat.shape[:-1])
            flat[idx + (min(pos, shape[axis] - 1),)] = np.nan
    y = check(x, (axis,), kind, keepdims=False)
    assert np.isnan(y.reshape(-1)[: min(4, lead)]).all()
    assert not np.isnan(y.reshape(-1)[4:]).any()


@pytest.mark.parametrize("shape,axis", [((5, 40), 1), ((5, 3), 1), ((3, 40, 19), 1)])
def test_infinities(isa, rng, shape, axis):
    x = rng.standard_normal(shape).astype(np.float32)
    m = np.moveaxis(x, axis, -1)
    m[0, ...] = -np.inf  # max of all -inf is -inf; sum is -inf
    m[1, ..., 0] = np.inf  # max is +inf; sum is +inf
    m[2, ..., 0], m[2, ..., -1] = np.inf, -np.inf  # sum and mean: NaN; max +inf, min -inf
    for kind in KINDS:
        check(x, (axis,), kind, keepdims=True)


@pytest.mark.parametrize("shape,axes", [((64, 3000), (1,)), ((8, 300, 200), (1,)), ((1, 300000), None),
                                        ((4, 2, 20000), (2,)), ((3, 40, 2500), (1,))])
def test_results_do_not_depend_on_threads(isa, rng, shape, axes):
    x = rng.standard_normal(shape).astype(np.float32)
    for kind in KINDS:
        one = K.reduce(x, axes, kind, True, 1)
        for threads in (2, 3, 4, 0):
            many = K.reduce(x, axes, kind, True, threads)
            assert np.array_equal(one.view(np.int32), many.view(np.int32)), (kind, threads)
        check(x, axes, kind, True, 0)


def test_non_contiguous_input_is_copied(isa, rng):
    x = rng.standard_normal((6, 40)).astype(np.float32).T  # (40, 6), Fortran order
    for kind in KINDS:
        check(x, (1,), kind)


def test_empty_reductions():
    x = np.zeros((2, 0, 3), np.float32)
    np.testing.assert_array_equal(K.reduce(x, 1, "sum"), np.zeros((2, 1, 3), np.float32))
    assert np.isnan(K.reduce(x, 1, "mean", False)).all() and K.reduce(x, 1, "mean", False).shape == (2, 3)
    for kind in ("max", "min"):
        with pytest.raises(pyinfer.KernelArgumentError, match="empty"):
            K.reduce(x, 1, kind)
    # an empty output is fine for every kind
    assert K.reduce(np.zeros((0, 4), np.float32), 1, "max").shape == (0, 1)


@pytest.mark.parametrize("x,axes,kind,match", [
    (np.zeros((2, 3, 4), np.float32), (1, 1), "sum", "repeated"),
    (np.zeros((2, 3, 4), np.float32), (1, -2), "sum", "repeated"),
    (np.zeros((2, 3, 4), np.float32), (3,), "sum", "out of range"),
    (np.zeros((2, 3, 4), np.float32), (-4,), "sum", "out of range"),
    (np.zeros((2, 3, 4), np.float32), (1,), "median", "kind"),
    (np.zeros((2, 3, 4), np.float64), (1,), "sum", "float32"),
    (np.zeros((2, 3, 4), np.int32), (1,), "sum", "float32"),
    ([1.0, 2.0], (0,), "sum", "ndarray"),
    (np.zeros((2, 3), np.float32), "1", "sum", "axes"),
    (np.zeros((2, 3), np.float32), (1.0,), "sum", "axes"),
    (np.array(1.0, np.float32), (0,), "sum", "out of range"),
])
def test_bad_arguments_raise(x, axes, kind, match):
    with pytest.raises(pyinfer.KernelArgumentError, match=match) as info:
        K.reduce(x, axes, kind)
    assert isinstance(info.value, pyinfer.Error)


MORE_KINDS = {"prod": np.prod, "sum_square": lambda a, **k: np.sum(a * a, **k),
              "l1": lambda a, **k: np.sum(np.abs(a), **k), "l2": lambda a, **k: np.sqrt(np.sum(a * a, **k)),
              "log_sum": lambda a, **k: np.log(np.sum(a, **k)),
              "log_sum_exp": lambda a, **k: np.log(np.sum(np.exp(a), **k))}


@pytest.mark.parametrize("axes", [(0, 2), (1, 3), (0, 1, 3), (3, 0), None, (2,)])
def test_any_axes_and_every_kind(isa, rng, axes):
    """Axes that are not one run reduce in passes (the last run first); every kind, both rows and
    columns loops. prod / log_sum get positive inputs near 1 (finite products, defined logs)."""
    x = rng.standard_normal((3, 4, 5, 70)).astype(np.float32)
    for kind in KINDS:
        check(x, axes, kind, keepdims=False)
    near_one = (1 + 0.01 * x).astype(np.float32)
    for kind, f in MORE_KINDS.items():
        a = near_one if kind in ("prod", "log_sum") else x
        for keepdims in (True, False):
            want = f(a.astype(np.float64), axis=axes, keepdims=keepdims)
            np.testing.assert_allclose(K.reduce(a, axes, kind, keepdims), want, rtol=3e-5, atol=1e-5, err_msg=kind)


def test_log_sum_exp_is_shifted_by_the_max():
    x = np.array([[1000.0, 1000.0], [-np.inf, -np.inf]], np.float32)  # exp overflows unshifted
    np.testing.assert_allclose(K.reduce(x, 1, "log_sum_exp", False), [1000 + np.log(2), -np.inf])


def test_numpy_integer_axes_are_accepted(rng):
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    check(x, np.array([1, 2], np.int64), "sum")
    check(x, (np.int32(-1),), "max")


# --- the Reduce* ops ------------------------------------------------------------------

def run_reduce(op_type, x, opset, axes=None, axes_const=False, **attrs):
    inputs, inits = ["x"], []
    feeds = {"x": x}
    if axes is not None and opset >= (13 if op_type == "ReduceSum" else 18):
        inputs.append("axes")
        value = np.array(axes, np.int64)
        if axes_const:
            inits.append(helper.make_tensor("axes", 7, value.shape, value))
        else:
            feeds["axes"] = value
    elif axes is not None:
        attrs["axes"] = list(axes)
    node = helper.make_node(op_type, inputs, ["y"], **attrs)
    graph_inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                    for n, v in feeds.items()]
    graph = helper.make_graph([node], "t", graph_inputs, [helper.make_empty_tensor_value_info("y")],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return pyinfer.InferenceSession(model.SerializeToString()).run(None, feeds)[0]


@pytest.mark.parametrize("op_type,kind", [("ReduceMax", "max"), ("ReduceMin", "min"), ("ReduceSum", "sum"),
                                          ("ReduceMean", "mean")])
@pytest.mark.parametrize("opset", [13, 18])
def test_ops_match_numpy(rng, op_type, kind, opset):
    x = rng.standard_normal((2, 100, 38)).astype(np.float32)
    x[1, 5, 7] = np.nan
    for axes, keepdims in [((2,), 1), ((-1,), 0), ((1, 2), 1), ((0, 2), 0), (None, 0), ((0, 1, 2), 1)]:
        for const in (False, True):
            y = run_reduce(op_type, x, opset, axes, axes_const=const, keepdims=keepdims)
            ref = reference(x, None if axes is None else tuple(axes), kind, bool(keepdims))
            assert y.dtype == np.float32 and y.shape == ref.shape
            np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


def test_op_empty_and_noop_keep_numpy_semantics():
    empty = np.zeros((2, 0, 3), np.float32)
    np.testing.assert_array_equal(run_reduce("ReduceMax", empty, 18, (1,)), np.full((2, 1, 3), -np.inf))
    np.testing.assert_array_equal(run_reduce("ReduceSum", empty, 13, (1,)), np.zeros((2, 1, 3)))
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(run_reduce("ReduceSum", x, 13, [], noop_with_empty_axes=1), x)
    with pytest.raises(pyinfer.Error):
        run_reduce("ReduceMax", x, 18, (2,))

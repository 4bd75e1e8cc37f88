"""Math, reduce and logic operators through an InferenceSession, against plain NumPy or
hand-computed values: exact output dtypes, integer Div/Mod semantics, legacy broadcasting."""
import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import pyinfer


def run_node(op_type, inputs, opset=21, n_outputs=1, input_names=None, **attrs):
    """Run one node; `inputs` are arrays (None = omitted optional input)."""
    names = input_names or [f"x{i}" if x is not None else "" for i, x in enumerate(inputs)]
    node = helper.make_node(op_type, names, [f"y{i}" for i in range(n_outputs)], **attrs)
    feeds = {n: x for n, x in zip(names, inputs) if n}
    graph_inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(x.dtype), x.shape)
                    for n, x in feeds.items()]
    outputs = [helper.make_empty_tensor_value_info(f"y{i}") for i in range(n_outputs)]
    model = helper.make_model(helper.make_graph([node], "t", graph_inputs, outputs),
                              opset_imports=[helper.make_opsetid("", opset)])
    result = pyinfer.InferenceSession(model.SerializeToString()).run(None, feeds)
    return result[0] if n_outputs == 1 else result


# --- arithmetic -----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32, np.int64, np.uint8, np.int8])
@pytest.mark.parametrize("op,fn", [("Add", np.add), ("Sub", np.subtract), ("Mul", np.multiply)])
def test_arith_dtype_preserved(rng, op, fn, dtype):
    a = (rng.standard_normal((3, 4)) * 10).astype(dtype)
    b = (rng.standard_normal((4,)) * 10).astype(dtype)
    y = run_node(op, [a, b])
    assert y.dtype == dtype and y.shape == (3, 4)
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(y.astype(np.float64), fn(a, b).astype(np.float64), rtol=1e-3)


def test_add_float32_per_channel_matches_numpy(rng):
    a = rng.standard_normal((2, 3, 5, 7)).astype(np.float32)
    b = rng.standard_normal((3, 1, 1)).astype(np.float32)
    np.testing.assert_allclose(run_node("Add", [a, b]), a + b, rtol=1e-6)


def test_integer_div_truncates_toward_zero():
    a = np.array([7, -7, 7, -7, 6, -6, 0, 1], np.int32)
    b = np.array([2, 2, -2, -2, 4, 4, 3, -3], np.int32)
    y = run_node("Div", [a, b])
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, [3, -3, -3, 3, 1, -1, 0, 0])  # C semantics, not floor
    big = np.array([-(2 ** 62) - 1], np.int64)
    np.testing.assert_array_equal(run_node("Div", [big, np.array([2], np.int64)]), [-(2 ** 61)])


def test_uint_div():
    y = run_node("Div", [np.array([255, 7], np.uint8), np.array([2, 3], np.uint8)])
    assert y.dtype == np.uint8
    np.testing.assert_array_equal(y, [127, 2])


def test_float_div_by_zero():
    y = run_node("Div", [np.array([1, -1, 0], np.float32), np.zeros(3, np.float32)])
    assert y[0] == np.inf and y[1] == -np.inf and np.isnan(y[2])


@pytest.mark.parametrize("fmod,expected", [(0, [1, 2, -2, -1, 0]), (1, [1, -1, 1, -1, 0])])
def test_integer_mod(fmod, expected):
    a = np.array([7, -7, 7, -7, 6], np.int64)
    b = np.array([3, 3, -3, -3, 3], np.int64)
    y = run_node("Mod", [a, b], fmod=fmod)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, expected)


def test_float_fmod():
    a = np.array([5.5, -5.5, 5.5, -5.5], np.float32)
    b = np.array([2.0, 2.0, -2.0, -2.0], np.float32)
    np.testing.assert_allclose(run_node("Mod", [a, b], fmod=1), [1.5, -1.5, 1.5, -1.5])
    np.testing.assert_allclose(run_node("Mod", [a, b], fmod=0, opset=28), [1.5, 0.5, -0.5, -1.5])


def test_legacy_broadcast_axis():
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    b = np.array([10, 20, 30], np.float32)
    y = run_node("Add", [a, b], opset=6, broadcast=1, axis=1)
    np.testing.assert_array_equal(y, a + b.reshape(1, 3, 1))
    y = run_node("Mul", [a, np.arange(4, dtype=np.float32)], opset=6, broadcast=1)  # trailing match
    np.testing.assert_array_equal(y, a * np.arange(4, dtype=np.float32))
    with pytest.raises(pyinfer.Error):
        run_node("Add", [a, b], opset=6)  # no broadcast attribute: shapes must match


def test_pow_mixed_dtypes():
    x = np.array([1.5, 2.0, -3.0], np.float32)
    e = np.array([2, 3, 2], np.int64)
    y = run_node("Pow", [x, e], opset=15)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [2.25, 8.0, 9.0])
    xi = np.array([2, 3, -2], np.int32)
    y = run_node("Pow", [xi, np.array([3.0, 0.5, 2.0], np.float32)], opset=15)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, [8, 1, 4])  # 3 ** 0.5 = 1.73 -> 1
    y = run_node("Pow", [np.array([2, 5], np.int64), np.array([10, 3], np.int64)], opset=15)
    np.testing.assert_array_equal(y, [1024, 125])


@pytest.mark.parametrize("op,fn", [("Sqrt", np.sqrt), ("Exp", np.exp), ("Log", np.log), ("Abs", np.abs),
                                   ("Neg", np.negative), ("Reciprocal", np.reciprocal), ("Floor", np.floor),
                                   ("Ceil", np.ceil), ("Sin", np.sin), ("Cos", np.cos), ("Tan", np.tan),
                                   ("Atan", np.arctan), ("Sinh", np.sinh), ("Cosh", np.cosh),
                                   ("Asinh", np.arcsinh)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_unary_float(rng, op, fn, dtype):
    x = (rng.uniform(0.1, 3.0, (4, 5)) * rng.choice([-1, 1], (4, 5))).astype(dtype)
    if op in ("Sqrt", "Log"):
        x = np.abs(x)
    y = run_node(op, [x])
    assert y.dtype == dtype
    np.testing.assert_allclose(y.astype(np.float64), fn(x.astype(np.float64)),
                               rtol=2e-3 if dtype == np.float16 else 1e-5)


def test_round_half_to_even():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6, -2.6], np.float32)
    np.testing.assert_array_equal(run_node("Round", [x]), [0, 2, 2, -0.0, -2, 2, 3, -3])


def test_sign_and_abs_int():
    x = np.array([-5, 0, 7], np.int32)
    assert run_node("Sign", [x]).dtype == np.int32
    np.testing.assert_array_equal(run_node("Sign", [x]), [-1, 0, 1])
    np.testing.assert_array_equal(run_node("Abs", [x]), [5, 0, 7])
    np.testing.assert_array_equal(run_node("Neg", [np.array([3, -4], np.int8)]), [-3, 4])


def test_variadic_broadcast():
    a = np.array([[1, 5], [3, 2]], np.float32)
    b = np.array([4, 1], np.float32)
    c = np.array(3, np.float32)
    np.testing.assert_array_equal(run_node("Max", [a, b, c]), [[4, 5], [4, 3]])
    np.testing.assert_array_equal(run_node("Min", [a, b, c]), [[1, 1], [3, 1]])
    np.testing.assert_array_equal(run_node("Sum", [a, b, c]), [[8, 9], [10, 6]])
    np.testing.assert_allclose(run_node("Mean", [a, b, c]), [[8 / 3, 3], [10 / 3, 2]], rtol=1e-6)
    y = run_node("Max", [np.array([1, 9], np.int16), np.array([4, 2], np.int16)])
    assert y.dtype == np.int16
    np.testing.assert_array_equal(y, [4, 9])
    single = np.array([1.0, 2.0], np.float64)
    np.testing.assert_array_equal(run_node("Sum", [single]), single)


def test_bitshift_and_bitwise():
    x = np.array([16, 4, 1], np.uint32)
    s = np.array([1, 2, 3], np.uint32)
    np.testing.assert_array_equal(run_node("BitShift", [x, s], direction="LEFT"), [32, 16, 8])
    np.testing.assert_array_equal(run_node("BitShift", [x, s], direction="RIGHT"), [8, 1, 0])
    a = np.array([0b1100, 0b1010], np.int32)
    b = np.array([0b1010, 0b0110], np.int32)
    np.testing.assert_array_equal(run_node("BitwiseAnd", [a, b]), [0b1000, 0b0010])
    np.testing.assert_array_equal(run_node("BitwiseOr", [a, b]), [0b1110, 0b1110])
    np.testing.assert_array_equal(run_node("BitwiseXor", [a, b]), [0b0110, 0b1100])
    np.testing.assert_array_equal(run_node("BitwiseNot", [np.array([0, 255], np.uint8)]), [255, 0])


def test_isnan_isinf():
    x = np.array([np.nan, np.inf, -np.inf, 1.0], np.float32)
    np.testing.assert_array_equal(run_node("IsNaN", [x]), [True, False, False, False])
    np.testing.assert_array_equal(run_node("IsInf", [x]), [False, True, True, False])
    np.testing.assert_array_equal(run_node("IsInf", [x], detect_negative=0), [False, True, False, False])
    np.testing.assert_array_equal(run_node("IsInf", [x], detect_positive=0), [False, False, True, False])


# --- reductions -----------------------------------------------------------------------

X = np.array([[[1, 2], [3, 4]], [[5, 6], [7, 8]]], np.float32)  # shape (2, 2, 2)


@pytest.mark.parametrize("op,expected", [
    ("ReduceSum", [[4, 6], [12, 14]]),
    ("ReduceMean", [[2, 3], [6, 7]]),
    ("ReduceMax", [[3, 4], [7, 8]]),
    ("ReduceMin", [[1, 2], [5, 6]]),
    ("ReduceProd", [[3, 8], [35, 48]]),
    ("ReduceL1", [[4, 6], [12, 14]]),
    ("ReduceL2", [[10 ** 0.5, 20 ** 0.5], [74 ** 0.5, 100 ** 0.5]]),
    ("ReduceSumSquare", [[10, 20], [74, 100]]),
    ("ReduceLogSum", np.log([[4, 6], [12, 14]]).tolist()),
    ("ReduceLogSumExp", np.log(np.exp([[1, 2], [5, 6]]) + np.exp([[3, 4], [7, 8]])).tolist()),
])
@pytest.mark.parametrize("opset", [13, 18])
def test_reduce_axis1(op, expected, opset):
    if op == "ReduceSum" or opset >= 18:
        y = run_node(op, [X, np.array([1], np.int64)], opset=opset, keepdims=0)
    else:
        y = run_node(op, [X], opset=opset, axes=[1], keepdims=0)
    assert y.dtype == np.float32 and y.shape == (2, 2)
    np.testing.assert_allclose(y, expected, rtol=1e-5)


def test_reduce_keepdims_all_axes_and_noop():
    y = run_node("ReduceSum", [X], opset=13)
    assert y.shape == (1, 1, 1) and y.item() == 36
    y = run_node("ReduceSum", [X, np.array([], np.int64)], opset=13, noop_with_empty_axes=1)
    np.testing.assert_array_equal(y, X)
    y = run_node("ReduceMax", [X, np.array([-1, 0], np.int64)], opset=18)
    np.testing.assert_array_equal(y, [[[6], [8]]])


def test_reduce_integer_dtype_and_empty():
    xi = np.array([[1, 2, 3], [4, 5, 6]], np.int32)
    y = run_node("ReduceSum", [xi, np.array([1], np.int64)], opset=13, keepdims=0)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, [6, 15])
    y = run_node("ReduceMean", [xi], opset=13, axes=[1], keepdims=0)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, [2, 5])
    empty = np.zeros((2, 0, 3), np.float32)
    axes = np.array([1], np.int64)
    np.testing.assert_array_equal(run_node("ReduceMin", [empty, axes], opset=18), np.full((2, 1, 3), np.inf))
    np.testing.assert_array_equal(run_node("ReduceMax", [empty, axes], opset=18), np.full((2, 1, 3), -np.inf))
    np.testing.assert_array_equal(run_node("ReduceSum", [empty, axes], opset=13), np.zeros((2, 1, 3)))
    np.testing.assert_array_equal(run_node("ReduceProd", [empty, axes], opset=18), np.ones((2, 1, 3)))
    assert np.all(run_node("ReduceLogSumExp", [empty, axes], opset=18) == -np.inf)


def test_reduce_logsumexp_is_stable():
    x = np.array([[1000.0, 1000.0], [-1000.0, -1000.0]], np.float32)
    y = run_node("ReduceLogSumExp", [x, np.array([1], np.int64)], opset=18, keepdims=0)
    np.testing.assert_allclose(y, [1000 + np.log(2), -1000 + np.log(2)], rtol=1e-6)


# --- logic ----------------------------------------------------------------------------

def test_comparisons_broadcast():
    a = np.array([[1, 2, 3]], np.int64)
    b = np.array([[2], [1]], np.int64)
    assert run_node("Equal", [a, b]).dtype == np.bool_
    np.testing.assert_array_equal(run_node("Less", [a, b]), [[True, False, False], [False, False, False]])
    np.testing.assert_array_equal(run_node("GreaterOrEqual", [a, b]), [[False, True, True], [True, True, True]])
    s = np.array(["a", "b"], dtype=object)
    np.testing.assert_array_equal(run_node("Equal", [s, np.array(["a", "c"], dtype=object)]), [True, False])


def test_logical_and_where():
    t = np.array([True, True, False, False])
    f = np.array([True, False, True, False])
    np.testing.assert_array_equal(run_node("And", [t, f]), [True, False, False, False])
    np.testing.assert_array_equal(run_node("Or", [t, f]), [True, True, True, False])
    np.testing.assert_array_equal(run_node("Xor", [t, f]), [False, True, True, False])
    np.testing.assert_array_equal(run_node("Not", [t]), [False, False, True, True])
    y = run_node("Where", [np.array([[True], [False]]), np.array([1, 2], np.int8), np.array(9, np.int8)])
    assert y.dtype == np.int8
    np.testing.assert_array_equal(y, [[1, 2], [9, 9]])


def test_einsum(rng):
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    b = rng.standard_normal((2, 4, 5)).astype(np.float32)
    y = run_node("Einsum", [a, b], equation="bij, bjk -> bik")
    ref = np.stack([a[i].astype(np.float64) @ b[i] for i in range(2)])
    np.testing.assert_allclose(y, ref, rtol=1e-5)
    np.testing.assert_allclose(run_node("Einsum", [a], equation="ijk->"), a.sum(dtype=np.float64), rtol=1e-5)


# --- casts and constants ----------------------------------------------------------------

def test_cast_numeric_and_strings():
    x = np.array([1.7, -2.5, 300.0], np.float32)
    np.testing.assert_array_equal(run_node("Cast", [x], to=TensorProto.INT32), [1, -2, 300])
    y = run_node("Cast", [x], to=TensorProto.FLOAT16)
    assert y.dtype == np.float16
    y = run_node("Cast", [np.array(["1.5", "-INF", "nan", "1e3"], dtype=object)], to=TensorProto.FLOAT)
    assert y.dtype == np.float32 and y[0] == 1.5 and y[1] == -np.inf and np.isnan(y[2]) and y[3] == 1000
    y = run_node("Cast", [np.array(["9007199254740993"], dtype=object)], to=TensorProto.INT64)
    assert y[0] == 9007199254740993  # exact, not through float64
    y = run_node("Cast", [np.array([1.5, 2.0], np.float32)], to=TensorProto.STRING)
    assert y.dtype == object and list(y) == ["1.5", "2.0"]


def test_cast_float8_saturate():
    x = np.array([1e6, -1e6, np.inf, 0.5], np.float32)
    y = run_node("Cast", [x], to=TensorProto.FLOAT8E4M3FN)
    assert y.dtype == ml_dtypes.float8_e4m3fn
    np.testing.assert_array_equal(y.astype(np.float32), [448, -448, 448, 0.5])  # e4m3fn max is 448
    y = run_node("Cast", [x], to=TensorProto.FLOAT8E5M2, saturate=0)
    np.testing.assert_array_equal(y.astype(np.float32)[[0, 2, 3]], [np.inf, np.inf, 0.5])
    y = run_node("Cast", [x], to=TensorProto.BFLOAT16)
    assert y.dtype == ml_dtypes.bfloat16 and y.astype(np.float32)[3] == 0.5


def test_castlike():
    y = run_node("CastLike", [np.array([1, 2], np.int64), np.array([0.0], np.float16)])
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y, [1, 2])


def test_range():
    y = run_node("Range", [np.array(10, np.int32), np.array(4, np.int32), np.array(-2, np.int32)])
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, [10, 8, 6])
    y = run_node("Range", [np.array(1.0, np.float32), np.array(2.0, np.float32), np.array(0.25, np.float32)])
    np.testing.assert_allclose(y, [1.0, 1.25, 1.5, 1.75])
    assert run_node("Range", [np.array(5, np.int64), np.array(1, np.int64), np.array(1, np.int64)]).shape == (0,)


def test_constant_of_shape_constant_eyelike():
    value = helper.make_tensor("v", TensorProto.INT32, [1], [7])
    y = run_node("ConstantOfShape", [np.array([2, 3], np.int64)], value=value)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, np.full((2, 3), 7))
    y = run_node("ConstantOfShape", [np.array([0], np.int64)])
    assert y.dtype == np.float32 and y.shape == (0,)
    np.testing.assert_array_equal(run_node("Constant", [], value_ints=[1, 2]), np.array([1, 2], np.int64))
    assert run_node("Constant", [], value_float=2.5).dtype == np.float32
    sparse = helper.make_sparse_tensor(helper.make_tensor("v", TensorProto.FLOAT, [2], [5.0, 6.0]),
                                       helper.make_tensor("i", TensorProto.INT64, [2], [1, 3]), [4])
    np.testing.assert_array_equal(run_node("Constant", [], sparse_value=sparse), [0, 5, 0, 6])
    y = run_node("EyeLike", [np.zeros((3, 4), np.int32)], k=1)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, np.eye(3, 4, k=1))
    y = run_node("EyeLike", [np.zeros((2, 2), np.int32)], dtype=TensorProto.DOUBLE)
    assert y.dtype == np.float64


def test_errors_are_pyinfer_errors():
    with pytest.raises(pyinfer.Error):
        run_node("Add", [np.zeros(3, np.float32), np.zeros(4, np.float32)])
    with pytest.raises(pyinfer.Error):
        run_node("Add", [np.zeros(3, np.int32), np.zeros(4, np.int32)])
    with pytest.raises(pyinfer.Error):
        run_node("ReduceSum", [X, np.array([3], np.int64)], opset=13)
    with pytest.raises(pyinfer.Error):
        run_node("BitShift", [np.zeros(2, np.uint8), np.zeros(2, np.uint8)], direction="UP")


def test_onnx_opset_versions_registered():
    """Every since_version ONNX defines for these ops is implemented."""
    from pyinfer.registry import supported_versions

    for schema in onnx.defs.get_all_schemas_with_history():
        if schema.domain == "" and schema.name in ("Add", "Pow", "ReduceMax", "Cast", "Constant", "Mod",
                                                   "Equal", "Where", "Einsum", "Round", "IsNaN"):
            assert schema.since_version in supported_versions(schema.name), (schema.name, schema.since_version)

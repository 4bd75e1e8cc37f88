"""Comparisons, logical ops, integer arithmetic, Cast and the shape kernels (Shape, Size, Range,
ConstantOfShape, Reshape to a computed shape, Concat of int64 pieces) against NumPy and as native
steps of compiled plans; a control input that changes the shape re-runs the call on the Python
path."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import pyinfer
from pyinfer import kernels
from pyinfer.ops.elementwise import int_div_trunc
from support.one_node import assert_native


@pytest.mark.parametrize("op_type,fn", [("Equal", np.equal), ("Less", np.less), ("Greater", np.greater),
                                        ("LessOrEqual", np.less_equal), ("GreaterOrEqual", np.greater_equal)])
def test_comparisons(rng, op_type, fn):
    a = rng.standard_normal((3, 4, 5)).astype(np.float32)
    a[0, 0, 0] = np.nan
    b = a[:, :1].copy()
    (y,) = assert_native(op_type, [a, b], opset=16 if op_type.endswith("Equal") and len(op_type) > 5 else 13)
    np.testing.assert_array_equal(y, fn(a, b))
    ai = rng.integers(0, 3, (4, 5))
    np.testing.assert_array_equal(kernels.compare(fn.__name__, ai, ai[:1]), fn(ai, ai[:1]))


def test_logical_ops(rng):
    a, b = rng.random((3, 4)) > 0.5, rng.random((4,)) > 0.5
    for op_type, fn in [("And", np.logical_and), ("Or", np.logical_or), ("Xor", np.logical_xor)]:
        (y,) = assert_native(op_type, [a, b], opset=7)
        np.testing.assert_array_equal(y, fn(a, b))
    (y,) = assert_native("Not", [a], opset=1)
    np.testing.assert_array_equal(y, ~a)


@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_integer_arithmetic(rng, dtype):
    a = rng.integers(-50, 50, (3, 4)).astype(dtype)
    b = rng.integers(-5, 5, (4,)).astype(dtype)  # zeros included: x / 0 = 0
    for op_type, fn in [("Add", np.add), ("Sub", np.subtract), ("Mul", np.multiply), ("Div", int_div_trunc)]:
        (y,) = assert_native(op_type, [a, b], opset=14)
        np.testing.assert_array_equal(y, fn(a, b).astype(dtype))


@pytest.mark.parametrize("src,dst", [("float32", "int64"), ("float32", "int32"), ("float32", "uint8"),
                                     ("int64", "float32"), ("float32", "bool"), ("bool", "float32"),
                                     ("float64", "float32"), ("int32", "int64"), ("int64", "int64")])
def test_cast(rng, src, dst):
    x = (rng.standard_normal((5, 20)) * 100).astype(src)
    (y,) = assert_native("Cast", [x], opset=13, to=helper.np_dtype_to_tensor_dtype(np.dtype(dst)))
    np.testing.assert_array_equal(y, x.astype(dst))


def _shape_arith_model():
    """x (N, C, L) -> Reshape(x, [N, C * L]) with the shape computed from Shape, Gather, Mul,
    Unsqueeze, Concat (int64 pieces) and Range / ConstantOfShape / Size beside it."""
    n = helper.make_node
    c = {"i0": np.array(0), "i1": np.array(1), "i2": np.array(2), "ax0": np.array([0]), "one": np.array(1),
         "zero": np.array(0)}
    nodes = [
        n("Shape", ["x"], ["s"]),
        n("Gather", ["s", "i0"], ["d0"]), n("Gather", ["s", "i1"], ["d1"]), n("Gather", ["s", "i2"], ["d2"]),
        n("Mul", ["d1", "d2"], ["d12"]),
        n("Unsqueeze", ["d0", "ax0"], ["u0"]), n("Unsqueeze", ["d12", "ax0"], ["u1"]),
        n("Concat", ["u0", "u1"], ["target"], axis=0),
        n("Reshape", ["x", "target"], ["flat"]),
        n("Range", ["zero", "d12", "one"], ["positions"]),
        n("ConstantOfShape", ["target"], ["ones"], value=numpy_helper.from_array(np.array([1.0], np.float32))),
        n("Size", ["x"], ["size"]),
    ]
    graph = helper.make_graph(
        nodes, "shape_arith", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "L"])],
        [helper.make_tensor_value_info(v, t, None) for v, t in
         [("flat", TensorProto.FLOAT), ("positions", TensorProto.INT64), ("ones", TensorProto.FLOAT),
          ("size", TensorProto.INT64)]],
        initializer=[numpy_helper.from_array(v, k) for k, v in c.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_shape_arithmetic_runs_natively(rng):
    sess = pyinfer.InferenceSession(_shape_arith_model(), executor="plan")
    for shape in [(2, 3, 5), (1, 3, 7)]:
        x = rng.standard_normal(shape).astype(np.float32)
        for _ in range(3):
            flat, positions, ones, size = sess.run(None, {"x": x})
        np.testing.assert_array_equal(flat, x.reshape(shape[0], -1))
        np.testing.assert_array_equal(positions, np.arange(15 if shape[2] == 5 else 21))
        np.testing.assert_array_equal(ones, np.ones_like(flat))
        assert size == x.size
    for plan in sess._executor.cached_plans():
        assert set(plan.kind.values()) <= {"feed", "const", "arena", "alias", "out"}  # no Python step


def test_control_input_change_reruns_on_the_python_path(rng):
    """Range's limit is a feed: the plan compiled one count; another count is not an error but a
    re-run on the Python path (as a Python step whose shape changed)."""
    node = helper.make_node("Range", ["start", "limit", "delta"], ["y"])
    graph = helper.make_graph([node], "range", [helper.make_tensor_value_info(v, TensorProto.INT64, [])
                                                for v in ("start", "limit", "delta")],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, None)])
    sess = pyinfer.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
                                    executor="plan")
    feeds = {"start": np.array(2), "limit": np.array(9), "delta": np.array(3)}
    for _ in range(3):
        np.testing.assert_array_equal(sess.run(None, feeds)[0], [2, 5, 8])
    (plan,) = sess._executor.cached_plans()
    assert plan.kind["y"] == "out"
    feeds["limit"] = np.array(12)
    np.testing.assert_array_equal(sess.run(None, feeds)[0], [2, 5, 8, 11])


def test_integer_reductions(rng):
    x = rng.integers(-9, 9, (3, 4, 5))
    for op_type, fn in [("ReduceMin", np.min), ("ReduceMax", np.max), ("ReduceSum", np.sum), ("ReduceProd", np.prod)]:
        (y,) = assert_native(op_type, [x.astype(np.int32), np.array([0, 2])], opset=18, consts=(1,), keepdims=0)
        np.testing.assert_array_equal(y, fn(x, axis=(0, 2)).astype(np.int32))
    (y,) = assert_native("ReduceMin", [np.array([300, 91], np.int64)], opset=13, keepdims=0)  # min(k, anchors)
    assert y == 91


def test_floor_and_ceil(isa, rng):
    x = (rng.standard_normal(37) * 3).astype(np.float32)
    x[:4] = [-0.5, 0.5, np.nan, -np.inf]
    np.testing.assert_array_equal(kernels.floor(x), np.floor(x))
    np.testing.assert_array_equal(kernels.ceil(x), np.ceil(x))
    assert np.signbit(kernels.ceil(x)[0])  # ceil(-0.5) = -0
    assert_native("Floor", [x], opset=13)
    assert_native("Ceil", [x], opset=13)


@pytest.mark.parametrize("dtype,value", [("float32", 0.0), ("float32", -0.0), ("float32", 1.5), ("float64", -2.25),
                                         ("int64", 2**40 + 3), ("int8", -7), ("uint16", 0), ("bool", True),
                                         ("float16", 0.5)])
@pytest.mark.parametrize("shape", [[0], [1], [7], [3, 5, 11], [150, 256, 7, 7]])
def test_constant_of_shape_kernel_fills_every_element(dtype, value, shape):
    """Zero bytes (memset), other values (doubling copies) and -0.0 (not all bytes zero: its sign
    is kept), over element counts that are and are not powers of two."""
    v = np.array([value], dtype)
    k = kernels.prepare_constant_of_shape(shape, dtype, v.tobytes())
    y = k(np.array(shape, np.int64))
    want = np.full(shape, v[0], dtype)
    assert y.dtype == want.dtype and y.shape == want.shape
    np.testing.assert_array_equal(y.view(np.uint8), want.view(np.uint8))  # bytes: -0.0 keeps its sign

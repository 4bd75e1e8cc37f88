"""Pooling ONNX ops end to end: auto_pad, dtypes, the float64 NumPy path, Indices, MaxUnpool.

Oracle: onnxruntime where it implements the case, else a hand-computed value.
"""
import numpy as np
import pytest
from onnx import TensorProto, helper

import pyinfer

ort = pytest.importorskip("onnxruntime")

NP_TO_ONNX = {np.float32: TensorProto.FLOAT, np.float64: TensorProto.DOUBLE, np.float16: TensorProto.FLOAT16,
              np.int8: TensorProto.INT8, np.uint8: TensorProto.UINT8}


def model(op_type, dtype, shape, n_outputs=1, opset=22, **attrs):
    outputs = ["y", "indices"][:n_outputs]
    node = helper.make_node(op_type, ["x"], outputs, **attrs)
    out_info = [helper.make_tensor_value_info("y", NP_TO_ONNX[dtype], None)]
    if n_outputs == 2:
        out_info.append(helper.make_tensor_value_info("indices", TensorProto.INT64, None))
    graph = helper.make_graph([node], "pool", [helper.make_tensor_value_info("x", NP_TO_ONNX[dtype], shape)], out_info)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()


def run_both(m, x):
    ours = pyinfer.InferenceSession(m).run(None, {"x": x})
    theirs = ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, {"x": x})
    return ours, theirs


def sample(rng, shape, dtype):
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID", "NOTSET"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int8, np.uint8])
def test_maxpool_against_onnxruntime(rng, auto_pad, dtype):
    x = sample(rng, (2, 3, 9, 10), dtype)
    attrs = dict(kernel_shape=[3, 2], strides=[2, 3], auto_pad=auto_pad)
    if auto_pad == "NOTSET":
        attrs.update(pads=[1, 0, 2, 1], dilations=[2, 1], ceil_mode=1)
    n_out = 2 if dtype in (np.float32, np.float64, np.float16) else 1  # ORT: Indices for floats only
    (y, *i), (y_ref, *i_ref) = run_both(model("MaxPool", dtype, x.shape, n_out, **attrs), x)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, y_ref)
    if n_out == 2:
        np.testing.assert_array_equal(i[0], i_ref[0])


@pytest.mark.parametrize("storage_order", [0, 1])
def test_maxpool_indices_storage_order(rng, storage_order):
    x = rng.standard_normal((2, 2, 5, 6)).astype(np.float32)
    m = model("MaxPool", np.float32, x.shape, 2, kernel_shape=[2, 3], strides=[1, 2], storage_order=storage_order)
    (y, i), (y_ref, i_ref) = run_both(m, x)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(i, i_ref)
    # float64 goes through NumPy: same answers
    (y64, i64), _ = run_both(model("MaxPool", np.float64, x.shape, 2, kernel_shape=[2, 3], strides=[1, 2],
                                   storage_order=storage_order), x.astype(np.float64))
    np.testing.assert_array_equal(y64, y_ref)
    np.testing.assert_array_equal(i64, i_ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("attrs", [
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=1),
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=0),
    dict(kernel_shape=[2, 3], strides=[1, 2], auto_pad="SAME_LOWER"),
    dict(kernel_shape=[2, 3], strides=[1, 2], auto_pad="SAME_UPPER", count_include_pad=1),
    dict(kernel_shape=[2, 2], dilations=[2, 1], pads=[0, 1, 1, 0]),
])
def test_averagepool(rng, dtype, attrs):
    x = rng.standard_normal((1, 3, 7, 8)).astype(dtype)
    m = model("AveragePool", dtype, x.shape, **attrs)
    (y,) = pyinfer.InferenceSession(m).run(None, {"x": x})
    # onnxruntime's CPU AveragePool is float32 only: compare the others to its float32 answer.
    m32 = model("AveragePool", np.float32, x.shape, **attrs)
    (y_ref,) = ort.InferenceSession(m32, providers=["CPUExecutionProvider"]).run(None, {"x": x.astype(np.float32)})
    assert y.dtype == dtype
    tol = 1e-2 if dtype == np.float16 else 1e-4
    np.testing.assert_allclose(y.astype(np.float32), y_ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("attrs", [
    dict(kernel_shape=[3, 2], strides=[2, 1], pads=[1, 0, 1, 1], p=3),
    dict(kernel_shape=[2, 2], auto_pad="SAME_UPPER", p=1),
    dict(kernel_shape=[3], p=2),
])
def test_lppool(rng, dtype, attrs):
    rank = len(attrs["kernel_shape"])
    x = rng.standard_normal((2, 2) + (7, 6)[:rank]).astype(dtype)
    (y,) = pyinfer.InferenceSession(model("LpPool", dtype, x.shape, **attrs)).run(None, {"x": x})
    m32 = model("LpPool", np.float32, x.shape, opset=18, **attrs)
    (y_ref,) = ort.InferenceSession(m32, providers=["CPUExecutionProvider"]).run(None, {"x": x.astype(np.float32)})
    assert y.dtype == dtype
    np.testing.assert_allclose(y, y_ref, rtol=1e-3, atol=1e-4)


def test_lppool_opset1_float_p(rng):
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    m = model("LpPool", np.float32, x.shape, opset=1, kernel_shape=[2, 2], strides=[2, 2], p=1.5)
    (y,) = pyinfer.InferenceSession(m).run(None, {"x": x})
    blocks = np.abs(x).reshape(1, 2, 2, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(1, 2, 2, 2, 4)
    np.testing.assert_allclose(y, (blocks ** 1.5).sum(-1) ** (1 / 1.5), rtol=1e-4)


@pytest.mark.parametrize("op_type", ["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_global_pools(rng, op_type, dtype):
    x = rng.standard_normal((2, 3, 5, 4)).astype(dtype)
    (y,) = pyinfer.InferenceSession(model(op_type, dtype, x.shape)).run(None, {"x": x})
    x64 = x.astype(np.float64)
    expected = {"GlobalAveragePool": x64.mean(axis=(2, 3), keepdims=True),
                "GlobalMaxPool": x64.max(axis=(2, 3), keepdims=True),
                "GlobalLpPool": np.sqrt((x64 ** 2).sum(axis=(2, 3), keepdims=True))}[op_type]
    assert y.dtype == dtype and y.shape == (2, 3, 1, 1)
    tol = 1e-2 if dtype == np.float16 else 1e-4
    np.testing.assert_allclose(y.astype(np.float64), expected, rtol=tol, atol=tol)


def test_maxpool_then_unpool_restores_the_maxima(rng):
    x = rng.standard_normal((1, 2, 4, 6)).astype(np.float32)
    pool = helper.make_node("MaxPool", ["x"], ["p", "i"], kernel_shape=[2, 2], strides=[2, 2])
    unpool = helper.make_node("MaxUnpool", ["p", "i"], ["y"], kernel_shape=[2, 2], strides=[2, 2])
    graph = helper.make_graph([pool, unpool], "unpool",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)]).SerializeToString()
    (y,) = pyinfer.InferenceSession(m).run(None, {"x": x})
    blocks = x.reshape(1, 2, 2, 2, 3, 2)
    is_max = blocks == blocks.max(axis=(3, 5), keepdims=True)
    np.testing.assert_array_equal(y, np.where(is_max.reshape(x.shape), x, 0))


def test_bad_attributes_raise_pyinfer_errors(rng):
    x = rng.standard_normal((1, 1, 4, 4)).astype(np.float32)
    with pytest.raises(pyinfer.Error):
        pyinfer.InferenceSession(model("MaxPool", np.float32, x.shape, kernel_shape=[2, 2], auto_pad="SAME"))
    with pytest.raises(pyinfer.InvalidModelError, match="larger than the padded input"):
        pyinfer.InferenceSession(model("AveragePool", np.float32, x.shape, kernel_shape=[5, 5]))  # refused at load
    with pytest.raises(pyinfer.InvalidModelError, match="kernel_shape"):  # the declared rank proves it at load
        pyinfer.InferenceSession(model("MaxPool", np.float32, [1, None, None], kernel_shape=[2, 2]))

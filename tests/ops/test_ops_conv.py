"""ONNX Conv / ConvTranspose nodes through InferenceSession, against onnx.reference.ReferenceEvaluator
for Conv, onnxruntime for ConvTranspose (the reference evaluator's ConvTranspose mishandles
output_shape and group > 1), and PyTorch where the spec's rule differs from the reference's."""
import numpy as np
import onnxruntime
import pytest
import torch
from onnx import TensorProto, helper
from onnx.helper import np_dtype_to_tensor_dtype
from onnx.reference import ReferenceEvaluator

import pyinfer


def node_model(op_type, inputs, opset=22, **attrs):
    """One-node model whose inputs are all graph inputs, typed from the arrays."""
    names = ["X", "W", "B"][: len(inputs)]
    node = helper.make_node(op_type, names, ["Y"], **attrs)
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, np_dtype_to_tensor_dtype(a.dtype), a.shape) for n, a in zip(names, inputs)],
        [helper.make_tensor_value_info("Y", np_dtype_to_tensor_dtype(inputs[0].dtype), None)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def run_both(op_type, inputs, opset=22, oracle="reference", **attrs):
    model = node_model(op_type, inputs, opset, **attrs)
    feeds = dict(zip(["X", "W", "B"], inputs))
    (got,) = pyinfer.InferenceSession(model.SerializeToString()).run(None, feeds)
    if oracle == "onnxruntime":
        sess = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        (want,) = sess.run(None, feeds)
    else:
        (want,) = ReferenceEvaluator(model).run(None, feeds)
    return got, want


def arr(rng, *shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


CONV_ATTRS = [
    dict(),
    dict(pads=[1, 0, 2, 1], strides=[2, 1]),
    dict(auto_pad="SAME_UPPER", strides=[2, 2]),
    dict(auto_pad="SAME_LOWER", strides=[2, 3]),
    dict(auto_pad="SAME_UPPER"),
    dict(auto_pad="VALID", strides=[1, 2]),
    dict(kernel_shape=[3, 2], dilations=[2, 1], pads=[1, 1, 1, 1]),
    dict(group=2, pads=[1, 1, 1, 1]),
]


@pytest.mark.parametrize("opset", [1, 11, 22])
@pytest.mark.parametrize("attrs", CONV_ATTRS, ids=str)
def test_conv_node_matches_reference(rng, attrs, opset):
    group = attrs.get("group", 1)
    x, w, b = arr(rng, 2, 4, 9, 8), arr(rng, 6, 4 // group, 3, 2), arr(rng, 6)
    got, want = run_both("Conv", [x, w, b], opset, **attrs)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_conv_same_upper_with_dilation_matches_torch(rng):
    # The ONNX spec asks for out = ceil(in / stride) with the dilated kernel; torch 'same' does that.
    x, w = arr(rng, 1, 2, 9, 10), arr(rng, 3, 2, 3, 3)
    got, _ = run_both("Conv", [x, w], auto_pad="SAME_UPPER", dilations=[2, 3])
    want = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding="same", dilation=(2, 3))
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-3, atol=1e-4)


def test_conv_float64_keeps_double_precision(rng):
    x, w, b = arr(rng, 1, 3, 7, 6, dtype=np.float64), arr(rng, 4, 3, 3, 3, dtype=np.float64), arr(rng, 4, dtype=np.float64)
    got, want = run_both("Conv", [x, w, b], pads=[1, 1, 1, 1], strides=[2, 1])
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_conv_float16(rng):
    x, w = arr(rng, 1, 3, 7, 6, dtype=np.float16), arr(rng, 4, 3, 3, 3, dtype=np.float16)
    got, _ = run_both("Conv", [x, w], pads=[1, 1, 1, 1])
    want = torch.nn.functional.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), padding=1).numpy()
    assert got.dtype == np.float16
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=2e-3, atol=2e-3)


def test_conv_3d_node(rng):
    x, w = arr(rng, 1, 2, 5, 4, 6), arr(rng, 2, 2, 2, 3, 2)
    got, want = run_both("Conv", [x, w], strides=[1, 2, 1], pads=[0, 1, 1, 1, 0, 1])
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


CONVT_ATTRS = [
    dict(),
    dict(strides=[3, 2], output_padding=[1, 1]),
    dict(strides=[3, 2], output_shape=[10, 8]),  # larger than natural: grows at the end
    dict(strides=[2, 2], output_shape=[6, 7]),  # smaller: pads cropped
    dict(strides=[2, 2], auto_pad="SAME_UPPER"),
    dict(strides=[2, 3], auto_pad="SAME_LOWER"),
    dict(strides=[2, 1], pads=[1, 2, 0, 1], dilations=[1, 2]),
    dict(group=2, strides=[2, 2], pads=[1, 1, 1, 1]),
    dict(auto_pad="VALID", strides=[2, 2]),
]


@pytest.mark.parametrize("opset", [11, 22])
@pytest.mark.parametrize("attrs", CONVT_ATTRS, ids=str)
def test_conv_transpose_node_matches_onnxruntime(rng, attrs, opset):
    group = attrs.get("group", 1)
    x, w, b = arr(rng, 2, 4, 3, 4), arr(rng, 4, 6 // group, 3, 3), arr(rng, 6)
    got, want = run_both("ConvTranspose", [x, w, b], opset, oracle="onnxruntime", **attrs)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_conv_transpose_opset1(rng):
    x, w = arr(rng, 1, 2, 4, 3), arr(rng, 2, 3, 3, 2)
    got, want = run_both("ConvTranspose", [x, w], opset=1, strides=[2, 2], pads=[1, 0, 0, 1])
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_conv_transpose_float64_matches_torch(rng):
    x, w, b = arr(rng, 1, 4, 4, 3, dtype=np.float64), arr(rng, 4, 3, 3, 2, dtype=np.float64), arr(rng, 6, dtype=np.float64)
    got = run_pyinfer("ConvTranspose", [x, w, b], strides=[2, 3], pads=[1, 0, 1, 0], dilations=[1, 2],
                      output_padding=[1, 1], group=2)[0]
    want = torch.nn.functional.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                                                stride=(2, 3), padding=(1, 0), output_padding=(1, 1),
                                                dilation=(1, 2), groups=2).numpy()
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_conv_transpose_float64_output_shape_growth(rng):
    # output_shape beyond the natural size: compare with the float32 result of onnxruntime.
    x, w, b = arr(rng, 1, 2, 4, 3), arr(rng, 2, 3, 3, 2), arr(rng, 3)
    _, want = run_both("ConvTranspose", [x, w, b], oracle="onnxruntime", strides=[2, 2], output_shape=[10, 7])
    (got,) = run_pyinfer("ConvTranspose", [x.astype(np.float64), w.astype(np.float64), b.astype(np.float64)],
                         strides=[2, 2], output_shape=[10, 7])
    assert got.dtype == np.float64 and got.shape == (1, 3, 10, 7)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def run_pyinfer(op_type, inputs, **attrs):
    model = node_model(op_type, inputs, **attrs)
    return pyinfer.InferenceSession(model.SerializeToString()).run(None, dict(zip(["X", "W", "B"], inputs)))


def test_conv_node_errors(rng):
    x = arr(rng, 1, 4, 6, 6)
    with pytest.raises(pyinfer.Error, match="kernel_shape"):
        run_pyinfer("Conv", [x, arr(rng, 2, 4, 3, 3)], kernel_shape=[2, 2])
    with pytest.raises(pyinfer.Error, match="divisible by group"):
        run_pyinfer("Conv", [x, arr(rng, 3, 4, 3, 3)], group=3)
    with pytest.raises(pyinfer.Error, match="empty output"):
        run_pyinfer("Conv", [x, arr(rng, 2, 4, 7, 7)])
    with pytest.raises(pyinfer.Error, match="strides"):
        run_pyinfer("Conv", [x, arr(rng, 2, 4, 3, 3)], strides=[1, 1, 1])
    with pytest.raises(pyinfer.Error, match="empty output"):
        run_pyinfer("Conv", [x.astype(np.float64), arr(rng, 2, 4, 7, 7, dtype=np.float64)])
    with pytest.raises(pyinfer.Error, match="output_shape"):
        run_pyinfer("ConvTranspose", [x, arr(rng, 4, 2, 3, 3)], strides=[2, 2], output_shape=[15, 13])

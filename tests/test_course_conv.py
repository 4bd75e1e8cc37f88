"""The course's worked convolution example (6x6 image, two 3x3 filters), with the results
the course gives, through pyinfer.kernels.conv2d and through an InferenceSession."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import pyinfer
from pyinfer import kernels

IMAGE = np.array(
    [[1, 0, 0, 0, 0, 1],
     [0, 1, 0, 0, 1, 0],
     [0, 0, 1, 1, 0, 0],
     [1, 0, 0, 0, 1, 0],
     [0, 1, 0, 0, 1, 0],
     [0, 0, 1, 0, 1, 0]], dtype=np.float32)
FILTER_1 = np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=np.float32)
FILTER_2 = np.array([[-1, 1, -1]] * 3, dtype=np.float32)

FILTER_1_STRIDE_1 = [[3, -1, -3, -1], [-3, 1, 0, -3], [-3, -3, 0, 1], [3, -2, -2, -1]]
FILTER_1_STRIDE_2 = [[3, -3], [-3, 0]]
FILTER_2_STRIDE_1 = [[-1, -1, -1, -1], [-1, -1, -2, 1], [-1, -1, -2, 1], [-1, 0, -4, 3]]

CASES = [
    (FILTER_1, 1, FILTER_1_STRIDE_1),
    (FILTER_1, 2, FILTER_1_STRIDE_2),
    (FILTER_2, 1, FILTER_2_STRIDE_1),
]
IDS = ["filter1-stride1", "filter1-stride2", "filter2-stride1"]


@pytest.mark.parametrize("filt, stride, expected", CASES, ids=IDS)
def test_course_example_kernel(isa, filt, stride, expected):
    y = kernels.conv2d(IMAGE[None, None], filt[None, None], stride=stride)
    np.testing.assert_array_equal(y[0, 0], np.array(expected, dtype=np.float32))


def test_course_example_both_filters_as_two_output_channels(isa):
    w = np.stack([FILTER_1, FILTER_2])[:, None]  # [2, 1, 3, 3]: a "feature map" per filter
    y = kernels.conv2d(IMAGE[None, None], w)
    np.testing.assert_array_equal(y[0, 0], FILTER_1_STRIDE_1)
    np.testing.assert_array_equal(y[0, 1], FILTER_2_STRIDE_1)


def conv_model(filt, stride):
    node = helper.make_node("Conv", ["image", "filter"], ["out"], strides=[stride, stride])
    out = (6 - 3) // stride + 1
    graph = helper.make_graph(
        [node], "course_conv",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 6, 6])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1, out, out])],
        initializer=[helper.make_tensor("filter", TensorProto.FLOAT, [1, 1, 3, 3], filt.flatten().tolist())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


@pytest.mark.parametrize("filt, stride, expected", CASES, ids=IDS)
def test_course_example_session(filt, stride, expected):
    sess = pyinfer.InferenceSession(conv_model(filt, stride).SerializeToString())
    (y,) = sess.run(None, {"image": IMAGE[None, None]})
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y[0, 0], np.array(expected, dtype=np.float32))

"""The course's worked pooling example.

A 6x6 image convolved with two 3x3 filters gives two 4x4 feature maps; 2x2 pooling with
stride 2 shrinks each to 2x2. Every expectation below is worked out by hand, block by block.
"""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import pyinfer
from pyinfer import kernels

MAP1 = [[3, -1, -3, -1],
        [-3, 1, 0, -3],
        [-3, -3, 0, 1],
        [3, -2, -2, -1]]
MAP2 = [[-1, -1, -1, -1],
        [-1, -1, -2, 1],
        [-1, -1, -2, 1],
        [-1, 0, -4, 3]]
# One image, two channels (one per filter): shape (1, 2, 4, 4).
MAPS = np.array([[MAP1, MAP2]], dtype=np.float32)

# The 2x2 blocks, read row by row:
#   map1: top-left (3, -1, -3, 1)   top-right (-3, -1, 0, -3)
#         bottom-left (-3, -3, 3, -2)  bottom-right (0, 1, -2, -1)
#   map2: top-left (-1, -1, -1, -1)  top-right (-1, -1, -2, 1)
#         bottom-left (-1, -1, -1, 0)  bottom-right (-2, 1, -4, 3)
MAX = np.array([[[[3, 0], [3, 1]],
                 [[-1, 1], [0, 3]]]], dtype=np.float32)
SUM = np.array([[[[0, -7], [-5, -2]],          # 3-1-3+1, -3-1+0-3, -3-3+3-2, 0+1-2-1
                 [[-4, -3], [-3, -2]]]], dtype=np.float32)  # -1*4, -1-1-2+1, -1-1-1+0, -2+1-4+3
AVG = np.array([[[[0, -1.75], [-1.25, -0.5]],
                 [[-1, -0.75], [-0.75, -0.5]]]], dtype=np.float32)


def test_hand_expectations_agree():
    np.testing.assert_allclose(AVG * 4, SUM)


def test_kernels(isa):
    np.testing.assert_array_equal(kernels.max_pool2d(MAPS, 2, 2), MAX)
    np.testing.assert_array_equal(kernels.max_pool(MAPS, [2, 2], strides=[2, 2]), MAX)
    np.testing.assert_allclose(kernels.sum_pool2d(MAPS, 2), SUM)
    np.testing.assert_allclose(kernels.sum_pool(MAPS, [2, 2], strides=[2, 2]), SUM)
    np.testing.assert_allclose(kernels.avg_pool2d(MAPS, 2), AVG)
    np.testing.assert_allclose(kernels.avg_pool(MAPS, [2, 2], strides=[2, 2]), AVG)
    # Each map on its own, without the batch axis.
    np.testing.assert_array_equal(kernels.max_pool2d(MAPS[0, :1], 2), MAX[0, :1])
    # Where each maximum came from (flattened index into MAPS, channel offset 16 for map2):
    # map1: 3 at (0,0), 0 at (1,2), 3 at (3,0), 1 at (2,3); map2: first -1 at (0,0), 1 at (1,3),
    # 0 at (3,1), 3 at (3,3).
    _, idx = kernels.max_pool(MAPS, [2, 2], strides=[2, 2], return_indices=True)
    np.testing.assert_array_equal(idx, [[[[0, 6], [12, 11]], [[16, 23], [29, 31]]]])


def one_node_session(op_type, **attrs):
    node = helper.make_node(op_type, ["maps"], ["pooled"], **attrs)
    graph = helper.make_graph(
        [node], "course_pooling",
        [helper.make_tensor_value_info("maps", TensorProto.FLOAT, [1, 2, 4, 4])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, [1, 2, None, None])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
    onnx.checker.check_model(model)
    return pyinfer.InferenceSession(model.SerializeToString())


@pytest.mark.parametrize("op_type,expected", [("MaxPool", MAX), ("AveragePool", AVG)])
def test_session(op_type, expected):
    sess = one_node_session(op_type, kernel_shape=[2, 2], strides=[2, 2])
    (pooled,) = sess.run(None, {"maps": MAPS})
    assert pooled.dtype == np.float32 and pooled.shape == (1, 2, 2, 2)
    np.testing.assert_allclose(pooled, expected)


def test_session_global_max():
    (pooled,) = one_node_session("GlobalMaxPool").run(None, {"maps": MAPS})
    np.testing.assert_array_equal(pooled, [[[[3]], [[3]]]])

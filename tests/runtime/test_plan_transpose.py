"""Transpose in compiled plans: every permutation runs as byte moves (lowering.Permute,
_bytes.pxd permute_bytes) in static and dynamic plans, and equals numpy.transpose."""
import numpy as np
import pytest
from onnx import TensorProto, helper

import pyinfer


def shuffle_model(shape, perm, relu_after=True, dtype=TensorProto.FLOAT):
    """x -> Relu -> Transpose(perm) [-> Relu]: the transpose reads and writes arena values."""
    first = "Relu" if dtype == TensorProto.FLOAT else "Identity"
    nodes = [helper.make_node(first, ["x"], ["r"]), helper.make_node("Transpose", ["r"], ["t"], perm=list(perm))]
    out = "t"
    if relu_after:
        nodes.append(helper.make_node(first, ["t"], ["y"]))
        out = "y"
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", dtype, ["N"] + list(shape[1:]))],
                              [helper.make_tensor_value_info(out, dtype, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


CASES = [
    ((1, 3, 80, 28, 28), (0, 2, 1, 3, 4)),     # channel shuffle, batch 1
    ((2, 4, 6, 5, 7), (0, 2, 1, 3, 4)),        # batch 2: an outer group
    ((6, 20, 32), (1, 0, 2)),                  # no outer group
    ((2, 3, 4, 8), (0, 2, 1, 3)),              # 32-byte blocks
    ((2, 40, 128), (0, 2, 1)),                 # the last axis moves: element by element
    ((3, 1, 4, 1, 32), (2, 1, 0, 4, 3)),       # size-1 axes anywhere
    ((2, 3, 4, 5, 16), (0, 3, 1, 2, 4)),       # axes 1-2 move together past axis 3
    ((2, 3, 4, 5, 16), (1, 0, 3, 2, 4)),       # two swaps
    ((2, 3, 4, 5), (3, 2, 1, 0)),              # reversed
    ((2, 3, 4), (0, 1, 2)),                    # nothing moves: one block
]


@pytest.mark.parametrize("shape,perm", CASES, ids=[str(c[1]) + "x" + "x".join(map(str, c[0])) for c in CASES])
def test_transpose_plans_match_numpy(rng, shape, perm):
    sess = pyinfer.InferenceSession(shuffle_model(shape, perm), executor="plan", num_threads=1)
    x = rng.standard_normal(shape).astype(np.float32)
    x2 = rng.standard_normal((shape[0] + 1,) + shape[1:]).astype(np.float32)  # another batch: the dynamic plan
    for v in (x, x, x, x2, x2):
        (y,) = sess.run(None, {"x": v})
        np.testing.assert_array_equal(y, np.maximum(np.transpose(np.maximum(v, 0), perm), 0))
    (static,) = sess._executor.cached_plans()
    (dynamic,) = sess._executor.dynamic_plans()
    assert static.native_steps == dynamic.native_steps == 3


@pytest.mark.parametrize("dtype,np_dtype", [(TensorProto.INT64, np.int64), (TensorProto.UINT8, np.uint8),
                                            (TensorProto.FLOAT16, np.float16), (TensorProto.DOUBLE, np.float64)])
def test_transpose_of_other_element_sizes(rng, dtype, np_dtype):
    shape, perm = (2, 5, 3, 7), (0, 3, 1, 2)
    sess = pyinfer.InferenceSession(shuffle_model(shape, perm, dtype=dtype), executor="plan")
    x = (rng.standard_normal(shape) * 50).astype(np_dtype)
    for _ in range(3):
        (y,) = sess.run(None, {"x": x})
        np.testing.assert_array_equal(y, np.transpose(x, perm))


def test_transpose_as_graph_output(rng):
    shape, perm = (2, 4, 6, 5, 7), (0, 2, 1, 3, 4)
    sess = pyinfer.InferenceSession(shuffle_model(shape, perm, relu_after=False), executor="plan")
    x = rng.standard_normal(shape).astype(np.float32)
    for _ in range(3):
        (y,) = sess.run(None, {"x": x})
        np.testing.assert_array_equal(y, np.transpose(np.maximum(x, 0), perm))

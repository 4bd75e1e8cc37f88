"""Transpose in compiled plans: a permutation that swaps two groups of axes (ShuffleNet's
channel shuffle) runs as block copies (lowering.SwapBlocks); every other one runs the strided-copy
kernel (prepare_transpose). Both must equal numpy.transpose."""
import numpy as np
import pytest
from onnx import TensorProto, helper

import pyinfer
from pyinfer.lowering import Lowering, Meta, Native, SwapBlocks
from pyinfer.ops.shape import swap_blocks


def shuffle_model(shape, perm, relu_after=True):
    """x -> Relu -> Transpose(perm) [-> Relu]: the transpose reads and writes arena values."""
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Transpose", ["r"], ["t"], perm=list(perm))]
    out = "t"
    if relu_after:
        nodes.append(helper.make_node("Relu", ["t"], ["y"]))
        out = "y"
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


CASES = [
    ((1, 3, 80, 28, 28), (0, 2, 1, 3, 4), True),    # channel shuffle, batch 1
    ((2, 4, 6, 5, 7), (0, 2, 1, 3, 4), True),       # batch 2: an outer group
    ((6, 20, 32), (1, 0, 2), True),                 # no outer group
    ((2, 3, 4, 16), (0, 2, 1, 3), True),            # 64-byte blocks: the smallest swapped
    ((2, 3, 4, 8), (0, 2, 1, 3), False),            # 32-byte blocks: the kernel
    ((2, 40, 128), (0, 2, 1), False),               # the last axis moves: the kernel
    ((3, 1, 4, 1, 32), (2, 1, 0, 4, 3), True),      # size-1 axes anywhere
    ((2, 3, 4, 5, 16), (0, 3, 1, 2, 4), True),      # axes 1-2 move together past axis 3
    ((2, 3, 4, 5, 16), (1, 0, 3, 2, 4), False),     # two swaps: the kernel
]


@pytest.mark.parametrize("shape,perm,swapped", CASES, ids=[str(c[1]) + "x" + "x".join(map(str, c[0])) for c in CASES])
def test_transpose_plan_matches_numpy(rng, shape, perm, swapped):
    sess = pyinfer.InferenceSession(shuffle_model(shape, perm), executor="plan", num_threads=1)
    x = rng.standard_normal(shape).astype(np.float32)
    want = np.maximum(np.transpose(np.maximum(x, 0), perm), 0)
    for _ in range(3):  # Python path, compile, plan
        (y,) = sess.run(None, {"x": x})
        np.testing.assert_array_equal(y, want)
    (plan,) = sess._executor.cached_plans()
    assert plan.native_steps == 3
    (op,) = [op for op, _, _ in sess._executor.steps if op.op_type == "Transpose"]
    out = tuple(shape[p] for p in perm)
    how = op.lower(Lowering(["r"], [Meta(tuple(shape), np.dtype(np.float32))], [Meta(out, np.dtype(np.float32))], {}))
    assert isinstance(how, SwapBlocks if swapped else Native)


def test_transpose_as_graph_output(rng):
    shape, perm = (2, 4, 6, 5, 7), (0, 2, 1, 3, 4)
    sess = pyinfer.InferenceSession(shuffle_model(shape, perm, relu_after=False), executor="plan")
    x = rng.standard_normal(shape).astype(np.float32)
    for _ in range(3):
        (y,) = sess.run(None, {"x": x})
        np.testing.assert_array_equal(y, np.transpose(np.maximum(x, 0), perm))


def test_swap_blocks_rule():
    assert swap_blocks((1, 3, 80, 28, 28), [0, 2, 1, 3, 4]) == (1, 3, 80, 784)
    assert swap_blocks((2, 3, 4, 5), [0, 3, 1, 2]) == (2, 12, 5, 1)
    assert swap_blocks((2, 3, 4, 5), [2, 3, 0, 1]) == (1, 6, 20, 1)
    assert swap_blocks((2, 3, 4, 5), [1, 0, 3, 2]) is None  # two swaps
    assert swap_blocks((2, 3, 4, 5), [0, 1, 2, 3]) is None  # nothing moves
    assert swap_blocks((1, 6, 1, 5), [2, 3, 0, 1]) == (1, 6, 5, 1)

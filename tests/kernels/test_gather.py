"""Gather as a native kernel (csrc/indexing/gather.cpp) against numpy.take, and in a plan."""
import numpy as np
import pytest
from onnx import TensorProto, helper

import pyinfer
from pyinfer import kernels


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int32, np.uint8, np.bool_])
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("index_dtype", [np.int64, np.int32])
def test_gather_matches_numpy_take(rng, dtype, axis, index_dtype):
    data = (rng.standard_normal((5, 6, 3)) * 10).astype(dtype)
    n = data.shape[axis]
    indices = rng.integers(-n, n, size=(2, 4)).astype(index_dtype)
    got = kernels.gather(data, indices, axis=axis)
    assert got.dtype == data.dtype
    np.testing.assert_array_equal(got, np.take(data, indices, axis=axis))


def test_gather_rows_across_threads(rng):
    table = rng.standard_normal((3000, 768)).astype(np.float32)  # large enough to split over threads
    ids = rng.integers(0, 3000, size=(8, 128))
    np.testing.assert_array_equal(kernels.gather(table, ids, num_threads=2), table[ids])


def test_gather_rejects_out_of_range_indices():
    data = np.zeros((4, 2), np.float32)
    with pytest.raises(pyinfer.KernelArgumentError, match="index 4 is out of range for an axis of 4"):
        kernels.gather(data, np.array([0, 4]))
    with pytest.raises(pyinfer.KernelArgumentError, match="index -5"):
        kernels.gather(data, np.array([-5]))
    with pytest.raises(pyinfer.KernelArgumentError, match="int32 or int64"):
        kernels.gather(data, np.array([0.0], np.float32))


def test_gather_is_a_native_plan_step(rng):
    """An embedding lookup (float32 table, int64 ids) runs in a compiled plan as the kernel."""
    table = rng.standard_normal((50, 16)).astype(np.float32)
    node = helper.make_node("Gather", ["table", "ids"], ["e"], axis=0)
    graph = helper.make_graph([node, helper.make_node("Relu", ["e"], ["y"])], "embed",
                              [helper.make_tensor_value_info("ids", TensorProto.INT64, [2, 7])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[helper.make_tensor("table", TensorProto.FLOAT, table.shape, table.ravel())])
    sess = pyinfer.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
                                    executor="plan")
    ids = rng.integers(-50, 50, size=(2, 7))
    for _ in range(3):
        (y,) = sess.run(None, {"ids": ids})
        np.testing.assert_array_equal(y, np.maximum(table[ids], 0))
    (plan,) = sess._executor.cached_plans()
    assert plan.kind["e"] == "arena"  # a native step's output, not a Python step's
    with pytest.raises(pyinfer.Error, match="out of range"):
        sess.run(None, {"ids": np.full((2, 7), 50, np.int64)})

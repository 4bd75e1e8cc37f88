"""Attributes and index inputs that only fail against a given input: a clear error before any kernel
reads out of bounds. The error class says where the check lives (the op: NodeExecutionError; the
C++ binding's own argument check: KernelArgumentError)."""
import numpy as np
import pytest

import pyinfer
from support.hostile_models import single_op

X4 = np.ones((1, 2, 5, 5), np.float32)
W = np.ones((4, 2, 3, 3), np.float32)
M34 = np.arange(12, dtype=np.float32).reshape(3, 4)

CASES = {
    "conv kernel_shape rank": (single_op("Conv", [[1, 2, 5, 5]], attrs={"kernel_shape": [3]}, consts=[W]), {"X0": X4},
                               pyinfer.NodeExecutionError, "'kernel_shape' has 1 values, expected 2"),
    "conv weight rank": (single_op("Conv", [[1, 2, 5, 5]], consts=[np.ones((4, 2, 3), np.float32)]), {"X0": X4},
                         pyinfer.NodeExecutionError, r"W must have the rank of X \(4\)"),
    "conv group does not divide channels": (single_op("Conv", [[1, 2, 5, 5]], attrs={"group": 3}, consts=[W]),
                                            {"X0": X4}, pyinfer.KernelArgumentError, r"input channels \(2\) are not divisible by group \(3\)"),
    "conv weight channels": (single_op("Conv", [[1, 2, 5, 5]], consts=[np.ones((4, 3, 3, 3), np.float32)]),
                             {"X0": X4}, pyinfer.KernelArgumentError, r"w.shape\[1\] must be input channels"),
    "conv kernel larger than input": (single_op("Conv", [[1, 2, 5, 5]], consts=[np.ones((4, 2, 9, 9), np.float32)]),
                                      {"X0": X4}, pyinfer.KernelArgumentError, "empty output"),
    "conv strides length": (single_op("Conv", [[1, 2, 5, 5]], attrs={"strides": [1, 1, 1]}, consts=[W]), {"X0": X4},
                            pyinfer.NodeExecutionError, "'strides' has 3 values, expected 2"),
    "conv bias length": (single_op("Conv", [[1, 2, 5, 5]], consts=[W, np.ones(3, np.float32)]), {"X0": X4},
                         pyinfer.KernelArgumentError, "bias must have 4 values"),
    "maxpool kernel rank": (single_op("MaxPool", [[1, 2, 5, 5]], attrs={"kernel_shape": [2, 2, 2]}), {"X0": X4},
                            pyinfer.NodeExecutionError, "does not match kernel_shape"),
    "maxpool window larger than input": (single_op("MaxPool", [[1, 2, 5, 5]], attrs={"kernel_shape": [9, 9]}),
                                         {"X0": X4}, pyinfer.KernelArgumentError, "window is larger than the padded input"),
    "softmax axis": (single_op("Softmax", [[1, 2, 5, 5]], attrs={"axis": 7}), {"X0": X4},
                     pyinfer.NodeExecutionError, "axis 7 is out of range for a rank-4 input"),
    "concat axis": (single_op("Concat", [[1, 2, 5, 5], [1, 2, 5, 5]], attrs={"axis": -9}), {"X0": X4, "X1": X4},
                    pyinfer.NodeExecutionError, "axis -9 is out of range for rank 4"),
    "flatten axis": (single_op("Flatten", [[1, 2, 5, 5]], attrs={"axis": 9}), {"X0": X4},
                     pyinfer.NodeExecutionError, "axis 9 is out of range"),
    "transpose perm vs rank": (single_op("Transpose", [[1, 2, 5, 5]], attrs={"perm": [1, 0]}), {"X0": X4},
                               pyinfer.NodeExecutionError, r"perm \[1, 0\] is not a permutation of the 4 axes"),
    "slice step 0": (single_op("Slice", [[1, 2, 5, 5]], consts=[np.array([0]), np.array([1]), np.array([0]),
                                                                  np.array([0])]), {"X0": X4},
                     pyinfer.NodeExecutionError, "step 0 on axis 0 is invalid"),
    "gemm inner dims": (single_op("Gemm", [[2, 3], [4, 5]]), {"X0": np.ones((2, 3), np.float32), "X1": np.ones((4, 5), np.float32)},
                        pyinfer.NodeExecutionError, "inner dimensions differ"),
    "gather index past the end": (single_op("Gather", [[3, 4]], consts=[np.array([5])]), {"X0": M34},
                                  pyinfer.NodeExecutionError, "indices value 5 is out of range for a dimension of size 3"),
    "gather index before the start": (single_op("Gather", [[3, 4]], consts=[np.array([-4])]), {"X0": M34},
                                      pyinfer.NodeExecutionError, "indices value -4 is out of range"),
    "gather int64 extreme": (single_op("Gather", [[3, 4]], consts=[np.array([-2**63])]), {"X0": M34},
                             pyinfer.NodeExecutionError, "out of range for a dimension of size 3"),
    "gather axis": (single_op("Gather", [[3, 4]], attrs={"axis": 2}, consts=[np.array([0])]), {"X0": M34},
                    pyinfer.NodeExecutionError, "axis 2 is out of range for rank 2"),
    "gather_elements": (single_op("GatherElements", [[3, 4]], consts=[np.array([[3]])]), {"X0": M34},
                        pyinfer.NodeExecutionError, "indices value 3 is out of range for a dimension of size 3"),
    "scatter_nd": (single_op("ScatterND", [[3, 4]], consts=[np.array([[-4]]), np.ones((1, 4), np.float32)]), {"X0": M34},
                   pyinfer.NodeExecutionError, "indices value -4 is out of range"),
    "scatter_elements": (single_op("ScatterElements", [[3, 4]], attrs={"axis": 1},
                                   consts=[np.array([[0, 9]]), np.ones((1, 2), np.float32)]), {"X0": M34},
                         pyinfer.KernelArgumentError, "ScatterElements node 'n0': scatter_elements: index 9 is out of range for an axis of 4"),
    "gather_nd": (single_op("GatherND", [[3, 4]], consts=[np.array([[1, 4]])]), {"X0": M34},
                  pyinfer.KernelArgumentError, "GatherND node 'n0': gather_nd: index 4 is out of range"),
    "batchnorm scale length": (single_op("BatchNormalization", [[1, 2, 5, 5]], consts=[np.ones(3, np.float32)] * 4),
                               {"X0": X4}, pyinfer.NodeExecutionError, "expected 2 values"),
    "topk k too big": (single_op("TopK", [[3]], out_count=2, consts=[np.array([10**12])]), {"X0": np.ones(3, np.float32)},
                       pyinfer.NodeExecutionError, "K=1000000000000 is out of range"),
}


def _shapes_undeclared(m):
    """The model with its inputs' shapes left open: only the run can find these faults then (with
    the shapes declared, most are refused at load: tests/test_static_faults.py)."""
    for vi in m.graph.input:
        vi.type.tensor_type.ClearField("shape")
    return m


@pytest.mark.parametrize("case", sorted(CASES))
def test_checked_before_the_kernel(case):
    m, feeds, error, message = CASES[case]
    with pytest.raises(error, match=message) as e:
        pyinfer.InferenceSession(_shapes_undeclared(m)).run(None, feeds)
    assert type(e.value) is error  # exactly this class, not a broader one


def test_negative_indices_in_range_are_legal():
    m = single_op("Gather", [[3, 4]], consts=[np.array([-1, 0, -3])])
    (y,) = pyinfer.InferenceSession(m).run(None, {"X0": M34})
    np.testing.assert_array_equal(y, M34[[2, 0, 0]])

"""Plan steps that used to fall back to Python: FusedGemm (Gemm + activation, the FC layers of
CIFAR / AlexNet / VGG) and ReduceMean / ReduceMax over any axes (global
pooling as PyTorch exports it, a text CNN's max over time) run natively, with the Python path's
results."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import pyinfer

F = TensorProto.FLOAT


def run_three(sess, feeds):
    return [sess.run(None, feeds) for _ in range(3)]


def step_kinds(sess):
    """{output name: plan kind} of the one cached plan."""
    (plan,) = sess._executor.cached_plans()
    return plan.kind


def gemm_relu_model(rng, k=64, n=24):
    w = numpy_helper.from_array(rng.standard_normal((n, k)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(n).astype(np.float32), "b")
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1),
             helper.make_node("Relu", ["g"], ["r"]),
             helper.make_node("Neg", ["r"], ["y"])]  # keeps the fused output inside the plan
    g = helper.make_graph(nodes, "fc", [helper.make_tensor_value_info("x", F, [1, k])],
                          [helper.make_tensor_value_info("y", F, None)], initializer=[w, b])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), w, b


def test_fused_gemm_runs_natively(rng):
    model, w, b = gemm_relu_model(rng)
    x = rng.standard_normal((1, 64)).astype(np.float32)
    want = -np.maximum(x @ numpy_helper.to_array(w).T + numpy_helper.to_array(b), 0)
    sess = pyinfer.InferenceSession(model, executor="plan")
    for (y,) in run_three(sess, {"x": x}):
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    fused = [op for op, _, _ in sess._executor.steps if op.op_type == "FusedGemm"]
    assert len(fused) == 1  # the optimizer fused Gemm + Relu
    assert step_kinds(sess)["r"] == "arena"  # native, not a Python step


def reduce_model(op, axes, keepdims, opset):
    if opset >= 18:
        nodes = [helper.make_node(op, ["x", "axes"], ["r"], keepdims=keepdims)]
        inits = [numpy_helper.from_array(np.array(axes, np.int64), "axes")]
    else:
        nodes = [helper.make_node(op, ["x"], ["r"], axes=axes, keepdims=keepdims)]
        inits = []
    nodes.append(helper.make_node("Relu", ["r"], ["y"]))
    g = helper.make_graph(nodes, "reduce", [helper.make_tensor_value_info("x", F, None)],
                          [helper.make_tensor_value_info("y", F, None)], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize("op, fn", [("ReduceMean", np.mean), ("ReduceMax", np.max)])
@pytest.mark.parametrize("shape, axes, keepdims, opset, native", [
    ((2, 8, 5, 7), [2, 3], 1, 18, True),    # global pooling, axes as an input
    ((2, 8, 5, 7), [-1, -2], 0, 13, True),  # negative axes attribute, no keepdims
    ((3, 6, 38), [2], 1, 18, True),         # max over time
    ((2, 8, 5, 7), [1, 2], 1, 18, True),    # a consecutive run inside: the reduce kernel too
    ((2, 8, 5, 7), [1], 0, 13, True),
    ((2, 8, 5, 7), [1, 3], 1, 18, True),    # not one consecutive run: two passes of the kernel
])
def test_reduce_over_axes(rng, op, fn, shape, axes, keepdims, opset, native):
    model = reduce_model(op, axes, keepdims, opset)
    x = rng.standard_normal(shape).astype(np.float32)
    x.flat[5] = np.nan  # NaN propagates through both
    want = np.maximum(fn(x.astype(np.float64), axis=tuple(axes), keepdims=bool(keepdims)), 0)
    (ref,) = pyinfer.InferenceSession(model, executor="python").run(None, {"x": x})
    sess = pyinfer.InferenceSession(model, executor="plan")
    for (y,) in run_three(sess, {"x": x}):
        assert y.shape == want.shape
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-7)
    assert (step_kinds(sess)["r"] != "py") == native

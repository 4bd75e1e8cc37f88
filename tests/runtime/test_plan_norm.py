"""LRN and (Fused)BatchNormalization as native plan steps: the same outputs as the Python path
and as float64 references."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import pyinfer
from support.norm_reference import lrn_ref


F = TensorProto.FLOAT


def run_three(sess, feeds):
    return [sess.run(None, feeds) for _ in range(3)]


def lrn_model(size, alpha, beta, bias, rank=4):
    nodes = [helper.make_node("LRN", ["x"], ["l"], size=size, alpha=alpha, beta=beta, bias=bias),
             helper.make_node("Relu", ["l"], ["y"])]
    g = helper.make_graph(nodes, "lrn", [helper.make_tensor_value_info("x", F, None)],
                          [helper.make_tensor_value_info("y", F, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("size,alpha,beta,bias,shape", [
    (5, 1e-4, 0.75, 1.0, (1, 16, 13, 11)),
    (4, 0.5, 1.3, 2.0, (2, 7, 19)),
    (3, 0.2, 0.75, 1.0, (1, 5, 3, 4, 5)),
])
def test_lrn_plan_equals_python_path(rng, size, alpha, beta, bias, shape):
    model = lrn_model(size, alpha, beta, bias)
    x = rng.standard_normal(shape).astype(np.float32) * 3
    (ref,) = pyinfer.InferenceSession(model, executor="python").run(None, {"x": x})
    sess = pyinfer.InferenceSession(model, executor="plan")
    for (y,) in run_three(sess, {"x": x}):
        np.testing.assert_array_equal(y, ref)
        np.testing.assert_allclose(y, np.maximum(lrn_ref(x, size, alpha, beta, bias), 0), rtol=1e-5, atol=1e-30)
    (plan,) = sess._executor.cached_plans()
    assert plan.native_steps == 2  # LRN and Relu


def bn_chain_model(rng, c=8):
    """Concat -> BN -> Mul -> Add -> Relu (DenseNet's pre-activation block)."""
    inits = [numpy_helper.from_array(a, n) for n, a in (
        ("s", rng.standard_normal(c).astype(np.float32)), ("b", rng.standard_normal(c).astype(np.float32)),
        ("m", rng.standard_normal(c).astype(np.float32)), ("v", rng.uniform(0.2, 2, c).astype(np.float32)),
        ("k", rng.standard_normal((c, 1, 1)).astype(np.float32)),
        ("a", rng.standard_normal((1, c, 1, 1)).astype(np.float32)))]
    nodes = [helper.make_node("Concat", ["x1", "x2"], ["cat"], axis=1),
             helper.make_node("BatchNormalization", ["cat", "s", "b", "m", "v"], ["bn"]),
             helper.make_node("Mul", ["bn", "k"], ["mul"]),
             helper.make_node("Add", ["mul", "a"], ["add"]),
             helper.make_node("Relu", ["add"], ["y"])]
    g = helper.make_graph(nodes, "bn", [helper.make_tensor_value_info("x1", F, [1, 3, "H", "W"]),
                                        helper.make_tensor_value_info("x2", F, [1, c - 3, "H", "W"])],
                          [helper.make_tensor_value_info("y", F, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 15)])


def test_fused_bn_plan_equals_python_path_and_unfused(rng):
    model = bn_chain_model(np.random.default_rng(0))
    feeds = {"x1": rng.standard_normal((1, 3, 9, 70)).astype(np.float32),
             "x2": rng.standard_normal((1, 5, 9, 70)).astype(np.float32)}
    unfused = pyinfer.InferenceSession(model, executor="python",
                                       graph_optimization_level=pyinfer.GraphOptimizationLevel.ORT_DISABLE_ALL)
    (ref,) = unfused.run(None, feeds)
    (py,) = pyinfer.InferenceSession(model, executor="python").run(None, feeds)
    sess = pyinfer.InferenceSession(model, executor="plan")
    for (y,) in run_three(sess, feeds):
        np.testing.assert_array_equal(y, py)
        np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    (plan,) = sess._executor.cached_plans()
    assert [op.op_type for op in plan.step_ops] == ["Concat", "FusedBatchNormalization"]
    assert plan.native_steps == 2


def test_unfused_bn_chain_still_runs_natively(rng):
    model = bn_chain_model(np.random.default_rng(1))
    feeds = {"x1": rng.standard_normal((1, 3, 4, 5)).astype(np.float32),
             "x2": rng.standard_normal((1, 5, 4, 5)).astype(np.float32)}
    level = pyinfer.GraphOptimizationLevel.ORT_ENABLE_BASIC
    (py,) = pyinfer.InferenceSession(model, executor="python", graph_optimization_level=level).run(None, feeds)
    sess = pyinfer.InferenceSession(model, executor="plan", graph_optimization_level=level)
    for (y,) in run_three(sess, feeds):
        np.testing.assert_array_equal(y, py)
    (plan,) = sess._executor.cached_plans()
    assert plan.native_steps == 5

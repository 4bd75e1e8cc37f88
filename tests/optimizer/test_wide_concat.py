"""A Concat of more inputs than one plan step takes -> a tree of Concats: the same values (against
numpy), every step native in static and dynamic plans."""
import numpy as np
import pytest
from onnx import TensorProto, helper

import pyinfer
from pyinfer.cli.python_steps import python_steps
from pyinfer.lowering import MAX_STEP_INPUTS
from support.opt_helpers import make_model, optimize_and_compare, vi

PASSES = ["split_wide_concat", "eliminate_dead_nodes"]


def _model(n, axis, dtype=TensorProto.FLOAT, width=3):
    """x (N, width) -> n pieces x * (i + 1) (Mul by a constant) -> Concat(axis)."""
    nodes, inits = [], []
    for i in range(n):
        inits.append(helper.make_tensor(f"c{i}", dtype, [], [i + 1]))
        nodes.append(helper.make_node("Mul", ["x", f"c{i}"], [f"p{i}"]))
    nodes.append(helper.make_node("Concat", [f"p{i}" for i in range(n)], ["y"], axis=axis, name="wide"))
    return make_model(nodes, [vi("x", ["N", width], dtype)], [vi("y", None, dtype)], inits)


@pytest.mark.parametrize("n", [MAX_STEP_INPUTS, MAX_STEP_INPUTS + 1, 90, MAX_STEP_INPUTS ** 2 + 5])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_wide_concat_becomes_a_tree_of_native_concats(rng, n, axis):
    model = _model(n, axis)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    out, report, (y,) = optimize_and_compare(model, {"x": x}, only=PASSES, rtol=0, atol=0)
    np.testing.assert_array_equal(y, np.concatenate([x * (i + 1) for i in range(n)], axis=axis))
    concats = [node for node in out.graph.node if node.op_type == "Concat"]
    assert all(len(c.input) <= MAX_STEP_INPUTS for c in concats)
    assert (len(concats) == 1) == (n <= MAX_STEP_INPUTS)
    assert [c for c in concats if c.output[0] == "y"][0].name == "wide"
    info = python_steps(model, feeds={"x": x})
    assert info["compiled"] and info["python"] == [], info["python"]


def test_dynamic_plan_runs_the_tree_natively(rng):
    n = 40
    sess = pyinfer.InferenceSession(_model(n, 0, TensorProto.INT64), executor="plan")
    for rows in (2, 2, 5, 1, 7):  # 2, 2: static plan; then other shapes: the dynamic plan
        x = rng.integers(-50, 50, (rows, 3)).astype(np.int64)
        (y,) = sess.run(None, {"x": x})
        np.testing.assert_array_equal(y, np.concatenate([x * (i + 1) for i in range(n)], axis=0))
    (plan,) = sess._executor.dynamic_plans()
    assert plan.native_steps == len(plan.step_ops)

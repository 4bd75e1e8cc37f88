"""Control flow in compiled plans: If / Loop bodies run on plans of their own (static or dynamic),
the values they read from the enclosing graphs passed in, the enclosing graph planned around them."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import pyinfer
from support.control_flow_models import if_conv_lstm_model, loop_gru_model

F = TensorProto.FLOAT


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def _gru_reference(model, x, h):
    w = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    ys = []
    for t in range(x.shape[0]):
        z = _sigmoid(x[t] @ w["Wz"] + h @ w["Rz"] + w["bz"])
        r = _sigmoid(x[t] @ w["Wr"] + h @ w["Rr"] + w["br"])
        n = np.tanh(x[t] @ w["Wh"] + (r * h) @ w["Rh"] + w["bh"])
        h = (1 - z) * n + z * h
        ys.append(h)
    return np.stack(ys), h


def test_loop_gru_matches_numpy_and_its_body_runs_on_a_plan(rng):
    model = loop_gru_model(rng)
    sess = pyinfer.InferenceSession(model)
    for steps in [6, 6, 9, 6, 1, 17, 9]:
        x = rng.standard_normal((steps, 1, 16)).astype(np.float32)
        h0 = rng.standard_normal((1, 32)).astype(np.float32)
        y, h = sess.run(None, {"x": x, "h0": h0})
        want_y, want_h = _gru_reference(model, x, h0)
        np.testing.assert_allclose(y, want_y, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(h, want_h, rtol=1e-4, atol=1e-5)
    ex = sess._executor
    assert ex.cached_plans() and ex.dynamic_plans()  # the main graph: one length static, others dynamic
    (loop,) = [op for op, _, _ in ex.steps if op.op_type == "Loop"]
    plans = loop.body.cached_plans() + loop.body.dynamic_plans()  # x (read from outside) changes length
    # Every step of the (optimized) body is native: the gates' Gemms with their Sigmoid / Tanh, Mul, Sub, Add.
    body_steps = len(loop.body.steps)
    assert body_steps <= 13 and plans and all(p.native_steps == body_steps for p in plans)
    assert loop.body.outer_names == ["x"]  # the weights are the body's own constants


@pytest.mark.parametrize("rate", [16000, 8000])
def test_if_branches_run_on_plans_and_read_the_main_graphs_weights(rng, rate):
    model = if_conv_lstm_model(rng)
    py = pyinfer.InferenceSession(model, executor="python")
    sess = pyinfer.InferenceSession(model)
    for steps in [20, 20, 33, 20, 48]:
        feeds = {"x": rng.standard_normal((1, 8, steps)).astype(np.float32), "sr": np.array([rate], np.int64),
                 "h0": rng.standard_normal((1, 1, 32)).astype(np.float32),
                 "c0": rng.standard_normal((1, 1, 32)).astype(np.float32)}
        for got, want in zip(sess.run(None, feeds), py.run(None, feeds)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    ex = sess._executor
    (if_op,) = [op for op, _, _ in ex.steps if op.op_type == "If"]
    branch = if_op.then_branch if rate == 16000 else if_op.else_branch
    plans = branch.cached_plans() + branch.dynamic_plans()
    assert plans and all(p.native_steps >= 5 for p in plans)
    assert branch.outer_names == ["c0", "h0", "x"]


def test_nested_bodies_read_values_two_scopes_up(rng):
    """A Loop whose body holds an If whose branches read the main graph's feed `bias` and the
    Loop body's own value: both reach the inner plan."""
    then_g = helper.make_graph([helper.make_node("Add", ["acc_in", "bias"], ["o"])], "then", [],
                               [helper.make_tensor_value_info("o", F, None)])
    else_g = helper.make_graph([helper.make_node("Sub", ["acc_in", "bias"], ["o2"])], "else", [],
                               [helper.make_tensor_value_info("o2", F, None)])
    body = helper.make_graph(
        [helper.make_node("Mod", ["i", "two"], ["m"]), helper.make_node("Equal", ["m", "zero"], ["even"]),
         helper.make_node("If", ["even"], ["acc_out"], then_branch=then_g, else_branch=else_g),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("acc_in", F, None)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), helper.make_tensor_value_info("acc_out", F, None)],
        initializer=[numpy_helper.from_array(np.array(2, np.int64), "two"),
                     numpy_helper.from_array(np.array(0, np.int64), "zero")])
    graph = helper.make_graph(
        [helper.make_node("Loop", ["n", "", "x"], ["y"], body=body)], "nested",
        [helper.make_tensor_value_info("n", TensorProto.INT64, []), helper.make_tensor_value_info("x", F, ["N"]),
         helper.make_tensor_value_info("bias", F, ["N"])],
        [helper.make_tensor_value_info("y", F, None)])
    sess = pyinfer.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    for n, size in [(5, 4), (5, 4), (6, 4), (5, 7), (3, 7)]:
        x, bias = rng.standard_normal(size).astype(np.float32), rng.standard_normal(size).astype(np.float32)
        (y,) = sess.run(None, {"n": np.array(n, np.int64), "x": x, "bias": bias})
        want = x + bias * (1 if n % 2 else 0)  # +b, -b, +b, ...
        np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)

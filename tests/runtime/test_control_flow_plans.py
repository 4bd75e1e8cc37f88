"""Control flow in compiled plans: If branches inlined into the enclosing graph's dynamic plan (a
condition step jumps over the branch not taken); Loop bodies run on plans of their own (static or
dynamic), the values they read from the enclosing graphs passed in."""
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


def _if_feeds(rng, steps, rate):
    return {"x": rng.standard_normal((1, 8, steps)).astype(np.float32), "sr": np.array([rate], np.int64),
            "h0": rng.standard_normal((1, 1, 32)).astype(np.float32),
            "c0": rng.standard_normal((1, 1, 32)).astype(np.float32)}


def _branch_op_types(plan, branch):
    """(op type, native?) of the plan's steps that are the branch's own nodes."""
    mine = {id(op) for op, _, _ in branch.steps}
    return [(op.op_type, plan.program.is_native(i)) for i, op in enumerate(plan.step_ops) if id(op) in mine]


@pytest.mark.parametrize("rate", [16000, 8000])
def test_if_branches_are_inlined_into_the_dynamic_plan(rng, rate):
    """Both branches' nodes are steps of the main graph's dynamic plan, native, reading the main
    graph's feeds (and, for the 8 kHz branch, its weights) from their slots: the branch taken
    from its recorded shapes, the other from a run on zeros of the shapes it reads."""
    model = if_conv_lstm_model(rng)
    py = pyinfer.InferenceSession(model, executor="python")
    sess = pyinfer.InferenceSession(model)
    for steps in [20, 20, 33, 20, 48]:
        feeds = _if_feeds(rng, steps, rate)
        for got, want in zip(sess.run(None, feeds), py.run(None, feeds)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    ex = sess._executor
    assert not ex.cached_plans()  # a graph with an If takes its dynamic plan from the second call
    (plan,) = ex.dynamic_plans()
    (if_op,) = [op for op, _, _ in ex.steps if op.op_type == "If"]
    for branch in (if_op.then_branch, if_op.else_branch):
        steps = _branch_op_types(plan, branch)
        assert {t for t, _ in steps} >= {"FusedConv", "LSTM", "Transpose"} and all(native for _, native in steps)
    assert all(plan.program.is_native(i) for i in range(plan.program.n_steps))
    taken = if_op.then_branch if rate == 16000 else if_op.else_branch
    assert taken.outer_names == ["c0", "h0", "x"]


def test_a_branch_that_fails_on_zeros_is_inlined_once_taken(rng):
    """A branch the plan cannot record on zeros (its Range's step comes from the data: 0 is an
    error) stays one Python step until a call takes it; then the plan is compiled again with it
    inlined, and both branches keep matching the Python executor."""
    ints = {"z": np.array(0, np.int64), "i0": np.array([0], np.int64)}
    then_g = helper.make_graph(
        [helper.make_node("ReduceMax", ["step"], ["d"], keepdims=0),
         helper.make_node("Range", ["z", "n", "d"], ["r"]),
         helper.make_node("Cast", ["r"], ["rf"], to=F),
         helper.make_node("ReduceSum", ["rf"], ["t"], keepdims=1)], "then", [],
        [helper.make_tensor_value_info("t", F, None)])
    else_g = helper.make_graph([helper.make_node("ReduceMean", ["x"], ["m"], keepdims=1)], "else", [],
                               [helper.make_tensor_value_info("m", F, None)])
    graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)], "g",
        [helper.make_tensor_value_info("c", TensorProto.BOOL, []), helper.make_tensor_value_info("x", F, ["N"]),
         helper.make_tensor_value_info("step", TensorProto.INT64, [1]), helper.make_tensor_value_info("n", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("y", F, None)],
        initializer=[numpy_helper.from_array(v, k) for k, v in ints.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    py = pyinfer.InferenceSession(model, executor="python")
    sess = pyinfer.InferenceSession(model)

    def python_ops(plan):
        return [plan.step_ops[i].op_type for i in range(plan.program.n_steps) if not plan.program.is_native(i)]
    plans = []
    for c, size, step, n in [(False, 4, 1, 5), (False, 4, 1, 5), (False, 6, 2, 7), (True, 6, 2, 9), (True, 3, 3, 10),
                             (False, 5, 1, 2)]:
        feeds = {"c": np.array(c), "x": rng.standard_normal(size).astype(np.float32),
                 "step": np.array([step], np.int64), "n": np.array(n, np.int64)}
        (got,), (want,) = sess.run(None, feeds), py.run(None, feeds)
        np.testing.assert_allclose(got, want, rtol=1e-6)
        plans.append(sess._executor.dynamic_plans())
    assert python_ops(plans[2][0]) == ["If"]  # the then branch: one Python step
    (last,) = plans[-1]
    assert python_ops(last) == [] and last is not plans[2][0]  # compiled again once it was taken


def _if_model(then_nodes, else_nodes, then_out, else_out, inits=(), cond_shape=(), outer_nodes=()):
    """y = If(c, then, else) over x [N]; branch outputs given by name (may be x itself, an
    initializer or a value computed in the branch)."""
    then_g = helper.make_graph(then_nodes, "then", [], [helper.make_tensor_value_info(n, F, None) for n in then_out])
    else_g = helper.make_graph(else_nodes, "else", [], [helper.make_tensor_value_info(n, F, None) for n in else_out])
    nodes = list(outer_nodes) + [helper.make_node("If", ["c"], [f"y{j}" for j in range(len(then_out))],
                                                  then_branch=then_g, else_branch=else_g)]
    graph = helper.make_graph(
        nodes, "if_model",
        [helper.make_tensor_value_info("c", TensorProto.BOOL, list(cond_shape)),
         helper.make_tensor_value_info("x", F, ["N"])],
        [helper.make_tensor_value_info(f"y{j}", F, None) for j in range(len(then_out))], initializer=list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run_both(sess, rng, sizes, conds):
    for n, c in zip(sizes, conds):
        x = rng.standard_normal(n).astype(np.float32)
        yield c, x, sess.run(None, {"c": np.array(c), "x": x})


def test_if_outputs_from_outside_the_branch(rng):
    """Branch outputs that are the enclosing graph's feed or an initializer are bound to the
    If's outputs (graph outputs: arrays of their own)."""
    k = numpy_helper.from_array(np.array([1.5, -2.0, 0.25], np.float32), "k")
    model = _if_model([helper.make_node("Neg", ["x"], ["t"])], [helper.make_node("Abs", ["x"], ["a"])],
                      ["t", "x"], ["x", "a"])
    sess = pyinfer.InferenceSession(model)
    for c, x, (y0, y1) in _run_both(sess, rng, [4, 4, 6, 9, 9, 5], [True, True, False, True, False, False]):
        want = (-x, x) if c else (x, np.abs(x))
        for got, w in zip((y0, y1), want):
            np.testing.assert_array_equal(got, w)
        assert not np.shares_memory(y1 if c else y0, x)  # the caller's arrays are its own
    (plan,) = sess._executor.dynamic_plans()
    assert all(plan.program.is_native(i) for i in range(plan.program.n_steps))
    consts = _if_model([], [helper.make_node("Mul", ["x", "k"], ["m"])], ["k"], ["m"], inits=[k])
    sess = pyinfer.InferenceSession(consts)
    k_arr = numpy_helper.to_array(k)
    for c, x, (y,) in _run_both(sess, rng, [3, 3, 3, 3], [False, False, True, False]):
        np.testing.assert_allclose(y, k_arr if c else x * k_arr, rtol=1e-6)
        assert not np.shares_memory(y, k_arr)


def test_if_output_read_by_later_nodes_and_a_condition_of_wrong_size(rng):
    """An If output inside the graph (read by a later node) lives as long as its readers in
    either branch's storage; a condition of two elements is an error naming the If."""
    model = _if_model([helper.make_node("Relu", ["x"], ["r"])], [helper.make_node("Sigmoid", ["x"], ["s"])],
                      ["r"], ["s"], cond_shape=[None])
    # y0 -> z = y0 * 2 + x: the If output read later, x read after the If
    g = model.graph
    g.node.extend([helper.make_node("Add", ["y0", "y0"], ["d"]), helper.make_node("Add", ["d", "x"], ["z"])])
    del g.output[:]
    g.output.extend([helper.make_tensor_value_info("z", F, None)])
    g.input[0].CopyFrom(helper.make_tensor_value_info("c", TensorProto.BOOL, ["one"]))
    sess = pyinfer.InferenceSession(model)
    for n, c in [(5, True), (5, True), (8, False), (3, True), (8, False)]:
        x = rng.standard_normal(n).astype(np.float32)
        (z,) = sess.run(None, {"c": np.array([c]), "x": x})
        y = np.maximum(x, 0) if c else 1 / (1 + np.exp(-x))
        np.testing.assert_allclose(z, 2 * y + x, rtol=1e-6, atol=1e-6)
    with pytest.raises(pyinfer.Error, match="If node .*condition"):
        sess.run(None, {"c": np.array([True, False]), "x": np.ones(8, np.float32)})


def test_nested_if_inlined_and_profiled(rng, tmp_path):
    """An If inside an If's branch is inlined too; the profiler steps through the jumps."""
    inner_then = helper.make_graph([helper.make_node("Neg", ["x"], ["n"])], "it", [],
                                   [helper.make_tensor_value_info("n", F, None)])
    inner_else = helper.make_graph([helper.make_node("Exp", ["x"], ["e"])], "ie", [],
                                   [helper.make_tensor_value_info("e", F, None)])
    then_nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
                  helper.make_node("Greater", ["s", "zero"], ["pos"]),
                  helper.make_node("If", ["pos"], ["inner"], then_branch=inner_then, else_branch=inner_else)]
    model = _if_model(then_nodes, [helper.make_node("Abs", ["x"], ["a"])], ["inner"], ["a"],
                      inits=[numpy_helper.from_array(np.array(0, np.float32), "zero")])
    sess = pyinfer.InferenceSession(model)
    opts = pyinfer.SessionOptions()
    opts.enable_profiling = True
    opts.profile_file_prefix = str(tmp_path / "prof")
    prof = pyinfer.InferenceSession(model, opts)
    for n in [4, 4, 6, 6, 6, 5, 7, 9, 3]:
        for c in (True, False):
            x = rng.standard_normal(n).astype(np.float32)
            want = (-x if x.sum() > 0 else np.exp(x)) if c else np.abs(x)
            for s in (sess, prof):
                (y,) = s.run(None, {"c": np.array(c), "x": x})
                np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)
    (plan,) = sess._executor.dynamic_plans()
    types = [op.op_type for op in plan.step_ops]
    assert {"Neg", "Exp", "Abs", "ReduceSum"} <= set(types)
    assert all(plan.program.is_native(i) for i in range(plan.program.n_steps))
    events = __import__("json").load(open(prof.end_profiling()))
    ran = {e["args"]["op_name"] for e in events if e.get("cat") == "Node"}
    assert {"Neg", "Exp", "Abs"} <= ran


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

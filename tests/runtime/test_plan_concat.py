"""Concat in compiled plans: along an axis with nothing outside it (batch 1, channels), inputs made
by native steps are written straight into the Concat's output (each an ALIAS at its offset) and
the Concat does nothing; anything else copies. Every case must equal NumPy."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import pyinfer
from pyinfer.plan import ALIAS, ARENA


def model(nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
                              initializer=list(inits))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m.SerializeToString()


def compiled(m, feeds):
    sess = pyinfer.InferenceSession(m, executor="plan", num_threads=1)
    results = [sess.run(None, feeds) for _ in range(3)]  # Python path, compile, plan
    (plan,) = sess._executor.cached_plans()
    return results, plan


def relu(x):
    return np.maximum(x, 0)


def test_fire_module_concat_in_place(rng):
    """SqueezeNet's fire module: two branches concatenated on channels, then read again."""
    c = rng.standard_normal((1, 4, 5, 6)).astype(np.float32)
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Add", ["x", "c"], ["b"]),
             helper.make_node("Concat", ["a", "b"], ["cat"], axis=1), helper.make_node("Sigmoid", ["cat"], ["y"])]
    m = model(nodes, [("x", [1, 4, 5, 6])], ["y"], [numpy_helper.from_array(c, "c")])
    x = rng.standard_normal((1, 4, 5, 6)).astype(np.float32)
    want = 1 / (1 + np.exp(-np.concatenate([relu(x), x + c], axis=1)))
    results, plan = compiled(m, {"x": x})
    for (y,) in results:
        np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)
    assert plan.kind["a"] == ALIAS and plan.kind["b"] == ALIAS and plan.kind["cat"] == ARENA
    assert plan.alias_base["a"] == plan.alias_base["b"] == "cat"
    assert (plan.alias_offset["a"], plan.alias_offset["b"]) == (0, x.nbytes)


def test_dense_block_chain_with_reused_inputs(rng):
    """DenseNet: each concat feeds the next one and is read by its own layer too; every
    intermediate stays readable (x0 and c1 read again at the end)."""
    nodes = [helper.make_node("Relu", ["x"], ["x0"]),
             helper.make_node("Sigmoid", ["x0"], ["f0"]), helper.make_node("Concat", ["x0", "f0"], ["c1"], axis=1),
             helper.make_node("Tanh", ["c1"], ["f1"]), helper.make_node("Concat", ["c1", "f1"], ["c2"], axis=1),
             helper.make_node("Elu", ["c2"], ["f2"]), helper.make_node("Concat", ["c2", "f2"], ["c3"], axis=1),
             helper.make_node("Relu", ["c3"], ["y"]),
             helper.make_node("Add", ["x0", "x0"], ["x0x2"]), helper.make_node("Sigmoid", ["c1"], ["c1s"])]
    m = model(nodes, [("x", [1, 3, 4, 4])], ["y", "x0x2", "c1s"])
    x = rng.standard_normal((1, 3, 4, 4)).astype(np.float32)
    x0 = relu(x)
    c1 = np.concatenate([x0, 1 / (1 + np.exp(-x0))], 1)
    c2 = np.concatenate([c1, np.tanh(c1)], 1)
    c3 = np.concatenate([c2, np.where(c2 > 0, c2, np.expm1(c2))], 1)
    results, plan = compiled(m, {"x": x})
    for y, x0x2, c1s in results:
        np.testing.assert_allclose(y, relu(c3), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(x0x2, 2 * x0, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(c1s, 1 / (1 + np.exp(-c1)), rtol=1e-6, atol=1e-6)
    assert plan.alias_base["x0"] == plan.alias_base["f1"] == "c3"  # nested: one buffer
    assert plan.alias_offset["f1"] == c1.nbytes and plan.alias_offset["f2"] == c2.nbytes


@pytest.mark.parametrize("case", ["batch2", "graph_output", "twice", "feed_input"])
def test_concats_that_copy(rng, case):
    shape = [2, 3, 4] if case == "batch2" else [1, 3, 4]
    x = rng.standard_normal(shape).astype(np.float32)
    a_in = "x" if case == "feed_input" else "a"
    ins = [a_in, a_in] if case == "twice" else [a_in, "b"]
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["x"], ["b"]),
             helper.make_node("Concat", ins, ["cat"], axis=1)]
    outputs = ["cat"]
    if case != "graph_output":
        nodes.append(helper.make_node("Relu", ["cat"], ["y"]))
        outputs = ["y", "a"] if case != "feed_input" else ["y"]
    m = model(nodes, [("x", shape)], outputs)
    vals = {"x": x, "a": relu(x), "b": -x}
    cat = np.concatenate([vals[n] for n in ins], axis=1)
    results, plan = compiled(m, {"x": x})
    for out in results:
        np.testing.assert_allclose(out[0], cat if case == "graph_output" else relu(cat), rtol=1e-6, atol=1e-6)
    assert all(plan.kind.get(n) != ALIAS for n in ins)


def test_inputs_are_not_overwritten_before_the_concat(rng):
    """The output's buffer lives from its first input's step: a value alive only between the
    inputs' steps and the Concat must not be placed in it (it would overwrite `a`)."""
    nodes = [helper.make_node("Relu", ["x"], ["a"]),
             helper.make_node("Sigmoid", ["x"], ["t1"]), helper.make_node("Tanh", ["t1"], ["t2"]),
             helper.make_node("Mul", ["t2", "t2"], ["b"]),
             helper.make_node("Concat", ["a", "b"], ["cat"], axis=1), helper.make_node("Relu", ["cat"], ["y"])]
    m = model(nodes, [("x", [1, 8, 6, 6])], ["y"])
    x = rng.standard_normal((1, 8, 6, 6)).astype(np.float32)
    t2 = np.tanh(1 / (1 + np.exp(-x)))
    want = relu(np.concatenate([relu(x), t2 * t2], 1))
    results, plan = compiled(m, {"x": x})
    for (y,) in results:
        np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)
    assert plan.kind["a"] == ALIAS and plan.kind["b"] == ALIAS

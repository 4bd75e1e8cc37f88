"""Dead-node and unused-initializer elimination."""
import numpy as np
from onnx import helper

from support.opt_helpers import const, make_model, op_types, optimize_and_compare, random, vi


def test_dead_branch_and_unused_initializers_are_removed(rng):
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Mul", ["x", "w_dead"], ["dead1"]),  # nothing reads dead1 / dead2
        helper.make_node("Sigmoid", ["dead1"], ["dead2"]),
        helper.make_node("Add", ["r", "b"], ["y"]),
    ]
    inits = [const("b", np.float32(0.5)), const("w_dead", np.float32(2.0)), const("never_read", np.ones(3, np.float32))]
    model = make_model(nodes, [vi("x", [2, 3])], [vi("y", [2, 3])], inits)
    out, report, (y,) = optimize_and_compare(model, {"x": random(rng, (2, 3))}, only="eliminate_dead_nodes")
    assert op_types(out) == ["Relu", "Add"]
    assert sorted(t.name for t in out.graph.initializer) == ["b"]
    assert report.pass_counts["eliminate_dead_nodes"] == 4  # 2 nodes + 2 initializers


def test_overridable_initializer_and_values_read_by_a_subgraph_are_kept(rng):
    # "k" is an initializer listed as a graph input: a feed may replace it, so it stays even unused.
    then_g = helper.make_graph([helper.make_node("Identity", ["inner"], ["t_out"])], "then", [], [vi("t_out", [3])])
    else_g = helper.make_graph([helper.make_node("Neg", ["inner"], ["e_out"])], "else", [], [vi("e_out", [3])])
    nodes = [
        helper.make_node("Relu", ["x"], ["inner"]),  # read only inside the If branches
        helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g),
    ]
    model = make_model(nodes, [vi("x", [3]), vi("cond", [], 9), vi("k", [3])], [vi("y", [3])],
                       [const("k", np.zeros(3, np.float32))])
    x = random(rng, (3,))
    for cond in (True, False):
        out, report, (y,) = optimize_and_compare(model, {"x": x, "cond": np.array(cond)}, only="eliminate_dead_nodes")
        np.testing.assert_allclose(y, np.maximum(x, 0) * (1 if cond else -1))
    assert op_types(out) == ["Relu", "If"]
    assert [t.name for t in out.graph.initializer] == ["k"]
    assert report.pass_counts["eliminate_dead_nodes"] == 0


def test_optional_outputs_nobody_reads_are_dropped(rng):
    """Dropout's mask and MaxPool's indices, declared but never read (onnx's light AlexNet / VGG
    write masks so): dropped, and the plan then runs them natively; TopK's indices are required
    by its schema and stay."""
    from pyinfer.cli.python_steps import python_steps

    nodes = [
        helper.make_node("Dropout", ["x"], ["d", "mask"], ratio=0.5),
        helper.make_node("MaxPool", ["d"], ["p", "where"], kernel_shape=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("TopK", ["f", "k"], ["y", "idx"]),
    ]
    model = make_model(nodes, [vi("x", [1, 2, 4, 4])], [vi("y", None)], [const("k", np.array([3], np.int64))],
                       opset=13)
    out, report, _ = optimize_and_compare(model, {"x": random(rng, (1, 2, 4, 4))}, only="eliminate_dead_nodes")
    outputs = {n.op_type: list(n.output) for n in out.graph.node}
    assert outputs["Dropout"] == ["d", ""] and outputs["MaxPool"] == ["p", ""] and outputs["TopK"] == ["y", "idx"]
    assert report.pass_counts["eliminate_dead_nodes"] == 2
    info = python_steps(out, feeds={"x": random(rng, (1, 2, 4, 4))})
    assert info["compiled"] and not [s for s in info["python"] if s["op"] in ("Dropout", "MaxPool")]

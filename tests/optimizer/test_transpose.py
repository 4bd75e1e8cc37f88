"""Transpose pairs: inverse pairs cancel, others merge."""
import numpy as np
from onnx import helper

from support.opt_helpers import make_model, op_types, optimize_and_compare, random, vi

PASSES = ["cancel_transposes", "eliminate_dead_nodes"]


def test_inverse_pair_cancels(rng):
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]),
             helper.make_node("Transpose", ["t"], ["u"], perm=[0, 3, 1, 2]),
             helper.make_node("Relu", ["u"], ["y"])]
    model = make_model(nodes, [vi("x", [1, 2, 3, 4])], [vi("y", None)])
    x = random(rng, (1, 2, 3, 4))
    out, report, (y,) = optimize_and_compare(model, {"x": x}, only=PASSES)
    assert op_types(out) == ["Relu"] and list(out.graph.node[0].input) == ["x"]
    np.testing.assert_array_equal(y, np.maximum(x, 0))


def test_default_perm_pair_cancels_and_first_stays_for_its_other_reader(rng):
    nodes = [helper.make_node("Transpose", ["x"], ["t"]), helper.make_node("Transpose", ["t"], ["u"]),
             helper.make_node("Add", ["u", "x"], ["y"]), helper.make_node("Neg", ["t"], ["z"])]
    model = make_model(nodes, [vi("x", [2, 3, 4])], [vi("y", None), vi("z", None)])
    out, _, _ = optimize_and_compare(model, {"x": random(rng, (2, 3, 4))}, only=PASSES)
    assert sorted(op_types(out)) == ["Add", "Neg", "Transpose"]


def test_non_inverse_pair_merges_into_one(rng):
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 2, 0]),
             helper.make_node("Transpose", ["t"], ["y"], perm=[0, 2, 1])]
    model = make_model(nodes, [vi("x", [2, 3, 4])], [vi("y", None)])
    x = random(rng, (2, 3, 4))
    out, _, (y,) = optimize_and_compare(model, {"x": x}, only=PASSES)
    assert op_types(out) == ["Transpose"]
    np.testing.assert_array_equal(y, x.transpose(1, 2, 0).transpose(0, 2, 1))


def test_pair_into_a_graph_output_from_a_graph_input_stays(rng):
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0]), helper.make_node("Transpose", ["t"], ["y"], perm=[1, 0])]
    model = make_model(nodes, [vi("x", [2, 3])], [vi("y", None)])
    out, _, (y,) = optimize_and_compare(model, {"x": random(rng, (2, 3))}, only=PASSES)
    assert y.shape == (2, 3) and len(out.graph.node) == 2

"""Identity and inference Dropout removal, no-op Casts and Mul / Div by one."""
import numpy as np
from onnx import TensorProto, helper

from support.opt_helpers import ALL, const, make_model, op_types, optimize_and_compare, random, vi

from pyinfer.optimizer import optimize


def test_identity_chain_and_dropout_are_removed(rng):
    nodes = [
        helper.make_node("Identity", ["x"], ["a"]),
        helper.make_node("Relu", ["a"], ["b"]),
        helper.make_node("Dropout", ["b"], ["c"]),
        helper.make_node("Identity", ["c"], ["d"]),
        helper.make_node("Sigmoid", ["d"], ["y"]),
    ]
    model = make_model(nodes, [vi("x", [4])], [vi("y", [4])])
    x = random(rng, (4,))
    out, report, (y,) = optimize_and_compare(model, {"x": x}, only=["remove_identity", "eliminate_dead_nodes"])
    assert op_types(out) == ["Relu", "Sigmoid"]
    assert report.pass_counts["remove_identity"] == 3
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-np.maximum(x, 0))), rtol=1e-5)


def test_dropout_with_false_training_mode_removed_but_used_mask_or_training_kept(rng):
    nodes = [
        helper.make_node("Dropout", ["x", "ratio", "off"], ["a"]),
        helper.make_node("Dropout", ["a"], ["b", "mask"]),  # the mask is a graph output: keep
    ]
    inits = [const("ratio", np.float32(0.3)), const("off", np.array(False))]
    model = make_model(nodes, [vi("x", [4])], [vi("b", [4]), vi("mask", [4], TensorProto.BOOL)], inits)
    out, _, (b, mask) = optimize_and_compare(model, {"x": random(rng, (4,))}, only="remove_identity")
    assert op_types(out) == ["Dropout"] and list(out.graph.node[0].input) == ["x"]
    assert mask.all()

    # training_mode fed at run time is not a constant: the Dropout stays.
    nodes = [helper.make_node("Dropout", ["x", "", "t"], ["y"])]
    model = make_model(nodes, [vi("x", [4]), vi("t", [], TensorProto.BOOL)], [vi("y", [4])])
    out, _, _ = optimize_and_compare(model, {"x": random(rng, (4,)), "t": np.array(False)}, only="remove_identity")
    assert op_types(out) == ["Dropout"]


def test_identity_into_a_graph_output_renames_the_producer(rng):
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Identity", ["r"], ["y"])]
    model = make_model(nodes, [vi("x", [3])], [vi("y", [3])])
    out, _, _ = optimize_and_compare(model, {"x": random(rng, (3,))}, only="remove_identity")
    assert op_types(out) == ["Relu"] and list(out.graph.node[0].output) == ["y"]

    # Input straight to output, or a value that is itself an output: nothing to rename, keep it.
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Identity", ["r"], ["y"]),
             helper.make_node("Identity", ["x"], ["z"])]
    model = make_model(nodes, [vi("x", [3])], [vi("r", [3]), vi("y", [3]), vi("z", [3])])
    out, report, _ = optimize_and_compare(model, {"x": random(rng, (3,))}, only="remove_identity")
    assert op_types(out) == ["Relu", "Identity", "Identity"]
    assert report.pass_counts["remove_identity"] == 0


def test_cast_to_the_same_type_and_mul_by_one_are_removed(rng):
    """What onnxmltools writes after a LightGBM classifier; a Cast that changes the type, a Mul by
    another value or one that broadcasts stays."""
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Cast", ["r"], ["c"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["c", "one"], ["m"]), helper.make_node("Div", ["m", "one"], ["y"]),
             helper.make_node("Cast", ["x"], ["d"], to=TensorProto.DOUBLE),
             helper.make_node("Mul", ["x", "two"], ["e"]), helper.make_node("Mul", ["x", "ones"], ["f"])]
    inits = [const("one", np.float32(1)), const("two", np.float32(2)), const("ones", np.ones((1, 1, 1), np.float32))]
    model = make_model(nodes, [vi("x", [2, 3])], [vi("y", [2, 3]), vi("d", [2, 3], TensorProto.DOUBLE),
                                                  vi("e", [2, 3]), vi("f", [1, 2, 3])], inits)
    out, report, (y, *_) = optimize_and_compare(model, {"x": random(rng, (2, 3))}, only="remove_identity")
    assert op_types(out) == ["Relu", "Cast", "Mul", "Mul"] and list(out.graph.node[0].output) == ["y"]
    assert report.pass_counts["remove_identity"] == 3


def test_cast_of_a_classifier_score_is_removed_by_its_schema_type():
    """onnx infers no type for an ai.onnx.ml classifier's scores; the schema says tensor(float)."""
    node = helper.make_node("LinearClassifier", ["x"], ["label", "z"], domain="ai.onnx.ml", coefficients=[1.0, -1.0],
                            intercepts=[0.5], classlabels_ints=[0, 1])
    cast = helper.make_node("Cast", ["z"], ["scores"], to=TensorProto.FLOAT)
    graph = helper.make_graph([node, cast], "g", [vi("x", [None, 2])],
                              [vi("label", [None], TensorProto.INT64), vi("scores", [None, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 1)])
    out, _ = optimize(model, ALL, only=["remove_identity"])
    assert op_types(out) == ["LinearClassifier"] and list(out.graph.node[0].output) == ["label", "scores"]

"""The passes on subgraphs (pyinfer/optimizer/subgraphs.py): If branches and Loop bodies are
optimized like the main graph, reading the enclosing graphs' constants without copying them, and
give onnxruntime's outputs."""
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import pyinfer
from pyinfer.optimizer import optimize
from support.control_flow_models import if_conv_lstm_model

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _bodies(model):
    """{(node op, attribute name): body graph} of the main graph's nodes."""
    return {(n.op_type, a.name): a.g for n in model.graph.node for a in n.attribute
            if a.type == onnx.AttributeProto.GRAPH}


def _ort(model, feeds):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def test_if_branches_fuse_and_keep_reading_the_main_graphs_weights(rng):
    model = if_conv_lstm_model(rng)
    optimized, report = optimize(model)
    bodies = _bodies(optimized)
    for branch in bodies.values():  # Conv + Relu and MatMul + Sigmoid fused, in both branches
        assert [n.op_type for n in branch.node] == ["FusedConv", "Transpose", "LSTM", "Squeeze", "FusedMatMul"]
    # The else branch reads the main graph's weights: they stay there, not copied into the branch.
    assert not bodies[("If", "else_branch")].initializer
    assert report.pass_counts["fuse_activation"] == 4
    sess = pyinfer.InferenceSession(model)
    for rate in (16000, 8000):
        feeds = {"x": rng.standard_normal((1, 8, 24)).astype(np.float32), "sr": np.array([rate], np.int64),
                 "h0": rng.standard_normal((1, 1, 32)).astype(np.float32),
                 "c0": rng.standard_normal((1, 1, 32)).astype(np.float32)}
        for got, want in zip(sess.run(None, feeds), _ort(model, feeds)):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def _loop_with_if_model(rng):
    """A Loop whose body scales the main graph's weight (foldable: the weight is constant) and
    holds an If whose then branch is Conv + Relu on that scaled weight."""
    w = rng.standard_normal((4, 4, 3, 3)).astype(np.float32)
    then_g = helper.make_graph(
        [helper.make_node("Conv", ["acc_in", "w2"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["o"])],
        "then", [], [helper.make_tensor_value_info("o", F, None)])
    else_g = helper.make_graph([helper.make_node("Neg", ["acc_in"], ["o2"])], "else", [],
                               [helper.make_tensor_value_info("o2", F, None)])
    body = helper.make_graph(
        [helper.make_node("Mul", ["w", "half"], ["w2"]),
         helper.make_node("Mod", ["i", "two"], ["m"]), helper.make_node("Equal", ["m", "zero"], ["even"]),
         helper.make_node("If", ["even"], ["acc_out"], then_branch=then_g, else_branch=else_g),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body", [helper.make_tensor_value_info("i", I64, []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("acc_in", F, [1, 4, 6, 6])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", F, [1, 4, 6, 6])])
    graph = helper.make_graph(
        [helper.make_node("Loop", ["trips", "", "x"], ["y"], body=body)], "loop_if",
        [helper.make_tensor_value_info("x", F, [1, 4, 6, 6])], [helper.make_tensor_value_info("y", F, None)],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array(0.5, np.float32), "half"),
         numpy_helper.from_array(np.array(2, np.int64), "two"), numpy_helper.from_array(np.array(0, np.int64), "zero"),
         numpy_helper.from_array(np.array(5, np.int64), "trips")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_loop_body_folds_outer_constants_and_its_if_fuses(rng):
    model = _loop_with_if_model(rng)
    optimized, _ = optimize(model)
    body = _bodies(optimized)[("Loop", "body")]
    assert "Mul" not in [n.op_type for n in body.node]  # w * 0.5 folded into a body constant
    (folded,) = body.initializer
    main_names = {t.name for t in optimized.graph.initializer} | {"x", "y", "trips"}
    assert folded.name not in main_names  # a fresh name: it shadows nothing of the main graph
    np.testing.assert_array_equal(numpy_helper.to_array(folded), numpy_helper.to_array(model.graph.initializer[0]) * 0.5)
    (if_node,) = [n for n in body.node if n.op_type == "If"]
    then_g = next(a.g for a in if_node.attribute if a.name == "then_branch")
    assert [n.op_type for n in then_g.node] == ["FusedConv"]
    assert {i.domain for i in optimized.opset_import} >= {"", "pyinfer"}
    feeds = {"x": rng.standard_normal((1, 4, 6, 6)).astype(np.float32)}
    np.testing.assert_allclose(pyinfer.InferenceSession(model).run(None, feeds)[0], _ort(model, feeds)[0],
                               rtol=1e-4, atol=1e-5)


def test_a_body_with_nothing_to_rewrite_still_has_its_inner_bodies_optimized(rng):
    """The Loop body itself has nothing to fuse (its Mul is moved into the If's branch); the If
    inside it does."""
    model = _loop_with_if_model(rng)
    body = next(a.g for a in model.graph.node[0].attribute if a.name == "body")
    (if_node,) = [n for n in body.node if n.op_type == "If"]
    then_g = next(a.g for a in if_node.attribute if a.name == "then_branch")
    then_g.node.insert(0, body.node[0])  # w2 = w * half, computed inside the branch
    del body.node[0]
    optimized, _ = optimize(model)
    inner = next(n for n in _bodies(optimized)[("Loop", "body")].node if n.op_type == "If")
    then_opt = next(a.g for a in inner.attribute if a.name == "then_branch")
    assert [n.op_type for n in then_opt.node] == ["FusedConv"]
    feeds = {"x": rng.standard_normal((1, 4, 6, 6)).astype(np.float32)}
    np.testing.assert_allclose(pyinfer.InferenceSession(model).run(None, feeds)[0], _ort(model, feeds)[0],
                               rtol=1e-4, atol=1e-5)

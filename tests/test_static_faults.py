"""Faults the model file alone proves are refused by InferenceSession(...), naming the node and the
attribute or input at fault; what converters legitimately write (-1 dims, a repeated opset import)
loads. The run-time counterparts (shapes left undeclared) are in tests/hostile/test_run_time_checks.py."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper, numpy_helper

import pyinfer


def vi(name, shape, elem=T.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def model(nodes, inputs, outputs, inits=(), opset=17, ir_version=8, opsets=None):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    imports = opsets if opsets is not None else [helper.make_opsetid("", opset)]
    return helper.make_model(graph, opset_imports=imports, ir_version=ir_version)


def ones(name, shape):
    return numpy_helper.from_array(np.ones(shape, np.float32), name)


def node(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, name="the_node", **attrs)


X4 = vi("x", [1, 3, 8, 8])
Y = vi("y", None)

# fault -> (model, pattern the message must match: the node, the attribute or input at fault)
FAULTS = {
    "concat axis out of range": (
        model([node("Concat", ["a", "b"], ["y"], axis=3)], [vi("a", [1, 2]), vi("b", [1, 2])], [Y]),
        r"Concat node 'the_node': axis must be in \[-rank, rank-1\].*inputs\[0\] = 'a' float\[1, 2\]"),
    "flatten axis out of range": (
        model([node("Flatten", ["a"], ["y"], axis=5)], [vi("a", [1, 2])], [Y]),
        r"Flatten node 'the_node': Invalid value\(5\) for attribute 'axis'"),
    "softmax axis out of range": (
        model([node("Softmax", ["a"], ["y"], axis=4)], [vi("a", [1, 2])], [Y]),
        r"Softmax node 'the_node': 'axis' must be in \[-2 , 1\]. Its actual value is: 4"),
    "conv channels vs weight and group": (
        model([node("Conv", ["x", "w"], ["y"], group=2)], [vi("x", [1, 4, 8, 8])], [Y], [ones("w", [4, 3, 3, 3])]),
        r"Conv node 'the_node': input X 'x' has 4 channels, but the weight W 'w' \[4, 3, 3, 3\] with "
        r"attribute group=2 expects W's dim 1 \(3\) times group \(2\) = 6"),
    "conv channels not divisible by group": (
        model([node("Conv", ["x", "w"], ["y"], group=2)], [X4], [Y], [ones("w", [4, 3, 3, 3])]),
        r"Conv node 'the_node': input X 'x' has 3 channels, not divisible by group \(attribute group=2\)"),
    "conv output channels vs group": (
        model([node("Conv", ["x", "w"], ["y"], group=3)], [X4], [Y], [ones("w", [4, 1, 3, 3])]),
        r"Conv node 'the_node': the weight W 'w' \[4, 1, 3, 3\] has 4 output channels, not divisible by "
        r"attribute group=3"),
    "conv kernel rank": (
        model([node("Conv", ["x", "w"], ["y"])], [X4], [Y], [ones("w", [4, 3, 3])]),
        r"Conv node 'the_node': Number of spatial dimensions in the weight tensor \(1\) does not match.*"
        r"W = 'w' float\[4, 3, 3\]"),
    "conv kernel_shape length": (
        model([node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3, 3])], [X4], [Y], [ones("w", [4, 3, 3, 3])]),
        r"Conv node 'the_node': Attribute kernel_shape has incorrect size"),
    "gemm inner dimensions": (
        model([node("Gemm", ["a", "b"], ["y"])], [vi("a", [2, 3])], [Y], [ones("b", [4, 5])]),
        r"Gemm node 'the_node': Dimension mismatch in unification between 4 and 3.*"
        r"A = 'a' float\[2, 3\], B = 'b' float\[4, 5\]"),
    "matmul inner dimensions": (
        model([node("MatMul", ["a", "b"], ["y"])], [vi("a", [2, 3])], [Y], [ones("b", [4, 5])]),
        r"MatMul node 'the_node': Incompatible dimensions.*A = 'a' float\[2, 3\], B = 'b' float\[4, 5\]"),
    "lstm hidden_size vs R": (
        model([node("LSTM", ["x", "w", "r"], ["y"], hidden_size=5)], [vi("x", [2, 1, 3])], [Y],
              [ones("w", [1, 20, 3]), ones("r", [1, 16, 4])]),
        r"LSTM node 'the_node': input R 'r' has shape \[1, 16, 4\], but attribute hidden_size=5.*\[1, 20, 5\]"),
    "gru input size vs W": (
        model([node("GRU", ["x", "w", "r"], ["y"], hidden_size=2)], [vi("x", [2, 1, 3])], [Y],
              [ones("w", [1, 6, 4]), ones("r", [1, 6, 2])]),
        r"GRU node 'the_node': input W 'w' has shape \[1, 6, 4\].*input size 3.*\[1, 6, 3\]"),
    "maxpool window larger than the padded input": (
        model([node("MaxPool", ["x"], ["y"], kernel_shape=[5, 5])], [vi("x", [1, 1, 3, 3])], [Y]),
        r"MaxPool node 'the_node': attribute kernel_shape \[5, 5\].* spans 5 on spatial axis 0, larger than "
        r"the padded input: 3 \+ pads 0 \+ 0 = 3"),
    "averagepool window larger than the padded input": (
        model([node("AveragePool", ["x"], ["y"], kernel_shape=[2, 6], pads=[0, 1, 0, 1])], [vi("x", [1, 1, 3, 3])],
              [Y]),
        r"AveragePool node 'the_node': attribute kernel_shape \[2, 6\].* spans 6 on spatial axis 1.*"
        r"3 \+ pads 1 \+ 1 = 5"),
    "input type contradicts the op": (
        model([node("Add", ["a", "b"], ["y"])], [vi("a", [2]), vi("b", [2], T.INT64)], [Y]),
        r"Add node 'the_node': B has inconsistent type tensor\(int64\).*B = 'b' int64\[2\]"),
    "declared output type contradicts the op": (
        model([node("Relu", ["a"], ["y"])], [vi("a", [2])], [vi("y", [2], T.INT64)]),
        r"Relu node 'the_node': Inferred elem type differs from existing elem type: float \(inferred\) vs int64 "
        r"\(declared\).*outputs: Y = 'y' declared int64\[2\]"),
    "reshape to two -1 dims": (
        model([node("Reshape", ["a", "s"], ["y"])], [vi("a", [2, 3])], [Y],
              [numpy_helper.from_array(np.array([-1, -1], np.int64), "s")]),
        r"Reshape node 'the_node': Target shape may not have multiple -1 dimensions.*shape = 's' int64\[2\]"),
    "ir_version newer than onnx knows": (
        model([node("Relu", ["a"], ["y"])], [vi("a", [2])], [Y], ir_version=99),
        rf"ir_version 99 is newer than the newest this onnx \(version {onnx.__version__}\) knows "
        rf"\({onnx.IR_VERSION}\)"),
    "one domain imported at two versions": (
        model([node("Relu", ["a"], ["y"])], [vi("a", [2])], [Y],
              opsets=[helper.make_opsetid("", 13), helper.make_opsetid("", 14)]),
        r"opset_import lists domain 'ai.onnx' twice with different versions \(13 and 14\)"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_refused_when_the_session_is_created(fault):
    m, pattern = FAULTS[fault]
    with pytest.raises(pyinfer.InvalidModelError, match=pattern):
        pyinfer.InferenceSession(m)


# onnxruntime refuses these at load too; the others it accepts and fails at the first run.
ORT_REFUSES_AT_LOAD = {"concat axis out of range", "flatten axis out of range", "softmax axis out of range",
                       "conv kernel rank", "conv kernel_shape length", "gemm inner dimensions",
                       "matmul inner dimensions", "input type contradicts the op",
                       "declared output type contradicts the op", "ir_version newer than onnx knows"}


@pytest.mark.parametrize("fault", sorted(ORT_REFUSES_AT_LOAD))
def test_onnxruntime_agrees_these_are_faults(fault):
    with pytest.raises(Exception):
        ort.InferenceSession(FAULTS[fault][0].SerializeToString(), providers=["CPUExecutionProvider"])


def test_an_unnamed_node_is_described_by_its_op():
    m = model([helper.make_node("Softmax", ["a"], ["y"], axis=4)], [vi("a", [1, 2])], [Y])
    with pytest.raises(pyinfer.InvalidModelError, match=r"unnamed Softmax node: 'axis' must be in"):
        pyinfer.InferenceSession(m)


def test_a_cycle_is_reported_as_a_cycle_not_as_a_type_gap():
    m = model([helper.make_node("Relu", ["b"], ["a"], name="r1"), helper.make_node("Relu", ["a"], ["b"], name="r2"),
               helper.make_node("Relu", ["x"], ["y"], name="r3")], [vi("x", [2])], [Y])
    with pytest.raises(pyinfer.InvalidModelError, match="cycle"):
        pyinfer.InferenceSession(m)


def test_symbolic_input_dims_leave_shape_faults_to_the_run():
    """With the channel count unknown at load, the Conv mismatch is a run-time error."""
    m = model([node("Conv", ["x", "w"], ["y"], group=2)], [vi("x", [1, "C", 8, 8])], [Y], [ones("w", [4, 3, 3, 3])])
    sess = pyinfer.InferenceSession(m)
    with pytest.raises(pyinfer.Error):
        sess.run(None, {"x": np.ones((1, 3, 8, 8), np.float32)})


def test_declared_output_shape_that_differs_is_tolerated_like_onnxruntime():
    """onnxruntime merges a stale declared output shape leniently and runs the model: so does pyinfer."""
    m = model([node("Relu", ["a"], ["y"])], [vi("a", [2])], [vi("y", [3])])
    x = np.array([-1.0, 2.0], np.float32)
    (got,) = pyinfer.InferenceSession(m).run(None, {"a": x})
    np.testing.assert_array_equal(got, [0.0, 2.0])


# --- what converters write and onnxruntime accepts ---------------------------------------------

def paddle_style_model():
    """paddle2onnx declares dynamic dims as -1 in graph inputs, outputs and value_info."""
    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4) / 10, "w")
    m = model([node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"], name="relu")],
              [vi("x", [-1, 3])], [vi("y", [-1, 4])], [w])
    m.graph.value_info.append(vi("h", [-1, 4]))
    return m


def test_minus_one_dims_are_symbolic_like_onnxruntime():
    m = paddle_style_model()
    sess = pyinfer.InferenceSession(m)
    ref = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    assert [a.shape for a in sess.get_inputs()] == [a.shape for a in ref.get_inputs()] == [[None, 3]]
    assert [a.shape for a in sess.get_outputs()] == [a.shape for a in ref.get_outputs()] == [[None, 4]]
    for rows in (1, 5):
        x = np.linspace(-1, 1, rows * 3, dtype=np.float32).reshape(rows, 3)
        np.testing.assert_allclose(sess.run(None, {"x": x})[0], ref.run(None, {"x": x})[0], rtol=1e-6)
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_value == -1  # the caller's proto is untouched


def test_zero_dims_are_shown_as_declared_and_any_size_is_fed():
    m = model([node("Relu", ["a"], ["y"])], [vi("a", [0, 2])], [vi("y", [0, 2])])
    sess = pyinfer.InferenceSession(m)
    assert sess.get_inputs()[0].shape == [0, 2]  # as onnxruntime shows it
    got = sess.run(None, {"a": np.array([[-1, 1], [2, -2]], np.float32)})[0]
    np.testing.assert_array_equal(got, [[0, 1], [2, 0]])


def test_other_negative_dims_are_still_refused():
    m = model([node("Relu", ["a"], ["y"])], [vi("a", [-2, 2])], [Y])
    with pytest.raises(pyinfer.InvalidModelError, match="graph input 'a' declares a negative dimension -2"):
        pyinfer.InferenceSession(m)


def test_a_domain_imported_twice_at_one_version_loads(tmp_path):
    """skl2onnx writes ('', N) twice; onnx.checker and onnxruntime accept it."""
    m = model([node("Relu", ["a"], ["y"])], [vi("a", [2])], [vi("y", [2])],
              opsets=[helper.make_opsetid("", 13), helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    path = tmp_path / "twice.onnx"
    onnx.save(m, path)
    for source in (m, str(path), m.SerializeToString()):
        got = pyinfer.InferenceSession(source).run(None, {"a": np.array([-3.0, 3.0], np.float32)})[0]
        np.testing.assert_array_equal(got, [0.0, 3.0])
    assert len(m.opset_import) == 2  # the caller's proto is untouched


def test_a_fault_inside_a_subgraph_names_both_nodes():
    body = helper.make_graph([helper.make_node("Softmax", ["a"], ["o"], axis=5, name="inner_softmax")], "body", [],
                             [vi("o", None)])
    m = model([helper.make_node("If", ["c"], ["y"], then_branch=body, else_branch=body, name="branch")],
              [vi("c", [], T.BOOL), vi("a", [2])], [Y])
    with pytest.raises(pyinfer.InvalidModelError,
                       match=r"If node 'branch': in its subgraph, Softmax node 'inner_softmax': 'axis' must be in"):
        pyinfer.InferenceSession(m)

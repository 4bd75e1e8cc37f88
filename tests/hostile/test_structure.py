"""Models that parse but are not valid graphs: each gets InvalidModelError naming the culprit."""
import numpy as np
import onnx
import pytest
from onnx import AttributeProto, TensorProto, helper, numpy_helper

import pyinfer
from support.hostile_models import add_model, model, single_op, vi

X4 = np.ones(4, np.float32)


def relu(inp, out, name):
    return helper.make_node("Relu", [inp], [out], name=name)


def test_cycle():
    m = model([relu("X", "a", "r0"), helper.make_node("Add", ["a", "c"], ["b"], name="loop_add"),
               relu("b", "c", "loop_relu"), relu("b", "Y", "r3")], [vi("X", [4])], [vi("Y", [4])])
    with pytest.raises(pyinfer.InvalidModelError, match="cycle through nodes.*loop_"):
        pyinfer.InferenceSession(m)


def test_self_loop():
    m = model([helper.make_node("Add", ["X", "Y"], ["Y"], name="selfish")], [vi("X", [4])], [vi("Y", [4])])
    with pytest.raises(pyinfer.InvalidModelError, match="'selfish'.*consumes its own output 'Y'"):
        pyinfer.InferenceSession(m)


def test_undefined_input():
    m = model([helper.make_node("Add", ["X", "ghost"], ["Y"], name="add")], [vi("X", [4])], [vi("Y", [4])])
    with pytest.raises(pyinfer.InvalidModelError, match="'add'.*reads 'ghost'"):
        pyinfer.InferenceSession(m)


def test_duplicate_graph_output():
    m = model([relu("X", "Y", "r")], [vi("X", [4])], [vi("Y", [4]), vi("Y", [4])])
    with pytest.raises(pyinfer.InvalidModelError, match="graph output 'Y' is listed twice"):
        pyinfer.InferenceSession(m)


def test_graph_output_nobody_produces():
    m = model([relu("X", "Y", "r")], [vi("X", [4])], [vi("Y", [4]), vi("Z", [4])])
    with pytest.raises(pyinfer.InvalidModelError, match="graph output 'Z' is not produced"):
        pyinfer.InferenceSession(m)


def test_value_produced_twice():
    m = model([relu("X", "Y", "first"), relu("X", "Y", "second")], [vi("X", [4])], [vi("Y", [4])])
    with pytest.raises(pyinfer.InvalidModelError, match="'Y' is produced twice.*'first'.*'second'"):
        pyinfer.InferenceSession(m)


def test_node_overwriting_a_graph_input():
    m = model([relu("X", "X", "clobber"), relu("X", "Y", "r")], [vi("X", [4])], [vi("Y", [4])])
    with pytest.raises(pyinfer.InvalidModelError, match="'clobber'.*writes 'X'.*graph input"):
        pyinfer.InferenceSession(m)


def test_duplicate_initializer():
    m = add_model()
    m.graph.initializer.append(numpy_helper.from_array(X4, "W"))
    with pytest.raises(pyinfer.InvalidModelError, match="initializer 'W' is defined twice"):
        pyinfer.InferenceSession(m)


def test_initializer_raw_data_shorter_than_dims():
    m = add_model()
    m.graph.initializer[0].raw_data = m.graph.initializer[0].raw_data[:10]
    with pytest.raises(pyinfer.InvalidModelError, match=r"initializer 'W': dims \[4\] of float need 16 bytes.*found 10"):
        pyinfer.InferenceSession(m)


def test_initializer_typed_data_count_disagrees_with_dims():
    t = helper.make_tensor("W", TensorProto.FLOAT, [4], [1.0, 2.0, 3.0, 4.0])
    t.dims[:] = [5]
    m = add_model()
    m.graph.initializer[0].CopyFrom(t)
    with pytest.raises(pyinfer.InvalidModelError, match=r"initializer 'W': dims \[5\] of float need 5 values in float_data, found 4"):
        pyinfer.InferenceSession(m)


def test_initializer_negative_dims():
    m = add_model()
    m.graph.initializer[0].dims[:] = [-4]
    with pytest.raises(pyinfer.InvalidModelError, match=r"initializer 'W' has a negative dimension"):
        pyinfer.InferenceSession(m)


def test_initializer_unknown_data_type():
    m = add_model()
    m.graph.initializer[0].data_type = 99
    with pytest.raises(pyinfer.InvalidModelError, match="initializer 'W' has an unknown data type 99"):
        pyinfer.InferenceSession(m)


def test_negative_declared_input_dim():
    m = add_model()
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = -3
    with pytest.raises(pyinfer.InvalidModelError, match="graph input 'X' declares a negative dimension -3"):
        pyinfer.InferenceSession(m)


def test_domain_not_imported():
    m = single_op("Relu", [[4]], domain="com.evil")
    with pytest.raises(pyinfer.InvalidModelError, match="'n0' uses domain 'com.evil', which the model does not import"):
        pyinfer.InferenceSession(m)


def test_imported_domain_without_implementation():
    m = single_op("Relu", [[4]], domain="com.evil")
    m.opset_import.append(helper.make_opsetid("com.evil", 1))
    with pytest.raises(pyinfer.UnsupportedOpError, match="com.evil::Relu"):
        pyinfer.InferenceSession(m)


def test_opset_newer_than_onnx_knows():
    m = add_model()
    m.opset_import[0].version = onnx.defs.onnx_opset_version() + 5
    with pytest.raises(pyinfer.InvalidModelError, match=f"opset {onnx.defs.onnx_opset_version() + 5}.*newer"):
        pyinfer.InferenceSession(m)


def test_missing_required_attribute():
    m = single_op("Cast", [[4]])
    with pytest.raises(pyinfer.InvalidModelError, match="'n0': required attribute 'to' is missing"):
        pyinfer.InferenceSession(m)


def test_too_many_inputs():
    m = single_op("Relu", [[4], [4]])
    with pytest.raises(pyinfer.InvalidModelError, match="Relu node 'n0' has 2 inputs; Relu-14 takes 1"):
        pyinfer.InferenceSession(m)


def test_too_many_outputs():
    m = single_op("Relu", [[4]], out_count=3)
    with pytest.raises(pyinfer.InvalidModelError, match="'n0' has 3 outputs"):
        pyinfer.InferenceSession(m)


def test_required_input_left_empty():
    m = add_model()
    m.graph.node[0].input[0] = ""
    with pytest.raises(pyinfer.InvalidModelError, match=r"'add': required input 0 \(A\) is empty"):
        pyinfer.InferenceSession(m)


def test_attribute_of_the_wrong_type():
    m = single_op("Softmax", [[2, 2]], attrs={"axis": 1.5})
    with pytest.raises(pyinfer.InvalidModelError, match="attribute 'axis' must be of type INT, got FLOAT"):
        pyinfer.InferenceSession(m)


def test_attribute_without_a_type():
    m = single_op("Softmax", [[2, 2]], attrs={"axis": 1})
    m.graph.node[0].attribute[0].type = AttributeProto.UNDEFINED
    with pytest.raises(pyinfer.InvalidModelError, match="attribute 'axis' has no valid type"):
        pyinfer.InferenceSession(m)


def test_attribute_given_twice():
    m = single_op("Softmax", [[2, 2]], attrs={"axis": 1})
    m.graph.node[0].attribute.append(helper.make_attribute("axis", 0))
    with pytest.raises(pyinfer.InvalidModelError, match="attribute 'axis' is given twice"):
        pyinfer.InferenceSession(m)


def test_sparse_initializer_index_out_of_range():
    values = numpy_helper.from_array(np.array([1.0, 2.0], np.float32), "W")
    indices = numpy_helper.from_array(np.array([0, 9], np.int64), "W_idx")
    m = add_model()
    del m.graph.initializer[:]
    m.graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [4]))
    with pytest.raises(pyinfer.InvalidModelError, match="sparse initializer 'W'.*outside dims"):
        pyinfer.InferenceSession(m)


def test_sparse_initializer_that_is_legal_runs():
    values = numpy_helper.from_array(np.array([5.0, 7.0], np.float32), "W")
    indices = numpy_helper.from_array(np.array([1, 3], np.int64), "W_idx")
    m = add_model()
    del m.graph.initializer[:]
    m.graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [4]))
    (y,) = pyinfer.InferenceSession(m).run(None, {"X": X4})
    np.testing.assert_array_equal(y, [1, 6, 1, 8])


@pytest.mark.parametrize("form", ["proto", "bytes"])
def test_deeply_nested_subgraphs(form):
    # If nodes nested 80 deep, built in place (copying a message this deep makes protobuf
    # re-parse it, which its own depth limit refuses)
    m = model([], [vi("X", [4]), vi("cond", [], TensorProto.BOOL)], [vi("Y", [4])])
    graph, out = m.graph, "Y"
    for i in range(80):
        node = graph.node.add(op_type="If", input=["cond"], output=[out])
        then_attr = node.attribute.add(name="then_branch", type=AttributeProto.GRAPH)
        else_attr = node.attribute.add(name="else_branch", type=AttributeProto.GRAPH)
        else_attr.g.node.add(op_type="Identity", input=["X"], output=[f"e{i}"])
        else_attr.g.output.append(vi(f"e{i}", [4]))
        graph, out = then_attr.g, f"o{i}"
        graph.output.append(vi(out, [4]))
    graph.node.add(op_type="Identity", input=["X"], output=[out])
    if form == "proto":
        with pytest.raises(pyinfer.InvalidModelError, match="subgraphs nest deeper than 64 levels"):
            pyinfer.InferenceSession(m)
    else:  # protobuf's own recursion limit refuses it while parsing
        with pytest.raises(pyinfer.ModelLoadError, match="not an ONNX model, or a truncated/corrupt one"):
            pyinfer.InferenceSession(m.SerializeToString())


@pytest.mark.parametrize("attrs, message", [
    ({"strides": [0, 1]}, r"strides \[0, 1\] must be positive"),
    ({"strides": [-1, 1]}, r"strides \[-1, 1\] must be positive"),
    ({"pads": [0, -1, 0, 0]}, r"pads \[0, -1, 0, 0\] must not be negative"),
    ({"pads": [0, 1, 0]}, r"pads \[0, 1, 0\] must hold a begin and an end"),
    ({"kernel_shape": [3, 0]}, r"kernel_shape \[3, 0\] must be positive"),
    ({"dilations": [1, 0]}, r"dilations \[1, 0\] must be positive"),
    ({"group": 0}, "group 0 must be positive"),
    ({"auto_pad": "SIDEWAYS"}, "auto_pad b'SIDEWAYS'"),
])
def test_conv_attributes_wrong_whatever_the_input(attrs, message):
    m = single_op("Conv", [[1, 2, 5, 5]], attrs=attrs, consts=[np.ones((4, 2, 3, 3), np.float32)])
    with pytest.raises(pyinfer.InvalidModelError, match="Conv node 'n0': " + message):
        pyinfer.InferenceSession(m)


def test_transpose_perm_not_a_permutation():
    m = single_op("Transpose", [[2, 3]], attrs={"perm": [0, 0]})
    with pytest.raises(pyinfer.InvalidModelError, match=r"'n0': perm \[0, 0\] is not a permutation"):
        pyinfer.InferenceSession(m)

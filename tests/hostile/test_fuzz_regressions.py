"""Inputs tools/fuzz.py found that once escaped as non-pyinfer exceptions; each now a clear error."""
import numpy as np
import pytest
from onnx import TensorProto

import pyinfer
from support.hostile_models import add_model


def test_op_type_that_is_not_utf8():
    # protobuf returns bytes for a string field holding invalid UTF-8; onnx.defs then raised TypeError
    data = add_model().SerializeToString().replace(b"Add", b"A\xffd")
    with pytest.raises(pyinfer.InvalidModelError, match=r"an op_type b'A\\xffd' is not valid UTF-8"):
        pyinfer.InferenceSession(data)


def test_input_name_that_is_not_utf8():
    data = add_model().SerializeToString().replace(b"\x0a\x01W", b"\x0a\x01\xff")  # the Add node's input "W" (field 1)
    with pytest.raises(pyinfer.InvalidModelError, match="not valid UTF-8"):
        pyinfer.InferenceSession(data)


def test_graph_input_with_unknown_element_type():
    # was a KeyError from onnx.helper when the session checked the feed's dtype
    m = add_model()
    m.graph.input[0].type.tensor_type.elem_type = 99
    with pytest.raises(pyinfer.InvalidModelError, match="graph input 'X' has an unknown element type 99"):
        pyinfer.InferenceSession(m)


def test_graph_output_with_unknown_element_type():
    m = add_model()
    m.graph.output[0].type.tensor_type.elem_type = 77
    with pytest.raises(pyinfer.InvalidModelError, match="graph output 'Y' has an unknown element type 77"):
        pyinfer.InferenceSession(m)


def test_opset_version_zero_or_negative():
    for v in (0, -1):
        m = add_model()
        m.opset_import[0].version = v
        with pytest.raises(pyinfer.InvalidModelError, match=f"invalid version {v}"):
            pyinfer.InferenceSession(m)


def test_dims_whose_product_overflows_a_float():
    # the size message divided the byte count as a float: OverflowError for dims like these
    m = add_model()
    m.graph.initializer[0].dims[:] = [2**62] * 20
    with pytest.raises(pyinfer.ResourceLimitError, match=r"initializer 'W': a tensor of shape \[4611686018427387904, .*float32 needs about 2\^1242 bytes"):
        pyinfer.InferenceSession(m)

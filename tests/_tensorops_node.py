"""Run one ONNX node through pyinfer (and through onnx's ReferenceEvaluator, used as an oracle).

Shared by tests/test_ops_shape.py, test_ops_indexing.py and test_ops_resize.py.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import pyinfer


def _elem_type(a: np.ndarray) -> int:
    if a.dtype.kind in "OUS":
        return TensorProto.STRING
    return helper.np_dtype_to_tensor_dtype(a.dtype)


def make_model(op_type: str, inputs, n_outputs: int = 1, opset: int | None = None, **attrs):
    """A one-node model; inputs is a list of arrays (None = omitted optional input)."""
    names = [f"in{i}" if x is not None else "" for i, x in enumerate(inputs)]
    while names and names[-1] == "":
        names.pop()
    outs = [f"out{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, names, outs, **attrs)
    g_in = [helper.make_tensor_value_info(n, _elem_type(np.asarray(x)), np.shape(x))
            for n, x in zip(names, inputs) if n]
    g_out = [helper.make_empty_tensor_value_info(o) for o in outs]
    graph = helper.make_graph([node], "t", g_in, g_out)
    opset = opset or onnx.defs.onnx_opset_version()
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    feeds = {n: np.asarray(x) for n, x in zip(names, inputs) if n}
    return model, feeds


def run(op_type: str, inputs, n_outputs: int = 1, opset: int | None = None, **attrs):
    """pyinfer's outputs as a list (a single output is returned bare)."""
    model, feeds = make_model(op_type, inputs, n_outputs, opset, **attrs)
    out = pyinfer.InferenceSession(model).run(None, feeds)
    return out[0] if n_outputs == 1 else out


def reference(op_type: str, inputs, n_outputs: int = 1, opset: int | None = None, **attrs):
    """onnx.reference's outputs, same conventions as run()."""
    model, feeds = make_model(op_type, inputs, n_outputs, opset, **attrs)
    out = ReferenceEvaluator(model).run(None, feeds)
    return out[0] if n_outputs == 1 else out


def assert_same(got, want, rtol=0.0, atol=0.0):
    """Equal values, shape and dtype (exact unless a tolerance is given)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    if rtol or atol:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    else:
        np.testing.assert_array_equal(got, want)

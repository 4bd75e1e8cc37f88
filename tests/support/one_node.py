"""Run one ONNX node (any domain) through pyinfer, or through onnx.reference as a secondary oracle.

Shared by the op tests in tests/ops/.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import pyinfer


def _elem_type(a: np.ndarray) -> int:
    return TensorProto.STRING if a.dtype.kind in "OUS" else helper.np_dtype_to_tensor_dtype(a.dtype)


def make_model(op_type: str, inputs, n_outputs: int = 1, opset: int | None = None, domain: str = "", **attrs):
    """A one-node model and its feeds; inputs is a list of arrays (None = omitted optional input).

    opset: of `domain` (default: the newest onnx knows, or the domain's newest schema of op_type).
    """
    names = [f"in{i}" if x is not None else "" for i, x in enumerate(inputs)]
    while names and names[-1] == "":
        names.pop()
    outs = [f"out{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, names, outs, domain=domain or None, **attrs)
    g_in = [helper.make_tensor_value_info(n, _elem_type(np.asarray(x)), np.shape(x))
            for n, x in zip(names, inputs) if n]
    g_out = [helper.make_empty_tensor_value_info(o) for o in outs]
    graph = helper.make_graph([node], "t", g_in, g_out)
    if opset is None:
        opset = onnx.defs.get_schema(op_type, domain).since_version if domain else onnx.defs.onnx_opset_version()
    imports = [helper.make_opsetid("", onnx.defs.onnx_opset_version() if domain else opset)]
    if domain:
        imports.append(helper.make_opsetid(domain, opset))
    model = helper.make_model(graph, opset_imports=imports)
    model.ir_version = 10
    feeds = {n: np.asarray(x) for n, x in zip(names, inputs) if n}
    return model, feeds


def run(op_type: str, inputs, n_outputs: int = 1, opset: int | None = None, domain: str = "", **attrs):
    """pyinfer's outputs as a list (a single output is returned bare)."""
    model, feeds = make_model(op_type, inputs, n_outputs, opset, domain, **attrs)
    out = pyinfer.InferenceSession(model).run(None, feeds)
    return out[0] if n_outputs == 1 else out


def reference(op_type: str, inputs, n_outputs: int = 1, opset: int | None = None, domain: str = "", **attrs):
    """onnx.reference's outputs, same conventions as run()."""
    model, feeds = make_model(op_type, inputs, n_outputs, opset, domain, **attrs)
    out = ReferenceEvaluator(model).run(None, feeds)
    return out[0] if n_outputs == 1 else out


def assert_same(got, want, rtol=0.0, atol=0.0):
    """Equal values, shape and dtype (exact unless a tolerance is given)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    if not (rtol or atol):
        np.testing.assert_array_equal(got, want)
    elif got.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    else:  # bfloat16, float8 (ml_dtypes): numpy compares them through float64
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol)


def run_in_plan(op_type: str, inputs, n_outputs: int = 1, opset: int | None = None, consts=(), **attrs):
    """One node through a compiled plan: (outputs of the third run, the Python path's outputs,
    the plan's storage class per output: 'arena' / 'out' for a native step, 'py' for a Python step).
    consts: indices of the inputs that become initializers (plan-time constants)."""
    model, feeds = make_model(op_type, inputs, n_outputs, opset, **attrs)
    graph = model.graph
    for i in consts:
        name = f"in{i}"
        graph.initializer.append(onnx.numpy_helper.from_array(feeds.pop(name), name))
        kept = [vi for vi in graph.input if vi.name != name]
        del graph.input[:]
        graph.input.extend(kept)
    want = pyinfer.InferenceSession(model, executor="python").run(None, feeds)
    sess = pyinfer.InferenceSession(model, executor="plan")
    for _ in range(3):
        got = sess.run(None, feeds)
    (plan,) = sess._executor.cached_plans()
    return got, want, [plan.kind[f"out{j}"] for j in range(n_outputs)]


def assert_native(op_type: str, inputs, n_outputs: int = 1, opset: int | None = None, consts=(), **attrs):
    """run_in_plan(), asserting that every output comes from a native step and equals the Python
    path's exactly (dtype, shape, values); returns the outputs."""
    got, want, kinds = run_in_plan(op_type, inputs, n_outputs, opset, consts, **attrs)
    assert all(k != "py" for k in kinds), kinds
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)
    return got

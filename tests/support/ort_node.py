"""One node run through onnxruntime (the reference) and pyinfer: shared by test_ops_microsoft.py and
test_ops_ml_classic.py."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import pyinfer


def node_model(op: str, inputs: dict, attrs: dict, outputs: int, imports: dict, domain: str, consts: dict):
    """A one-node model: inputs name -> array (None: an omitted optional input), consts: the inputs
    given as initializers, imports: domain -> opset version."""
    graph_inputs = [helper.make_tensor_value_info(n, TensorProto.STRING if a.dtype == object
                                                  else helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape))
                    for n, a in inputs.items() if a is not None and n not in consts]
    out_names = [f"out{i}" for i in range(outputs)]
    node = helper.make_node(op, [n if a is not None else "" for n, a in inputs.items()], out_names,
                            name="the_node", domain=domain, **attrs)
    graph = helper.make_graph([node], "g", graph_inputs,
                              [helper.make_value_info(o, helper.TypeProto()) for o in out_names],
                              [numpy_helper.from_array(a, n) for n, a in consts.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in imports.items()],
                             ir_version=8)


def run_both(op: str, inputs: dict, attrs: dict | None = None, outputs: int = 1, domain: str = "",
             imports: dict | None = None, consts: dict | None = None):
    """(onnxruntime's outputs, pyinfer's outputs) of the node on the non-constant inputs."""
    consts = consts or {}
    model = node_model(op, inputs, attrs or {}, outputs, imports or {"": 17}, domain, consts)
    feeds = {n: a for n, a in inputs.items() if a is not None and n not in consts}
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    return want, pyinfer.InferenceSession(model).run(None, feeds)


def assert_same(want: list, got: list, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Same count, shapes and dtypes; floats within the tolerance, everything else equal."""
    assert len(want) == len(got)
    for w, g in zip(want, got):
        assert w.shape == g.shape, (w.shape, g.shape)
        if w.dtype.kind in "fc":
            assert g.dtype == w.dtype, (g.dtype, w.dtype)
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
        else:
            np.testing.assert_array_equal(g if w.dtype.kind == "O" else g.astype(w.dtype), w)

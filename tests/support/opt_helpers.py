"""Shared helpers for the optimizer tests: build small graphs, run them optimized and not."""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import pyinfer
from pyinfer.optimizer import optimize

DISABLED = pyinfer.GraphOptimizationLevel.ORT_DISABLE_ALL
ALL = pyinfer.GraphOptimizationLevel.ORT_ENABLE_ALL


def vi(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def const(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def make_model(nodes, inputs, outputs, initializers=(), opset=17, value_info=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers),
                              value_info=list(value_info))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def run(model, feeds, level=DISABLED):
    return pyinfer.InferenceSession(model, graph_optimization_level=level).run(None, feeds)


def optimize_and_compare(model, feeds, only=None, level=ALL, rtol=1e-4, atol=1e-5):
    """Optimize (restricted to the passes named in `only`), check the outputs did not change.

    Returns (optimized model, report, outputs).
    """
    if isinstance(only, str):
        only = [only]
    optimized, report = optimize(model, level, only=only)
    want = run(model, feeds)
    got = run(optimized, feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return optimized, report, got


def op_types(model) -> list[str]:
    return [n.op_type for n in model.graph.node]


def random(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)

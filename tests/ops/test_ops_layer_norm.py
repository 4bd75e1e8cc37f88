"""LayerNormalization-17, RMSNormalization-23 and onnxruntime's Skip / Simplified layer norms run as
the layer_norm kernel in compiled plans, with onnxruntime's (or NumPy's) numbers."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import pyinfer

MS = "com.microsoft"


def plan_run(model, feeds, runs=3):
    """pyinfer's outputs after `runs` calls (the third runs the compiled plan) and that plan."""
    sess = pyinfer.InferenceSession(model.SerializeToString(), executor="plan")
    for _ in range(runs):
        out = sess.run(None, feeds)
    (plan,) = sess._executor.cached_plans()
    return out, plan


def one_node(op, inputs, consts, n_out, attrs, domain="", opset=17):
    node = helper.make_node(op, list(inputs) + list(consts), [f"out{i}" for i in range(n_out)], domain=domain,
                            **attrs)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, a.shape) for n, a in inputs.items()],
        [helper.make_tensor_value_info(f"out{i}", TensorProto.FLOAT, None) for i in range(n_out)],
        [numpy_helper.from_array(a, n) for n, a in consts.items()])
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=imports, ir_version=9)


def ort_run(model, feeds):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.mark.parametrize("axis", [-1, 1])
def test_layer_normalization_17(rng, axis):
    x = rng.standard_normal((2, 5, 24)).astype(np.float32)
    shape = x.shape[axis:] if axis > 0 else x.shape[-1:]
    scale, bias = rng.standard_normal((2,) + tuple(shape)).astype(np.float32)
    model = one_node("LayerNormalization", {"x": x}, {"scale": scale, "bias": bias}, 3, {"axis": axis, "epsilon": 1e-6})
    got, plan = plan_run(model, {"x": x})
    assert plan.native_steps == 1
    for g, w in zip(got, ort_run(model, {"x": x})):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=2e-6)


def test_rms_normalization_23(rng):
    x = rng.standard_normal((3, 4, 32)).astype(np.float32)
    scale = rng.standard_normal(32).astype(np.float32)
    model = one_node("RMSNormalization", {"x": x}, {"scale": scale}, 1, {"epsilon": 1e-5}, opset=23)
    (got,), plan = plan_run(model, {"x": x})
    assert plan.native_steps == 1
    want = x / np.sqrt((x.astype(np.float64) ** 2).mean(-1, keepdims=True) + 1e-5) * scale
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("skip_shape", [(2, 6, 32), (6, 32)])
def test_skip_layer_normalization(rng, skip_shape):
    x = rng.standard_normal((2, 6, 32)).astype(np.float32)
    skip = rng.standard_normal(skip_shape).astype(np.float32)
    gamma, beta, bias = rng.standard_normal((3, 32)).astype(np.float32)
    model = one_node("SkipLayerNormalization", {"x": x, "skip": skip}, {"gamma": gamma, "beta": beta, "bias": bias},
                     4, {"epsilon": 1e-5}, domain=MS)
    feeds = {"x": x, "skip": skip}
    got, plan = plan_run(model, feeds)
    assert plan.native_steps == 1
    for g, w in zip(got, ort_run(model, feeds)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=2e-6)


def test_simplified_layer_norms(rng):
    x = rng.standard_normal((2, 6, 32)).astype(np.float32)
    skip = rng.standard_normal((2, 6, 32)).astype(np.float32)
    gamma = rng.standard_normal(32).astype(np.float32)
    model = one_node("SkipSimplifiedLayerNormalization", {"x": x, "skip": skip}, {"gamma": gamma}, 1,
                     {"epsilon": 1e-5}, domain=MS)
    (got,), plan = plan_run(model, {"x": x, "skip": skip})
    assert plan.native_steps == 1
    np.testing.assert_allclose(got, ort_run(model, {"x": x, "skip": skip})[0], rtol=1e-5, atol=2e-6)
    model = one_node("SimplifiedLayerNormalization", {"x": x}, {"scale": gamma}, 2, {"epsilon": 1e-5}, opset=14)
    got, plan = plan_run(model, {"x": x})
    assert plan.native_steps == 1
    for g, w in zip(got, ort_run(model, {"x": x})):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=2e-6)

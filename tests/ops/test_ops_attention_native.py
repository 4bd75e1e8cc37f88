"""Attention-23, com.microsoft MultiHeadAttention and pyinfer's fused ops (MultiHeadAttention,
FusedLayerNormalization, FusedMatMul with a bias) run as native plan steps with the numbers of
their reference (onnxruntime, or the op's own Python path)."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import pyinfer


def model_of(node, inputs: dict, n_out: int, imports: dict, consts: dict | None = None):
    consts = consts or {}
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape) for n, a in inputs.items()],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in node.output[:n_out]],
        [numpy_helper.from_array(a, n) for n, a in consts.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in imports.items()],
                             ir_version=9)


def native_run(model, feeds):
    """(outputs of the compiled plan, number of native steps, Python-path outputs)."""
    sess = pyinfer.InferenceSession(model.SerializeToString(), executor="plan")
    first = sess.run(None, feeds)
    for _ in range(2):
        out = sess.run(None, feeds)
    (plan,) = sess._executor.cached_plans()
    return out, plan.native_steps, first


@pytest.mark.parametrize("layout", ["3d", "4d"])
def test_attention_23_with_past_and_causal(rng, layout):
    B, S, P, Hq, Hkv, D = 2, 3, 4, 4, 2, 8
    q = rng.standard_normal((B, Hq, S, D)).astype(np.float32)
    k, v = rng.standard_normal((2, B, Hkv, S, D)).astype(np.float32)
    pk, pv = rng.standard_normal((2, B, Hkv, P, D)).astype(np.float32)
    attrs = dict(is_causal=1)
    if layout == "3d":
        q, k, v = (x.transpose(0, 2, 1, 3).reshape(B, S, -1).copy() for x in (q, k, v))
        attrs.update(q_num_heads=Hq, kv_num_heads=Hkv)
    node = helper.make_node("Attention", ["q", "k", "v", "", "pk", "pv"], ["y", "present_k", "present_v"], **attrs)
    feeds = dict(q=q, k=k, v=v, pk=pk, pv=pv)
    model = model_of(node, feeds, 3, {"": 23})
    got, native, python = native_run(model, feeds)
    assert native == 1
    for g, w in zip(got, python):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=2e-6)


def test_microsoft_multihead_attention_with_key_padding(rng):
    B, S, H, D = 2, 5, 2, 8
    q, k, v = rng.standard_normal((3, B, S, H * D)).astype(np.float32)
    mask = np.ones((B, S), np.int32)
    mask[1, 3:] = 0
    node = helper.make_node("MultiHeadAttention", ["q", "k", "v", "", "mask"], ["y"], domain="com.microsoft",
                            num_heads=H)
    feeds = dict(q=q, k=k, v=v, mask=mask)
    model = model_of(node, feeds, 1, {"": 17, "com.microsoft": 1})
    got, native, _ = native_run(model, feeds)
    assert native == 1
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=2e-6)


def test_fused_multihead_attention_packed_with_past(rng):
    B, H, D, P = 1, 4, 8, 6
    qkv = rng.standard_normal((B, 2, 3 * H * D)).astype(np.float32)
    pk, pv = rng.standard_normal((2, B, H, P, D)).astype(np.float32)
    mask = np.zeros((B, 1, 2, P + 2), np.float32)
    mask[..., 0, -1] = -np.inf  # causal
    node = helper.make_node("MultiHeadAttention", ["qkv", "", "", "mask", "pk", "pv"], ["y", "k", "v"],
                            domain="pyinfer", num_heads=H, scale=0.3)
    feeds = dict(qkv=qkv, mask=mask, pk=pk, pv=pv)
    got, native, python = native_run(model_of(node, feeds, 3, {"": 17, "pyinfer": 1}), feeds)
    assert native == 1 and got[1].shape == (B, H, P + 2, D)
    for g, w in zip(got, python):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    q = qkv[..., :H * D].reshape(B, 2, H, D).transpose(0, 2, 1, 3)
    scores = np.einsum("bhsd,bhtd->bhst", q, got[1]) * 0.3 + mask
    p = np.exp(scores - scores.max(-1, keepdims=True))
    want = np.einsum("bhst,bhtd->bhsd", p / p.sum(-1, keepdims=True), got[2]).transpose(0, 2, 1, 3).reshape(B, 2, -1)
    np.testing.assert_allclose(got[0], want, rtol=1e-4, atol=2e-6)


def test_fused_layer_norm_with_skip_and_sum(rng):
    x, skip = rng.standard_normal((2, 2, 3, 16)).astype(np.float32)
    gamma, beta, bias = rng.standard_normal((3, 16)).astype(np.float32)
    node = helper.make_node("FusedLayerNormalization", ["x", "gamma", "beta", "skip", "bias"], ["y", "", "", "sum"],
                            domain="pyinfer", epsilon=1e-5)
    feeds = dict(x=x, skip=skip)
    model = model_of(node, feeds, 4, {"": 17, "pyinfer": 1}, dict(gamma=gamma, beta=beta, bias=bias))
    del model.graph.output[1:3]
    got, native, _ = native_run(model, feeds)
    assert native == 1
    s = x + skip + bias
    want = (s - s.mean(-1, keepdims=True)) / np.sqrt(s.var(-1, keepdims=True) + 1e-5) * gamma + beta
    np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(got[1], s, rtol=1e-6, atol=1e-6)


def test_fused_matmul_bias_and_activation(rng):
    a = rng.standard_normal((2, 3, 8)).astype(np.float32)
    w, bias = rng.standard_normal((8, 12)).astype(np.float32), rng.standard_normal(12).astype(np.float32)
    node = helper.make_node("FusedMatMul", ["a", "w", "bias"], ["y"], domain="pyinfer", activation="Relu")
    got, native, python = native_run(model_of(node, {"a": a}, 1, {"": 17, "pyinfer": 1}, dict(w=w, bias=bias)), {"a": a})
    assert native == 1
    np.testing.assert_allclose(got[0], np.maximum(a @ w + bias, 0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(python[0], got[0], rtol=1e-6, atol=1e-6)

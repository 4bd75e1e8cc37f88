"""com.microsoft operators (and onnxruntime's default-domain extensions), one node at a time,
against onnxruntime: the reference for their semantics."""
import numpy as np
import onnxruntime as ort
from support import ort_node
import pytest
from onnx import TensorProto as T
from onnx import helper

import pyinfer

MS = "com.microsoft"


def run_both(op, inputs, attrs=None, outputs=1, domain=MS, consts=None, opset=17):
    imports = {"": opset, **({domain: 1} if domain else {})}
    return ort_node.run_both(op, inputs, attrs, outputs, domain, imports, consts)


def assert_close(want, got, rtol=1e-5, atol=1e-5):
    ort_node.assert_same(want, got, rtol=rtol, atol=atol)


def randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


# --- elementwise -------------------------------------------------------------------------------

@pytest.mark.parametrize("op,extra", [("Gelu", {}), ("FastGelu", {}), ("FastGelu", {"bias": 8}),
                                      ("BiasGelu", {"B": 8}), ("QuickGelu", {}), ("QuickGelu", {"alpha": 1.0})])
def test_gelu_family(rng, op, extra):
    inputs = {"X": randn(rng, 2, 3, 8) * 3}
    attrs = {}
    for name, v in extra.items():
        if name == "alpha":
            attrs["alpha"] = v
        else:
            inputs[name] = randn(rng, v)
    assert_close(*run_both(op, inputs, attrs))


@pytest.mark.parametrize("op,approximate", [("Gelu", "none"), ("FastGelu", "tanh")])
def test_gelu_without_a_bias_is_a_native_plan_step(rng, op, approximate):
    """What onnxruntime's optimizer leaves of a GELU it could not fuse into a MatMul: the plan runs
    it on the activation kernel (no Python step), on every length, with onnxruntime's values."""
    from pyinfer.cli.python_steps import python_steps

    node = helper.make_node(op, ["x"], ["y"], domain=MS)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", T.FLOAT, ["n", 8])],
                              [helper.make_tensor_value_info("y", T.FLOAT, ["n", 8])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)])
    info = python_steps(model, feeds={"x": randn(rng, 4, 8)})
    assert info["compiled"] and info["python"] == []
    sess = pyinfer.InferenceSession(model)
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for n in (4, 4, 7, 1):  # the second call runs the static plan, the others the dynamic one
        x = {"x": randn(rng, n, 8) * 3}
        np.testing.assert_allclose(sess.run(None, x)[0], ref.run(None, x)[0], rtol=1e-5, atol=1e-5)


def test_bias_add(rng):
    """onnxruntime has BiasAdd only on CUDA: the expected values are its documented formula."""
    x, bias, skip = randn(rng, 2, 3, 4), randn(rng, 4), randn(rng, 2, 3, 4)
    node = helper.make_node("BiasAdd", ["x", "bias", "skip"], ["y"], domain=MS)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, T.FLOAT, list(a.shape))
                                            for n, a in (("x", x), ("bias", bias), ("skip", skip))],
                              [helper.make_tensor_value_info("y", T.FLOAT, [2, 3, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)])
    (got,) = pyinfer.InferenceSession(model).run(None, {"x": x, "bias": bias, "skip": skip})
    np.testing.assert_array_equal(got, x + bias + skip)


# --- normalizations ----------------------------------------------------------------------------

@pytest.mark.parametrize("with_beta,with_bias,skip_shape", [(True, True, (2, 3, 8)), (False, False, (2, 3, 8)),
                                                            (True, False, (3, 8)), (True, True, (1, 3, 8))])
def test_skip_layer_normalization(rng, with_beta, with_bias, skip_shape):
    inputs = {"input": randn(rng, 2, 3, 8), "skip": randn(rng, *skip_shape), "gamma": randn(rng, 8),
              "beta": randn(rng, 8) if with_beta else None, "bias": randn(rng, 8) if with_bias else None}
    assert_close(*run_both("SkipLayerNormalization", inputs, {"epsilon": 1e-5}, outputs=4), atol=2e-5)


def test_skip_simplified_layer_normalization(rng):
    inputs = {"input": randn(rng, 2, 3, 8), "skip": randn(rng, 2, 3, 8), "gamma": randn(rng, 8),
              "bias": randn(rng, 8)}
    want, got = run_both("SkipSimplifiedLayerNormalization", inputs, {"epsilon": 1e-6}, outputs=4)
    assert_close([want[0], want[3]], [got[0], got[3]], atol=2e-5)  # outputs 1 and 2: onnxruntime leaves them


def test_simplified_layer_normalization_in_the_default_domain(rng):
    want, got = run_both("SimplifiedLayerNormalization", {"X": randn(rng, 2, 3, 8), "scale": randn(rng, 8)},
                         {"epsilon": 1e-6, "axis": -1}, domain="")
    assert_close(want, got, atol=2e-5)


def test_layer_normalization_before_opset_17_as_onnxruntime_writes_it(rng):
    want, got = run_both("LayerNormalization", {"X": randn(rng, 2, 3, 8), "scale": randn(rng, 8),
                                                "B": randn(rng, 8)}, {"epsilon": 1e-5}, domain="", opset=13)
    assert_close(want, got, atol=2e-5)


@pytest.mark.parametrize("with_mask,with_segments,with_position_ids",
                         [(True, True, False), (False, True, False), (True, False, False), (True, True, True)])
def test_embed_layer_normalization(rng, with_mask, with_segments, with_position_ids):
    batch, seq, hidden = 2, 5, 8
    inputs = {
        "input_ids": rng.integers(0, 20, (batch, seq)).astype(np.int32),
        "segment_ids": rng.integers(0, 2, (batch, seq)).astype(np.int32) if with_segments else None,
        "word_embedding": randn(rng, 20, hidden), "position_embedding": randn(rng, 16, hidden),
        "segment_embedding": randn(rng, 2, hidden) if with_segments else None,
        "gamma": randn(rng, hidden), "beta": randn(rng, hidden),
        "mask": np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.int32) if with_mask else None,
        "position_ids": rng.integers(0, 16, (batch, seq)).astype(np.int32) if with_position_ids else None,
    }
    want, got = run_both("EmbedLayerNormalization", inputs, {"epsilon": 1e-12}, outputs=3)
    assert_close(want[:1] + want[2:], got[:1] + got[2:], atol=2e-5)
    if with_mask:
        np.testing.assert_array_equal(got[1], want[1])


# --- attention ---------------------------------------------------------------------------------

ATTENTION_MASKS = {
    "none": None,
    "raw 2-D": np.array([[1, 1, 1, 0], [1, 1, 1, 1]], np.int32),
    "lengths": np.array([2, 4], np.int32),
    "end and start": np.array([3, 4, 1, 0], np.int32),
    "raw 3-D": (np.arange(32).reshape(2, 4, 4) % 3 != 0).astype(np.int32),
}


@pytest.mark.parametrize("mask", sorted(ATTENTION_MASKS))
@pytest.mark.parametrize("unidirectional", [0, 1])
def test_attention(rng, mask, unidirectional):
    inputs = {"input": randn(rng, 2, 4, 8), "weights": randn(rng, 8, 24) * 0.5, "bias": randn(rng, 24),
              "mask_index": ATTENTION_MASKS[mask]}
    assert_close(*run_both("Attention", inputs, {"num_heads": 2, "unidirectional": unidirectional}), atol=1e-5)


def test_attention_with_past_scale_and_unequal_value_size(rng):
    inputs = {"input": randn(rng, 2, 3, 8), "weights": randn(rng, 8, 24) * 0.5, "bias": randn(rng, 24),
              "mask_index": None, "past": randn(rng, 2, 2, 2, 2, 4)}
    want, got = run_both("Attention", inputs, {"num_heads": 2, "scale": 0.3}, outputs=2)
    assert_close(want, got, atol=1e-5)
    inputs = {"input": randn(rng, 2, 3, 8), "weights": randn(rng, 8, 20) * 0.5, "bias": randn(rng, 20)}
    assert_close(*run_both("Attention", inputs, {"num_heads": 2, "qkv_hidden_sizes": [8, 8, 4]}), atol=1e-5)


def test_attention_bias_input(rng):
    inputs = {"input": randn(rng, 2, 3, 8), "weights": randn(rng, 8, 24) * 0.5, "bias": randn(rng, 24),
              "mask_index": None, "past": None, "attention_bias": randn(rng, 1, 2, 3, 3)}
    assert_close(*run_both("Attention", inputs, {"num_heads": 2}), atol=1e-5)


@pytest.mark.parametrize("layout", ["separate", "separate with bias", "projected kv"])
def test_multi_head_attention(rng, layout):
    b, s, n, h = 2, 3, 2, 4
    d = n * h
    if layout.startswith("separate"):
        inputs = {"query": randn(rng, b, s, d), "key": randn(rng, b, 5, d), "value": randn(rng, b, 5, d),
                  "bias": randn(rng, 3 * d) if "bias" in layout else None,
                  "key_padding_mask": np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], np.int32)}
    else:
        inputs = {"query": randn(rng, b, s, d), "key": randn(rng, b, n, 5, h), "value": randn(rng, b, n, 5, h)}
    want, got = run_both("MultiHeadAttention", inputs, {"num_heads": n})
    assert_close(want, got, atol=1e-5)


def _mha_model(inputs, n):
    node = helper.make_node("MultiHeadAttention", list(inputs), ["y"], domain=MS, num_heads=n)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(k, T.FLOAT, list(v.shape))
                                            for k, v in inputs.items()],
                              [helper.make_tensor_value_info("y", T.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)])


@pytest.mark.parametrize("packing", ["qkv", "kv"])
def test_multi_head_attention_packed_inputs_equal_the_separate_ones(rng, packing):
    """onnxruntime runs packed QKV / KV only on CUDA: the reference is its CPU result for the same
    values given separately."""
    b, s, n, h = 2, 3, 2, 4
    q, k, v = randn(rng, b, s, n, h), randn(rng, b, s, n, h), randn(rng, b, s, n, h)
    separate = {"query": q.reshape(b, s, n * h), "key": k.reshape(b, s, n * h), "value": v.reshape(b, s, n * h)}
    (want,) = ort.InferenceSession(_mha_model(separate, n).SerializeToString(),
                                   providers=["CPUExecutionProvider"]).run(None, separate)
    if packing == "qkv":
        packed = {"query": np.stack([q, k, v], axis=3)}
    else:
        packed = {"query": separate["query"], "key": np.stack([k, v], axis=3)}
    (got,) = pyinfer.InferenceSession(_mha_model(packed, n)).run(None, packed)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_multi_head_attention_causal_with_past(rng):
    b, s, n, h = 2, 3, 2, 4
    inputs = {"query": randn(rng, b, s, n * h), "key": randn(rng, b, s, n * h), "value": randn(rng, b, s, n * h),
              "bias": None, "key_padding_mask": None, "attention_bias": None,
              "past_key": randn(rng, b, n, 2, h), "past_value": randn(rng, b, n, 2, h)}
    want, got = run_both("MultiHeadAttention", inputs, {"num_heads": n, "unidirectional": 1}, outputs=3)
    assert_close(want, got, atol=1e-5)


# --- fused ops ---------------------------------------------------------------------------------

@pytest.mark.parametrize("activation,params", [("Relu", []), ("LeakyRelu", [0.2]), ("Clip", [-0.5, 0.7]),
                                               ("HardSigmoid", [0.3, 0.4]), ("Sigmoid", []), ("Tanh", [])])
def test_fused_conv(rng, activation, params):
    x, w, bias, z = randn(rng, 1, 3, 6, 6), randn(rng, 4, 3, 3, 3), randn(rng, 4), randn(rng, 1, 4, 6, 6)
    attrs = {"activation": activation, "pads": [1, 1, 1, 1]}
    if params:
        attrs["activation_params"] = params
    assert_close(*run_both("FusedConv", {"X": x, "W": w, "B": bias, "Z": z}, attrs, consts={"W": w}), atol=1e-5)
    assert_close(*run_both("FusedConv", {"X": x, "W": w, "B": bias}, attrs), atol=1e-5)


@pytest.mark.parametrize("activation,params", [("Relu", {}), ("LeakyRelu", {"activation_alpha": 0.1}),
                                               ("Sigmoid", {}), ("Tanh", {}),
                                               ("HardSigmoid", {"activation_alpha": 0.3, "activation_beta": 0.4}),
                                               ("Elu", {"activation_alpha": 0.5}), ("Softplus", {}),
                                               ("Softsign", {})])
def test_fused_gemm(rng, activation, params):
    a, b, c = randn(rng, 3, 16), randn(rng, 10, 16), randn(rng, 10)
    attrs = {"activation": activation, "transB": 1, "alpha": 0.5, "beta": 2.0, **params}
    assert_close(*run_both("FusedGemm", {"A": a, "B": b, "C": c}, attrs, consts={"B": b}), atol=1e-5)


@pytest.mark.parametrize("op", ["FusedMatMul", "TransposeMatMul"])
@pytest.mark.parametrize("trans_a,trans_b", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_fused_matmul(rng, op, trans_a, trans_b):
    a = randn(rng, 2, 5, 4) if trans_a else randn(rng, 2, 4, 5)
    b = randn(rng, 6, 5) if trans_b else randn(rng, 5, 6)
    assert_close(*run_both(op, {"A": a, "B": b}, {"alpha": 0.5, "transA": trans_a, "transB": trans_b}), atol=1e-5)


def test_fused_matmul_batch_transposes(rng):
    a, b = randn(rng, 4, 3, 5), randn(rng, 3, 5, 2)
    assert_close(*run_both("FusedMatMul", {"A": a, "B": b}, {"transBatchA": 1}), atol=1e-5)


# --- dynamic quantization -----------------------------------------------------------------------

@pytest.mark.parametrize("b_dtype", [np.int8, np.uint8])
@pytest.mark.parametrize("per_column", [False, True])
def test_dynamic_quantize_matmul(rng, b_dtype, per_column):
    a = randn(rng, 3, 8)
    info = np.iinfo(b_dtype)
    b = rng.integers(info.min, info.max, (8, 5)).astype(b_dtype)
    scale = (rng.random(5 if per_column else 1) * 0.1 + 0.01).astype(np.float32)
    zp = rng.integers(info.min // 2, info.max // 2, scale.shape).astype(b_dtype)
    inputs = {"A": a, "B": b, "b_scale": scale, "b_zero_point": zp, "bias": randn(rng, 5)}
    assert_close(*run_both("DynamicQuantizeMatMul", inputs, consts={"B": b, "b_scale": scale, "b_zero_point": zp}),
                 rtol=1e-5, atol=1e-4)


def test_matmul_integer_to_float(rng):
    a = rng.integers(0, 255, (3, 8)).astype(np.uint8)
    b = rng.integers(-128, 127, (8, 5)).astype(np.int8)
    inputs = {"A": a, "B": b, "a_scale": np.array(0.02, np.float32), "b_scale": np.full(5, 0.03, np.float32),
              "a_zero_point": np.array(128, np.uint8), "b_zero_point": np.zeros(5, np.int8), "bias": randn(rng, 5)}
    assert_close(*run_both("MatMulIntegerToFloat", inputs), rtol=1e-5, atol=1e-4)


def test_unsupported_contrib_op_names_op_domain_and_node():
    node = helper.make_node("GroupQueryAttention", ["x"], ["y"], name="gqa", domain=MS)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", T.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", T.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)])
    with pytest.raises(pyinfer.UnsupportedOpError, match=r"com\.microsoft::GroupQueryAttention \(in node 'gqa'"):
        pyinfer.InferenceSession(model)

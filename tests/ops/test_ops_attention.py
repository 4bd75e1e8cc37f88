"""Attention-family ops end to end (pyinfer/ops/attention.py).

Oracles: torch.nn.functional (scaled_dot_product_attention, rms_norm, conv1d, silu), plain
per-query loops written here, closed forms (causal linear attention, complex rotation), and
hand-computed values; onnx.reference only as a secondary check.
"""
import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import pyinfer
from support.one_node import reference, run

torch = pytest.importorskip("torch")
F = torch.nn.functional


def sdpa(q, k, v, **kw):
    t = [torch.from_numpy(np.ascontiguousarray(a)) for a in (q, k, v)]
    if "attn_mask" in kw and kw["attn_mask"] is not None:
        kw["attn_mask"] = torch.from_numpy(kw["attn_mask"])
    return F.scaled_dot_product_attention(*t, **kw).numpy()


def loop_attention(q, k, v, allowed=None, bias=None, scale=None, softcap=0.0):
    """4-D attention one query at a time: softmax over the allowed keys only (zeros if none)."""
    b, hq, sq, d = q.shape
    hkv, t = k.shape[1], k.shape[2]
    scale = 1 / math.sqrt(d) if scale is None else scale
    out = np.zeros((b, hq, sq, v.shape[3]))
    for n in range(b):
        for h in range(hq):
            kh = h // (hq // hkv)
            for i in range(sq):
                keys = [j for j in range(t) if allowed is None or allowed[n, h, i, j]]
                if not keys:
                    continue
                s = np.array([float(q[n, h, i] @ k[n, kh, j]) * scale for j in keys])
                if softcap:
                    s = softcap * np.tanh(s / softcap)
                if bias is not None:
                    s = s + np.array([bias[n, h, i, j] for j in keys])
                p = np.exp(s - s.max())
                p /= p.sum()
                out[n, h, i] = sum(pj * v[n, kh, j] for pj, j in zip(p, keys))
    return out


def rand(rng, *shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


# --- Attention --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal", [0, 1])
def test_attention_4d_matches_torch_sdpa(rng, dtype, causal):
    q, k, v = rand(rng, 2, 3, 4, 8, dtype=dtype), rand(rng, 2, 3, 4, 8, dtype=dtype), rand(rng, 2, 3, 4, 5, dtype=dtype)
    y = run("Attention", [q, k, v], opset=23, is_causal=causal)
    assert y.dtype == dtype and y.shape == (2, 3, 4, 5)
    np.testing.assert_allclose(y, sdpa(q, k, v, is_causal=bool(causal)), rtol=1e-4, atol=1e-5)


def test_attention_gqa_scale_float_mask(rng):
    q, k, v = rand(rng, 2, 6, 3, 4), rand(rng, 2, 2, 5, 4), rand(rng, 2, 2, 5, 3)
    mask = rand(rng, 3, 5)
    y = run("Attention", [q, k, v, mask], opset=23, scale=0.3)
    want = sdpa(q, k, v, attn_mask=mask, scale=0.3, enable_gqa=True)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)


def test_attention_bool_mask_and_causal_compose(rng):
    q, k, v = rand(rng, 1, 2, 4, 4), rand(rng, 1, 2, 4, 4), rand(rng, 1, 2, 4, 4)
    mask = rng.random((1, 2, 4, 4)) > 0.3
    y = run("Attention", [q, k, v, mask], opset=23, is_causal=1)
    allowed = mask & np.tril(np.ones((4, 4), bool))
    np.testing.assert_allclose(y, loop_attention(q, k, v, allowed), rtol=1e-4, atol=1e-5)


def test_attention_3d_equals_4d(rng):
    q, k, v = rand(rng, 2, 5, 12), rand(rng, 2, 7, 6), rand(rng, 2, 7, 4)  # 4 q heads, 2 kv heads
    y = run("Attention", [q, k, v], opset=23, q_num_heads=4, kv_num_heads=2)
    to4 = lambda x, h: x.reshape(x.shape[0], x.shape[1], h, -1).transpose(0, 2, 1, 3)  # noqa: E731
    want = loop_attention(to4(q, 4), to4(k, 2), to4(v, 2)).transpose(0, 2, 1, 3).reshape(2, 5, 8)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)


def test_attention_past_present_and_bottom_right_causal(rng):
    q, k, v = rand(rng, 1, 2, 2, 4), rand(rng, 1, 2, 2, 4), rand(rng, 1, 2, 2, 3)
    pk, pv = rand(rng, 1, 2, 3, 4), rand(rng, 1, 2, 3, 3)
    y, present_k, present_v = run("Attention", [q, k, v, None, pk, pv], n_outputs=3, opset=23, is_causal=1)
    np.testing.assert_array_equal(present_k, np.concatenate([pk, k], axis=2))
    np.testing.assert_array_equal(present_v, np.concatenate([pv, v], axis=2))
    # query i (absolute position 3 + i) sees keys 0 .. 3 + i
    allowed = np.array([[j <= 3 + i for j in range(5)] for i in range(2)])[None, None].repeat(2, 1)
    np.testing.assert_allclose(y, loop_attention(q, present_k, present_v, allowed), rtol=1e-4, atol=1e-5)


def test_attention_nonpad_kv_seqlen_external_cache(rng):
    q, k, v = rand(rng, 2, 2, 2, 4), rand(rng, 2, 2, 6, 4), rand(rng, 2, 2, 6, 4)
    nonpad = np.array([3, 6], np.int64)
    y = run("Attention", [q, k, v, None, None, None, nonpad], opset=24, is_causal=1)
    allowed = np.zeros((2, 2, 2, 6), bool)
    for n in range(2):
        for i in range(2):
            allowed[n, :, i, : nonpad[n] - 2 + i + 1] = True  # offset = nonpad - q_len
    np.testing.assert_allclose(y, loop_attention(q, k, v, allowed), rtol=1e-4, atol=1e-5)
    # without is_causal the padding alone masks keys >= nonpad
    y2 = run("Attention", [q, k, v, None, None, None, nonpad], opset=24)
    pad = (np.arange(6)[None, :] < nonpad[:, None])[:, None, None, :].repeat(2, 1).repeat(2, 2)
    np.testing.assert_allclose(y2, loop_attention(q, k, v, pad), rtol=1e-4, atol=1e-5)


def test_attention_sliding_window_opset25(rng):
    q, k, v = rand(rng, 1, 1, 4, 4), rand(rng, 1, 1, 6, 4), rand(rng, 1, 1, 6, 4)
    y = run("Attention", [q, k, v], opset=25, left_window_size=2, right_window_size=1)
    # the example table in the spec: q0 {k0,k1}, q1 {k0..k2}, q2 {k0..k3}, q3 {k1..k4}
    allowed = np.zeros((1, 1, 4, 6), bool)
    for i, keys in enumerate([[0, 1], [0, 1, 2], [0, 1, 2, 3], [1, 2, 3, 4]]):
        allowed[0, 0, i, keys] = True
    np.testing.assert_allclose(y, loop_attention(q, k, v, allowed), rtol=1e-4, atol=1e-5)


def test_attention_softcap_and_qk_output_modes(rng):
    q, k, v = rand(rng, 1, 2, 3, 4) * 3, rand(rng, 1, 2, 3, 4), rand(rng, 1, 2, 3, 4)
    mask = rand(rng, 3, 3)
    raw = np.einsum("bhid,bhjd->bhij", q.astype(np.float64), k) / 2.0
    capped = 1.5 * np.tanh(raw / 1.5)
    logits = capped + mask
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    for mode, want in enumerate([raw, capped, logits, probs]):
        y, _, _, qk = run("Attention", [q, k, v, mask], n_outputs=4, opset=23, softcap=1.5,
                          qk_matmul_output_mode=mode)
        np.testing.assert_allclose(qk, want, rtol=1e-4, atol=1e-5, err_msg=f"mode {mode}")
    np.testing.assert_allclose(y, probs @ v, rtol=1e-4, atol=1e-5)


def test_attention_fully_masked_row_is_zero(rng):
    q, k, v = rand(rng, 1, 1, 2, 4), rand(rng, 1, 1, 3, 4), rand(rng, 1, 1, 3, 4)
    mask = np.array([[True, False, True], [False, False, False]])
    y, _, _, p = run("Attention", [q, k, v, mask], n_outputs=4, opset=23, qk_matmul_output_mode=3)
    assert np.all(y[0, 0, 1] == 0) and np.all(p[0, 0, 1] == 0) and not np.isnan(y).any()
    np.testing.assert_allclose(p[0, 0, 0].sum(), 1.0, rtol=1e-6)


def test_attention_short_mask_is_padded_in_opset24(rng):
    q, k, v = rand(rng, 1, 1, 2, 4), rand(rng, 1, 1, 4, 4), rand(rng, 1, 1, 4, 4)
    mask = np.zeros((2, 2), np.float32)
    y = run("Attention", [q, k, v, mask], opset=24)
    np.testing.assert_allclose(y, loop_attention(q, k[:, :, :2], v[:, :, :2]), rtol=1e-4, atol=1e-5)
    with pytest.raises(pyinfer.Error):
        run("Attention", [q, k, v, np.zeros((2, 3), np.float32)], opset=23)


@pytest.mark.parametrize("dtype", [np.float16, "bfloat16"])
def test_attention_low_precision_keeps_dtype(rng, dtype):
    dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(TensorProto.BFLOAT16)) if dtype == "bfloat16" else np.dtype(dtype)
    q, k, v = (rand(rng, 1, 2, 3, 8).astype(dtype) for _ in range(3))
    y = run("Attention", [q, k, v], opset=23, is_causal=1)
    assert y.dtype == dtype
    f = lambda a: a.astype(np.float32)  # noqa: E731
    np.testing.assert_allclose(f(y), sdpa(f(q), f(k), f(v), is_causal=True), rtol=2e-2, atol=2e-2)


def test_attention_bad_inputs_raise(rng):
    q, k, v = rand(rng, 1, 3, 2, 4), rand(rng, 1, 2, 2, 4), rand(rng, 1, 2, 2, 4)
    with pytest.raises(pyinfer.Error, match="multiple"):
        run("Attention", [q, k, v], opset=23)
    with pytest.raises(pyinfer.Error, match="together"):
        run("Attention", [q, k[:, :1], v[:, :1], None, k[:, :1]], opset=23)
    with pytest.raises(pyinfer.Error, match="nonpad"):
        run("Attention", [q[:, :2], k, v, None, None, None, np.array([5], np.int64)], opset=24)
    with pytest.raises(pyinfer.Error, match="q_num_heads"):
        run("Attention", [q[:, 0], k[:, 0], v[:, 0]], opset=23)


def test_attention_agrees_with_onnx_reference(rng):
    q, k, v = rand(rng, 2, 4, 3, 8), rand(rng, 2, 2, 5, 8), rand(rng, 2, 2, 5, 6)
    mask = rng.random((2, 1, 3, 5)) > 0.2
    args = dict(opset=23, is_causal=1, softcap=2.0)
    np.testing.assert_allclose(run("Attention", [q, k, v, mask], **args),
                               reference("Attention", [q, k, v, mask], **args), rtol=1e-4, atol=1e-5)


# --- RotaryEmbedding ----------------------------------------------------------------------

def rotate_complex(x, theta, interleaved):
    """Rotate pairs of x (..., 2h) as complex numbers by angles theta (..., h)."""
    if interleaved:
        z = x[..., 0::2] + 1j * x[..., 1::2]
    else:
        h = x.shape[-1] // 2
        z = x[..., :h] + 1j * x[..., h:]
    z = z * np.exp(1j * theta)
    if interleaved:
        return np.stack([z.real, z.imag], axis=-1).reshape(x.shape)
    return np.concatenate([z.real, z.imag], axis=-1)


@pytest.mark.parametrize("interleaved", [0, 1])
def test_rotary_embedding_4d_position_ids(rng, interleaved):
    x = rand(rng, 2, 3, 4, 8)  # (batch, heads, seq, head)
    angles = rng.random((10, 4)) * 6
    pos = rng.integers(0, 10, size=(2, 4))
    y = run("RotaryEmbedding", [x, np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32), pos],
            opset=23, interleaved=interleaved)
    theta = angles[pos][:, None]  # (batch, 1, seq, 4)
    np.testing.assert_allclose(y, rotate_complex(x.astype(np.float64), theta, interleaved), rtol=1e-5, atol=1e-5)


def test_rotary_embedding_3d_partial_no_position_ids(rng):
    x = rand(rng, 2, 3, 12)  # 2 heads of 6, rotate the first 4 dims
    angles = rng.random((2, 3, 2)) * 6
    y = run("RotaryEmbedding", [x, np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)],
            opset=23, num_heads=2, rotary_embedding_dim=4)
    xh = x.reshape(2, 3, 2, 6).astype(np.float64)
    want = xh.copy()
    want[..., :4] = rotate_complex(xh[..., :4], angles[:, :, None, :], False)
    np.testing.assert_allclose(y, want.reshape(2, 3, 12), rtol=1e-5, atol=1e-5)


def test_rotary_embedding_checks_position_ids(rng):
    x = rand(rng, 1, 1, 2, 4)
    cache = np.ones((3, 2), np.float32)
    with pytest.raises(pyinfer.Error, match="position_ids"):
        run("RotaryEmbedding", [x, cache, cache, np.array([[0, 3]])], opset=23)


# --- RMSNormalization ---------------------------------------------------------------------

@pytest.mark.parametrize("axis", [-1, -2, 1])
def test_rms_normalization_matches_torch(rng, axis):
    x = rand(rng, 2, 3, 4, 5)
    norm_shape = x.shape[axis % 4:]
    scale = rand(rng, *norm_shape)
    y = run("RMSNormalization", [x, scale], opset=23, axis=axis, epsilon=1e-3)
    want = F.rms_norm(torch.from_numpy(x), norm_shape, torch.from_numpy(scale), eps=1e-3).numpy()
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


def test_rms_normalization_float16_and_bad_scale(rng):
    x = rand(rng, 3, 8).astype(np.float16)
    scale = np.full(8, 2, np.float16)
    y = run("RMSNormalization", [x, scale], opset=23)
    assert y.dtype == np.float16
    xf = x.astype(np.float64)
    np.testing.assert_allclose(y, 2 * xf / np.sqrt((xf ** 2).mean(-1, keepdims=True) + 1e-5), rtol=2e-3)
    with pytest.raises(pyinfer.Error, match="broadcast"):
        run("RMSNormalization", [x, np.ones(3, np.float16)], opset=23)


# --- LinearAttention ----------------------------------------------------------------------

def test_linear_attention_linear_rule_is_causal_linear_attention(rng):
    b, t, h, dk, dv = 2, 5, 2, 3, 4
    q, k, v = rand(rng, b, t, h * dk), rand(rng, b, t, h * dk), rand(rng, b, t, h * dv)
    y, state = run("LinearAttention", [q, k, v], n_outputs=2, opset=27, q_num_heads=h, kv_num_heads=h,
                   update_rule="linear")
    split = lambda x: x.reshape(b, t, h, -1).transpose(0, 2, 1, 3).astype(np.float64)  # noqa: E731
    qh, kh, vh = split(q), split(k), split(v)
    scores = np.tril(qh @ kh.transpose(0, 1, 3, 2)) / np.sqrt(dk)  # no softmax
    want = (scores @ vh).transpose(0, 2, 1, 3).reshape(b, t, h * dv)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(state, kh.transpose(0, 1, 3, 2) @ vh, rtol=1e-4, atol=1e-5)


def test_linear_attention_gated_per_head_decay_gqa(rng):
    b, t, hq, hkv, dk, dv = 1, 4, 4, 2, 3, 2
    q, k, v = rand(rng, b, t, hq * dk), rand(rng, b, t, hkv * dk), rand(rng, b, t, hkv * dv)
    g = -rng.random((b, t, hkv)).astype(np.float32)
    past = rand(rng, b, hkv, dk, dv)
    y, _ = run("LinearAttention", [q, k, v, past, g], n_outputs=2, opset=27, q_num_heads=hq, kv_num_heads=hkv,
               update_rule="gated", scale=0.5)
    want = np.zeros((b, t, hq, dv))
    for hh in range(hq):
        kvh = hh // 2
        for i in range(t):
            qi = q[0, i, hh * dk:(hh + 1) * dk].astype(np.float64)
            acc = np.exp(g[0, : i + 1, kvh].sum()) * (qi @ past[0, kvh])
            for s in range(i + 1):
                decay = np.exp(g[0, s + 1: i + 1, kvh].sum())
                acc = acc + decay * (qi @ k[0, s, kvh * dk:(kvh + 1) * dk]) * v[0, s, kvh * dv:(kvh + 1) * dv]
            want[0, i, hh] = 0.5 * acc
    np.testing.assert_allclose(y, want.reshape(b, t, hq * dv), rtol=1e-4, atol=1e-5)


def test_linear_attention_delta_rule_single_step(rng):
    # one token, state S0: S1 = S0 + beta * k (v - S0^T k)^T ; o = scale * S1^T q
    dk, dv = 3, 2
    q, k, v = rand(rng, 1, 1, dk), rand(rng, 1, 1, dk), rand(rng, 1, 1, dv)
    s0, beta = rand(rng, 1, 1, dk, dv), np.array([[[0.7]]], np.float32)
    y, s1 = run("LinearAttention", [q, k, v, s0, None, beta], n_outputs=2, opset=27, q_num_heads=1,
                kv_num_heads=1, update_rule="delta")
    S0, kk, vv, qq = s0[0, 0].astype(np.float64), k[0, 0], v[0, 0], q[0, 0]
    S1 = S0 + 0.7 * np.outer(kk, vv - S0.T @ kk)
    np.testing.assert_allclose(s1[0, 0], S1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y[0, 0], S1.T @ qq / np.sqrt(dk), rtol=1e-5, atol=1e-6)


def test_linear_attention_requires_its_inputs(rng):
    q = rand(rng, 1, 2, 4)
    with pytest.raises(pyinfer.Error, match="decay"):
        run("LinearAttention", [q, q, q], n_outputs=2, opset=27, q_num_heads=1, kv_num_heads=1)


# --- CausalConvWithState ------------------------------------------------------------------

@pytest.mark.parametrize("activation", ["none", "silu"])
def test_causal_conv_matches_torch_conv1d(rng, activation):
    x, w, bias, past = rand(rng, 2, 3, 6), rand(rng, 3, 1, 4), rand(rng, 3), rand(rng, 2, 3, 3)
    y, present = run("CausalConvWithState", [x, w, bias, past], n_outputs=2, opset=27, activation=activation)
    padded = torch.from_numpy(np.concatenate([past, x], axis=2))
    want = F.conv1d(padded, torch.from_numpy(w), torch.from_numpy(bias), groups=3)
    if activation == "silu":
        want = F.silu(want)
    np.testing.assert_allclose(y, want.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(present, np.concatenate([past, x], axis=2)[:, :, -3:])


def test_causal_conv_streaming_equals_whole_sequence(rng):
    x, w = rand(rng, 1, 2, 7), rand(rng, 2, 1, 3)
    whole, _ = run("CausalConvWithState", [x, w], n_outputs=2, opset=27)
    a, state = run("CausalConvWithState", [x[:, :, :1], w], n_outputs=2, opset=27)  # shorter than k-1
    b, _ = run("CausalConvWithState", [x[:, :, 1:], w, None, state], n_outputs=2, opset=27)
    np.testing.assert_allclose(np.concatenate([a, b], axis=2), whole, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(state, np.concatenate([np.zeros((1, 2, 1), np.float32), x[:, :, :1]], axis=2))


# --- FlexAttention ------------------------------------------------------------------------

def flex_model(q, k, v, score_mod=None, **attrs):
    if score_mod is not None:
        attrs["score_mod"] = score_mod
    node = helper.make_node("FlexAttention", ["q", "k", "v"], ["y"], domain="ai.onnx.preview", **attrs)
    ins = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
           for n, a in zip("qkv", (q, k, v))]
    graph = helper.make_graph([node], "flex", ins, [helper.make_empty_tensor_value_info("y")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 26),
                                                   helper.make_opsetid("ai.onnx.preview", 1)])


def test_flex_attention_plain_and_gqa_match_sdpa(rng):
    q, k, v = rand(rng, 2, 4, 3, 8), rand(rng, 2, 2, 5, 8), rand(rng, 2, 2, 5, 6)
    (y,) = pyinfer.InferenceSession(flex_model(q, k, v)).run(None, {"q": q, "k": k, "v": v})
    np.testing.assert_allclose(y, sdpa(q, k, v, enable_gqa=True), rtol=1e-4, atol=1e-5)


def test_flex_attention_score_mod_subgraph(rng):
    q, k, v = rand(rng, 1, 2, 3, 4), rand(rng, 1, 2, 3, 4), rand(rng, 1, 2, 3, 4)
    # score_mod: scores * 0.5 - an outer-scope-free subgraph with its own constant
    half = helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])
    body = helper.make_graph([helper.make_node("Mul", ["s", "half"], ["out"])], "mod",
                             [helper.make_tensor_value_info("s", TensorProto.FLOAT, None)],
                             [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], [half])
    (y,) = pyinfer.InferenceSession(flex_model(q, k, v, body, scale=0.8)).run(None, {"q": q, "k": k, "v": v})
    np.testing.assert_allclose(y, sdpa(q, k, v, scale=0.4), rtol=1e-4, atol=1e-5)


# --- Swish / SwiGLU / TensorScatter -------------------------------------------------------

def test_swish_and_swiglu(rng):
    a, b = rand(rng, 3, 5) * 4, rand(rng, 3, 5)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    np.testing.assert_allclose(run("Swish", [a], opset=24), F.silu(ta).numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(run("Swish", [a], opset=24, alpha=1.7), (ta * torch.sigmoid(1.7 * ta)).numpy(),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(run("SwiGLU", [a, b], opset=28), (F.silu(ta) * tb).numpy(), rtol=1e-6, atol=1e-6)
    y16 = run("Swish", [a.astype(np.float16)], opset=24)
    assert y16.dtype == np.float16
    with pytest.raises(pyinfer.Error, match="shape"):
        run("SwiGLU", [a, b[:, :2]], opset=28)


def test_tensor_scatter_linear_and_circular():
    past = np.zeros((2, 1, 4, 2), np.int32)
    upd = np.arange(1, 2 * 1 * 3 * 2 + 1, dtype=np.int32).reshape(2, 1, 3, 2)
    y = run("TensorScatter", [past, upd, np.array([1, 0], np.int64)], opset=24)
    want = np.zeros_like(past)
    want[0, 0, 1:4] = upd[0, 0]
    want[1, 0, 0:3] = upd[1, 0]
    np.testing.assert_array_equal(y, want)
    y = run("TensorScatter", [past, upd, np.array([3, 2], np.int64)], opset=24, mode="circular")
    want = np.zeros_like(past)
    want[0, 0, [3, 0, 1]] = upd[0, 0]
    want[1, 0, [2, 3, 0]] = upd[1, 0]
    np.testing.assert_array_equal(y, want)
    with pytest.raises(pyinfer.Error, match="linear"):
        run("TensorScatter", [past, upd, np.array([2, 0], np.int64)], opset=24)

"""The attention kernel (multi-head scaled dot-product attention with its masks, past keys / values
and operand layouts) against a float64 NumPy reference, under every SIMD tier."""

import numpy as np
import pytest

import pyinfer
from pyinfer import kernels as K


def reference(q4, k4, v4, scale=None, add=None, causal=False):
    """softmax(scale q k^T + add) v on [B, H, S, D] operands (k / v may have fewer heads)."""
    group = q4.shape[1] // k4.shape[1]
    k4, v4 = np.repeat(k4, group, axis=1), np.repeat(v4, group, axis=1)
    s = np.einsum("bhsd,bhtd->bhst", q4.astype(np.float64), k4) * (scale or 1 / np.sqrt(q4.shape[-1]))
    if add is not None:
        s = s + add
    S, T = s.shape[-2:]
    if causal:
        s = np.where(np.arange(T)[None, :] > np.arange(S)[:, None] + T - S, -np.inf, s)
    s = s - s.max(-1, keepdims=True)
    p = np.exp(s)
    return np.einsum("bhst,bhtd->bhsd", p / p.sum(-1, keepdims=True), v4)


def heads(x, n):
    """[B, S, n * D] -> [B, n, S, D]."""
    b, s, w = x.shape
    return x.reshape(b, s, n, w // n).transpose(0, 2, 1, 3)


def tokens(x4):
    b, h, s, d = x4.shape
    return np.ascontiguousarray(x4.transpose(0, 2, 1, 3).reshape(b, s, h * d))


@pytest.mark.parametrize("seq", [1, 9, 64, 200])
def test_packed_qkv_with_masks(isa, rng, seq):
    B, H, D = 2, 3, 16
    qkv = rng.standard_normal((B, seq, 3 * H * D)).astype(np.float32)
    q, k, v = (heads(qkv[..., i * H * D:(i + 1) * H * D], H) for i in range(3))
    mask = rng.standard_normal((B, 1, 1, seq)).astype(np.float32)
    want = tokens(reference(q, k, v, add=mask))
    np.testing.assert_allclose(K.attention(qkv, q_heads=H, mask=mask), want, rtol=1e-4, atol=2e-6)
    keep = (rng.random((B, seq)) > 0.3).astype(np.int32)
    keep[:, 0] = 1
    want = tokens(reference(q, k, v, scale=0.3, add=np.where(keep, 0.0, -10000.0)[:, None, None, :]))
    np.testing.assert_allclose(K.attention(qkv, q_heads=H, key_padding=keep, scale=0.3), want, rtol=1e-4, atol=2e-6)


def test_layouts_and_grouped_heads(isa, rng):
    B, S, T, Hq, Hkv, D = 2, 7, 11, 6, 2, 8
    q4 = rng.standard_normal((B, Hq, S, D)).astype(np.float32)
    k4, v4 = rng.standard_normal((2, B, Hkv, T, D)).astype(np.float32)
    want = reference(q4, k4, v4)
    np.testing.assert_allclose(K.attention(q4, k4, v4, q_heads=Hq, kv_heads=Hkv, heads_output=True), want,
                               rtol=1e-4, atol=2e-6)
    # tokens-layout q with heads-layout k / v, merged output
    np.testing.assert_allclose(K.attention(tokens(q4), k4, tokens(v4), q_heads=Hq, kv_heads=Hkv), tokens(want),
                               rtol=1e-4, atol=2e-6)


@pytest.mark.parametrize("mask_shape", [(1, 1, 5, 9), (2, 3, 5, 9), (5, 9), (2, 1, 1, 9), (9,)])
def test_mask_broadcasts(isa, rng, mask_shape):
    q4 = rng.standard_normal((2, 3, 5, 8)).astype(np.float32)
    k4, v4 = rng.standard_normal((2, 2, 3, 9, 8)).astype(np.float32)
    mask = rng.standard_normal(mask_shape).astype(np.float32)
    np.testing.assert_allclose(K.attention(q4, k4, v4, q_heads=3, mask=mask, heads_output=True),
                               reference(q4, k4, v4, add=mask), rtol=1e-4, atol=2e-6)


def test_decoder_step_with_past(isa, rng):
    B, H, D, P = 1, 4, 16, 127
    qkv = rng.standard_normal((B, 1, 3 * H * D)).astype(np.float32)
    past_k, past_v = rng.standard_normal((2, B, H, P, D)).astype(np.float32)
    q, k, v = (heads(np.ascontiguousarray(qkv[..., i * H * D:(i + 1) * H * D]), H) for i in range(3))
    y, pk, pv = K.attention(qkv, q_heads=H, causal=True, past_key=past_k, past_value=past_v)
    np.testing.assert_array_equal(pk, np.concatenate([past_k, k], axis=2))
    np.testing.assert_array_equal(pv, np.concatenate([past_v, v], axis=2))
    np.testing.assert_allclose(y, tokens(reference(q, pk, pv, causal=True)), rtol=1e-4, atol=2e-6)
    # a prompt of 5 tokens after 3 past ones: causal with the offset T - S
    qkv = rng.standard_normal((B, 5, 3 * H * D)).astype(np.float32)
    y, pk, pv = K.attention(qkv, q_heads=H, causal=True, past_key=past_k[:, :, :3], past_value=past_v[:, :, :3])
    q = heads(np.ascontiguousarray(qkv[..., :H * D]), H)
    np.testing.assert_allclose(y, tokens(reference(q, pk, pv, causal=True)), rtol=1e-4, atol=2e-6)
    # present without a past (a prompt whose keys the next step reads)
    _, pk, _ = K.attention(qkv, q_heads=H, causal=True, present=True)
    np.testing.assert_array_equal(pk, heads(np.ascontiguousarray(qkv[..., H * D:2 * H * D]), H))


def test_fully_masked_rows_are_zero(isa, rng):
    q4, k4, v4 = rng.standard_normal((3, 1, 2, 4, 8)).astype(np.float32)
    mask = np.zeros((1, 1, 4, 4), np.float32)
    mask[..., 1, :] = -np.inf
    y = K.attention(q4, k4, v4, q_heads=2, mask=mask, heads_output=True)
    np.testing.assert_array_equal(y[:, :, 1], 0.0)
    np.testing.assert_allclose(y[:, :, [0, 2, 3]], reference(q4, k4, v4)[:, :, [0, 2, 3]], rtol=1e-4, atol=2e-6)


def test_thread_counts_agree(rng):
    qkv = rng.standard_normal((2, 150, 3 * 4 * 32)).astype(np.float32)
    one = K.attention(qkv, q_heads=4, num_threads=1)
    np.testing.assert_array_equal(K.attention(qkv, q_heads=4, num_threads=2), one)
    np.testing.assert_array_equal(K.attention(qkv, q_heads=4, num_threads=3), one)


@pytest.mark.parametrize("kwargs, message", [
    (dict(q_shape=[1, 4, 30], q_heads=4), "not divisible"),
    (dict(q_shape=[1, 4, 32], k_shape=[1, 4, 16], v_shape=[1, 4, 32], q_heads=4), "head size"),
    (dict(q_shape=[1, 4, 32], k_shape=[1, 5, 32], v_shape=[1, 4, 32], q_heads=4), "tokens"),
    (dict(q_shape=[1, 4, 96], q_heads=4, kv_heads=3), "multiple"),
    (dict(q_shape=[1, 4, 96], q_heads=4, mask_shape=[1, 2, 4, 4]), "broadcast"),
])
def test_bad_shapes_are_refused(kwargs, message):
    with pytest.raises(pyinfer.KernelArgumentError, match=message):
        K.prepare_attention(**kwargs)


def rotary_reference(x4, cos, sin, rd, interleaved):
    """RotaryEmbedding on [B, H, S, D] with cos / sin [B, S, rd / 2] (float64)."""
    x = x4.astype(np.float64)
    c, s = cos[:, None].astype(np.float64), sin[:, None].astype(np.float64)
    rot = x[..., :rd]
    x1, x2 = (rot[..., 0::2], rot[..., 1::2]) if interleaved else (rot[..., :rd // 2], rot[..., rd // 2:])
    real, imag = c * x1 - s * x2, s * x1 + c * x2
    out = np.stack([real, imag], -1).reshape(rot.shape) if interleaved else np.concatenate([real, imag], -1)
    return np.concatenate([out, x[..., rd:]], -1)


@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("rd", [0, 12])
def test_rotary_embedding(isa, rng, interleaved, rd):
    B, H, S, D = 2, 3, 5, 40
    x4 = rng.standard_normal((B, H, S, D)).astype(np.float32)
    half = (rd or D) // 2
    table_cos, table_sin = rng.standard_normal((2, 16, half)).astype(np.float32)
    ids = rng.integers(0, 16, (B, S))
    want = rotary_reference(x4, table_cos[ids], table_sin[ids], rd or D, interleaved)
    y = K.rotary_embedding(x4, table_cos, table_sin, ids, rotary_dim=rd, interleaved=interleaved)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    y3 = K.rotary_embedding(tokens(x4), table_cos[ids], table_sin[ids], num_heads=H, rotary_dim=rd,
                            interleaved=interleaved)
    np.testing.assert_allclose(y3, tokens(want), rtol=1e-5, atol=1e-6)
    with pytest.raises(pyinfer.KernelArgumentError, match="position id 16"):
        K.rotary_embedding(x4, table_cos, table_sin, np.full((B, S), 16), rotary_dim=rd)

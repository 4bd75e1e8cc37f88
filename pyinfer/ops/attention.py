"""Transformer building blocks: Attention, RotaryEmbedding, RMSNormalization, LinearAttention,
CausalConvWithState, FlexAttention (ai.onnx.preview), Swish, SwiGLU and TensorScatter.

All NumPy; float32 matrix products go through the C++ sgemm (see _nnmath.matmul).
float16 / bfloat16 compute in float32 and are rounded once at the end.
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..errors import KernelArgumentError
from ..lowering import Native
from ..registry import register
from ._nnmath import compute_dtype, is_float_dtype, masked_softmax, matmul, np_dtype_of, sigmoid, to_compute
from .base import Op, normalize_axis
from .normalization import norm_kernel

_SOFTMAX_PRECISIONS = (1, 10, 11, 16)  # FLOAT, FLOAT16, DOUBLE, BFLOAT16


def _joint_compute_dtype(*arrays) -> np.dtype:
    return np.dtype(np.float64) if any(a.dtype == np.float64 for a in arrays) else np.dtype(np.float32)


def _require_float(op: Op, **named):
    for name, a in named.items():
        if a is not None and not is_float_dtype(a.dtype):
            raise op.run_error(f"{name} must be a floating-point tensor, got {a.dtype}")


def _round_to(x: np.ndarray, dtype: np.dtype | None) -> np.ndarray:
    """Round x to `dtype`'s precision but keep computing in x's dtype (float32/64)."""
    if dtype is None or dtype == x.dtype:
        return x
    return x.astype(dtype).astype(x.dtype)


# --- Attention --------------------------------------------------------------------------

@register("Attention", 23, 24, 25)
class Attention(Op):
    """Scaled dot-product attention (MHA / GQA / MQA), 3-D packed or 4-D inputs.

    Every masking rule (attn_mask, is_causal, sliding window, nonpad_kv_seqlen) becomes an
    additive bias of 0 / -inf; a query row whose whole bias is -inf outputs zeros (the
    spec's fully-masked-row rule), decided on the bias, not on the logits.
    """

    def setup(self):
        self.is_causal = bool(self.attr("is_causal", 0))
        self.q_num_heads = self.attr("q_num_heads", None)
        self.kv_num_heads = self.attr("kv_num_heads", None)
        self.scale = self.attr("scale", None)
        self.softcap = float(self.attr("softcap", 0.0))
        self.mode = int(self.attr("qk_matmul_output_mode", 0))
        if self.mode not in (0, 1, 2, 3):
            raise self.model_error(f"qk_matmul_output_mode must be 0..3, got {self.mode}")
        if self.softcap < 0:
            raise self.model_error(f"softcap must be >= 0, got {self.softcap}")
        sp = self.attr("softmax_precision", None)
        if sp is not None and sp not in _SOFTMAX_PRECISIONS:
            raise self.model_error(f"softmax_precision must be one of {_SOFTMAX_PRECISIONS}, got {sp}")
        self.softmax_dtype = None if sp is None else np_dtype_of(sp)
        self.left = int(self.attr("left_window_size", -1)) if self.version >= 25 else -1
        self.right = int(self.attr("right_window_size", -1)) if self.version >= 25 else -1
        if self.left < -1 or self.right < -1:
            raise self.model_error("left_window_size / right_window_size must be -1 or >= 0")
        for name in ("q_num_heads", "kv_num_heads"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise self.model_error(f"{name} must be positive, got {v}")

    # shapes -------------------------------------------------------------------------
    def _to_4d(self, x, heads, name):
        b, s, hidden = x.shape
        if hidden % heads:
            raise self.run_error(f"{name} hidden size {hidden} is not divisible by {heads} heads")
        return x.reshape(b, s, heads, hidden // heads).transpose(0, 2, 1, 3)

    def _shapes(self, q, k, v):
        if q.ndim not in (3, 4) or k.ndim != q.ndim or v.ndim != q.ndim:
            raise self.run_error(
                f"Q, K, V must all be 3-D or all 4-D, got shapes {q.shape}, {k.shape}, {v.shape}"
            )
        if q.ndim == 3:
            if self.q_num_heads is None or self.kv_num_heads is None:
                raise self.run_error("3-D inputs need the q_num_heads and kv_num_heads attributes")
            q4 = self._to_4d(q, self.q_num_heads, "Q")
            k4 = self._to_4d(k, self.kv_num_heads, "K")
            v4 = self._to_4d(v, self.kv_num_heads, "V")
        else:
            q4, k4, v4 = q, k, v
            for name, want, got in (("q_num_heads", self.q_num_heads, q.shape[1]),
                                    ("kv_num_heads", self.kv_num_heads, k.shape[1])):
                if want is not None and want != got:
                    raise self.run_error(f"{name}={want} but the 4-D input has {got} heads")
        if not (q4.shape[0] == k4.shape[0] == v4.shape[0]):
            raise self.run_error(f"Q, K, V batch sizes differ: {q.shape}, {k.shape}, {v.shape}")
        if k4.shape[1] != v4.shape[1] or k4.shape[2] != v4.shape[2]:
            raise self.run_error(f"K and V disagree on heads or sequence length: {k.shape} vs {v.shape}")
        if q4.shape[3] != k4.shape[3]:
            raise self.run_error(f"Q head size {q4.shape[3]} differs from K head size {k4.shape[3]}")
        if k4.shape[1] == 0 or q4.shape[1] % k4.shape[1]:
            raise self.run_error(f"q heads ({q4.shape[1]}) must be a multiple of kv heads ({k4.shape[1]})")
        return q4, k4, v4

    def _with_past(self, k4, v4, past_key, past_value):
        if (past_key is None) != (past_value is None):
            raise self.run_error("past_key and past_value must be given together")
        if past_key is None:
            return k4, v4, 0
        b, h, _, d = k4.shape
        if past_key.ndim != 4 or past_value.ndim != 4 or past_key.shape[:2] != (b, h) \
                or past_value.shape[:2] != (b, h) or past_key.shape[2] != past_value.shape[2] \
                or past_key.shape[3] != d or past_value.shape[3] != v4.shape[3]:
            raise self.run_error(
                f"past_key {past_key.shape} / past_value {past_value.shape} do not match "
                f"K {k4.shape} / V {v4.shape} (want (batch, kv_heads, past_len, head_size))"
            )
        if past_key.dtype != k4.dtype or past_value.dtype != v4.dtype:
            raise self.run_error("past_key / past_value must have the dtypes of K / V")
        return (np.concatenate([past_key, k4], axis=2), np.concatenate([past_value, v4], axis=2),
                past_key.shape[2])

    # masking ------------------------------------------------------------------------
    def _mask_bias(self, mask, full_shape, cd):
        if mask.ndim == 0 or mask.ndim > 4:
            raise self.run_error(f"attn_mask must have rank 1..4, got shape {mask.shape}")
        total = full_shape[-1]
        if self.version >= 24 and mask.shape[-1] < total:
            # Opset 24+: a shorter key axis is padded with "not allowed".
            pad = [(0, 0)] * (mask.ndim - 1) + [(0, total - mask.shape[-1])]
            mask = np.pad(mask, pad, constant_values=False if mask.dtype == np.bool_ else -np.inf)
        try:
            ok = np.broadcast_shapes(mask.shape, full_shape) == tuple(full_shape)
        except ValueError:
            ok = False
        if not ok:
            raise self.run_error(f"attn_mask of shape {mask.shape} does not broadcast to {tuple(full_shape)}")
        if mask.dtype == np.bool_:
            return np.where(mask, cd.type(0), cd.type(-np.inf))
        return to_compute(mask, cd)

    def _allowed(self, batch, sq, total, offset, nonpad):
        """Boolean (batch|1, 1, sq, total) of keys that causal / window / padding rules allow."""
        pos = np.arange(sq).reshape(1, 1, sq, 1) + np.asarray(offset).reshape(-1, 1, 1, 1)
        j = np.arange(total).reshape(1, 1, 1, total)
        allowed = np.ones((pos.shape[0], 1, sq, total), dtype=bool)
        if self.is_causal:
            allowed &= j <= pos
        if self.left >= 0:
            allowed &= j >= pos - self.left
        if self.right >= 0:
            allowed &= j <= pos + self.right
        if nonpad is not None:
            allowed = allowed & (j < nonpad.reshape(-1, 1, 1, 1))
        return allowed

    def lower(self, node):
        """The attention kernel, for float32 without softcap, windows, nonpad lengths, a boolean
        mask, a softmax in another precision or the qk_matmul_output; causal only when the new keys
        are as many as the queries (the kernel's offset T - S is then the past length)."""
        outs = list(self.node.output) + [""] * 4
        if self.softcap > 0 or self.left >= 0 or self.right >= 0 or outs[3] or node.present(6):
            return None
        if self.softmax_dtype not in (None, np.float32):
            return None
        q, k = node.inputs[0], node.inputs[1]
        if q.ndim != k.ndim or (self.is_causal and q.shape[-2 if q.ndim == 4 else 1] != k.shape[-2 if k.ndim == 4 else 1]):
            return None
        heads = q.shape[1] if q.ndim == 4 else self.q_num_heads
        kv_heads = k.shape[1] if k.ndim == 4 else self.kv_num_heads
        if heads is None or kv_heads is None:
            return None
        options = dict(q_heads=int(heads), kv_heads=int(kv_heads), scale=float(self.scale or 0.0), causal=self.is_causal,
                       heads_output=q.ndim == 4, present=bool(outs[1] and outs[2]), v_head_size=0)
        return lower_attention(node, options, q=0, k=1, v=2, mask=3, past_key=4, past_value=5)

    def run(self, q, k, v, attn_mask=None, past_key=None, past_value=None, nonpad_kv_seqlen=None):
        _require_float(self, Q=q, K=k, V=v)
        if q.dtype != k.dtype:
            raise self.run_error(f"Q and K must share one dtype, got {q.dtype} and {k.dtype}")
        q4, k4, v4 = self._shapes(q, k, v)
        k_all, v_all, past_len = self._with_past(k4, v4, past_key, past_value)
        batch, hq, sq, hd = q4.shape
        hkv, total, vhd = k_all.shape[1], k_all.shape[2], v_all.shape[3]
        group = hq // hkv

        nonpad = None
        if nonpad_kv_seqlen is not None:
            if past_key is not None:
                raise self.run_error("nonpad_kv_seqlen cannot be combined with past_key / past_value")
            nonpad = np.asarray(nonpad_kv_seqlen)
            if nonpad.dtype.kind not in "iu" or nonpad.shape != (batch,):
                raise self.run_error(f"nonpad_kv_seqlen must be an int64 vector of shape ({batch},), "
                                     f"got {nonpad.dtype} {nonpad.shape}")
            if np.any(nonpad < 0) or np.any(nonpad > total):
                raise self.run_error(f"nonpad_kv_seqlen values must lie in [0, {total}], got {nonpad.tolist()}")
            nonpad = nonpad.astype(np.int64)

        cd = _joint_compute_dtype(q, v)
        if self.scale is not None:
            scale = float(self.scale)
        elif hd > 0:
            scale = 1.0 / np.sqrt(hd)
        else:
            raise self.run_error("head size is 0 and no scale attribute is given")
        # GQA without copying K/V: query head h uses kv head h // group.
        qg = to_compute(q4, cd).reshape(batch, hkv, group, sq, hd) * cd.type(scale)
        kt = to_compute(k_all, cd).reshape(batch, hkv, 1, total, hd).swapaxes(-1, -2)
        raw = matmul(np.ascontiguousarray(qg), np.ascontiguousarray(kt), self.num_threads)
        raw = raw.reshape(batch, hq, sq, total)
        capped = self.softcap * np.tanh(raw / self.softcap) if self.softcap > 0 else raw

        full = (batch, hq, sq, total)
        bias = np.zeros((1, 1, sq, total), cd)
        if attn_mask is not None:
            bias = bias + self._mask_bias(attn_mask, full, cd)
        if self.is_causal or self.left >= 0 or self.right >= 0 or nonpad is not None:
            offset = nonpad - sq if (nonpad is not None and past_key is None) else past_len
            allowed = self._allowed(batch, sq, total, offset, nonpad)
            bias = bias + np.where(allowed, cd.type(0), cd.type(-np.inf))
        with np.errstate(invalid="ignore"):
            logits = capped + bias
        row_masked = np.isneginf(np.max(bias, axis=-1, keepdims=True, initial=-np.inf))

        sm_logits = _round_to(logits, self.softmax_dtype)
        if self.softmax_dtype == np.float64 and cd != np.float64:
            sm_logits = logits.astype(np.float64)
        probs = masked_softmax(sm_logits)
        probs = _round_to(probs, self.softmax_dtype)
        probs = np.where(row_masked, 0, probs).astype(cd)

        pv = matmul(np.ascontiguousarray(probs.reshape(batch, hkv, group, sq, total)),
                    to_compute(v_all, cd).reshape(batch, hkv, 1, total, vhd), self.num_threads)
        y = pv.reshape(batch, hq, sq, vhd)
        if q.ndim == 3:
            y = y.transpose(0, 2, 1, 3).reshape(batch, sq, hq * vhd)
        if len(self.node.output) < 4 or not self.node.output[3]:
            return y.astype(q.dtype), k_all, v_all  # qk_matmul_output not wanted: skip the copy
        qk = {0: raw, 1: capped, 2: logits, 3: probs}[self.mode]
        return y.astype(q.dtype), k_all, v_all, np.broadcast_to(qk, full).astype(q.dtype)


# --- pyinfer::MultiHeadAttention -------------------------------------------------------------

@register("MultiHeadAttention", 1, domain="pyinfer")
class FusedMultiHeadAttention(Op):
    """The attention the optimizer fuses (optimizer/attention_fusion.py), on the attention kernel:
    Y = softmax(scale * Q K^T + mask) V per head, inputs read where they lie.

    Inputs: Q ([B, S, heads * D] or [B, heads, S, D]); K and V likewise, or absent when Q is packed
    QKV ([B, S, (heads + 2 kv_heads) * D], v_head_size when V's heads differ); mask (additive float32,
    broadcasting to [B, heads, S, T]); past_key / past_value ([B, kv_heads, P, D]); key_padding
    (int32 [B, T], 0 adds mask_filter_value). Outputs: Y ([B, S, heads * Dv], or [B, heads, S, Dv]
    with heads_output=1) and the present keys / values (past ++ new; required with a past).
    Attributes: num_heads, kv_num_heads (default num_heads), scale (0: 1/sqrt(D)), causal (key j
    visible to query i when j <= i + T - S; with causal_from_start=1 when j <= i, torch's is_causal),
    heads_output, v_head_size, mask_filter_value (default -10000). float32 only (the optimizer fuses
    no other)."""

    def setup(self):
        self.heads = int(self.attr("num_heads"))
        self.kv_heads = int(self.attr("kv_num_heads", self.heads))
        self.scale = float(self.attr("scale", 0.0))
        self.causal = bool(self.attr("causal", 0))
        self.causal_from_start = bool(self.attr("causal_from_start", 0))
        self.heads_output = bool(self.attr("heads_output", 0))
        self.v_head_size = int(self.attr("v_head_size", 0))
        self.mask_filter = float(self.attr("mask_filter_value", -10000.0))
        if self.heads <= 0 or self.kv_heads <= 0 or self.heads % self.kv_heads:
            raise self.model_error(f"num_heads ({self.heads}) must be a positive multiple of kv_num_heads "
                                   f"({self.kv_heads})")

    def has_presents(self) -> bool:
        return len(self.node.output) >= 3 and all(self.node.output[1:3])

    def _options(self):
        return dict(q_heads=self.heads, kv_heads=self.kv_heads, scale=self.scale, causal=self.causal,
                    causal_from_start=self.causal_from_start, heads_output=self.heads_output,
                    v_head_size=self.v_head_size, present=self.has_presents(), mask_filter=self.mask_filter)

    def run(self, q, k=None, v=None, mask=None, past_key=None, past_value=None, key_padding=None):
        for name, x in (("Q", q), ("K", k), ("V", v), ("mask", mask), ("past_key", past_key)):
            if x is not None and (not isinstance(x, np.ndarray) or x.dtype != np.float32):
                raise self.run_error(f"{name} must be a float32 tensor, got {getattr(x, 'dtype', type(x).__name__)}")
        result = kernels.attention(q, k, v, mask=mask, past_key=past_key, past_value=past_value,
                                   key_padding=key_padding, num_threads=self.num_threads, **self._options())
        return result if isinstance(result, tuple) else (result,)

    def lower(self, node):
        return lower_attention(node, self._options(), q=0, k=1, v=2, mask=3, past_key=4, past_value=5,
                               key_padding=6)


def lower_attention(node, options: dict, q: int, k=None, v=None, mask=None, past_key=None, past_value=None,
                    key_padding=None, present=(1, 2)):
    """Native(prepare_attention) for an attention node whose inputs sit at these indices (None:
    the op has no such input; an absent optional one counts as None too) and whose present key /
    value outputs are at `present` (written when options["present"]); None when the kernel cannot
    run it (dtypes, a past without presents, an integer mask other than int32 key padding)."""
    at = {name: (i if i is not None and node.present(i) else None) for name, i in
          dict(q=q, k=k, v=v, mask=mask, past_key=past_key, past_value=past_value, key_padding=key_padding).items()}
    floats = [i for name, i in at.items() if i is not None and name != "key_padding"]
    if not node.float32(*floats):
        return None
    if at["key_padding"] is not None and node.inputs[at["key_padding"]].dtype != np.int32:
        return None
    if (at["past_key"] is None) != (at["past_value"] is None) or (at["past_key"] is not None and not options["present"]):
        return None  # the kernel writes the presents whenever it has a past
    shape = lambda name: node.shape(at[name]) if at[name] is not None else None  # noqa: E731
    try:
        kernel = kernels.prepare_attention(
            shape("q"), shape("k"), shape("v"), mask_shape=shape("mask"), key_padding=at["key_padding"] is not None,
            past_len=node.inputs[at["past_key"]].shape[2] if at["past_key"] is not None else None, **options)
    except KernelArgumentError:  # shapes the kernel does not take: the op's own run()
        return None
    # kernel inputs (q, k, v, mask, key_padding, past_key, past_value), outputs (y, present_key, present_value)
    order = ("q", "k", "v", "mask", "key_padding", "past_key", "past_value")
    return Native(kernel, [at[name] for name in order],
                  [0] + (list(present) if options["present"] else [None, None]), reshapable=True)


# --- RotaryEmbedding ----------------------------------------------------------------------

@register("RotaryEmbedding", 23)
class RotaryEmbedding(Op):
    def setup(self):
        self.interleaved = bool(self.attr("interleaved", 0))
        self.rotary_dim = int(self.attr("rotary_embedding_dim", 0))
        self.num_heads = int(self.attr("num_heads", 0))
        if self.rotary_dim < 0 or self.num_heads < 0:
            raise self.model_error("rotary_embedding_dim and num_heads must be >= 0")

    def lower(self, node):
        if not node.float32(0, 1, 2) or node.inputs[0].ndim not in (3, 4) or node.inputs[1].shape != node.inputs[2].shape:
            return None
        positions = node.present(3)
        if positions and node.inputs[3].dtype != np.int64:
            return None
        try:
            k = kernels.prepare_rotary_embedding(node.shape(0), node.shape(1), positions, num_heads=self.num_heads,
                                                 rotary_dim=self.rotary_dim, interleaved=self.interleaved)
        except KernelArgumentError:  # shapes the kernel does not take: run() reports them
            return None
        return Native(k, [0, 1, 2, 3 if positions else None], reshapable=True)

    def run(self, x, cos_cache, sin_cache, position_ids=None):
        _require_float(self, X=x, cos_cache=cos_cache, sin_cache=sin_cache)
        if x.dtype == cos_cache.dtype == sin_cache.dtype == np.float32 and x.ndim in (3, 4) and \
                (position_ids is None or np.asarray(position_ids).dtype == np.int64):
            try:
                return (kernels.rotary_embedding(x, cos_cache, sin_cache, position_ids, num_heads=self.num_heads,
                                                 rotary_dim=self.rotary_dim, interleaved=self.interleaved,
                                                 num_threads=self.num_threads),)
            except KernelArgumentError:
                pass  # the checks below name what is wrong
        if x.ndim == 4:
            xs = x.transpose(0, 2, 1, 3)  # (batch, seq, heads, head_size)
        elif x.ndim == 3:
            if self.num_heads == 0:
                raise self.run_error("a 3-D input needs the num_heads attribute")
            if x.shape[2] % self.num_heads:
                raise self.run_error(f"hidden size {x.shape[2]} is not divisible by num_heads={self.num_heads}")
            xs = x.reshape(x.shape[0], x.shape[1], self.num_heads, x.shape[2] // self.num_heads)
        else:
            raise self.run_error(f"X must be 3-D or 4-D, got shape {x.shape}")
        batch, seq, _, head = xs.shape
        rd = self.rotary_dim or head
        if rd > head or rd % 2:
            raise self.run_error(f"rotary dimension {rd} must be even and <= head size {head}")
        half = rd // 2
        if cos_cache.shape != sin_cache.shape:
            raise self.run_error(f"cos_cache {cos_cache.shape} and sin_cache {sin_cache.shape} differ")
        if position_ids is not None:
            ids = np.asarray(position_ids)
            if ids.dtype.kind not in "iu" or ids.shape != (batch, seq):
                raise self.run_error(f"position_ids must be int64 of shape {(batch, seq)}, got {ids.dtype} {ids.shape}")
            if cos_cache.ndim != 2 or cos_cache.shape[1] != half:
                raise self.run_error(f"with position_ids the caches must be (max_position, {half}), got {cos_cache.shape}")
            if ids.size and (ids.min() < 0 or ids.max() >= cos_cache.shape[0]):
                raise self.run_error(f"position_ids must lie in [0, {cos_cache.shape[0]}), "
                                     f"got [{ids.min()}, {ids.max()}]")
            cos, sin = cos_cache[ids], sin_cache[ids]
        else:
            if cos_cache.shape != (batch, seq, half):
                raise self.run_error(f"without position_ids the caches must be {(batch, seq, half)}, "
                                     f"got {cos_cache.shape}")
            cos, sin = cos_cache, sin_cache
        cd = compute_dtype(x.dtype)
        xc = to_compute(xs, cd)
        cos = to_compute(cos, cd)[:, :, None, :]
        sin = to_compute(sin, cd)[:, :, None, :]
        rot = xc[..., :rd]
        if self.interleaved:
            x1, x2 = rot[..., 0::2], rot[..., 1::2]
        else:
            x1, x2 = rot[..., :half], rot[..., half:]
        real = cos * x1 - sin * x2
        imag = sin * x1 + cos * x2
        if self.interleaved:
            rotated = np.stack([real, imag], axis=-1).reshape(rot.shape)
        else:
            rotated = np.concatenate([real, imag], axis=-1)
        out = np.concatenate([rotated, xc[..., rd:]], axis=-1).astype(x.dtype)
        if x.ndim == 4:
            return (np.ascontiguousarray(out.transpose(0, 2, 1, 3)),)
        return (out.reshape(x.shape),)


# --- RMSNormalization ---------------------------------------------------------------------

@register("RMSNormalization", 23)
class RMSNormalization(Op):
    def setup(self):
        self.axis = int(self.attr("axis", -1))
        self.epsilon = float(self.attr("epsilon", 1e-5))
        stash = int(self.attr("stash_type", 1))
        if stash not in _SOFTMAX_PRECISIONS:
            raise self.model_error(f"stash_type must be a float type (1, 10, 11, 16), got {stash}")
        self.stash = np_dtype_of(stash)

    def lower(self, node):
        if self.stash != np.float32 or node.inputs[0].ndim == 0:
            return None
        k = norm_kernel(node, 0, 1, axis=self.axis, epsilon=self.epsilon, rms=True)
        return None if k is None else Native(k, [0, 1, None, None, None], [0, None, None, None], reshapable=True)

    def run(self, x, scale):
        _require_float(self, X=x, scale=scale)
        axis = normalize_axis(self.axis, x.ndim, self)
        try:
            ok = np.broadcast_shapes(scale.shape, x.shape) == x.shape
        except ValueError:
            ok = False
        if not ok:
            raise self.run_error(f"scale of shape {scale.shape} does not broadcast to X's shape {x.shape}")
        sd = compute_dtype(self.stash)
        xs = _round_to(to_compute(x, sd), self.stash)
        mean_sq = np.mean(xs * xs, axis=tuple(range(axis, x.ndim)), keepdims=True)
        normalized = (xs / np.sqrt(_round_to(mean_sq + sd.type(self.epsilon), self.stash))).astype(x.dtype)
        cd = _joint_compute_dtype(x, scale)
        y = to_compute(normalized, cd) * to_compute(scale, cd)
        return (y.astype(scale.dtype),)


# --- LinearAttention ----------------------------------------------------------------------

_UPDATE_RULES = ("linear", "gated", "delta", "gated_delta")


@register("LinearAttention", 27)
class LinearAttention(Op):
    """Recurrent linear attention, run token by token (the chunk_size hint does not change results)."""

    def setup(self):
        self.q_heads = int(self.attr("q_num_heads"))
        self.kv_heads = int(self.attr("kv_num_heads"))
        self.scale = float(self.attr("scale", 0.0))
        self.rule = self.attr("update_rule", "gated_delta")
        if self.rule not in _UPDATE_RULES:
            raise self.model_error(f"update_rule must be one of {_UPDATE_RULES}, got {self.rule!r}")
        if self.q_heads <= 0 or self.kv_heads <= 0 or self.q_heads % self.kv_heads:
            raise self.model_error(
                f"q_num_heads ({self.q_heads}) must be a positive multiple of kv_num_heads ({self.kv_heads})"
            )

    def _unpack(self, x, heads, name, b, t):
        if x.ndim != 3 or x.shape[:2] != (b, t) or x.shape[2] % heads:
            raise self.run_error(f"{name} must be (batch={b}, seq={t}, {heads}*head_dim), got {x.shape}")
        return x.reshape(b, t, heads, x.shape[2] // heads).transpose(0, 2, 1, 3).astype(np.float32)

    def run(self, query, key, value, past_state=None, decay=None, beta=None):
        _require_float(self, query=query, key=key, value=value, past_state=past_state, decay=decay, beta=beta)
        gated = self.rule in ("gated", "gated_delta")
        delta = self.rule in ("delta", "gated_delta")
        if gated != (decay is not None):
            raise self.run_error(f"update_rule {self.rule!r} {'requires' if gated else 'takes no'} decay input")
        if delta != (beta is not None):
            raise self.run_error(f"update_rule {self.rule!r} {'requires' if delta else 'takes no'} beta input")
        if query.ndim != 3:
            raise self.run_error(f"query must be (batch, seq, heads*head_dim), got {query.shape}")
        b, t, _ = query.shape
        hq, hkv = self.q_heads, self.kv_heads
        q4 = self._unpack(query, hq, "query", b, t)
        k4 = self._unpack(key, hkv, "key", b, t)
        v4 = self._unpack(value, hkv, "value", b, t)
        dk, dv = q4.shape[3], v4.shape[3]
        if k4.shape[3] != dk:
            raise self.run_error(f"key head size {k4.shape[3]} differs from query head size {dk}")
        if gated:
            if decay.ndim != 3 or decay.shape[:2] != (b, t) or decay.shape[2] not in (hkv, hkv * dk):
                raise self.run_error(f"decay must be ({b}, {t}, {hkv}) or ({b}, {t}, {hkv * dk}), got {decay.shape}")
            g4 = decay.reshape(b, t, hkv, -1).transpose(0, 2, 1, 3).astype(np.float32)  # (b, h, t, 1|dk)
        if delta:
            if beta.ndim != 3 or beta.shape[:2] != (b, t) or beta.shape[2] not in (hkv, 1):
                raise self.run_error(f"beta must be ({b}, {t}, {hkv}) or ({b}, {t}, 1), got {beta.shape}")
            beta4 = beta.reshape(b, t, -1, 1).transpose(0, 2, 1, 3).astype(np.float32)  # (b, h|1, t, 1)
        if past_state is not None:
            if past_state.shape != (b, hkv, dk, dv):
                raise self.run_error(f"past_state must be {(b, hkv, dk, dv)}, got {past_state.shape}")
            state = past_state.astype(np.float32)
            state_dtype = past_state.dtype
        else:
            state = np.zeros((b, hkv, dk, dv), np.float32)
            state_dtype = query.dtype
        scale = np.float32(self.scale if self.scale != 0.0 else 1.0 / np.sqrt(dk))
        group = hq // hkv
        out = np.empty((b, hkv, group, t, dv), np.float32)
        qg = q4.reshape(b, hkv, group, t, dk)
        for i in range(t):
            k_t, v_t = k4[:, :, i, :], v4[:, :, i, :]
            if gated:
                state = state * np.exp(g4[:, :, i, :])[..., None]  # per head or per key dim
            if delta:
                retrieved = np.einsum("bhkv,bhk->bhv", state, k_t)
                v_t = beta4[:, :, i, :] * (v_t - retrieved)
            state = state + k_t[..., :, None] * v_t[..., None, :]
            out[:, :, :, i, :] = scale * np.einsum("bhgk,bhkv->bhgv", qg[:, :, :, i, :], state)
        y = out.reshape(b, hq, t, dv).transpose(0, 2, 1, 3).reshape(b, t, hq * dv)
        return y.astype(query.dtype), state.astype(state_dtype)


# --- CausalConvWithState ------------------------------------------------------------------

@register("CausalConvWithState", 27)
class CausalConvWithState(Op):
    def setup(self):
        self.activation = self.attr("activation", "none")
        if self.activation not in ("none", "silu", "swish"):
            raise self.model_error(f"activation must be 'none', 'silu' or 'swish', got {self.activation!r}")

    def run(self, x, weight, bias=None, past_state=None):
        _require_float(self, input=x, weight=weight, bias=bias, past_state=past_state)
        if x.ndim != 3:
            raise self.run_error(f"input must be (batch, channels, length), got {x.shape}")
        b, c, length = x.shape
        if weight.ndim != 3 or weight.shape[:2] != (c, 1) or weight.shape[2] < 1:
            raise self.run_error(f"weight must be ({c}, 1, k) with k >= 1, got {weight.shape}")
        k = weight.shape[2]
        if bias is not None and bias.shape != (c,):
            raise self.run_error(f"bias must be ({c},), got {bias.shape}")
        if past_state is None:
            past = np.zeros((b, c, k - 1), x.dtype)
        elif past_state.shape != (b, c, k - 1) or past_state.dtype != x.dtype:
            raise self.run_error(f"past_state must be {x.dtype} {(b, c, k - 1)}, got {past_state.dtype} {past_state.shape}")
        else:
            past = past_state
        padded = np.concatenate([past, x], axis=2)
        cd = compute_dtype(x.dtype)
        pc, w = to_compute(padded, cd), to_compute(weight, cd)
        y = np.zeros((b, c, length), cd)
        for tap in range(k):  # y[t] = sum_tap w[tap] * padded[t + tap]
            y += w[None, :, 0, tap, None] * pc[:, :, tap:tap + length]
        if bias is not None:
            y += to_compute(bias, cd)[None, :, None]
        if self.activation != "none":
            y = y * sigmoid(y)
        return y.astype(x.dtype), np.ascontiguousarray(padded[:, :, length:])


# --- FlexAttention (ai.onnx.preview) ------------------------------------------------------

@register("FlexAttention", 1, domain="ai.onnx.preview")
class FlexAttention(Op):
    """Attention with optional score_mod / prob_mod subgraphs (each: one tensor in, one out)."""

    uses_outer_scope = True  # the modifier subgraphs may read the enclosing graph's values

    def setup(self):
        self.scale = self.attr("scale", None)
        sp = self.attr("softmax_precision", None)
        if sp is not None and sp not in _SOFTMAX_PRECISIONS:
            raise self.model_error(f"softmax_precision must be one of {_SOFTMAX_PRECISIONS}, got {sp}")
        self.softmax_dtype = None if sp is None else np_dtype_of(sp)
        self.mods = {}
        for name in ("score_mod", "prob_mod"):
            graph = self.attr(name, None)
            if graph is None:
                continue
            if len(graph.input) != 1 or len(graph.output) != 1:
                raise self.model_error(f"{name} must have exactly one input and one output")
            self.mods[name] = (self.ctx.subgraph(graph), graph.input[0].name)

    def _modify(self, name, x, env, dtype):
        if name not in self.mods:
            return x
        executor, input_name = self.mods[name]
        (out,) = executor.run({input_name: x.astype(dtype)}, outer_env=env)
        out = np.asarray(out)
        if out.shape != x.shape:
            raise self.run_error(f"{name} returned shape {out.shape}, expected {x.shape}")
        return out.astype(x.dtype)

    def run(self, q, k, v):
        return self.run_scoped({}, q, k, v)

    def run_scoped(self, env, q, k, v):
        _require_float(self, Q=q, K=k, V=v)
        if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
            raise self.run_error(f"Q, K, V must be 4-D, got {q.shape}, {k.shape}, {v.shape}")
        if q.dtype != k.dtype or q.dtype != v.dtype:
            raise self.run_error(f"Q, K, V must share one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
        b, hq, lq, e = q.shape
        if k.shape[0] != b or v.shape[0] != b or k.shape[3] != e or k.shape[1] != v.shape[1] \
                or k.shape[2] != v.shape[2]:
            raise self.run_error(f"inconsistent shapes Q {q.shape}, K {k.shape}, V {v.shape}")
        hkv, s, ev = k.shape[1], k.shape[2], v.shape[3]
        if hkv == 0 or hq % hkv:
            raise self.run_error(f"q heads ({hq}) must be a multiple of kv heads ({hkv})")
        group = hq // hkv
        if self.softmax_dtype is not None:
            sm_dtype = self.softmax_dtype
        else:
            sm_dtype = np.dtype(np.float64) if q.dtype == np.float64 else np.dtype(np.float32)
        cd = compute_dtype(sm_dtype)
        scale = float(self.scale) if self.scale is not None else 1.0 / np.sqrt(e)
        qg = to_compute(q, cd).reshape(b, hkv, group, lq, e) * cd.type(scale)
        kt = to_compute(k, cd).reshape(b, hkv, 1, s, e).swapaxes(-1, -2)
        scores = matmul(np.ascontiguousarray(qg), np.ascontiguousarray(kt), self.num_threads)
        scores = _round_to(scores.reshape(b, hq, lq, s), sm_dtype)
        scores = self._modify("score_mod", scores, env, sm_dtype)
        m = np.max(scores, axis=-1, keepdims=True)
        with np.errstate(invalid="ignore"):
            ex = np.exp(scores - m)  # an all -inf row gives NaN, as ONNX Softmax does
            probs = _round_to(ex / np.sum(ex, axis=-1, keepdims=True), sm_dtype)
        probs = self._modify("prob_mod", probs, env, sm_dtype)
        y = matmul(np.ascontiguousarray(probs.reshape(b, hkv, group, lq, s)),
                   to_compute(v, cd).reshape(b, hkv, 1, s, ev), self.num_threads)
        return (y.reshape(b, hq, lq, ev).astype(v.dtype),)


# --- Swish / SwiGLU -----------------------------------------------------------------------

@register("Swish", 24)
class Swish(Op):
    def setup(self):
        self.alpha = float(self.attr("alpha", 1.0))

    def run(self, x):
        _require_float(self, X=x)
        xc = to_compute(x)
        return ((xc * sigmoid(xc * xc.dtype.type(self.alpha))).astype(x.dtype),)


@register("SwiGLU", 28)
class SwiGLU(Op):
    def setup(self):
        self.alpha = float(self.attr("alpha", 1.0))

    def run(self, a, b):
        _require_float(self, A=a, B=b)
        if a.shape != b.shape or a.dtype != b.dtype:
            raise self.run_error(f"A and B must have one shape and dtype, got {a.dtype} {a.shape} and {b.dtype} {b.shape}")
        ac, bc = to_compute(a), to_compute(b)
        return ((ac * sigmoid(ac * ac.dtype.type(self.alpha)) * bc).astype(a.dtype),)


# --- TensorScatter ------------------------------------------------------------------------

@register("TensorScatter", 24)
class TensorScatter(Op):
    """present = past with `update` written along `axis` at each batch's write index."""

    def setup(self):
        self.axis = int(self.attr("axis", -2))
        self.mode = self.attr("mode", "linear")
        if self.mode not in ("linear", "circular"):
            raise self.model_error(f"mode must be 'linear' or 'circular', got {self.mode!r}")

    def run(self, past, update, write_indices=None):
        axis = normalize_axis(self.axis, past.ndim, self)
        if axis == 0:
            raise self.run_error("axis must not be the batch axis 0")
        if update.ndim != past.ndim or update.dtype != past.dtype or any(
                u != p for i, (u, p) in enumerate(zip(update.shape, past.shape)) if i != axis):
            raise self.run_error(f"update {update.dtype} {update.shape} must match past_cache "
                                 f"{past.dtype} {past.shape} except along axis {axis}")
        batch, max_len, seq = past.shape[0], past.shape[axis], update.shape[axis]
        if seq > max_len:
            raise self.run_error(f"update length {seq} exceeds the cache length {max_len}")
        if write_indices is None:
            starts = np.zeros(batch, np.int64)
        else:
            starts = np.asarray(write_indices)
            if starts.dtype.kind not in "iu" or starts.shape != (batch,):
                raise self.run_error(f"write_indices must be int64 of shape ({batch},), got {starts.dtype} {starts.shape}")
            if np.any(starts < 0):
                raise self.run_error(f"write_indices must be >= 0, got {starts.tolist()}")
        if self.mode == "linear" and np.any(starts + seq > max_len):
            raise self.run_error(f"linear mode needs write_indices + {seq} <= {max_len}, got {starts.tolist()}")
        present = past.copy()
        lead = (slice(None),) * (axis - 1)
        for n in range(batch):
            positions = starts[n] + np.arange(seq)
            if self.mode == "circular" and max_len:
                positions %= max_len
            present[n][lead + (positions,)] = update[n]
        return (present,)

"""com.microsoft Attention (BERT / GPT-2 self-attention with the Q, K, V projections merged) and
MultiHeadAttention (projections done outside; separate, packed-QKV or packed-KV inputs), as
onnxruntime's CPU kernels compute them: masks add mask_filter_value (not -inf) to the masked
scores, the causal mask adds the lowest float. Packed QKV / KV inputs of MultiHeadAttention are
computed as the spec describes (onnxruntime runs them only on CUDA)."""
from __future__ import annotations

import numpy as np

from ...registry import register
from ..attention import lower_attention
from ..base import Op
from . import MS

_LOWEST = float(np.finfo(np.float32).min)


def _float(op: Op, x, what: str) -> np.ndarray:
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise op.run_error(f"{what} must be a float tensor, got {getattr(x, 'dtype', type(x).__name__)}")
    return x


def additive_mask(op: Op, mask, batch: int, seq: int, past: int, total: int, causal: bool,
                  filter_value: float) -> np.ndarray:
    """[B, S, T] float64 to add to the scores (onnxruntime's PrepareMask): a raw 0/1 mask ([B, T] or
    [B, S, T]), right-padding lengths [B], or end and start positions [2B]; then the causal mask."""
    out = np.zeros((batch, seq, total))
    if mask is not None:
        if not isinstance(mask, np.ndarray) or mask.dtype.kind not in "iub":
            raise op.run_error(f"the mask must be an integer tensor, got {getattr(mask, 'dtype', type(mask).__name__)}")
        columns = np.arange(total)
        if mask.ndim == 3 and mask.shape == (batch, seq, total):
            out = np.where(mask > 0, 0.0, filter_value)
        elif mask.ndim == 2 and mask.shape == (batch, total):
            out[:] = np.where(mask > 0, 0.0, filter_value)[:, None, :]
        elif mask.ndim == 1 and mask.shape[0] in (batch, 2 * batch):
            masked = columns[None, :] >= mask[:batch, None]
            if mask.shape[0] == 2 * batch:
                masked |= columns[None, :] < np.minimum(mask[batch:], total)[:, None]
            out[:] = np.where(masked, filter_value, 0.0)[:, None, :]
        else:
            raise op.run_error(f"mask of shape {list(mask.shape)} is none of [B]={[batch]}, [2B], [B, T]="
                               f"{[batch, total]} or [B, S, T]={[batch, seq, total]}")
    if causal:
        future = np.arange(total)[None, :] > (past + np.arange(seq))[:, None]
        out = np.where(future[None], _LOWEST, out)
    return out


def attend(q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float, bias: np.ndarray) -> np.ndarray:
    """softmax(scale * q k^T + bias) v for q [B, N, S, H], k [B, N, T, H], v [B, N, T, Hv] (float64)."""
    scores = np.einsum("bnsh,bnth->bnst", q, k) * scale + bias
    scores -= scores.max(axis=-1, keepdims=True)
    probs = np.exp(scores)
    probs /= probs.sum(axis=-1, keepdims=True)
    return np.einsum("bnst,bnth->bnsh", probs, v)


def _heads(x: np.ndarray, n: int) -> np.ndarray:
    """[B, S, N*H] -> [B, N, S, H]."""
    b, s, d = x.shape
    return x.reshape(b, s, n, d // n).transpose(0, 2, 1, 3)


def _merge_heads(x: np.ndarray) -> np.ndarray:
    b, n, s, h = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, s, n * h)


def _attention_bias(op: Op, bias, batch: int, heads: int, seq: int, total: int):
    if bias is None:
        return 0.0
    bias = _float(op, bias, "attention_bias")
    if bias.ndim != 4 or bias.shape[0] not in (1, batch) or bias.shape[1] not in (1, heads) \
            or bias.shape[2:] != (seq, total):
        raise op.run_error(f"attention_bias must be [B or 1, N or 1, S, T] = [{batch}, {heads}, {seq}, {total}], "
                           f"got {list(bias.shape)}")
    return bias.astype(np.float64)


class _AttentionAttrs(Op):
    def setup(self):
        self.heads = int(self.attr("num_heads"))
        if self.heads <= 0:
            raise self.model_error(f"attribute num_heads must be positive, got {self.heads}")
        self.causal = bool(self.attr("unidirectional", 0))
        self.filter_value = float(self.attr("mask_filter_value", -10000.0))
        scale = self.attr("scale", None)
        self.scale = None if scale is None or float(scale) == 0.0 else float(scale)
        if int(self.attr("do_rotary", 0)):
            raise self.model_error("attribute do_rotary=1 (rotary embeddings) is not supported")

    def head_size(self, hidden: int, what: str) -> int:
        if hidden % self.heads:
            raise self.run_error(f"{what} {hidden} is not divisible by num_heads={self.heads}")
        return hidden // self.heads


@register("Attention", 1, domain=MS)
class Attention(_AttentionAttrs):
    def setup(self):
        super().setup()
        sizes = self.attr("qkv_hidden_sizes", None)
        self.qkv_sizes = None if sizes is None else [int(s) for s in sizes]
        if self.qkv_sizes is not None and (len(self.qkv_sizes) != 3 or self.qkv_sizes[0] != self.qkv_sizes[1]):
            raise self.model_error(f"attribute qkv_hidden_sizes must be [hidden, hidden, v_hidden], got {sizes}")
        if int(self.attr("past_present_share_buffer", 0)):
            raise self.model_error("attribute past_present_share_buffer=1 is not supported")

    def run(self, x, weights, bias=None, mask_index=None, past=None, attention_bias=None, past_sequence_length=None):
        x = _float(self, x, "input")
        if x.ndim != 3:
            raise self.run_error(f"input must be [B, S, input_hidden], got shape {list(x.shape)}")
        w = _float(self, weights, "weights")
        if w.ndim != 2 or w.shape[0] != x.shape[2]:
            raise self.run_error(f"weights must be [{x.shape[2]}, 3 * hidden], got {list(w.shape)}")
        sizes = self.qkv_sizes or [w.shape[1] // 3] * 3
        if sum(sizes) != w.shape[1]:
            raise self.run_error(f"weights has {w.shape[1]} columns, the Q, K, V sizes {sizes} add up to {sum(sizes)}")
        qkv = x.astype(np.float64) @ w.astype(np.float64)
        if bias is not None:
            if bias.shape != (w.shape[1],):
                raise self.run_error(f"bias must be [{w.shape[1]}], got {list(bias.shape)}")
            qkv = qkv + bias.astype(np.float64)
        q, k, v = np.split(qkv, np.cumsum(sizes)[:2], axis=2)
        head = self.head_size(sizes[0], "the Q hidden size")
        self.head_size(sizes[2], "the V hidden size")
        q, k, v = _heads(q, self.heads), _heads(k, self.heads), _heads(v, self.heads)
        batch, seq = x.shape[:2]
        past_len = 0
        if past is not None:
            past = _float(self, past, "past")
            if past.ndim != 5 or past.shape[:3] != (2, batch, self.heads) or past.shape[4] != head:
                raise self.run_error(f"past must be [2, {batch}, {self.heads}, past_length, {head}], got "
                                     f"{list(past.shape)}")
            past_len = past.shape[3]
            k = np.concatenate([past[0].astype(np.float64), k], axis=2)
            v = np.concatenate([past[1].astype(np.float64), v], axis=2)
        total = k.shape[2]
        add = additive_mask(self, mask_index, batch, seq, past_len, total, self.causal, self.filter_value)[:, None]
        add = add + _attention_bias(self, attention_bias, batch, self.heads, seq, total)
        scale = self.scale if self.scale is not None else 1.0 / np.sqrt(head)
        out = _merge_heads(attend(q, k, v, scale, add)).astype(x.dtype)
        present = np.stack([k, v]).astype(x.dtype) if len(self.node.output) > 1 and self.node.output[1] else None
        return (out, present)


@register("MultiHeadAttention", 1, domain=MS)
class MultiHeadAttention(_AttentionAttrs):
    def lower(self, node):
        """The attention kernel for separate 3-D query / key / value (no bias, not packed), an int32
        [B, T] key_padding_mask, an attention_bias and a past with its presents."""
        if node.present(3) or not all(node.present(i) and node.inputs[i].ndim == 3 for i in (0, 1, 2)):
            return None
        mask = node.inputs[4] if node.present(4) else None
        if mask is not None and mask.shape != (node.inputs[0].shape[0], node.inputs[1].shape[1]):
            return None
        outs = list(self.node.output) + [""] * 3
        if node.present(6) and (node.inputs[6].ndim != 4 or len(node.inputs) > 8 and node.present(8)):
            return None
        options = dict(q_heads=self.heads, kv_heads=self.heads, scale=self.scale or 0.0, causal=self.causal,
                       heads_output=False, present=bool(outs[1] and outs[2]), v_head_size=0,
                       mask_filter=self.filter_value)
        return lower_attention(node, options, q=0, k=1, v=2, mask=5, past_key=6, past_value=7, key_padding=4)

    def run(self, query, key=None, value=None, bias=None, key_padding_mask=None, attention_bias=None,
            past_key=None, past_value=None, *unused):
        query = _float(self, query, "query")
        q, k, v, kv_projected = self._qkv(query, key, value, bias)
        batch, _, seq, head = q.shape
        past_len = 0
        if past_key is not None and past_value is not None and not kv_projected:
            past_len = past_key.shape[2]
            k = np.concatenate([_float(self, past_key, "past_key").astype(np.float64), k], axis=2)
            v = np.concatenate([_float(self, past_value, "past_value").astype(np.float64), v], axis=2)
        total = k.shape[2]
        add = additive_mask(self, key_padding_mask, batch, seq, past_len, total, self.causal, self.filter_value)
        add = add[:, None] + _attention_bias(self, attention_bias, batch, self.heads, seq, total)
        scale = self.scale if self.scale is not None else 1.0 / np.sqrt(head)
        out = _merge_heads(attend(q, k, v, scale, add)).astype(query.dtype)
        return (out, k.astype(query.dtype), v.astype(query.dtype))

    def _qkv(self, query, key, value, bias):
        """q, k, v as [B, N, S or T, H] float64; kv_projected: key / value came in as [B, N, T, H]."""
        n = self.heads
        if query.ndim == 5:  # packed QKV: [B, S, N, 3, H]
            if key is not None or value is not None or query.shape[2] != n or query.shape[3] != 3:
                raise self.run_error(f"a 5-D query must be packed QKV [B, S, {n}, 3, H] without key and value, "
                                     f"got {list(query.shape)}")
            qkv = query.astype(np.float64)
            if bias is not None:
                qkv = qkv + bias.astype(np.float64).reshape(3, n, -1).transpose(1, 0, 2)
            return (qkv[:, :, :, 0].transpose(0, 2, 1, 3), qkv[:, :, :, 1].transpose(0, 2, 1, 3),
                    qkv[:, :, :, 2].transpose(0, 2, 1, 3), False)
        if query.ndim != 3:
            raise self.run_error(f"query must be [B, S, D] or packed [B, S, N, 3, H], got {list(query.shape)}")
        d = query.shape[2]
        self.head_size(d, "the query hidden size")
        q = query.astype(np.float64)
        bias = None if bias is None else _float(self, bias, "bias").astype(np.float64)
        if bias is not None:
            q = q + bias[:d]
        q = _heads(q, n)
        if key is None:
            raise self.run_error("key is required unless query is packed QKV")
        key = _float(self, key, "key")
        if key.ndim == 5:  # packed KV: [B, T, N, 2, H]
            if value is not None or key.shape[2] != n or key.shape[3] != 2:
                raise self.run_error(f"a 5-D key must be packed KV [B, T, {n}, 2, H] without value, got "
                                     f"{list(key.shape)}")
            kv = key.astype(np.float64)
            if bias is not None:
                kv = kv + bias[d:].reshape(2, n, -1).transpose(1, 0, 2)
            return q, kv[:, :, :, 0].transpose(0, 2, 1, 3), kv[:, :, :, 1].transpose(0, 2, 1, 3), False
        value = _float(self, value, "value")
        if key.ndim == 4:  # already projected and split: [B, N, T, H]
            return q, key.astype(np.float64), value.astype(np.float64), True
        if key.ndim != 3 or value.ndim != 3 or key.shape[2] != d:
            raise self.run_error(f"key and value must be [B, T, {d}] and [B, T, Dv], got {list(key.shape)} and "
                                 f"{list(value.shape)}")
        k, v = key.astype(np.float64), value.astype(np.float64)
        if bias is not None:
            k, v = k + bias[d:2 * d], v + bias[2 * d:]
        return q, _heads(k, n), _heads(v, n), False

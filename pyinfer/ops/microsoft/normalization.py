"""Layer normalizations onnxruntime's optimizers write: com.microsoft SkipLayerNormalization,
SkipSimplifiedLayerNormalization, EmbedLayerNormalization, and its default-domain extensions
SimplifiedLayerNormalization (RMS norm) and LayerNormalization before opset 17."""
from __future__ import annotations

import numpy as np

from ... import kernels
from ...lowering import Native
from ...registry import register
from ..base import Op, normalize_axis
from ..normalization import LayerNormalization, norm_kernel
from . import MS


def _float(op: Op, x, what: str) -> np.ndarray:
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise op.run_error(f"{what} must be a float tensor, got {getattr(x, 'dtype', type(x).__name__)}")
    return x


def _last_axis_param(op: Op, p, hidden: int, what: str):
    if p is None:
        return None
    p = _float(op, p, what)
    if p.size != hidden:
        raise op.run_error(f"{what} has {p.size} values; the hidden size (last axis of the input) is {hidden}")
    return p.reshape(-1).astype(np.float64)


def layer_norm_last_axis(x64: np.ndarray, gamma, beta, epsilon: float, simplified: bool):
    """(y, mean, inv_std) over the last axis, in float64; simplified: RMS norm (no mean)."""
    mean = np.zeros(x64.shape[:-1] + (1,)) if simplified else x64.mean(axis=-1, keepdims=True)
    centered = x64 - mean
    inv_std = 1.0 / np.sqrt((centered * centered).mean(axis=-1, keepdims=True) + epsilon)
    y = centered * inv_std * gamma
    if beta is not None:
        y = y + beta
    return y, mean, inv_std


class _SkipNorm(Op):
    """output = norm(input + skip + bias) * gamma (+ beta); optional outputs: mean, inv_std_var,
    input_skip_bias_sum. skip is [B, S, H], [S, H] or [1, S, H]."""

    simplified = False
    BETA = 3  # node input index of beta (None: the op has none)
    BIAS = 4

    def setup(self):
        self.epsilon = float(self.attr("epsilon", 1e-12))

    def lower(self, node):
        if node.inputs[0].ndim not in (2, 3) or (self.simplified and len(self.node.output) > 1 and self.node.output[1]):
            return None  # the simplified ops' mean output is zeros the kernel does not write
        beta = self.BETA if self.BETA is not None and node.present(self.BETA) else None
        bias = self.BIAS if node.present(self.BIAS) else None
        k = norm_kernel(node, 0, 2, beta, 1, bias, epsilon=self.epsilon, rms=self.simplified)
        # kernel inputs (x, gamma, beta, skip, bias), outputs (y, mean, inv_std, sum)
        return None if k is None else Native(k, [0, 2, beta, 1, bias], [0, None if self.simplified else 1, 2, 3])

    def _run(self, x, skip, gamma, beta, bias):
        x = _float(self, x, "input")
        if x.ndim not in (2, 3):
            raise self.run_error(f"input must be [B, S, H] or [T, H], got shape {list(x.shape)}")
        skip = _float(self, skip, "skip")
        try:
            if np.broadcast_shapes(skip.shape, x.shape) != x.shape:
                raise ValueError
        except ValueError:
            raise self.run_error(f"skip of shape {list(skip.shape)} does not broadcast to input "
                                 f"{list(x.shape)}") from None
        hidden = x.shape[-1]
        if x.dtype == np.float32 and all(p is None or (p.dtype == np.float32 and p.size == hidden)
                                         for p in (gamma, beta, bias)) and skip.dtype == np.float32:
            y, mean, inv_std, total = kernels.layer_norm(
                x, gamma.reshape(-1), None if beta is None else beta.reshape(-1), skip=skip,
                bias=None if bias is None else bias.reshape(-1), epsilon=self.epsilon, rms=self.simplified,
                stats=True, num_threads=self.num_threads)
            return (y, np.zeros_like(inv_std) if mean is None else mean, inv_std, total)
        gamma = _last_axis_param(self, gamma, hidden, "gamma")
        beta = _last_axis_param(self, beta, hidden, "beta")
        bias = _last_axis_param(self, bias, hidden, "bias")
        total = x.astype(np.float64) + skip.astype(np.float64)
        if bias is not None:
            total = total + bias
        y, mean, inv_std = layer_norm_last_axis(total, gamma, beta, self.epsilon, self.simplified)
        f32 = np.float32
        return (y.astype(x.dtype), mean.astype(f32), inv_std.astype(f32), total.astype(x.dtype))


@register("SkipLayerNormalization", 1, domain=MS)
class SkipLayerNormalization(_SkipNorm):
    def run(self, x, skip, gamma, beta=None, bias=None):
        return self._run(x, skip, gamma, beta, bias)


@register("SkipSimplifiedLayerNormalization", 1, domain=MS)
class SkipSimplifiedLayerNormalization(_SkipNorm):
    simplified = True
    BETA = None
    BIAS = 3

    def run(self, x, skip, gamma, bias=None):
        return self._run(x, skip, gamma, None, bias)


@register("SimplifiedLayerNormalization", 1, outside_onnx=True)
class SimplifiedLayerNormalization(Op):
    """Y = X / sqrt(mean(X^2 over the axes from `axis`) + epsilon) * scale; outputs Y, inv_std_var."""

    def setup(self):
        self.axis = int(self.attr("axis", -1))
        self.epsilon = float(self.attr("epsilon", 1e-5))

    def lower(self, node):
        if node.inputs[0].ndim == 0:
            return None
        k = norm_kernel(node, 0, 1, axis=self.axis, epsilon=self.epsilon, rms=True)
        return None if k is None else Native(k, [0, 1, None, None, None], [0, None, 1, None])

    def run(self, x, scale):
        x = _float(self, x, "X")
        axis = normalize_axis(self.axis, x.ndim, self)
        x64 = x.astype(np.float64)
        axes = tuple(range(axis, x.ndim))
        inv_std = 1.0 / np.sqrt((x64 * x64).mean(axis=axes, keepdims=True) + self.epsilon)
        try:
            y = x64 * inv_std * _float(self, scale, "scale").astype(np.float64)
        except ValueError:
            raise self.run_error(f"scale of shape {list(scale.shape)} does not broadcast to the normalized "
                                 f"axes {list(x.shape[axis:])}") from None
        return (y.astype(x.dtype), inv_std.astype(np.float32))


@register("LayerNormalization", 1, outside_onnx=True)
class LayerNormalizationBeforeOpset17(LayerNormalization):
    """onnxruntime's LayerNormalization for models of opsets before 17 (its fusions write it):
    the semantics of ONNX's LayerNormalization-17."""


@register("EmbedLayerNormalization", 1, domain=MS)
class EmbedLayerNormalization(Op):
    """BERT's embeddings: layer_norm(word[input_ids] + position[position_ids] + segment[segment_ids]).

    Outputs: the normalized embeddings [B, S, H]; mask_index [B] (int32: the count of ones in each
    row of mask, 0 without a mask); embedding_sum (the sum before the norm)."""

    def setup(self):
        self.epsilon = float(self.attr("epsilon", 1e-12))
        self.mask_index_type = int(self.attr("mask_index_type", 1))

    def run(self, input_ids, segment_ids, word_embedding, position_embedding, segment_embedding=None,
            gamma=None, beta=None, mask=None, position_ids=None):
        ids = self._indices(input_ids, "input_ids", word_embedding)
        batch, seq = ids.shape
        total = _float(self, word_embedding, "word_embedding").astype(np.float64)[ids]
        if position_ids is None:
            positions = np.broadcast_to(np.arange(seq), (batch, seq))
        else:
            positions = np.broadcast_to(self._indices(position_ids, "position_ids", position_embedding,
                                                      allow_broadcast=True), (batch, seq))
        if seq > position_embedding.shape[0] and position_ids is None:
            raise self.run_error(f"the sequence length {seq} exceeds the {position_embedding.shape[0]} rows of "
                                 f"position_embedding")
        total = total + _float(self, position_embedding, "position_embedding").astype(np.float64)[positions]
        if segment_embedding is not None and segment_ids is not None:
            seg = self._indices(segment_ids, "segment_ids", segment_embedding)
            if seg.shape != ids.shape:
                raise self.run_error(f"segment_ids has shape {list(seg.shape)}, input_ids {list(ids.shape)}")
            total = total + segment_embedding.astype(np.float64)[seg]
        hidden = total.shape[-1]
        g = _last_axis_param(self, gamma, hidden, "gamma")
        b = _last_axis_param(self, beta, hidden, "beta")
        y, _, _ = layer_norm_last_axis(total, g, b, self.epsilon, simplified=False)
        if mask is not None:
            mask_index = (np.asarray(mask) != 0).sum(axis=1).astype(np.int32)
        else:
            mask_index = np.zeros(batch, np.int32)
        dtype = word_embedding.dtype
        return (y.astype(dtype), mask_index, total.astype(dtype))

    def _indices(self, ids, what: str, table, allow_broadcast=False) -> np.ndarray:
        if not isinstance(ids, np.ndarray) or ids.dtype.kind not in "iu":
            raise self.run_error(f"{what} must be an integer tensor, got {getattr(ids, 'dtype', type(ids).__name__)}")
        if ids.ndim != 2 and not (allow_broadcast and ids.ndim in (1, 2)):
            raise self.run_error(f"{what} must be [batch, sequence], got shape {list(ids.shape)}")
        if ids.size and (ids.min() < 0 or ids.max() >= table.shape[0]):
            raise self.run_error(f"{what} holds {int(ids.max()) if ids.max() >= table.shape[0] else int(ids.min())}, "
                                 f"outside the {table.shape[0]} rows of its embedding table")
        return ids.astype(np.int64)

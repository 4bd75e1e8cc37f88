"""Normalization operators (inference).

BatchNormalization applies its per-channel affine map with the C++ batch_norm kernel for float32;
InstanceNormalization (rank 3+) and LayerNormalization run the C++ layer_norm kernel for float32
(scale and bias of the normalized shape; `norm_kernel` prepares it, also for RMSNormalization and
onnxruntime's Skip / Simplified layer norms); the other statistics of Instance/Layer/Group
normalization are computed by NumPy in float64 (more accurate than the float32 the ONNX reference
uses).
LRN runs the C++ lrn kernel for float32 (NumPy in float64 for the other float types);
MeanVarianceNormalization and LpNormalization are NumPy.
"""
from __future__ import annotations

import math

import numpy as np

from .. import kernels
from ..errors import KernelArgumentError, UnsupportedOpError
from ..lowering import Native
from ..registry import register
from . import epilogue
from ._nnmath import is_half
from .base import Op, normalize_axis


def _check_float(op: Op, x: np.ndarray):
    if x.dtype.kind != "f" and x.dtype.name != "bfloat16":
        raise op.run_error(f"input dtype {x.dtype} is not supported (floating-point types only)")


def _per_channel(op: Op, value: np.ndarray, name: str, count: int) -> np.ndarray:
    v = np.asarray(value)
    if v.size != count:
        raise op.run_error(f"{name} has shape {v.shape}; expected {count} values (one per channel)")
    return v.reshape(count)


@register("BatchNormalization", 1, 6, 7, 9, 14, 15)
class BatchNormalization(Op):
    def setup(self):
        self.epsilon = float(self.attr("epsilon", 1e-5))
        outputs = [o for o in self.node.output[1:] if o]
        # training_mode=1 (opset 14+) is deterministic: normalize with the batch statistics
        # and emit the momentum-updated running mean / variance.
        self.training = self.version >= 14 and bool(self.attr("training_mode", 0))
        self.momentum = float(self.attr("momentum", 0.9))
        if self.version < 7 and not self.attr("is_test", 0):
            raise UnsupportedOpError(
                f"BatchNormalization node {self.name!r}: is_test=0 (the default before opset 7) means "
                "training mode (batch statistics), which pyinfer does not support"
            )
        if 7 <= self.version < 14 and outputs:
            raise UnsupportedOpError(
                f"BatchNormalization node {self.name!r}: the mean/var/saved outputs exist only in "
                "training mode, which pyinfer does not support"
            )
        # spatial=0 (before opset 9): statistics per activation, shaped (C, D1, ..., Dn).
        self.spatial = self.version >= 9 or bool(self.attr("spatial", 1))
        self.epilogue = {}  # a fused activation's kernel keyword arguments (ops/fused.py)

    def run(self, x, scale, bias, mean, var):
        _check_float(self, x)
        if x.ndim == 1:  # opset 9+: a 1-D input of size N has C = 1
            x2 = x.reshape(-1, 1)
        elif x.ndim == 0:
            raise self.run_error("input must have rank >= 1")
        else:
            x2 = x
        n = x2.shape[0]
        c = x2.shape[1] if self.spatial else int(np.prod(x2.shape[1:], dtype=np.int64))
        params = [_per_channel(self, p, name, c) for p, name in
                  ((scale, "scale"), (bias, "B"), (mean, "mean"), (var, "var"))]
        if x.size == 0:
            return (x.copy(),)
        flat = x2.reshape(n, c, -1)
        if self.training:
            return self._run_training(x, flat, params)
        if x.dtype == np.float32 or is_half(x.dtype):
            p32 = [p.astype(np.float32, copy=False) for p in params]
            y = kernels.batch_norm(flat.astype(np.float32, copy=False), *p32, epsilon=self.epsilon,
                                   num_threads=self.num_threads, **self.epilogue)
            return (y.reshape(x.shape).astype(x.dtype, copy=False),)
        s, b, m, v = (p.astype(np.float64).reshape(1, c, 1) for p in params)
        y = (flat.astype(np.float64) - m) / np.sqrt(v + self.epsilon) * s + b
        if self.epilogue:
            y = epilogue.apply_numpy(y, None, self.epilogue)
        return (y.reshape(x.shape).astype(x.dtype),)

    def lower(self, node):
        x = node.inputs[0]
        if self.training or not self.spatial or len(node.outputs) != 1 or x.ndim < 2 or not node.float32(0, 1, 2, 3, 4):
            return None
        c = x.shape[1]
        if len(node.inputs) != 5 or any(p is None or p.shape != (c,) for p in node.inputs[1:]):
            return None
        return Native(kernels.prepare_batch_norm(node.shape(0), self.epsilon, **self.epilogue), [0, 1, 2, 3, 4],
                      reshapable=True)

    def _run_training(self, x, flat, params):
        scale, bias, running_mean, running_var = params
        wide = flat.astype(np.float64)
        batch_mean = wide.mean(axis=(0, 2))
        batch_var = wide.var(axis=(0, 2))  # population variance, as the spec's function body
        c = flat.shape[1]
        y = (wide - batch_mean.reshape(1, c, 1)) / np.sqrt(batch_var.reshape(1, c, 1) + self.epsilon)
        y = y * scale.astype(np.float64).reshape(1, c, 1) + bias.astype(np.float64).reshape(1, c, 1)
        m = self.momentum
        new_mean = running_mean * m + batch_mean * (1 - m)
        new_var = running_var * m + batch_var * (1 - m)
        return (y.reshape(x.shape).astype(x.dtype), new_mean.astype(running_mean.dtype),
                new_var.astype(running_var.dtype))


@register("InstanceNormalization", 1, 6, 22)
class InstanceNormalization(Op):
    def setup(self):
        self.epsilon = float(self.attr("epsilon", 1e-5))

    def lower(self, node):
        x = node.inputs[0]
        if x.ndim < 3 or not node.float32(0, 1, 2) or any(node.inputs[i].size != x.shape[1] for i in (1, 2)):
            return None
        k = kernels.prepare_layer_norm(node.shape(0), node.shape(1), node.shape(2), axis=2, epsilon=self.epsilon,
                                       channel_params=True)
        return Native(k, [0, 1, 2, None, None], [0, None, None, None], reshapable=True)

    def run(self, x, scale, bias):
        _check_float(self, x)
        if x.ndim < 2:
            raise self.run_error(f"input must have rank >= 2 (N, C, ...), got shape {x.shape}")
        n, c = x.shape[0], x.shape[1]
        scale = _per_channel(self, scale, "scale", c)
        bias = _per_channel(self, bias, "B", c)
        if x.size == 0:
            return (x.copy(),)
        if x.dtype == np.float32 and x.ndim > 2:
            return (kernels.layer_norm(x, scale.astype(np.float32, copy=False), bias.astype(np.float32, copy=False),
                                       axis=2, epsilon=self.epsilon, channel_params=True,
                                       num_threads=self.num_threads),)
        rows = x.reshape(n * c, -1).astype(np.float64)
        mean = rows.mean(axis=1)
        var = rows.var(axis=1)
        if x.dtype == np.float32 or is_half(x.dtype):
            # (x - mean) / sqrt(var + eps) * scale + bias per (n, c) row: the batch_norm kernel
            # on a (1, N*C, spatial) view with per-row vectors.
            y = kernels.batch_norm(
                x.astype(np.float32, copy=False).reshape(1, n * c, -1),
                np.tile(scale.astype(np.float32), n), np.tile(bias.astype(np.float32), n),
                mean.astype(np.float32), var.astype(np.float32), epsilon=self.epsilon,
                num_threads=self.num_threads)
            return (y.reshape(x.shape).astype(x.dtype, copy=False),)
        inv = 1.0 / np.sqrt(var + self.epsilon)
        y = (rows - mean[:, None]) * (inv * np.tile(scale.astype(np.float64), n))[:, None] \
            + np.tile(bias.astype(np.float64), n)[:, None]
        return (y.reshape(x.shape).astype(x.dtype),)


def norm_kernel(node, x: int, gamma: int, beta=None, skip=None, bias=None, *, axis: int = -1, epsilon: float,
                rms: bool = False):
    """The prepared layer_norm kernel for node inputs x, gamma and the optional beta / skip / bias
    (input indices, None: absent) when every one is float32 and fits it (parameters of the
    normalized shape, a skip repeating over leading rows, a [cols] bias), else None. Its inputs are
    (x, gamma, beta, skip, bias), its outputs (y, mean, inv_std, sum)."""
    present = [i for i in (x, gamma, beta, skip, bias) if i is not None and node.present(i)]
    if not node.float32(*present):
        return None
    opt = lambda i: node.shape(i) if i is not None and node.present(i) else None  # noqa: E731
    if bias is not None and node.present(bias) and node.inputs[bias].ndim != 1:
        return None
    try:
        return kernels.prepare_layer_norm(node.shape(x), node.shape(gamma), opt(beta), axis=axis, epsilon=epsilon,
                                          rms=rms, skip_shape=opt(skip), bias=opt(bias) is not None)
    except KernelArgumentError:  # shapes the kernel does not take (broadcast parameters): NumPy
        return None


@register("LayerNormalization", 17)
class LayerNormalization(Op):
    def setup(self):
        self.axis = int(self.attr("axis", -1))
        self.epsilon = float(self.attr("epsilon", 1e-5))
        stash = int(self.attr("stash_type", 1))
        if stash != 1:
            raise UnsupportedOpError(
                f"LayerNormalization node {self.name!r}: stash_type={stash} is not supported (only 1, float32)")

    def run(self, x, scale, bias=None):
        _check_float(self, x)
        if x.ndim == 0:
            raise self.run_error("input must have rank >= 1")
        axis = normalize_axis(self.axis, x.ndim, self)
        norm_shape = x.shape[axis:]
        for name, p in (("Scale", scale), ("B", bias)):
            if p is None:
                continue
            try:
                ok = np.broadcast_shapes(p.shape, norm_shape) == norm_shape
            except ValueError:
                ok = False
            if not ok and np.broadcast_shapes(p.shape, x.shape) != x.shape:
                raise self.run_error(f"{name} of shape {p.shape} does not broadcast to {x.shape}")
        rows = int(np.prod(x.shape[:axis], dtype=np.int64))
        cols = int(np.prod(norm_shape, dtype=np.int64))
        reduced_shape = x.shape[:axis] + (1,) * (x.ndim - axis)
        if rows * cols == 0 or cols == 0:
            empty = np.zeros(reduced_shape, np.float32)
            return (x.copy(), empty, empty.copy())
        if x.dtype == np.float32 and all(p is None or (p.dtype == np.float32 and p.size == cols) for p in (scale, bias)):
            try:
                y, mean, inv_std, _ = kernels.layer_norm(x, scale, bias, axis=axis, epsilon=self.epsilon, stats=True,
                                                         num_threads=self.num_threads)
                return (y, mean, inv_std)
            except KernelArgumentError:
                pass  # parameters broadcast rather than holding the normalized shape: NumPy below
        m = x.reshape(rows, cols).astype(np.float64)
        mean = m.mean(axis=1, keepdims=True)
        diff = m - mean
        inv_std = 1.0 / np.sqrt((diff * diff).mean(axis=1, keepdims=True) + self.epsilon)
        y = (diff * inv_std).reshape(x.shape) * scale.astype(np.float64)
        if bias is not None:
            y = y + bias.astype(np.float64)
        # Mean / InvStdDev are of the stash type (float32 for stash_type=1).
        return (y.astype(x.dtype), mean.reshape(reduced_shape).astype(np.float32),
                inv_std.reshape(reduced_shape).astype(np.float32))

    def lower(self, node):
        x = node.inputs[0]
        if x.ndim == 0:
            return None
        k = norm_kernel(node, 0, 1, 2, axis=self.axis, epsilon=self.epsilon)
        # kernel inputs (x, gamma, beta, skip, bias), outputs (y, mean, inv_std, sum)
        return None if k is None else Native(k, [0, 1, 2 if node.present(2) else None, None, None], [0, 1, 2, None],
                                             reshapable=True)


@register("FusedLayerNormalization", 1, domain="pyinfer")
class FusedLayerNormalization(Op):
    """The normalizations the optimizer fuses (layernorm_fusion, skip_layernorm_fusion), on the
    layer_norm kernel: S = X + Skip + Bias, Y = (S - mean) / sqrt(var + epsilon) * Scale + B over the
    axes from `axis` (rms=1: Y = S / sqrt(mean(S^2) + epsilon) * Scale + B). Inputs X, Scale, B?,
    Skip? (X's trailing dims, repeating over the leading ones), Bias? ([cols]); outputs Y, Mean?,
    InvStdDev? (shaped like LayerNormalization's), Sum? (S). float32 only (what the optimizer fuses)."""

    def setup(self):
        self.axis = int(self.attr("axis", -1))
        self.epsilon = float(self.attr("epsilon", 1e-5))
        self.rms = bool(self.attr("rms", 0))
        if self.rms and len(self.node.output) > 1 and self.node.output[1]:
            raise self.model_error("an rms normalization has no Mean output")

    def run(self, x, scale, bias=None, skip=None, skip_bias=None):
        for name, a in (("X", x), ("Scale", scale), ("B", bias), ("Skip", skip), ("Bias", skip_bias)):
            if a is not None and (not isinstance(a, np.ndarray) or a.dtype != np.float32):
                raise self.run_error(f"{name} must be a float32 tensor, got {getattr(a, 'dtype', type(a).__name__)}")
        y, mean, inv_std, total = kernels.layer_norm(
            x, scale, bias, axis=self.axis, epsilon=self.epsilon, rms=self.rms, skip=skip,
            bias=None if skip_bias is None else skip_bias.reshape(-1), stats=True, num_threads=self.num_threads)
        return (y, mean, inv_std, x if total is None else total)

    def lower(self, node):
        skip = 3 if node.present(3) else None
        bias = 4 if node.present(4) else None
        k = norm_kernel(node, 0, 1, 2 if node.present(2) else None, skip, bias, axis=self.axis,
                        epsilon=self.epsilon, rms=self.rms)
        # kernel inputs (x, gamma, beta, skip, bias), outputs (y, mean, inv_std, sum)
        return None if k is None else Native(k, [0, 1, 2 if node.present(2) else None, skip, bias], [0, 1, 2, 3],
                                             reshapable=True)


@register("GroupNormalization", 18, 21)
class GroupNormalization(Op):
    """Opset 18: scale and bias per group (num_groups values); opset 21: per channel (C)."""

    def setup(self):
        self.epsilon = float(self.attr("epsilon", 1e-5))
        self.groups = int(self.attr("num_groups"))
        if self.groups <= 0:
            raise self.model_error(f"num_groups must be positive, got {self.groups}")
        stash = int(self.attr("stash_type", 1))
        if stash != 1:
            raise UnsupportedOpError(
                f"GroupNormalization node {self.name!r}: stash_type={stash} is not supported (only 1, float32)")

    def run(self, x, scale, bias):
        _check_float(self, x)
        if x.ndim < 2:
            raise self.run_error(f"input must have rank >= 2 (N, C, ...), got shape {x.shape}")
        n, c, g = x.shape[0], x.shape[1], self.groups
        if c % g:
            raise self.run_error(f"{c} channels are not divisible by num_groups={g}")
        per = g if self.version < 21 else c
        scale = _per_channel(self, scale, "scale", per).astype(np.float64)
        bias = _per_channel(self, bias, "bias", per).astype(np.float64)
        if self.version < 21:  # one value per group -> per channel
            scale, bias = np.repeat(scale, c // g), np.repeat(bias, c // g)
        if x.size == 0:
            return (x.copy(),)
        grouped = x.reshape(n, g, -1).astype(np.float64)
        mean = grouped.mean(axis=2, keepdims=True)
        diff = grouped - mean
        inv_std = 1.0 / np.sqrt((diff * diff).mean(axis=2, keepdims=True) + self.epsilon)
        normed = (diff * inv_std).reshape(n, c, -1)
        y = normed * scale[None, :, None] + bias[None, :, None]
        return (y.reshape(x.shape).astype(x.dtype),)


@register("LRN", 1, 13)
class LRN(Op):
    """y = x / (bias + alpha / size * sum of x^2 over `size` neighbouring channels) ^ beta."""

    def setup(self):
        self.alpha = float(self.attr("alpha", 1e-4))
        self.beta = float(self.attr("beta", 0.75))
        self.bias = float(self.attr("bias", 1.0))
        self.size = int(self.attr("size"))
        if self.size <= 0:
            raise self.model_error(f"size must be positive, got {self.size}")

    def lower(self, node):
        if not node.float32(0) or node.inputs[0].ndim < 3:
            return None
        return Native(kernels.prepare_lrn(node.shape(0), self.size, self.alpha, self.beta, self.bias), [0],
                      reshapable=True)

    def run(self, x):
        _check_float(self, x)
        if x.ndim < 3:
            raise self.run_error(f"input must have rank >= 3 (N, C, D1, ...), got shape {x.shape}")
        if x.dtype == np.float32:
            return (kernels.lrn(x, self.size, self.alpha, self.beta, self.bias, num_threads=self.num_threads),)
        c = x.shape[1]
        lo = (self.size - 1) // 2  # channels before c
        hi = math.ceil((self.size - 1) / 2)  # channels after c
        sq = x.astype(np.float64) ** 2
        # windowed sums over channels via a zero-padded cumulative sum
        pad = [(0, 0)] * x.ndim
        pad[1] = (lo + 1, hi)
        csum = np.cumsum(np.pad(sq, pad), axis=1)
        idx = np.arange(c)
        window = np.take(csum, idx + lo + hi + 1, axis=1) - np.take(csum, idx, axis=1)
        y = x.astype(np.float64) / (self.bias + (self.alpha / self.size) * window) ** self.beta
        return (y.astype(x.dtype),)


@register("MeanVarianceNormalization", 9, 13)
class MeanVarianceNormalization(Op):
    """(x - mean) / (sqrt(E[x^2] - mean^2) + 1e-9) over `axes` (ONNX's function body)."""

    def setup(self):
        self.axes = [int(a) for a in self.attr("axes", [0, 2, 3])]

    def run(self, x):
        _check_float(self, x)
        axes = tuple(sorted({normalize_axis(a, x.ndim, self) for a in self.axes}))
        if x.size == 0:
            return (x.copy(),)
        xd = x.astype(np.float64)
        mean = xd.mean(axis=axes, keepdims=True)
        var = np.maximum((xd * xd).mean(axis=axes, keepdims=True) - mean * mean, 0.0)
        y = (xd - mean) / (np.sqrt(var) + 1e-9)
        return (y.astype(x.dtype),)


@register("LpNormalization", 1, 22)
class LpNormalization(Op):
    """x / ||x||_p along `axis` (p = 1 or 2); slices whose norm is 0 give 0."""

    def setup(self):
        self.axis = int(self.attr("axis", -1))
        self.p = int(self.attr("p", 2))
        if self.p not in (1, 2):
            raise self.model_error(f"p must be 1 or 2, got {self.p}")

    def run(self, x):
        _check_float(self, x)
        axis = normalize_axis(self.axis, x.ndim, self)
        xd = x.astype(np.float64)
        if self.p == 1:
            norm = np.sum(np.abs(xd), axis=axis, keepdims=True)
        else:
            norm = np.sqrt(np.sum(xd * xd, axis=axis, keepdims=True))
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(norm == 0, 0.0, xd / norm)
        return (y.astype(x.dtype),)

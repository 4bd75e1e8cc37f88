"""Pooling operators: MaxPool, AveragePool, LpPool, their Global* forms, MaxUnpool, MaxRoiPool.

float32 goes to the C++ kernels (pyinfer.kernels.*pool*), which own the window and
output-size rules. auto_pad is resolved here into explicit pads. Other dtypes: float16 /
bfloat16 (and int8 / uint8 for MaxPool, exact since |v| < 2^24) are computed in float32 and
cast back; float64 uses the NumPy implementation below, which asks the kernels for the
output shape so both paths share one rule.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from .. import kernels
from ..limits import check_allocation
from ..lowering import Native
from ..registry import register
from ._nnmath import is_half
from .base import Op

_AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def resolve_pads(auto_pad, in_shape, kernel, strides, dilations, pads):
    """Explicit [begin..., end...] pads for auto_pad (ONNX: SAME pads so that out = ceil(in / s);
    SAME_UPPER puts the odd pixel at the end, SAME_LOWER at the beginning)."""
    r = len(kernel)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for i in range(r):
            out = -(-in_shape[i] // strides[i])
            total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - in_shape[i])
            small, large = total // 2, total - total // 2
            begin.append(small if auto_pad == "SAME_UPPER" else large)
            end.append(large if auto_pad == "SAME_UPPER" else small)
        return begin + end
    if auto_pad == "VALID":
        return [0] * (2 * r)
    return list(pads) if pads is not None else [0] * (2 * r)


class _WindowPool(Op):
    """Attribute parsing shared by MaxPool, AveragePool and LpPool."""

    def setup(self):
        self.kernel = [int(k) for k in self.attr("kernel_shape")]
        self.strides = self.attr("strides", None)
        self.pads = self.attr("pads", None)
        self.dilations = self.attr("dilations", None)
        self.auto_pad = self.attr("auto_pad", "NOTSET")
        self.ceil_mode = bool(self.attr("ceil_mode", 0))
        if self.auto_pad not in _AUTO_PADS:
            raise self.model_error(f"auto_pad must be one of {_AUTO_PADS}, got {self.auto_pad!r}")
        r = len(self.kernel)
        for name, value, n in (("strides", self.strides, r), ("dilations", self.dilations, r), ("pads", self.pads, 2 * r)):
            if value is not None and len(value) != n:
                raise self.model_error(f"{name} {list(value)} must have {n} values for kernel_shape {self.kernel}")

    def window(self, x):
        """(kernel, strides, pads, dilations, ceil_mode) for input x, auto_pad resolved.
        Depends on x's shape only: remembered for the last shape (checking it costs more than a
        small pool)."""
        cached = getattr(self, "_window_cache", None)
        if cached is not None and cached[0] == x.shape:
            return cached[1]
        result = self._resolve_window(x)
        self._window_cache = (x.shape, result)
        return result

    def _resolve_window(self, x):
        r = len(self.kernel)
        if x.ndim != r + 2:
            raise self.run_error(
                f"input of shape {x.shape} does not match kernel_shape {self.kernel}: expected rank {r + 2}"
            )
        strides = list(self.strides) if self.strides is not None else [1] * r
        dilations = list(self.dilations) if self.dilations is not None else [1] * r
        pads = resolve_pads(self.auto_pad, x.shape[2:], self.kernel, strides, dilations, self.pads)
        # With auto_pad the output size is fixed by the formula, ceil_mode or not.
        ceil_mode = self.ceil_mode and self.auto_pad == "NOTSET"
        # pads / dilations from the model can ask for a huge output: refuse before the kernel allocates
        check_allocation(self, kernels.pool_output_shape(x.shape, self.kernel, strides, pads, dilations, ceil_mode),
                         np.float32)
        return self.kernel, strides, pads, dilations, ceil_mode

    def check_float(self, x):
        if not (x.dtype.kind == "f" or x.dtype.name == "bfloat16"):
            raise self.run_error(f"unsupported input dtype {x.dtype}")

    pool_kind = ""  # kernels.prepare_pool's kind

    def lower(self, node):
        x = node.inputs[0]
        if not node.float32(0) or x.ndim < 3 or x.ndim > 5 or x.ndim != len(self.kernel) + 2:
            return None
        kernel, strides, pads, dilations, ceil_mode = self.window(x)
        return Native(kernels.prepare_pool(self.pool_kind, list(x.shape), kernel, strides, pads, dilations, ceil_mode,
                                           **self.pool_args(node)), [0],
                      reshapable=self.auto_pad in ("NOTSET", "VALID"))  # SAME pads follow the input size

    def pool_args(self, node) -> dict:
        return {}


@register("MaxPool", 1, 8, 10, 11, 12, 22)
class MaxPool(_WindowPool):
    def setup(self):
        super().setup()
        self.storage_order = int(self.attr("storage_order", 0))
        if self.storage_order not in (0, 1):
            raise self.model_error(f"storage_order must be 0 or 1, got {self.storage_order}")
        self.want_indices = len(self.node.output) > 1 and bool(self.node.output[1])

    pool_kind = "max"

    def lower(self, node):
        return None if self.want_indices else super().lower(node)

    def run(self, x):
        kernel, strides, pads, dilations, ceil_mode = self.window(x)
        args = dict(strides=strides, pads=pads, dilations=dilations, ceil_mode=ceil_mode)
        if x.dtype == np.float64:
            y, idx = _np_pool(x, "max", kernel, storage_order=self.storage_order, **args)
            return (y, idx) if self.want_indices else (y,)
        if x.dtype == np.float32 or is_half(x.dtype) or x.dtype in (np.int8, np.uint8):
            out = kernels.max_pool(
                x.astype(np.float32, copy=False), kernel, storage_order=self.storage_order,
                return_indices=self.want_indices, num_threads=self.num_threads, **args,
            )
            y, idx = out if self.want_indices else (out, None)
            y = y.astype(x.dtype, copy=False)
            return (y, idx) if self.want_indices else (y,)
        raise self.run_error(f"unsupported input dtype {x.dtype}")


@register("AveragePool", 1, 7, 10, 11, 19, 22)
class AveragePool(_WindowPool):
    def setup(self):
        super().setup()
        self.count_include_pad = bool(self.attr("count_include_pad", 0))
        self.pool_kind = "avg_include_pad" if self.count_include_pad else "avg"

    def run(self, x):
        self.check_float(x)
        kernel, strides, pads, dilations, ceil_mode = self.window(x)
        args = dict(strides=strides, pads=pads, dilations=dilations, ceil_mode=ceil_mode)
        if x.dtype == np.float64:
            return (_np_pool(x, "avg", kernel, count_include_pad=self.count_include_pad, **args)[0],)
        y = kernels.avg_pool(
            x.astype(np.float32, copy=False), kernel, count_include_pad=self.count_include_pad,
            num_threads=self.num_threads, **args,
        )
        return (y.astype(x.dtype, copy=False),)


@register("LpPool", 1, 2, 11, 18, 22)
class LpPool(_WindowPool):
    def setup(self):
        super().setup()
        self.p = float(self.attr("p", 2))  # a float in LpPool-1, an int since
        if not (self.p > 0 and math.isfinite(self.p)):
            raise self.model_error(f"p must be positive, got {self.p}")

    pool_kind = "lp"

    def pool_args(self, node):
        return dict(p=self.p)

    def run(self, x):
        self.check_float(x)
        kernel, strides, pads, dilations, ceil_mode = self.window(x)
        args = dict(strides=strides, pads=pads, dilations=dilations, ceil_mode=ceil_mode)
        if x.dtype == np.float64:
            return (_np_pool(x, "lp", kernel, p=self.p, **args)[0],)
        y = kernels.lp_pool(x.astype(np.float32, copy=False), kernel, p=self.p, num_threads=self.num_threads, **args)
        return (y.astype(x.dtype, copy=False),)


class _GlobalPool(Op):
    kind = ""

    def setup(self):
        self.p = float(self.attr("p", 2)) if self.kind == "lp" else None
        if self.p is not None and not (self.p > 0 and math.isfinite(self.p)):
            raise self.model_error(f"p must be positive, got {self.p}")

    def lower(self, node):
        if not node.float32(0) or node.inputs[0].ndim < 3:
            return None
        return Native(kernels.prepare_global_pool(self.kind, node.shape(0), self.p or 2.0), [0], reshapable=True)

    def run(self, x):
        if not (x.dtype.kind == "f" or x.dtype.name == "bfloat16"):
            raise self.run_error(f"unsupported input dtype {x.dtype}")
        if x.ndim < 3:
            raise self.run_error(f"input must be (N, C, spatial...), got shape {x.shape}")
        if x.dtype == np.float64:
            axes = tuple(range(2, x.ndim))
            if self.kind == "avg":
                y = x.mean(axis=axes, keepdims=True)
            elif self.kind == "max":
                y = x.max(axis=axes, keepdims=True)
            else:
                y = (np.abs(x) ** self.p).sum(axis=axes, keepdims=True) ** (1.0 / self.p)
            return (np.asarray(y, dtype=x.dtype),)
        x32 = x.astype(np.float32, copy=False)
        if self.kind == "avg":
            y = kernels.global_avg_pool(x32, num_threads=self.num_threads)
        elif self.kind == "max":
            y = kernels.global_max_pool(x32, num_threads=self.num_threads)
        else:
            y = kernels.global_lp_pool(x32, self.p, num_threads=self.num_threads)
        return (y.astype(x.dtype, copy=False),)


@register("GlobalAveragePool", 1, 22)
class GlobalAveragePool(_GlobalPool):
    kind = "avg"


@register("GlobalMaxPool", 1, 22)
class GlobalMaxPool(_GlobalPool):
    kind = "max"


@register("GlobalLpPool", 1, 2, 22)
class GlobalLpPool(_GlobalPool):
    kind = "lp"


@register("MaxUnpool", 9, 11, 22)
class MaxUnpool(Op):
    """Scatter X to the positions `I` (from MaxPool) of a zero tensor.

    Indices address the default shape (in - 1) * s - pads + k; an explicit output_shape
    that is larger keeps that layout and pads at the end (ONNX reference behaviour)."""

    def setup(self):
        self.kernel = [int(k) for k in self.attr("kernel_shape")]
        r = len(self.kernel)
        self.strides = list(self.attr("strides", [1] * r))
        self.pads = list(self.attr("pads", [0] * (2 * r)))

    def run(self, x, indices, output_shape=None):
        r = len(self.kernel)
        if x.ndim != r + 2 or indices.shape != x.shape:
            raise self.run_error(f"X {x.shape} and I {indices.shape} must match, rank {r + 2}")
        inferred = list(x.shape[:2]) + [
            (x.shape[2 + i] - 1) * self.strides[i] - self.pads[i] - self.pads[r + i] + self.kernel[i] for i in range(r)
        ]
        check_allocation(self, inferred, x.dtype)
        size = math.prod(inferred)
        flat_idx = indices.reshape(-1).astype(np.int64)
        if flat_idx.size and (flat_idx.min() < 0 or flat_idx.max() >= size):
            raise self.run_error(f"indices out of range for the unpooled shape {tuple(inferred)}")
        y = np.zeros(size, dtype=x.dtype)
        y[flat_idx] = x.reshape(-1)
        y = y.reshape(inferred)
        if output_shape is None:
            return (y,)
        shape = [int(v) for v in np.asarray(output_shape).reshape(-1)]
        if len(shape) != x.ndim or any(s < i for s, i in zip(shape, inferred)):
            raise self.run_error(f"output_shape {shape} is smaller than the unpooled shape {inferred}")
        check_allocation(self, shape, x.dtype)
        out = np.zeros(shape, dtype=x.dtype)
        out[tuple(slice(0, i) for i in inferred)] = y
        return (out,)


@register("MaxRoiPool", 1, 22)
class MaxRoiPool(Op):
    """Max over each RoI (batch, x1, y1, x2, y2), scaled by spatial_scale, divided into
    pooled_shape bins (Caffe/ONNX reference rounding)."""

    def setup(self):
        self.pooled = [int(v) for v in self.attr("pooled_shape")]
        self.scale = float(self.attr("spatial_scale", 1.0))
        if len(self.pooled) != 2 or min(self.pooled) < 1:
            raise self.model_error(f"pooled_shape must be two positive ints, got {self.pooled}")

    def run(self, x, rois):
        if x.ndim != 4 or rois.ndim != 2 or rois.shape[1] != 5:
            raise self.run_error(f"expected X (N, C, H, W) and rois (R, 5), got {x.shape} and {rois.shape}")
        n, c, h, w = x.shape
        ph, pw = self.pooled
        y = np.zeros((rois.shape[0], c, ph, pw), dtype=x.dtype)
        for r, roi in enumerate(rois):
            b = int(roi[0])
            if not 0 <= b < n:
                raise self.run_error(f"RoI {r} names batch {b}, input has {n}")
            x1, y1, x2, y2 = (_round_half_away(float(v) * self.scale) for v in roi[1:])
            rh, rw = max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)
            for i in range(ph):
                hs = min(max(int(math.floor(i * rh / ph)) + y1, 0), h)
                he = min(max(int(math.ceil((i + 1) * rh / ph)) + y1, 0), h)
                for j in range(pw):
                    ws = min(max(int(math.floor(j * rw / pw)) + x1, 0), w)
                    we = min(max(int(math.ceil((j + 1) * rw / pw)) + x1, 0), w)
                    if he > hs and we > ws:
                        y[r, :, i, j] = x[b, :, hs:he, ws:we].max(axis=(1, 2))
        return (y,)


def _round_half_away(v: float) -> int:
    """std::round (Caffe/onnxruntime), not Python's round-half-to-even."""
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def _np_pool(x, kind, kernel, strides, pads, dilations, ceil_mode, count_include_pad=False, p=2.0,
             storage_order=0):
    """NumPy pooling for dtypes the kernels do not take (float64), same rules as the kernels.

    Loops over the kernel taps; each tap is a strided slice of the padded input covering every
    output at once. Returns (y, indices) (indices only for kind "max", else None)."""
    r = len(kernel)
    out = kernels.pool_output_shape(x.shape, kernel, strides, pads, dilations, ceil_mode)[2:]
    spatial = x.shape[2:]
    begin = pads[:r]
    # Pad enough at the end for every window (ceil_mode windows may run past pad_end).
    need = [max(0, (out[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - spatial[i] - begin[i])
            for i in range(r)]
    widths = list(zip(begin, need))
    fill = -np.inf if kind == "max" else 0
    xp = np.pad(x, [(0, 0), (0, 0)] + widths, constant_values=fill)
    inside = np.pad(np.ones(spatial, bool), widths, constant_values=False)
    counted = np.zeros(inside.shape, bool)  # taps inside [-pad_begin, in + pad_end)
    counted[tuple(slice(0, begin[i] + spatial[i] + pads[r + i]) for i in range(r))] = True
    if kind == "max":
        order = "F" if storage_order == 1 else "C"
        pos = np.arange(int(np.prod(spatial)), dtype=np.int64).reshape(spatial, order=order)
        pos = np.pad(pos, widths, constant_values=-1)
        best = np.full(x.shape[:2] + tuple(out), -np.inf, dtype=x.dtype)
        best_pos = np.full(best.shape, -1, dtype=np.int64)
    else:
        acc = np.zeros(x.shape[:2] + tuple(out), dtype=x.dtype)
        count = np.zeros(tuple(out), dtype=np.int64)
    for tap in itertools.product(*(range(k) for k in kernel)):
        sl = tuple(slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, o, s in zip(tap, dilations, out, strides))
        v = xp[(slice(None), slice(None)) + sl]
        if kind == "max":
            ok = inside[sl]
            # First maximum in row-major tap order wins; a NaN wins over numbers and sticks.
            take = ok & ((best_pos < 0) | (v > best) | (np.isnan(v) & ~np.isnan(best)))
            best = np.where(take, v, best)
            best_pos = np.where(take, pos[sl], best_pos)
        else:
            acc += np.abs(v) ** p if kind == "lp" else v
            count += (counted if count_include_pad else inside)[sl]
    if kind == "max":
        planes = np.arange(x.shape[0] * x.shape[1], dtype=np.int64).reshape(x.shape[:2] + (1,) * r)
        idx = np.where(best_pos >= 0, best_pos + planes * int(np.prod(spatial)), -1)
        return best, idx
    if kind == "avg":
        with np.errstate(invalid="ignore", divide="ignore"):
            return (acc / count).astype(x.dtype), None
    if kind == "lp":
        return (acc ** (1.0 / p)).astype(x.dtype), None
    return acc, None

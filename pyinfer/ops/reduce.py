"""Reduce* operators (results keep the input dtype, as ONNX specifies).

float32 Reduce* over any axes (and a non-empty input) run the C++ reduce kernel (one pass per run
of reduced axes); other dtypes are NumPy.

Axes come from the `axes` attribute before ReduceSum-13 / the others' version 18, and from the
optional second input after. No axes: reduce everything, unless noop_with_empty_axes=1, which
makes the op an identity. Reducing an empty set gives the reduction's identity element
(sum 0, prod 1, min +inf / max -inf, or the dtype's extremes for integers).
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..errors import KernelArgumentError
from ..lowering import KeepPython, Native
from ..registry import register
from .base import Op, normalize_axis


def _extreme(dtype, largest: bool):
    """The value a min (largest=True) / max over nothing yields in dtype."""
    if dtype == np.bool_:
        return largest
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return info.max if largest else info.min
    return np.inf if largest else -np.inf


class _Reduce(Op):
    axes_input_since = 18  # ReduceSum: 13
    kernel_kind = None  # 'max' / 'min' / 'sum' / 'mean' / 'prod' ...: float32 inputs go to kernels.reduce

    def setup(self):
        self.keepdims = bool(self.attr("keepdims", 1))
        self.noop = bool(self.attr("noop_with_empty_axes", 0))
        self.axes_from_input = self.version >= self.axes_input_since
        # Axes known now are parsed once: the attribute, or a constant axes input (used while
        # run() gets that very array: a feed may override an initializer).
        if self.axes_from_input:
            self.const_axes = self.const_input(1)
            self.fixed_axes = None if self.const_axes is None else _axes_list(self.const_axes)
        else:
            self.const_axes = None
            self.fixed_axes = self.attr("axes", None)
            self.fixed_axes = None if self.fixed_axes is None else [int(a) for a in self.fixed_axes]

    def run(self, x, axes=None):
        if not self.axes_from_input or (axes is self.const_axes and axes is not None):
            axes = self.fixed_axes
        elif axes is not None:
            axes = _axes_list(axes)
        if not axes:
            if self.noop:
                return (x.copy(),)
            axes = None
        if self.kernel_kind is not None and x.dtype == np.float32 and x.size:
            try:
                return (kernels.reduce(x, axes, self.kernel_kind, self.keepdims, self.num_threads),)
            except KernelArgumentError:
                pass  # invalid axes: NumPy below reports it
        if axes is None:
            axes = range(x.ndim)
        axes = tuple(sorted({normalize_axis(a, x.ndim, self) for a in axes}))
        with np.errstate(all="ignore"):
            y = self.reduce(x, axes)
        return (np.asarray(y).astype(x.dtype, copy=False),)

    def lower(self, node):
        """float32 (every kind) or int32 / int64 (max, min, sum, prod: shape arithmetic) with the
        axes fixed when the plan is built (the attribute, or a constant axes input)."""
        dtype = node.inputs[0].dtype
        integer = dtype in (np.int32, np.int64) and self.kernel_kind in ("max", "min", "sum", "prod")
        if self.kernel_kind is None or not (node.float32(0) or integer):
            return KeepPython(f"no {self.op_type} kernel for {dtype}")
        if self.axes_from_input and node.present(1):
            if not node.is_const(1):
                return KeepPython("axes computed at run time")
            axes = _axes_list(node.const(1))
        else:
            axes = self.fixed_axes
        if not axes and self.noop:
            return None
        try:
            if integer:
                k = kernels.prepare_reduce_int(self.kernel_kind, node.shape(0), axes or None, self.keepdims, dtype.name)
            else:
                k = kernels.prepare_reduce(self.kernel_kind, node.shape(0), axes or None, self.keepdims)
        except KernelArgumentError:
            return None  # invalid axes: the op's own code reports it
        return Native(k, [0], reshapable=True)

    def reduce(self, x, axes):
        raise NotImplementedError

    def _sum(self, x, axes, dtype=None):
        return np.sum(x, axis=axes, keepdims=self.keepdims, dtype=dtype or _acc_dtype(x.dtype))


def _axes_list(axes):
    return [int(a) for a in np.asarray(axes).reshape(-1)]


def _acc_dtype(dtype):
    """Accumulate in the input dtype (ONNX wraps integers like C); float16/bfloat16 in float32."""
    if dtype.kind == "f" and dtype.itemsize >= 4:
        return dtype
    if dtype.kind in "iu":
        return dtype
    return np.float32


def _float(x):
    return x if x.dtype.kind == "f" and x.dtype.itemsize >= 4 else x.astype(np.float64 if x.dtype.kind in "iu" else np.float32)


@register("ReduceSum", 1, 11, 13)
class ReduceSum(_Reduce):
    kernel_kind = "sum"
    axes_input_since = 13

    def reduce(self, x, axes):
        return self._sum(x, axes)


@register("ReduceMean", 1, 11, 13, 18)
class ReduceMean(_Reduce):
    kernel_kind = "mean"
    def reduce(self, x, axes):
        count = int(np.prod([x.shape[a] for a in axes]))
        total = self._sum(_float(x), axes)
        return total / count if count else np.full_like(total, np.nan)


@register("ReduceMax", 1, 11, 12, 13, 18, 20)
class ReduceMax(_Reduce):
    kernel_kind = "max"
    def reduce(self, x, axes):
        return np.max(x, axis=axes, keepdims=self.keepdims, initial=_extreme(x.dtype, False)) if x.size == 0 \
            else np.max(x, axis=axes, keepdims=self.keepdims)


@register("ReduceMin", 1, 11, 12, 13, 18, 20)
class ReduceMin(_Reduce):
    kernel_kind = "min"
    def reduce(self, x, axes):
        return np.min(x, axis=axes, keepdims=self.keepdims, initial=_extreme(x.dtype, True)) if x.size == 0 \
            else np.min(x, axis=axes, keepdims=self.keepdims)


@register("ReduceProd", 1, 11, 13, 18)
class ReduceProd(_Reduce):
    kernel_kind = "prod"

    def reduce(self, x, axes):
        return np.prod(x, axis=axes, keepdims=self.keepdims, dtype=_acc_dtype(x.dtype))


@register("ReduceL1", 1, 11, 13, 18)
class ReduceL1(_Reduce):
    kernel_kind = "l1"

    def reduce(self, x, axes):
        return self._sum(np.abs(x), axes)


@register("ReduceL2", 1, 11, 13, 18)
class ReduceL2(_Reduce):
    kernel_kind = "l2"

    def reduce(self, x, axes):
        xf = _float(x)
        return np.sqrt(self._sum(xf * xf, axes))


@register("ReduceSumSquare", 1, 11, 13, 18)
class ReduceSumSquare(_Reduce):
    kernel_kind = "sum_square"

    def reduce(self, x, axes):
        return self._sum(x * x, axes)


@register("ReduceLogSum", 1, 11, 13, 18, 28)
class ReduceLogSum(_Reduce):
    kernel_kind = "log_sum"

    def reduce(self, x, axes):
        return np.log(self._sum(_float(x), axes))


@register("ReduceLogSumExp", 1, 11, 13, 18, 28)
class ReduceLogSumExp(_Reduce):
    kernel_kind = "log_sum_exp"

    def reduce(self, x, axes):
        xf = _float(x)
        if xf.size == 0:
            return np.log(self._sum(xf, axes))  # log(0) = -inf
        # subtract the max first so exp cannot overflow; all -inf slices keep -inf
        m = np.max(xf, axis=axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0).astype(xf.dtype)
        s = np.log(np.sum(np.exp(xf - m), axis=axes, keepdims=True)) + m
        return s if self.keepdims else np.squeeze(s, axis=axes)

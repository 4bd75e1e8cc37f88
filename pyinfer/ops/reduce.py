"""Reduce* operators (NumPy; results keep the input dtype, as ONNX specifies).

Axes come from the `axes` attribute before ReduceSum-13 / the others' version 18, and from the
optional second input after. No axes: reduce everything, unless noop_with_empty_axes=1, which
makes the op an identity. Reducing an empty set gives the reduction's identity element
(sum 0, prod 1, min +inf / max -inf, or the dtype's extremes for integers).
"""
from __future__ import annotations

import numpy as np

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

    def setup(self):
        self.keepdims = bool(self.attr("keepdims", 1))
        self.noop = bool(self.attr("noop_with_empty_axes", 0))
        self.axes_from_input = self.version >= self.axes_input_since
        self.attr_axes = None if self.axes_from_input else self.attr("axes", None)

    def run(self, x, axes=None):
        if self.axes_from_input:
            axes = None if axes is None else [int(a) for a in np.asarray(axes).reshape(-1)]
        else:
            axes = self.attr_axes
        if not axes:
            if self.noop:
                return (x.copy(),)
            axes = range(x.ndim)
        axes = tuple(sorted({normalize_axis(a, x.ndim, self) for a in axes}))
        with np.errstate(all="ignore"):
            y = self.reduce(x, axes)
        return (np.asarray(y).astype(x.dtype, copy=False),)

    def reduce(self, x, axes):
        raise NotImplementedError

    def _sum(self, x, axes, dtype=None):
        return np.sum(x, axis=axes, keepdims=self.keepdims, dtype=dtype or _acc_dtype(x.dtype))


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
    axes_input_since = 13

    def reduce(self, x, axes):
        return self._sum(x, axes)


@register("ReduceMean", 1, 11, 13, 18)
class ReduceMean(_Reduce):
    def reduce(self, x, axes):
        count = int(np.prod([x.shape[a] for a in axes]))
        total = self._sum(_float(x), axes)
        return total / count if count else np.full_like(total, np.nan)


@register("ReduceMax", 1, 11, 12, 13, 18, 20)
class ReduceMax(_Reduce):
    def reduce(self, x, axes):
        return np.max(x, axis=axes, keepdims=self.keepdims, initial=_extreme(x.dtype, False)) if x.size == 0 \
            else np.max(x, axis=axes, keepdims=self.keepdims)


@register("ReduceMin", 1, 11, 12, 13, 18, 20)
class ReduceMin(_Reduce):
    def reduce(self, x, axes):
        return np.min(x, axis=axes, keepdims=self.keepdims, initial=_extreme(x.dtype, True)) if x.size == 0 \
            else np.min(x, axis=axes, keepdims=self.keepdims)


@register("ReduceProd", 1, 11, 13, 18)
class ReduceProd(_Reduce):
    def reduce(self, x, axes):
        return np.prod(x, axis=axes, keepdims=self.keepdims, dtype=_acc_dtype(x.dtype))


@register("ReduceL1", 1, 11, 13, 18)
class ReduceL1(_Reduce):
    def reduce(self, x, axes):
        return self._sum(np.abs(x), axes)


@register("ReduceL2", 1, 11, 13, 18)
class ReduceL2(_Reduce):
    def reduce(self, x, axes):
        xf = _float(x)
        return np.sqrt(self._sum(xf * xf, axes))


@register("ReduceSumSquare", 1, 11, 13, 18)
class ReduceSumSquare(_Reduce):
    def reduce(self, x, axes):
        return self._sum(x * x, axes)


@register("ReduceLogSum", 1, 11, 13, 18, 28)
class ReduceLogSum(_Reduce):
    def reduce(self, x, axes):
        return np.log(self._sum(_float(x), axes))


@register("ReduceLogSumExp", 1, 11, 13, 18, 28)
class ReduceLogSumExp(_Reduce):
    def reduce(self, x, axes):
        xf = _float(x)
        if xf.size == 0:
            return np.log(self._sum(xf, axes))  # log(0) = -inf
        # subtract the max first so exp cannot overflow; all -inf slices keep -inf
        m = np.max(xf, axis=axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0).astype(xf.dtype)
        s = np.log(np.sum(np.exp(xf - m), axis=axes, keepdims=True)) + m
        return s if self.keepdims else np.squeeze(s, axis=axes)

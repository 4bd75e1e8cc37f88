"""Activation operators: elementwise activations, Softmax / LogSoftmax / Hardmax.

float32 runs on the C++ kernels (pyinfer.kernels); float16 / bfloat16 run on the same
kernels through float32 and are rounded back; float64 uses NumPy in float64; integer types
(where ONNX allows them: Relu, PRelu, Clip, Erf) use NumPy. Outputs keep the input's dtype.
"""
from __future__ import annotations

import math

import numpy as np

from .. import kernels
from ..lowering import Native
from ..registry import register
from ._nnmath import is_half
from .base import Op, normalize_axis

Act = kernels.Activation

_ERF64 = np.vectorize(math.erf, otypes=[np.float64])
_ERFC64 = np.vectorize(math.erfc, otypes=[np.float64])


class _Unary(Op):
    """One input, one output of the same dtype.

    Subclasses set `act` (the kernels.Activation the float32 kernels apply, with the
    parameters `params` sets in setup()) and `reference(x64)` (float64 NumPy path), and
    optionally `integer(x)` for ONNX ops that accept integer tensors.
    """
    empty_tensors_ok = True

    act = None
    params = ()  # (a[, b]): the activation's parameters (kernels.Activation doc)

    def kernel(self, x: np.ndarray) -> np.ndarray:
        return kernels.prepare_activation(self.act, x.shape, *self.params)(x, num_threads=self.num_threads)

    def lower(self, node):
        if not node.float32(0):
            return None
        return Native(kernels.prepare_activation(self.act, node.shape(0), *self.params), [0], reshapable=True)

    def reference(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def integer(self, x: np.ndarray) -> np.ndarray:
        raise self.run_error(f"input dtype {x.dtype} is not supported (floating-point types only)")

    def run(self, x):
        if x.dtype == np.float32:
            return (self.kernel(x),)
        if x.dtype == np.float64:
            with np.errstate(all="ignore"):
                return (np.asarray(self.reference(x), dtype=np.float64),)
        if is_half(x.dtype):
            return (self.kernel(x.astype(np.float32)).astype(x.dtype),)
        if x.dtype.kind in "iub":
            return (np.asarray(self.integer(x), dtype=x.dtype),)
        raise self.run_error(f"input dtype {x.dtype} is not supported")


def _sigmoid64(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softplus64(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _elu64(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


@register("Relu", 1, 6, 13, 14)
class Relu(_Unary):
    act = Act.RELU

    def reference(self, x):
        return np.where(np.isnan(x), x, np.maximum(x, 0))

    def integer(self, x):
        if self.version < 14:
            return super().integer(x)
        return np.maximum(x, x.dtype.type(0))


@register("LeakyRelu", 1, 6, 16)
class LeakyRelu(_Unary):
    act = Act.LEAKY_RELU

    def setup(self):
        self.alpha = float(self.attr("alpha", 0.01))
        self.params = (self.alpha,)

    def reference(self, x):
        return np.where(x < 0, x * self.alpha, x)


@register("Sigmoid", 1, 6, 13)
class Sigmoid(_Unary):
    act = Act.SIGMOID

    def reference(self, x):
        return _sigmoid64(x)


@register("Tanh", 1, 6, 13)
class Tanh(_Unary):
    act = Act.TANH

    def reference(self, x):
        return np.tanh(x)


@register("HardSigmoid", 1, 6, 22)
class HardSigmoid(_Unary):
    act = Act.HARD_SIGMOID

    def setup(self):
        self.alpha = float(self.attr("alpha", 0.2))
        self.beta = float(self.attr("beta", 0.5))
        self.params = (self.alpha, self.beta)

    def reference(self, x):
        return np.where(np.isnan(x), x, np.clip(self.alpha * x + self.beta, 0, 1))


@register("HardSwish", 14, 22)
class HardSwish(_Unary):
    act = Act.HARD_SWISH

    def reference(self, x):
        return np.where(x <= -3, 0.0, x * np.clip(x / 6 + 0.5, 0, 1))


@register("Elu", 1, 6, 22)
class Elu(_Unary):
    act = Act.ELU

    def setup(self):
        self.alpha = float(self.attr("alpha", 1.0))
        self.params = (self.alpha,)

    def reference(self, x):
        return _elu64(x, self.alpha)


@register("Selu", 1, 6, 22)
class Selu(_Unary):
    act = Act.SELU

    def setup(self):
        self.alpha = float(self.attr("alpha", 1.67326319217681884765625))
        self.gamma = float(self.attr("gamma", 1.05070102214813232421875))
        self.params = (self.alpha, self.gamma)

    def reference(self, x):
        return self.gamma * _elu64(x, self.alpha)


@register("Celu", 12, 28)
class Celu(_Unary):
    act = Act.CELU

    def setup(self):
        self.alpha = float(self.attr("alpha", 1.0))
        if self.alpha == 0:
            raise self.model_error("alpha must be non-zero")
        self.params = (self.alpha,)

    def reference(self, x):
        return self.alpha * _elu64(x / self.alpha, 1.0)


@register("Softplus", 1, 22)
class Softplus(_Unary):
    act = Act.SOFTPLUS

    def reference(self, x):
        return _softplus64(x)


@register("Softsign", 1, 22)
class Softsign(_Unary):
    act = Act.SOFTSIGN

    def reference(self, x):
        return np.where(np.isinf(x), np.sign(x), x / (1 + np.abs(x)))


@register("ThresholdedRelu", 10, 22)
class ThresholdedRelu(_Unary):
    act = Act.THRESHOLDED_RELU

    def setup(self):
        self.alpha = float(self.attr("alpha", 1.0))
        self.params = (self.alpha,)

    def reference(self, x):
        return np.where(np.isnan(x), x, np.where(x > self.alpha, x, 0))


@register("Erf", 9, 13)
class Erf(_Unary):
    act = Act.ERF

    def reference(self, x):
        return _ERF64(x)

    def integer(self, x):  # ONNX allows every numeric type; the result is cast back
        return _ERF64(x.astype(np.float64)).astype(x.dtype)


@register("Gelu", 20)
class Gelu(_Unary):
    def setup(self):
        self.approximate = self.attr("approximate", "none")
        if self.approximate not in ("none", "tanh"):
            raise self.model_error(f"approximate must be 'none' or 'tanh', got {self.approximate!r}")
        self.act = Act.GELU_TANH if self.approximate == "tanh" else Act.GELU

    def reference(self, x):
        if self.approximate == "tanh":
            u = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
            return np.where(x == -np.inf, 0.0, x / (1 + np.exp(-2 * u)))
        return np.where(x == -np.inf, 0.0, 0.5 * x * _ERFC64(-x / math.sqrt(2)))


@register("Gelu", 1, domain="pyinfer")
class FusedGelu(Gelu):
    """Gelu-20's meaning for models of older opsets: what the optimizer's fuse_gelu writes there."""


@register("Mish", 18, 22)
class Mish(_Unary):
    act = Act.MISH

    def reference(self, x):
        return np.where(x == -np.inf, 0.0, x * np.tanh(_softplus64(x)))


@register("PRelu", 1, 6, 7, 9, 16)
class PRelu(Op):
    def run(self, x, slope):
        if slope.dtype != x.dtype:
            raise self.run_error(f"slope dtype {slope.dtype} differs from the input's {x.dtype}")
        slope = self._align(x, slope)
        if x.dtype == np.float32:
            return (kernels.prelu(x, slope, num_threads=self.num_threads),)
        if is_half(x.dtype):
            y = kernels.prelu(x.astype(np.float32), slope.astype(np.float32), num_threads=self.num_threads)
            return (y.astype(x.dtype),)
        if x.dtype.kind not in "fiu" or (x.dtype.kind in "iu" and self.version < 9):
            raise self.run_error(f"input dtype {x.dtype} is not supported")
        try:
            np.broadcast_shapes(slope.shape, x.shape)
            ok = np.broadcast_shapes(slope.shape, x.shape) == x.shape
        except ValueError:
            ok = False
        if not ok:
            raise self.run_error(f"slope of shape {slope.shape} does not broadcast to the input's {x.shape}")
        return (np.where(x < 0, x * slope, x).astype(x.dtype),)

    def lower(self, node):
        if not node.float32(0, 1) or self.version < 7:  # opset < 7 aligns the slope first: see _align
            return None
        return Native(kernels.prepare_prelu(node.shape(0), node.shape(1)), [0, 1], reshapable=True)

    def _align(self, x, slope):
        # Before opset 7 a 1-D slope of length C applied per channel of (N, C, ...); later
        # versions broadcast numpy-style, which the kernel checks.
        if self.version < 7 and slope.ndim == 1 and x.ndim > 2 and slope.size == x.shape[1] and slope.size > 1:
            return slope.reshape((-1,) + (1,) * (x.ndim - 2))
        return slope


@register("Clip", 1, 6, 11, 12, 13)
class Clip(Op):
    empty_tensors_ok = True

    def setup(self):
        if self.version < 11:
            self.lo = float(self.attr("min", -np.inf))
            self.hi = float(self.attr("max", np.inf))

    def _bound(self, value, name):
        if value is None:
            return None
        v = np.asarray(value)
        if v.size != 1:
            raise self.run_error(f"{name} must be a scalar, got shape {v.shape}")
        return v.reshape(())

    def lower(self, node):
        if not node.float32(0):
            return None
        if self.version < 11:
            lo, hi = self.lo, self.hi
        else:
            bounds = []
            for i in (1, 2):  # the bounds must be plan-time constant scalars
                if not node.present(i):
                    bounds.append(None)
                elif node.is_const(i) and np.asarray(node.const(i)).size == 1:
                    bounds.append(float(np.asarray(node.const(i)).reshape(())))
                else:
                    return None
            lo = -math.inf if bounds[0] is None else bounds[0]
            hi = math.inf if bounds[1] is None else bounds[1]
        if math.isnan(lo) or math.isnan(hi):
            return None
        return Native(kernels.prepare_activation(Act.CLIP, node.shape(0), lo, hi), [0], reshapable=True)

    def run(self, x, lo=None, hi=None):
        if self.version < 11:
            lo_v, hi_v = self.lo, self.hi
        else:
            lo_v, hi_v = self._bound(lo, "min"), self._bound(hi, "max")
        if x.dtype == np.float32 or is_half(x.dtype):
            a = -np.inf if lo_v is None else float(lo_v)
            b = np.inf if hi_v is None else float(hi_v)
            if not (math.isnan(a) or math.isnan(b)):
                y = kernels.clip(x.astype(np.float32, copy=False), a, b, num_threads=self.num_threads)
                return (y.astype(x.dtype, copy=False),)
        if x.dtype.kind not in "fiu" and x.dtype.name != "bfloat16":
            raise self.run_error(f"input dtype {x.dtype} is not supported")
        if x.dtype.kind in "iu" and self.version < 12:
            raise self.run_error(f"integer input ({x.dtype}) needs Clip from opset 12")
        y = x
        with np.errstate(invalid="ignore"):
            if lo_v is not None:
                y = np.maximum(y, np.asarray(lo_v).astype(x.dtype))
            if hi_v is not None:
                y = np.minimum(y, np.asarray(hi_v).astype(x.dtype))
        return (np.array(y, dtype=x.dtype, copy=True),)


class _SoftmaxFamily(Op):
    """Softmax-like ops. Before opset 13 the input is viewed as 2-D (prod(shape[:axis]),
    prod(shape[axis:])) and the op runs over the second dimension; from 13 it runs along
    the single axis `axis` (default -1)."""

    def setup(self):
        self.axis = int(self.attr("axis", 1 if self.version < 13 else -1))

    def run(self, x):
        if self.version < 13:
            rank = x.ndim
            if not -rank <= self.axis <= rank:
                raise self.run_error(f"axis {self.axis} is out of range for a rank-{rank} input")
            axis = self.axis + rank if self.axis < 0 else self.axis
            outer = int(np.prod(x.shape[:axis], dtype=np.int64))
            flat = x.reshape(outer, -1) if x.size else x.reshape(outer, int(np.prod(x.shape[axis:], dtype=np.int64)))
            return (self.compute(flat, 1).reshape(x.shape),)
        if x.ndim == 0:
            raise self.run_error("input must have rank >= 1")
        return (self.compute(x, normalize_axis(self.axis, x.ndim, self)),)

    def compute(self, x, axis):
        raise NotImplementedError


class _SoftmaxBase(_SoftmaxFamily):
    log = False

    def lower(self, node):
        rank = node.inputs[0].ndim
        if not node.float32(0) or rank == 0 or not -rank <= self.axis < rank:
            return None
        return Native(kernels.prepare_softmax(node.shape(0), self.axis, self.log, flatten=self.version < 13), [0],
                      reshapable=True)

    def compute(self, x, axis):
        if x.dtype == np.float32 or is_half(x.dtype):
            fn = kernels.log_softmax if self.log else kernels.softmax
            return fn(x.astype(np.float32, copy=False), axis, num_threads=self.num_threads).astype(x.dtype, copy=False)
        if x.dtype != np.float64:
            raise self.run_error(f"input dtype {x.dtype} is not supported")
        if x.size == 0:
            return x.copy()
        with np.errstate(invalid="ignore", over="ignore"):
            shifted = x - np.max(x, axis=axis, keepdims=True)
            s = np.sum(np.exp(shifted), axis=axis, keepdims=True)
            return shifted - np.log(s) if self.log else np.exp(shifted) / s


@register("Softmax", 1, 11, 13)
class Softmax(_SoftmaxBase):
    empty_tensors_ok = True
    log = False


@register("LogSoftmax", 1, 11, 13)
class LogSoftmax(_SoftmaxBase):
    log = True


@register("Hardmax", 1, 11, 13)
class Hardmax(_SoftmaxFamily):
    """1 at the first maximum along the axis, 0 elsewhere."""

    def compute(self, x, axis):
        if x.dtype.kind != "f" and x.dtype.name != "bfloat16":
            raise self.run_error(f"input dtype {x.dtype} is not supported")
        y = np.zeros_like(x)
        if x.size == 0:
            return y
        idx = np.expand_dims(np.argmax(x, axis=axis), axis)
        np.put_along_axis(y, idx, 1, axis=axis)
        return y

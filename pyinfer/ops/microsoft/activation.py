"""com.microsoft elementwise ops: Gelu, FastGelu, BiasGelu, QuickGelu, BiasAdd."""
from __future__ import annotations

import math

import numpy as np

from ... import kernels
from ...lowering import Native
from ...registry import register
from ..base import Op
from . import MS
_ERF = np.vectorize(math.erf, otypes=[np.float64])


def _float(op: Op, x, what: str) -> np.ndarray:
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise op.run_error(f"{what} must be a float tensor, got {getattr(x, 'dtype', type(x).__name__)}")
    return x


def _add(op: Op, x: np.ndarray, bias, what: str) -> np.ndarray:
    if bias is None:
        return x
    bias = _float(op, bias, what)
    try:
        np.broadcast_shapes(bias.shape, x.shape)
    except ValueError:
        raise op.run_error(f"{what} of shape {list(bias.shape)} does not broadcast to {list(x.shape)}") from None
    return x + bias.astype(x.dtype)


def gelu(x: np.ndarray, approximate: str, num_threads: int) -> np.ndarray:
    """erf or tanh GELU in x's dtype (float32 on the kernel)."""
    if x.dtype == np.float32:
        return kernels.gelu(np.ascontiguousarray(x), approximate, num_threads=num_threads)
    x64 = x.astype(np.float64)
    if approximate == "tanh":
        y = 0.5 * x64 * (1 + np.tanh(math.sqrt(2 / math.pi) * (x64 + 0.044715 * x64 ** 3)))
    else:
        y = 0.5 * x64 * (1 + _ERF(x64 / math.sqrt(2)))
    return y.astype(x.dtype)


def _lower_gelu(node, act):
    """The activation kernel, for float32 without a bias."""
    if not node.float32(0) or node.present(1):
        return None
    return Native(kernels.prepare_activation(act, node.shape(0)), [0], reshapable=True)


@register("Gelu", 1, domain=MS)
class Gelu(Op):
    def run(self, x):
        return (gelu(_float(self, x, "X"), "none", self.num_threads),)

    def lower(self, node):
        return _lower_gelu(node, kernels.Activation.GELU)


@register("BiasGelu", 1, domain=MS)
class BiasGelu(Op):
    """gelu(A + B), B the bias along the last axis."""

    def run(self, a, b):
        return (gelu(_add(self, _float(self, a, "A"), b, "B"), "none", self.num_threads),)


@register("FastGelu", 1, domain=MS)
class FastGelu(Op):
    """The tanh approximation of gelu, of X + bias when a bias is given."""

    def run(self, x, bias=None):
        return (gelu(_add(self, _float(self, x, "X"), bias, "bias"), "tanh", self.num_threads),)

    def lower(self, node):
        return _lower_gelu(node, kernels.Activation.GELU_TANH)


@register("QuickGelu", 1, domain=MS)
class QuickGelu(Op):
    """x * sigmoid(alpha * x)."""

    def setup(self):
        self.alpha = float(self.attr("alpha", 1.702))

    def run(self, x):
        x = _float(self, x, "X")
        x64 = x.astype(np.float64)
        return ((x64 / (1.0 + np.exp(-self.alpha * x64))).astype(x.dtype),)


@register("BiasAdd", 1, domain=MS)
class BiasAdd(Op):
    """X + bias + skip (X, skip: [N, S, C]; bias: [C])."""

    def run(self, x, bias, skip):
        x = _float(self, x, "X")
        if x.ndim != 3:
            raise self.run_error(f"X must be [N, S, C], got shape {list(x.shape)}")
        if getattr(skip, "shape", None) != x.shape:
            raise self.run_error(f"skip must have X's shape {list(x.shape)}, got {list(getattr(skip, 'shape', []))}")
        return (_add(self, _add(self, x, bias, "bias"), skip, "skip"),)

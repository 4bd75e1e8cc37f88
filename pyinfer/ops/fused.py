"""pyinfer's own fused operators (domain "pyinfer", version 1), created by the graph optimizer.

FusedConv(X, W, B?, Z?)   y = act(conv(X, W) + B + Z)       Conv's attributes + the epilogue's
FusedGemm(A, B, C?)       y = act(alpha op(A) op(B) + beta C)  Gemm's attributes (Gemm-7+ broadcast)
FusedMatMul(A, B)         y = act(A @ B)                      numpy.matmul semantics
SumPool(X)                the unnormalised window sum          kernel_shape, strides, pads, dilations

Epilogue attributes: activation ("" none, Relu, Clip, LeakyRelu, Sigmoid, HardSwish, Gelu),
activation_alpha (LeakyRelu, default 0.01), clip_min / clip_max (Clip, default -inf / inf), approximate
(Gelu, "none" or "tanh"). Z (the residual) has exactly the conv output's shape.

float32 runs on the kernels: the conv / gemm kernel, then np.add for the residual and the
activation kernel. Other float dtypes run the plain op, then the epilogue in float64 NumPy.
The conv / gemm kernels are getting a fused epilogue (`conv(..., activation=..., residual=...)`):
switching to it is the one line marked SWITCH in each op (`Epilogue.kernel_kwargs` gives the
arguments), after which `Epilogue.apply` is only used for the non-float32 path.
"""
from __future__ import annotations

import math

import numpy as np

from .. import kernels
from ..registry import register
from .base import Op
from .conv import Conv
from .gemm import Gemm, MatMul

DOMAIN = "pyinfer"
ACTIVATIONS = ("", "Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSwish", "Gelu")
_ERF64 = np.vectorize(math.erf, otypes=[np.float64])


class Epilogue:
    """The activation (and residual) applied after the main product."""

    def __init__(self, op: Op):
        self.op = op
        self.activation = op.attr("activation", "") or ""
        if self.activation not in ACTIVATIONS:
            raise op.model_error(f"activation must be one of {', '.join(a or '<none>' for a in ACTIVATIONS)}, "
                                 f"got {self.activation!r}")
        self.alpha = float(op.attr("activation_alpha", 0.01))  # not "alpha": Gemm has one
        self.clip_min = float(op.attr("clip_min", -np.inf))
        self.clip_max = float(op.attr("clip_max", np.inf))
        self.approximate = op.attr("approximate", "none")
        if self.approximate not in ("none", "tanh"):
            raise op.model_error(f"approximate must be 'none' or 'tanh', got {self.approximate!r}")

    def kernel_kwargs(self, residual=None) -> dict:
        """Arguments for a kernel with a fused epilogue (conv / gemm `activation=`, `residual=`)."""
        kw = {"activation": self.activation.lower() or None, "residual": residual}
        if self.activation == "LeakyRelu":
            kw["alpha"] = self.alpha
        elif self.activation == "Clip":
            kw["clip_min"], kw["clip_max"] = self.clip_min, self.clip_max
        elif self.activation == "Gelu":
            kw["approximate"] = self.approximate
        return kw

    def check_residual(self, y, z):
        if z is None:
            return
        if not isinstance(z, np.ndarray) or z.shape != y.shape or z.dtype != y.dtype:
            got = f"{getattr(z, 'dtype', type(z).__name__)} {getattr(z, 'shape', '')}"
            raise self.op.run_error(f"the residual input must have the output's shape {y.shape} and dtype "
                                    f"{y.dtype}, got {got}")

    def apply(self, y: np.ndarray, z=None) -> np.ndarray:
        """act(y + z); y is a fresh array this op owns (updated in place where possible)."""
        self.check_residual(y, z)
        if y.dtype != np.float32:
            return self._apply_float64(y, z)
        if z is not None:
            np.add(y, z, out=y)
        n = self.op.num_threads
        act = self.activation
        if act == "Relu":
            return kernels.relu(y, num_threads=n)
        if act == "Clip":
            return kernels.clip(y, self.clip_min, self.clip_max, num_threads=n)
        if act == "LeakyRelu":
            return kernels.leaky_relu(y, self.alpha, num_threads=n)
        if act == "Sigmoid":
            return kernels.sigmoid(y, num_threads=n)
        if act == "HardSwish":
            return kernels.hard_swish(y, num_threads=n)
        if act == "Gelu":
            return kernels.gelu(y, self.approximate, num_threads=n)
        return y

    def _apply_float64(self, y, z):
        dtype = y.dtype
        x = y.astype(np.float64)
        if z is not None:
            x = x + z.astype(np.float64)
        act = self.activation
        with np.errstate(all="ignore"):
            if act == "Relu":
                x = np.where(np.isnan(x), x, np.maximum(x, 0.0))
            elif act == "Clip":
                x = np.minimum(np.maximum(x, self.clip_min), self.clip_max)
            elif act == "LeakyRelu":
                x = np.where(x < 0, self.alpha * x, x)
            elif act == "Sigmoid":
                x = 1.0 / (1.0 + np.exp(-x))
            elif act == "HardSwish":
                x = x * np.clip(x / 6.0 + 0.5, 0.0, 1.0)
            elif act == "Gelu":
                if self.approximate == "tanh":
                    x = 0.5 * x * (1.0 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
                else:
                    x = 0.5 * x * (1.0 + _ERF64(x / math.sqrt(2)))
        return x.astype(dtype)


@register("FusedConv", 1, domain=DOMAIN)
class FusedConv(Conv):
    def setup(self):
        super().setup()
        self.epilogue = Epilogue(self)

    def run(self, x, w, b=None, z=None):
        if x.dtype != np.float32:
            return (self.epilogue.apply(Conv.run(self, x, w, b)[0], z),)
        self._check_dtypes(x, w, b)
        strides, dilations, kernel = self._common_attrs(x, w)
        pads = self.pads_for(x, strides, dilations, kernel)
        args = dict(strides=strides, pads=pads, dilations=dilations, group=self.group)
        # SWITCH: y = kernels.conv(x, w, b, num_threads=..., **args, **self.epilogue.kernel_kwargs(z)); return (y,)
        y = kernels.conv(x, w, b, num_threads=self.num_threads, **args)
        return (self.epilogue.apply(y, z),)


@register("FusedGemm", 1, domain=DOMAIN)
class FusedGemm(Gemm):
    def setup(self):
        super().setup()
        self.broadcast = True  # Gemm-7+ semantics (the optimizer never fuses Gemm-1/6)
        self.epilogue = Epilogue(self)

    def run(self, a, b, c=None):
        # SWITCH (float32): pass **self.epilogue.kernel_kwargs() to kernels.gemm inside Gemm.run.
        (y,) = Gemm.run(self, a, b, c)
        if y.dtype != np.float32:
            return (self.epilogue.apply(y),)
        return (self.epilogue.apply(y if y.flags.writeable else y.copy()),)


@register("FusedMatMul", 1, domain=DOMAIN)
class FusedMatMul(MatMul):
    def setup(self):
        super().setup()
        self.epilogue = Epilogue(self)

    def run(self, a, b):
        (y,) = MatMul.run(self, a, b)
        return (self.epilogue.apply(y if y.flags.writeable else y.copy()),)


@register("SumPool", 1, domain=DOMAIN)
class SumPool(Op):
    """The sum of each window (padding adds 0); float32 only (the optimizer creates it for float32)."""

    def setup(self):
        self.kernel = [int(k) for k in self.attr("kernel_shape")]
        nd = len(self.kernel)
        self.strides = [int(s) for s in self.attr("strides", [1] * nd)]
        self.pads = [int(p) for p in self.attr("pads", [0] * (2 * nd))]
        self.dilations = [int(d) for d in self.attr("dilations", [1] * nd)]
        if len(self.strides) != nd or len(self.pads) != 2 * nd or len(self.dilations) != nd:
            raise self.model_error(f"strides / pads / dilations do not match kernel_shape {self.kernel}")

    def run(self, x):
        if not isinstance(x, np.ndarray) or x.dtype != np.float32:
            raise self.run_error(f"input must be float32, got {getattr(x, 'dtype', type(x).__name__)}")
        if x.ndim != len(self.kernel) + 2:
            raise self.run_error(f"input must have rank {len(self.kernel) + 2} for kernel_shape {self.kernel}, "
                                 f"got shape {x.shape}")
        return (kernels.sum_pool(x, self.kernel, strides=self.strides, pads=self.pads, dilations=self.dilations,
                                 num_threads=self.num_threads),)

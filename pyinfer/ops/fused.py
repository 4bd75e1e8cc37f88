"""pyinfer's own fused operators (domain "pyinfer", version 1), created by the graph optimizer.

FusedConv(X, W, B?, Z?)   y = act(conv(X, W) + B + Z)       Conv's attributes + the epilogue's
FusedGemm(A, B, C?)       y = act(alpha op(A) op(B) + beta C)  Gemm's attributes (Gemm-7+ broadcast)
FusedMatMul(A, B, bias?, Z?)
                          y = act(A @ B + bias + Z)           numpy.matmul semantics; bias [N]
FusedBatchNormalization(X, scale, B, mean, var)
                          y = act(BN(X))                      epsilon + the epilogue (inference only)
SumPool(X)                the unnormalised window sum          kernel_shape, strides, pads, dilations

Epilogue attributes: activation ("" none, or the ONNX op type of an activation the kernels fuse:
Relu, LeakyRelu, Sigmoid, Tanh, Clip, HardSigmoid, HardSwish, Gelu, Silu, Mish), activation_alpha /
activation_beta (its parameters, kernels.Activation's defaults), clip_min / clip_max (Clip, default
-inf / inf), approximate (Gelu, "none" or "tanh"). Z (the residual) has exactly the conv output's shape.

The fused ops are the plain ops with their kernel epilogue set (ops/epilogue.py): for float32 the
C++ kernels apply bias, residual and activation to each output tile while it is in cache, so the
output is written once; other dtypes apply the same formula with NumPy.
"""
from __future__ import annotations

import math

import numpy as np

from .. import kernels
from ..lowering import Native
from ..registry import register
from . import epilogue
from .epilogue import Act, parameter_names
from .base import Op
from .conv import Conv
from .gemm import Gemm, MatMul
from .normalization import BatchNormalization

DOMAIN = "pyinfer"
def kernel_epilogue(op: Op) -> tuple[str, dict]:
    """The node's activation attributes as a kernel epilogue: (kernel name, parameters). The
    activation attribute is an ONNX op type (Relu, LeakyRelu, Gelu...) of an activation the
    kernels fuse (pyinfer.kernels.Activation.fuses); its parameters are the attributes
    activation_alpha / activation_beta (Clip: clip_min / clip_max; Gelu: approximate)."""
    name = op.attr("activation", "") or ""
    if not name:
        return "none", {}
    if name == "Gelu":
        approximate = op.attr("approximate", "none")
        if approximate not in ("none", "tanh"):
            raise op.model_error(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        act = Act.GELU_TANH if approximate == "tanh" else Act.GELU
    else:
        act = next((a for a in Act.__members__.values() if a.onnx_name == name and a != Act.GELU_TANH), None)
    if act is None or not act.fuses:
        fusable = ", ".join(sorted({a.onnx_name for a in Act.__members__.values() if a.fuses}))
        raise op.model_error(f"activation must be one of {fusable} (or none), got {name!r}")
    if act == Act.CLIP:
        lo, hi = float(op.attr("clip_min", -math.inf)), float(op.attr("clip_max", math.inf))
        return ("relu6", {}) if (lo, hi) == (0.0, 6.0) else ("clip", {"clip_min": lo, "clip_max": hi})
    # "activation_alpha", not "alpha": Gemm has an alpha of its own
    params = {k: float(op.attr(k, d)) for k, d in zip(parameter_names(act), act.defaults)}
    return act.kernel_name, params


class _Fused:
    """Mixin: set the base op's kernel epilogue from the fused node's attributes."""

    def setup(self):
        super().setup()
        name, params = kernel_epilogue(self)
        self.set_epilogue(name, **params)


@register("FusedConv", 1, domain=DOMAIN)
class FusedConv(_Fused, Conv):
    pass


@register("FusedGemm", 1, domain=DOMAIN)
class FusedGemm(_Fused, Gemm):
    def setup(self):
        super().setup()
        self.broadcast = True  # Gemm-7+ semantics (the optimizer never fuses Gemm-1/6)


@register("FusedMatMul", 1, domain=DOMAIN)
class FusedMatMul(_Fused, MatMul):
    """MatMul with the epilogue: a per-column bias (input 2, [N]) and a residual (input 3, the
    output's shape) added to each tile before the activation."""

    def run(self, a, b, bias=None, residual=None):
        if isinstance(a, np.ndarray) and a.dtype == np.float32:
            if self._packed is not None and b is self._packed_source:
                b = self._packed
            bias = None if bias is None else np.ascontiguousarray(bias, dtype=np.float32).reshape(-1)
            return (kernels.matmul(a, b, num_threads=self.num_threads, bias=bias, residual=residual,
                                   **self.epilogue),)
        # Other dtypes (never made by the optimizer): the product, then bias and epilogue in NumPy.
        compute = np.float64 if np.asarray(a).dtype == np.float64 else np.float32
        y = np.matmul(np.asarray(a, compute), np.asarray(b, compute))
        if bias is not None:
            y = y + np.asarray(bias, compute).reshape(-1)
        if self.epilogue or residual is not None:
            y = epilogue.apply_numpy(y, None if residual is None else np.asarray(residual, compute), self.epilogue)
        return (y.astype(np.asarray(a).dtype),)

    def lower(self, node):
        if not node.float32(0, 1, 2, 3):
            return None
        a, b = node.inputs[0], node.inputs[1]
        bias, res = node.present(2), node.present(3)
        if b is None or b.ndim < 2 or (bias and node.inputs[2].shape != (b.shape[-1],)):
            return None
        packed = self._packed is not None and node.const(1) is self._packed_source
        k = kernels.prepare_matmul(list(a.shape), self._packed if packed else list(b.shape), bias=bias,
                                   residual=res, **self.epilogue)
        return Native(k, [0, None if packed else 1, 2 if bias else None, 3 if res else None], reshapable=True)


@register("FusedBatchNormalization", 1, domain=DOMAIN)
class FusedBatchNormalization(BatchNormalization):
    """Inference BatchNormalization (opset-15 semantics: per channel on axis 1, one output)
    followed by the activation, which the float32 kernel applies in the same pass."""

    def setup(self):
        self.epsilon = float(self.attr("epsilon", 1e-5))
        self.training = False
        self.spatial = True
        name, params = kernel_epilogue(self)
        self.epilogue = {} if name == "none" else {"activation": name, **params}


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

    def lower(self, node):
        x = node.inputs[0]
        if not node.float32(0) or x.ndim != len(self.kernel) + 2 or x.ndim > 5:
            return None
        return Native(kernels.prepare_pool("sum", list(x.shape), self.kernel, self.strides, self.pads, self.dilations),
                      [0], reshapable=True)

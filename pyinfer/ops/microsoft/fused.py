"""com.microsoft FusedConv, FusedGemm, FusedMatMul and TransposeMatMul, as onnxruntime's graph
optimizer writes them. Their attributes are onnxruntime's (activation + activation_params for
FusedConv; activation_alpha / beta / gamma for FusedGemm; alpha and transposes for FusedMatMul),
mapped onto pyinfer's Conv / Gemm / MatMul with a kernel epilogue where the kernels have the
activation, and a NumPy activation after the op where they do not."""
from __future__ import annotations

import numpy as np

from ... import kernels
from ...registry import register
from ..base import Op
from ..conv import Conv
from ..gemm import Gemm
from . import MS


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# activation -> (kernel epilogue name or None, NumPy function of (x, alpha, beta, gamma), defaults)
ACTIVATIONS = {
    "Relu": ("relu", lambda x, a, b, g: np.maximum(x, 0), ()),
    "Tanh": ("tanh", lambda x, a, b, g: np.tanh(x), ()),
    "Sigmoid": ("sigmoid", lambda x, a, b, g: _sigmoid(x), ()),
    "LeakyRelu": ("leaky_relu", lambda x, a, b, g: np.where(x >= 0, x, a * x), (0.01,)),
    "Clip": ("clip", lambda x, a, b, g: np.clip(x, a, b), (-np.inf, np.inf)),
    "HardSigmoid": ("hard_sigmoid", lambda x, a, b, g: np.clip(a * x + b, 0, 1), (0.2, 0.5)),
    "Elu": (None, lambda x, a, b, g: np.where(x > 0, x, a * np.expm1(np.minimum(x, 0))), (1.0,)),
    "Selu": (None, lambda x, a, b, g: g * np.where(x > 0, x, a * np.expm1(np.minimum(x, 0))),
             (1.67326319217681884765625, None, 1.05070102214813232421875)),
    "Softplus": (None, lambda x, a, b, g: np.logaddexp(0, x), ()),
    "Softsign": (None, lambda x, a, b, g: x / (1 + np.abs(x)), ()),
    "ThresholdedRelu": (None, lambda x, a, b, g: np.where(x > a, x, 0), (1.0,)),
    "ScaledTanh": (None, lambda x, a, b, g: a * np.tanh(b * x), (1.0, 1.0)),
}


def _activation(op: Op, name: str, params: list):
    """(kernel epilogue kwargs or None, NumPy activation or None) for onnxruntime's activation."""
    if not name:
        return None, None
    if name not in ACTIVATIONS:
        raise op.model_error(f"attribute activation {name!r} is not one of {', '.join(ACTIVATIONS)}")
    kernel, fn, defaults = ACTIVATIONS[name]
    values = [p if p is not None else d for p, d in zip(params + [None] * 3, list(defaults) + [None] * 3)][:3]
    a, b, g = (values + [None, None, None])[:3]
    if kernel == "leaky_relu":
        return {"activation": kernel, "activation_alpha": a}, None
    if kernel == "clip":
        return {"activation": kernel, "clip_min": a, "clip_max": b}, None
    if kernel == "hard_sigmoid":
        return {"activation": kernel, "activation_alpha": a, "activation_beta": b}, None
    if kernel is not None:
        return {"activation": kernel}, None
    return None, lambda x: fn(x.astype(np.float64), a, b, g).astype(x.dtype)


@register("FusedConv", 1, domain=MS)
class FusedConv(Conv):
    """Y = activation(Conv(X, W) + B + Z); activation_params: LeakyRelu [alpha], Clip [min, max],
    HardSigmoid [alpha, beta]."""

    def setup(self):
        super().setup()
        params = [float(p) for p in self.attr("activation_params", [])]
        epilogue, self.after = _activation(self, self.attr("activation", ""), params)
        if epilogue:
            name = epilogue.pop("activation")
            self.set_epilogue(name, **epilogue)

    def run(self, x, w, b=None, z=None):
        (y,) = super().run(x, w, b, z)
        return (self.after(y) if self.after else y,)


@register("FusedGemm", 1, domain=MS)
class FusedGemm(Gemm):
    """Y = activation(alpha op(A) op(B) + beta C), activation_alpha / _beta / _gamma its parameters."""

    def setup(self):
        super().setup()
        self.broadcast = True  # C broadcasts (Gemm-7+ semantics)
        params = [self.attr(f"activation_{p}", None) for p in ("alpha", "beta", "gamma")]
        epilogue, self.after = _activation(self, self.attr("activation", ""),
                                           [None if p is None else float(p) for p in params])
        if epilogue:
            name = epilogue.pop("activation")
            self.set_epilogue(name, **epilogue)

    def run(self, a, b, c=None):
        (y,) = super().run(a, b, c)
        return (self.after(y) if self.after else y,)


def _transposed(x: np.ndarray, trans: bool, trans_batch: bool) -> np.ndarray:
    """onnxruntime's op(): transBatch moves the first axis next to the last ([B, M, K] -> [M, B, K]
    read as batch M), trans swaps the last two axes."""
    if trans_batch and x.ndim > 2:
        x = np.moveaxis(x, 0, -2)
    if trans and x.ndim >= 2:
        x = np.swapaxes(x, -1, -2)
    return x


@register("FusedMatMul", 1, domain=MS)
class FusedMatMul(Op):
    """Y = alpha * op(A) @ op(B), numpy.matmul broadcasting."""

    def setup(self):
        self.alpha = float(self.attr("alpha", 1.0))
        self.trans = (bool(self.attr("transA", 0)), bool(self.attr("transB", 0)))
        self.trans_batch = (bool(self.attr("transBatchA", 0)), bool(self.attr("transBatchB", 0)))

    def run(self, a, b):
        if not isinstance(a, np.ndarray) or not isinstance(b, np.ndarray) or a.dtype != b.dtype \
                or a.dtype.kind != "f":
            raise self.run_error(f"A and B must be float tensors of one dtype, got {getattr(a, 'dtype', None)} and "
                                 f"{getattr(b, 'dtype', None)}")
        a2 = _transposed(a, self.trans[0], self.trans_batch[0])
        b2 = _transposed(b, self.trans[1], self.trans_batch[1])
        if a2.shape[-1] != (b2.shape[0] if b2.ndim == 1 else b2.shape[-2]):
            raise self.run_error(f"op(A) {list(a2.shape)} and op(B) {list(b2.shape)} cannot be multiplied "
                                 f"(transA={int(self.trans[0])}, transB={int(self.trans[1])})")
        if a.dtype == np.float32:
            y = kernels.matmul(np.ascontiguousarray(a2), np.ascontiguousarray(b2), num_threads=self.num_threads)
        else:
            y = np.matmul(a2, b2)
        if self.alpha != 1.0:
            y = y * y.dtype.type(self.alpha)
        return (np.asarray(y, dtype=a.dtype),)


@register("TransposeMatMul", 1, domain=MS)
class TransposeMatMul(FusedMatMul):
    """FusedMatMul's older name (alpha, transA, transB)."""

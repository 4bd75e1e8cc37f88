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
from ..epilogue import Act, parameter_names
from ..gemm import Gemm
from . import MS


# The activations onnxruntime's fusions write (its names are ONNX op types: kernels.Activation).
_ORT_ACTIVATIONS = ("Relu", "Tanh", "Sigmoid", "LeakyRelu", "Clip", "HardSigmoid", "Elu", "Selu", "Softplus",
                    "Softsign", "ThresholdedRelu", "ScaledTanh")


def _activation(op: Op, name: str, params: list):
    """(kernel epilogue kwargs or None, the activation applied after the op or None) for
    onnxruntime's activation `name` with its parameters [alpha, beta, gamma] (None: default).
    Activations the epilogues do not fuse run the same activation kernel after the op."""
    if not name:
        return None, None
    if name not in _ORT_ACTIVATIONS:
        raise op.model_error(f"attribute activation {name!r} is not one of {', '.join(_ORT_ACTIVATIONS)}")
    act = Act.from_onnx(name)
    alpha, beta, gamma = (list(params) + [None] * 3)[:3]
    a, b = (alpha, gamma) if act == Act.SELU else (alpha, beta)  # Selu's second parameter is gamma
    if act.fuses:
        kw = {k: v for k, v in zip(parameter_names(act), (a, b)) if v is not None}
        return {"activation": act.kernel_name, **kw}, None

    def after(y):
        y32 = np.ascontiguousarray(y, dtype=np.float32)  # onnxruntime fuses these for float only
        return kernels.prepare_activation(act, y32.shape, a, b)(y32, num_threads=op.num_threads).astype(y.dtype)
    return None, after


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

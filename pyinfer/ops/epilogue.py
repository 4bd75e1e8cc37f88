"""Fused epilogues for Conv / Gemm / MatMul / BatchNormalization: y = act(op(...) + residual).

The graph layer may fold a following activation (and a residual Add) into one of these ops
by calling ``op.set_epilogue(activation, **params)`` and passing the residual tensor as an
extra last input to ``run``. float32 runs it inside the C++ kernels while each output tile
is in cache; other dtypes apply the same formula with NumPy afterwards (apply_numpy: the NumPy
reference of each activation the kernels fuse).
"""
from __future__ import annotations

import math

import numpy as np

from .. import kernels

Act = kernels.Activation


def parameter_names(act) -> tuple:
    """The kernel keyword arguments an epilogue activation takes (act: a kernels.Activation)."""
    if act == Act.CLIP:
        return ("clip_min", "clip_max")
    return ("activation_alpha", "activation_beta")[:act.param_count]


def epilogue_activation(name: str):
    """The kernels.Activation a kernel-API name stands for ('relu6' is Clip), or None."""
    if name == "relu6":
        return Act.CLIP
    return getattr(Act, name.upper(), None) if name.islower() else None


def check_epilogue(op, activation: str, params: dict) -> dict:
    """The keyword arguments for the kernels; raises the op's model error on bad input. The names
    are the kernels' (pyinfer.kernels.Activation: the one vocabulary), the activation one a fused
    epilogue applies."""
    act = epilogue_activation(activation)
    if act is None or not act.fuses:
        fusable = ", ".join(["relu6"] + [a.kernel_name for a in Act.__members__.values() if a.fuses])
        raise op.model_error(f"unknown fused activation {activation!r} (expected one of {fusable})")
    allowed = () if activation == "relu6" else parameter_names(act)
    extra = set(params) - set(allowed)
    if extra:
        raise op.model_error(f"fused activation {activation!r} takes no parameter(s) {sorted(extra)}")
    return {"activation": activation, **{k: float(v) for k, v in params.items() if v is not None}}


def apply_numpy(y: np.ndarray, residual, kw: dict) -> np.ndarray:
    """The epilogue in y's own dtype (for dtypes the kernels do not take)."""
    if residual is not None:
        y = y + residual
    act = kw.get("activation", "none")
    t = y.dtype.type
    if act == "relu":
        y = np.maximum(y, t(0))
    elif act == "relu6":
        y = np.clip(y, t(0), t(6))
    elif act == "clip":
        y = np.clip(y, t(kw.get("clip_min", -np.inf)), t(kw.get("clip_max", np.inf)))
    elif act == "leaky_relu":
        y = np.where(y >= 0, y, y * t(kw.get("activation_alpha", 0.01)))
    elif act == "sigmoid":
        y = 1 / (1 + np.exp(-y))
    elif act == "tanh":
        y = np.tanh(y)
    elif act == "hard_sigmoid":
        y = np.clip(y * t(kw.get("activation_alpha", 0.2)) + t(kw.get("activation_beta", 0.5)), t(0), t(1))
    elif act == "hard_swish":
        y = y * np.clip(y / t(6) + t(0.5), t(0), t(1))
    elif act == "gelu":
        erf = np.vectorize(math.erf, otypes=[np.float64])
        y = (0.5 * y * (1 + erf(y / math.sqrt(2)))).astype(y.dtype)
    elif act == "gelu_tanh":
        y = t(0.5) * y * (t(1) + np.tanh(t(math.sqrt(2 / math.pi)) * (y + t(0.044715) * y ** 3)))
    elif act == "silu":
        y = y / (1 + np.exp(-y))
    elif act == "mish":
        y = y * np.tanh(np.logaddexp(t(0), y))
    return np.asarray(y, dtype=y.dtype)

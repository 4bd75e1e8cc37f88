"""Small numeric helpers shared by op modules (attention, loss, vision, activation, pool...).

Policy (the same as gemm.py): float64 computes in float64, float32 in float32 (matrix
products on the C++ sgemm), float16 / bfloat16 in float32 with one rounding at the end.
"""
from __future__ import annotations

import numpy as np
import onnx

from .. import kernels


def is_half(dtype: np.dtype) -> bool:
    """float16 and bfloat16: computed through the float32 kernels."""
    return dtype == np.float16 or dtype.name == "bfloat16"


def is_float_dtype(dtype: np.dtype) -> bool:
    """IEEE floats and ml_dtypes' bfloat16 (whose numpy kind is 'V')."""
    return np.issubdtype(dtype, np.floating) or dtype.name == "bfloat16"


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype arithmetic on `dtype` data runs in."""
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


def to_compute(x: np.ndarray, dtype: np.dtype | None = None) -> np.ndarray:
    return np.asarray(x).astype(dtype or compute_dtype(x.dtype), copy=False)


def matmul(a: np.ndarray, b: np.ndarray, num_threads: int = 0) -> np.ndarray:
    """np.matmul semantics; float32 operands go to the C++ kernel."""
    if a.dtype == np.float32 and b.dtype == np.float32:
        return kernels.matmul(a, b, num_threads=num_threads)
    return np.matmul(a, b)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function without overflow warnings for large |x|."""
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def masked_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax along `axis`; a row that is entirely -inf gives zeros instead of NaN."""
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    m = np.where(np.isneginf(m), 0, m)
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.exp(x - m)
    s = np.sum(e, axis=axis, keepdims=True)
    return e / np.where(s == 0, 1, s)


def np_dtype_of(tensor_type: int) -> np.dtype:
    return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor_type))

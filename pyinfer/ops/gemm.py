"""Gemm and MatMul.

float32 runs on the C++ sgemm (pyinfer.kernels.gemm / matmul). Other dtypes use NumPy:
float64 as is, float16 / bfloat16 through float32 (one rounding at the end), integers in
their own dtype (wrapping like C), and the output dtype is always the input dtype.
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..registry import register
from .base import Op


def _as_array(x) -> np.ndarray:
    return x if isinstance(x, np.ndarray) else np.asarray(x)


def _is_low_float(dtype: np.dtype) -> bool:
    """float16, bfloat16 (ml_dtypes) and other floats narrower than float32."""
    return dtype != np.float32 and dtype != np.float64 and (
        np.issubdtype(dtype, np.floating) or dtype.name == "bfloat16"
    )


@register("Gemm", 1, 6, 7, 9, 11, 13)
class Gemm(Op):
    """Y = alpha * op(A) @ op(B) + beta * C; C broadcasts unidirectionally to (M, N).

    Gemm-1/6 have a `broadcast` attribute: 0 means C must already be (M, N).
    C is optional from Gemm-11 on.
    """

    def setup(self):
        self.alpha = float(self.attr("alpha", 1.0))
        self.beta = float(self.attr("beta", 1.0))
        self.trans_a = bool(self.attr("transA", 0))
        self.trans_b = bool(self.attr("transB", 0))
        self.broadcast = bool(self.attr("broadcast", 0)) if self.version < 7 else True

    def _check(self, a, b, c):
        if a.ndim != 2 or b.ndim != 2:
            raise self.run_error(f"A and B must be 2-D, got shapes {a.shape} and {b.shape}")
        m, k = a.shape[::-1] if self.trans_a else a.shape
        kb, n = b.shape[::-1] if self.trans_b else b.shape
        if k != kb:
            raise self.run_error(
                f"inner dimensions differ: op(A) is {m}x{k}, op(B) is {kb}x{n} "
                f"(transA={int(self.trans_a)}, transB={int(self.trans_b)})"
            )
        if a.dtype != b.dtype or (c is not None and c.dtype != a.dtype):
            dts = [str(x.dtype) for x in (a, b, c) if x is not None]
            raise self.run_error(f"inputs must share one dtype, got {dts}")
        if c is not None:
            if not self.broadcast and c.shape != (m, n):
                raise self.run_error(f"C has shape {c.shape}; without broadcast it must be {(m, n)}")
            if c.ndim > 2 or any(d not in (1, want) for d, want in zip(c.shape[::-1], (n, m))):
                raise self.run_error(f"C of shape {c.shape} does not broadcast to {(m, n)}")

    def run(self, a, b, c=None):
        a, b = _as_array(a), _as_array(b)
        c = None if c is None else _as_array(c)
        self._check(a, b, c)
        if a.dtype == np.float32:
            y = kernels.gemm(a, b, c, alpha=self.alpha, beta=self.beta, trans_a=self.trans_a,
                             trans_b=self.trans_b, num_threads=self.num_threads)
            return (y,)
        return (self._run_numpy(a, b, c),)

    def _run_numpy(self, a, b, c):
        dtype = a.dtype
        if _is_low_float(dtype):  # compute in float32, round once
            a, b = a.astype(np.float32), b.astype(np.float32)
            c = None if c is None else c.astype(np.float32)
            y = kernels.gemm(a, b, c, alpha=self.alpha, beta=self.beta, trans_a=self.trans_a,
                             trans_b=self.trans_b, num_threads=self.num_threads)
            return y.astype(dtype)
        op_a = a.T if self.trans_a else a
        op_b = b.T if self.trans_b else b
        y = np.matmul(op_a, op_b)
        if np.issubdtype(dtype, np.integer):
            # Exact integer arithmetic when alpha/beta are 1; otherwise like the ONNX
            # reference: scale in float64 and truncate back.
            if self.alpha != 1.0:
                y = y * self.alpha
            if c is not None and self.beta != 0.0:
                y = y + (c if self.beta == 1.0 and y.dtype == dtype else c * self.beta)
            return np.asarray(y).astype(dtype)
        y = y * dtype.type(self.alpha)
        if c is not None and self.beta != 0.0:
            y = y + c * dtype.type(self.beta)
        return np.asarray(y, dtype=dtype)


@register("MatMul", 1, 9, 13)
class MatMul(Op):
    """numpy.matmul semantics (1-D promotion, batch broadcasting)."""

    def run(self, a, b):
        a, b = _as_array(a), _as_array(b)
        if a.ndim == 0 or b.ndim == 0:
            raise self.run_error(f"inputs must have rank >= 1, got shapes {a.shape} and {b.shape}")
        if a.dtype != b.dtype:
            raise self.run_error(f"inputs must share one dtype, got {a.dtype} and {b.dtype}")
        self._check_shapes(a.shape, b.shape)
        if a.dtype == np.float32:
            return (kernels.matmul(a, b, num_threads=self.num_threads),)
        if _is_low_float(a.dtype):
            y = kernels.matmul(a.astype(np.float32), b.astype(np.float32), num_threads=self.num_threads)
            return (y.astype(a.dtype),)
        return (np.asarray(np.matmul(a, b), dtype=a.dtype),)

    def _check_shapes(self, sa, sb):
        ka = sa[-1]
        kb = sb[0] if len(sb) == 1 else sb[-2]
        ok = ka == kb
        ba, bb = sa[:-2], sb[:-2]
        for x, y in zip(ba[::-1], bb[::-1]):
            ok = ok and (x == y or x == 1 or y == 1)
        if not ok:
            raise self.run_error(f"shapes {tuple(sa)} and {tuple(sb)} cannot be multiplied")

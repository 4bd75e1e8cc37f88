"""Gemm and MatMul.

float32 runs on the C++ sgemm (pyinfer.kernels.gemm / matmul). Other dtypes use NumPy:
float64 as is, float16 / bfloat16 through float32 (one rounding at the end), integers in
their own dtype (wrapping like C), and the output dtype is always the input dtype.

A constant float32 B (a weight initializer) is packed once at setup (kernels.PackedMatrix),
and Gemm's constant C of shape (N,) / (1, N) becomes the kernel's fused per-column bias.
Both ops take a fused epilogue (set_epilogue: activation, residual as an extra last input).
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..errors import KernelArgumentError
from ..lowering import Extra, Native
from ..registry import register
from . import epilogue
from .base import Op

# Narrower constant B stays unpacked: a packed panel is this wide at least (zero-padded), and
# matrix-vector products have their own kernel.
_MIN_PACKED_N = 8


def _pack_constant(op, index: int, trans: bool):
    """(PackedMatrix, source array) for a 2-D float32 constant input, else (None, None)."""
    b = op.const_input(index)
    if not isinstance(b, np.ndarray) or b.dtype != np.float32 or b.ndim != 2:
        return None, None
    if (b.shape[0] if trans else b.shape[1]) < _MIN_PACKED_N:
        return None, None
    try:
        return kernels.PackedMatrix(b, trans=trans, num_threads=op.num_threads), b
    except KernelArgumentError:
        return None, None


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
        self.epilogue = {}
        self._packed, self._packed_source = _pack_constant(self, 1, self.trans_b)
        # A constant C that is one row (N,) / (1, N): beta * C is the fused per-column bias.
        self._bias, self._bias_source = None, None
        c = self.const_input(2)
        if (self._packed is not None and isinstance(c, np.ndarray) and c.dtype == np.float32
                and c.ndim in (1, 2) and c.shape[-1] == self._packed.shape[1] and c.size == c.shape[-1]
                and c.shape[-1] > 1):
            self._bias = np.ascontiguousarray((c.reshape(-1) * np.float32(self.beta)).astype(np.float32))
            self._bias_source = c

    def set_epilogue(self, activation: str = "none", **params):
        """Fuse Y = act(Gemm + residual); the residual comes as an extra 4th input."""
        self.epilogue = epilogue.check_epilogue(self, activation, params)

    def lower(self, node):
        # Gemm before version 7 broadcasts C only with its `broadcast` attribute; pyinfer's own
        # FusedGemm (version 1 of its domain) has the current semantics.
        if (self.op_type == "Gemm" and self.version < 7) or not node.float32(0, 1, 2, 3):
            return None
        a, b = node.inputs[0], node.inputs[1]
        c = node.inputs[2] if node.present(2) else None
        res = node.present(3)
        if a.ndim != 2 or b is None or b.ndim != 2 or (c is not None and c.ndim > 2):
            return None
        # The packed weights (and the bias folded from C) serve only when the plan feeds those very arrays.
        packed = self._packed is not None and node.const(1) is self._packed_source
        bias = packed and self._bias is not None and c is not None and node.const(2) is self._bias_source
        use_c = c is not None and self.beta != 0.0 and not bias
        k = kernels.prepare_gemm(list(a.shape), self._packed if packed else list(b.shape), self.trans_a,
                                 self.trans_b and not packed, self.alpha, self.beta,
                                 list(c.shape) if use_c else None, bias=bias, residual=res, **self.epilogue)
        return Native(k, [0, None if packed else 1, 2 if use_c else None, Extra(self._bias) if bias else None,
                          3 if res else None], reshapable=True)

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

    def run(self, a, b, c=None, residual=None):
        a_in, b_in, c_in = a, b, c
        a, b = _as_array(a), _as_array(b)
        c = None if c is None else _as_array(c)
        self._check(a, b, c)
        if a.dtype == np.float32:
            kw = dict(self.epilogue, residual=residual)
            if self._packed is not None and b_in is self._packed_source:
                b = self._packed
                if self._bias is not None and c_in is self._bias_source:
                    c, kw["bias"] = None, self._bias
                y = kernels.gemm(a, b, c, alpha=self.alpha, beta=self.beta, trans_a=self.trans_a,
                                 num_threads=self.num_threads, **kw)
            else:
                y = kernels.gemm(a, b, c, alpha=self.alpha, beta=self.beta, trans_a=self.trans_a,
                                 trans_b=self.trans_b, num_threads=self.num_threads, **kw)
            return (y,)
        y = self._run_numpy(a, b, c)
        if self.epilogue or residual is not None:
            y = epilogue.apply_numpy(y, residual, self.epilogue)
        return (y,)

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

    def setup(self):
        self.epilogue = {}
        self._packed, self._packed_source = _pack_constant(self, 1, False)

    def set_epilogue(self, activation: str = "none", **params):
        """Fuse Y = act(MatMul + residual); the residual comes as an extra 3rd input."""
        self.epilogue = epilogue.check_epilogue(self, activation, params)

    def run(self, a, b, residual=None):
        b_in = b
        a, b = _as_array(a), _as_array(b)
        if a.ndim == 0 or b.ndim == 0:
            raise self.run_error(f"inputs must have rank >= 1, got shapes {a.shape} and {b.shape}")
        if a.dtype != b.dtype:
            raise self.run_error(f"inputs must share one dtype, got {a.dtype} and {b.dtype}")
        self._check_shapes(a.shape, b.shape)
        if a.dtype == np.float32:
            if self._packed is not None and b_in is self._packed_source:
                b = self._packed
            return (kernels.matmul(a, b, num_threads=self.num_threads, residual=residual, **self.epilogue),)
        if _is_low_float(a.dtype):
            y = kernels.matmul(a.astype(np.float32), b.astype(np.float32), num_threads=self.num_threads)
        else:
            y = np.asarray(np.matmul(a, b), dtype=a.dtype)
        if self.epilogue or residual is not None:
            y = epilogue.apply_numpy(y.astype(np.float32) if _is_low_float(a.dtype) else y,
                                     None if residual is None else residual.astype(y.dtype), self.epilogue)
        return (y.astype(a.dtype),)

    def lower(self, node):
        if not node.float32(0, 1, 2):
            return None
        a, b = node.inputs[0], node.inputs[1]
        res = node.present(2)
        if b is None:
            return None
        packed = self._packed is not None and node.const(1) is self._packed_source
        k = kernels.prepare_matmul(list(a.shape), self._packed if packed else list(b.shape), residual=res,
                                   **self.epilogue)
        return Native(k, [0, None if packed else 1, None, 2 if res else None], reshapable=True)

    def _check_shapes(self, sa, sb):
        ka = sa[-1]
        kb = sb[0] if len(sb) == 1 else sb[-2]
        ok = ka == kb
        ba, bb = sa[:-2], sb[:-2]
        for x, y in zip(ba[::-1], bb[::-1]):
            ok = ok and (x == y or x == 1 or y == 1)
        if not ok:
            raise self.run_error(f"shapes {tuple(sa)} and {tuple(sb)} cannot be multiplied")

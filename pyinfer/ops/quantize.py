"""Quantization operators: QuantizeLinear / DequantizeLinear (per-tensor, per-axis, blocked; integer,
2/4-bit, float8/6/4 targets), DynamicQuantizeLinear, and the integer products MatMulInteger,
ConvInteger, QLinearMatMul, QLinearConv.

Everything is NumPy. Integer products accumulate exactly in int64 (the spec lets accumulation wrap
only in 32 bits, so the int32 results are cast at the end). Sub-byte and float8/6/4 types are the
ml_dtypes scalar types onnx itself uses (onnx.helper.tensor_dtype_to_np_dtype).
"""
from __future__ import annotations

import ml_dtypes
import numpy as np
from onnx import helper

from ..registry import register
from .base import Op
from .int_inputs import axis_in_range
from .pool import resolve_pads

# Integer quantized types: numpy dtype -> saturation range.
_INT_RANGES = {
    np.dtype(np.uint8): (0, 255), np.dtype(np.int8): (-128, 127),
    np.dtype(np.uint16): (0, 65535), np.dtype(np.int16): (-32768, 32767),
    np.dtype(ml_dtypes.uint4): (0, 15), np.dtype(ml_dtypes.int4): (-8, 7),
    np.dtype(ml_dtypes.uint2): (0, 3), np.dtype(ml_dtypes.int2): (-2, 1),
    np.dtype(np.int32): (-(2 ** 31), 2 ** 31 - 1),  # DequantizeLinear input only
}
_FLOAT8 = {np.dtype(t) for t in (ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e4m3fnuz,
                                 ml_dtypes.float8_e5m2, ml_dtypes.float8_e5m2fnuz)}
# No inf/NaN-free fallback exists for these: a cast always saturates.
_SMALL_FLOATS = {np.dtype(t) for t in (ml_dtypes.float4_e2m1fn, ml_dtypes.float6_e2m3fn,
                                       ml_dtypes.float6_e3m2fn)}
_E8M0 = np.dtype(ml_dtypes.float8_e8m0fnu)
_BF16 = np.dtype(ml_dtypes.bfloat16)
_HIGH_FLOATS = {np.dtype(np.float32), np.dtype(np.float16), _BF16}


def _names(*types):
    return {np.dtype(t) for t in types}


_U8_I8 = _names(np.uint8, np.int8)
_F8_NAMES = _FLOAT8
# Quantized types (QuantizeLinear output / DequantizeLinear input) per schema since_version.
_Q_TYPES = {10: _U8_I8, 13: _U8_I8, 19: _U8_I8 | _F8_NAMES}
_Q_TYPES[21] = _Q_TYPES[19] | _names(np.int16, np.uint16, ml_dtypes.int4, ml_dtypes.uint4)
_Q_TYPES[23] = _Q_TYPES[21] | _names(ml_dtypes.float4_e2m1fn)
_Q_TYPES[24] = _Q_TYPES[23]
_Q_TYPES[25] = _Q_TYPES[24] | _names(ml_dtypes.int2, ml_dtypes.uint2)
_Q_TYPES[28] = _Q_TYPES[25] | _names(ml_dtypes.float6_e2m3fn, ml_dtypes.float6_e3m2fn)


def _dtype_name(dt) -> str:
    return np.dtype(dt).name


def expand_param(op: Op, p: np.ndarray, shape: tuple, axis: int, block_size: int, what: str,
                 allow_axis: bool = True, allow_blocked: bool = True) -> np.ndarray:
    """A scale / zero point made broadcastable to `shape`: scalar (per tensor), 1-D along `axis`
    (per axis) or same rank with `axis` blocked by `block_size` (blocked)."""
    if p.size == 1 and p.ndim <= 1:
        return p.reshape(())
    rank = len(shape)
    if block_size > 0:
        if not allow_blocked:
            raise op.run_error(f"{what}: blocked quantization needs opset 21 or later")
        a = axis_in_range(op, axis, rank)
        if p.ndim != rank or any(p.shape[i] != shape[i] for i in range(rank) if i != a):
            raise op.run_error(f"{what} shape {list(p.shape)} must equal the input shape {list(shape)} "
                               f"except along the blocked axis {a}")
        nblocks = p.shape[a]
        if nblocks == 0 or -(-shape[a] // block_size) != nblocks:
            raise op.run_error(f"{what} has {nblocks} blocks along axis {a}, but an input dimension "
                               f"of {shape[a]} with block_size {block_size} needs {-(-shape[a] // block_size)}")
        return np.repeat(p, block_size, axis=a)[(slice(None),) * a + (slice(0, shape[a]),)]
    if p.ndim == 1 and allow_axis:
        if rank == 0:
            raise op.run_error(f"{what} has {p.size} values for a scalar input")
        a = axis_in_range(op, axis, rank)
        if p.shape[0] != shape[a]:
            raise op.run_error(f"{what} has {p.shape[0]} values, but input dimension {a} (axis) is {shape[a]}")
        return p.reshape([shape[a] if i == a else 1 for i in range(rank)])
    kinds = "a scalar" + (" or a 1-D tensor" if allow_axis else "") + (
        " (or, with block_size, the input's rank)" if allow_blocked else "")
    raise op.run_error(f"{what} must be {kinds}, got shape {list(p.shape)}")


def _same_granularity(zp: np.ndarray, scale: np.ndarray) -> bool:
    """Zero point and scale must have the same shape; a scalar and a one-element 1-D tensor
    both mean per-tensor."""
    per_tensor = zp.size == 1 and scale.size == 1 and zp.ndim <= 1 and scale.ndim <= 1
    return per_tensor or zp.shape == scale.shape


def _require_dtype(op: Op, arr: np.ndarray, allowed, what: str):
    if arr.dtype not in allowed:
        raise op.run_error(f"{what} has dtype {arr.dtype}; allowed: {sorted(_dtype_name(t) for t in allowed)}")


def saturate_int(v: np.ndarray, out_dtype) -> np.ndarray:
    """Round half to even, clip to the integer type's range, cast. NaN becomes 0 (no NaN in ints)."""
    lo, hi = _INT_RANGES[np.dtype(out_dtype)]
    v = np.rint(np.asarray(v, dtype=np.float64))
    v = np.nan_to_num(v, nan=0.0)
    return np.clip(v, lo, hi).astype(out_dtype)


def cast_to_float_type(v: np.ndarray, out_dtype, saturate: bool) -> np.ndarray:
    """float32/64 -> float8/6/4. saturate=True clamps out-of-range values (inf included) to the
    largest finite value; NaN stays NaN. saturate=False lets the cast produce inf/NaN (float8 only)."""
    out_dtype = np.dtype(out_dtype)
    v = np.asarray(v, dtype=np.float32)
    if saturate or out_dtype in _SMALL_FLOATS:
        info = ml_dtypes.finfo(out_dtype)
        v = np.clip(v, np.float32(info.min), np.float32(info.max))
    return v.astype(out_dtype)


def _to_float(a: np.ndarray) -> np.ndarray:
    """Quantized / scale values as float64 (exact for every type here)."""
    return a.astype(np.float64) if a.dtype.kind in "iub" else a.astype(np.float32).astype(np.float64)


# --- QuantizeLinear / DequantizeLinear ---------------------------------------------------------

@register("QuantizeLinear", 10, 13, 19, 21, 23, 24, 25, 28)
class QuantizeLinear(Op):
    def setup(self):
        v = self.version
        self.axis = self.attr("axis", 1) if v >= 13 else 1
        self.saturate = bool(self.attr("saturate", 1)) if v >= 19 else True
        self.block_size = self.attr("block_size", 0) if v >= 21 else 0
        if self.block_size < 0:
            raise self.model_error(f"block_size must be >= 0, got {self.block_size}")
        self.output_dtype = None
        code = self.attr("output_dtype", 0) if v >= 21 else 0
        if code:
            self.output_dtype = _np_type(self, code, "output_dtype")
            if self.output_dtype not in _Q_TYPES[v]:
                raise self.model_error(f"output_dtype {self.output_dtype} is not a quantized type "
                                       f"of QuantizeLinear-{v}")
        self.precision = None
        code = self.attr("precision", 0) if v >= 23 else 0
        if code:
            self.precision = _np_type(self, code, "precision")
            if self.precision not in _HIGH_FLOATS:
                raise self.model_error(f"precision must be float, float16 or bfloat16, got {self.precision}")

    def run(self, x, y_scale, y_zero_point=None):
        v = self.version
        x_types = _names(np.float32, np.int32) if v < 19 else _HIGH_FLOATS | _names(np.int32)
        _require_dtype(self, x, x_types, "x")
        scale_types = _names(np.float32) if v < 19 else (x_types if v < 24 else x_types | {_E8M0})
        _require_dtype(self, y_scale, scale_types, "y_scale")
        if 19 <= v < 23 and y_scale.dtype != x.dtype:
            raise self.run_error(f"y_scale dtype {y_scale.dtype} must match x dtype {x.dtype} in opset {v}")
        out_dtype = self.output_dtype or np.dtype(np.uint8)
        if y_zero_point is not None:
            _require_dtype(self, y_zero_point, _Q_TYPES[v], "y_zero_point")
            if self.output_dtype is not None and y_zero_point.dtype != self.output_dtype:
                raise self.run_error(f"y_zero_point dtype {y_zero_point.dtype} differs from "
                                     f"output_dtype {self.output_dtype}")
            if not _same_granularity(y_zero_point, y_scale):
                raise self.run_error(f"y_zero_point shape {list(y_zero_point.shape)} differs from "
                                     f"y_scale shape {list(y_scale.shape)}")
            out_dtype = y_zero_point.dtype

        args = dict(axis=self.axis, block_size=self.block_size, allow_axis=v >= 13, allow_blocked=v >= 21)
        scale = expand_param(self, y_scale, x.shape, what="y_scale", **args)
        # The division runs in `precision`, else in y_scale's type (float32 for int32 / e8m0 scales).
        prec = self.precision or (y_scale.dtype if y_scale.dtype in _HIGH_FLOATS else np.dtype(np.float32))
        q = x.astype(prec) / scale.astype(prec)
        zp = None if y_zero_point is None else expand_param(self, y_zero_point, x.shape, what="y_zero_point", **args)
        if out_dtype in _INT_RANGES:
            q = np.rint(q.astype(np.float64))
            if zp is not None:
                q = q + zp.astype(np.float64)
            return (saturate_int(q, out_dtype),)
        q = q.astype(np.float32)
        if zp is not None:
            q = q + zp.astype(np.float32)
        return (cast_to_float_type(q, out_dtype, self.saturate),)


@register("DequantizeLinear", 10, 13, 19, 21, 23, 24, 25, 28)
class DequantizeLinear(Op):
    def setup(self):
        v = self.version
        self.axis = self.attr("axis", 1) if v >= 13 else 1
        self.block_size = self.attr("block_size", 0) if v >= 21 else 0
        if self.block_size < 0:
            raise self.model_error(f"block_size must be >= 0, got {self.block_size}")
        self.output_dtype = None
        code = self.attr("output_dtype", 0) if v >= 23 else 0
        if code:
            self.output_dtype = _np_type(self, code, "output_dtype")
            if self.output_dtype not in _HIGH_FLOATS:
                raise self.model_error(f"output_dtype must be float, float16 or bfloat16, got {self.output_dtype}")

    def run(self, x, x_scale, x_zero_point=None):
        v = self.version
        _require_dtype(self, x, _Q_TYPES[v] | _names(np.int32), "x")
        scale_types = _names(np.float32) if v < 19 else (_HIGH_FLOATS if v < 24 else _HIGH_FLOATS | {_E8M0})
        _require_dtype(self, x_scale, scale_types, "x_scale")
        out_dtype = self.output_dtype or x_scale.dtype
        if out_dtype == _E8M0:
            raise self.run_error("a float8e8m0 x_scale needs the output_dtype attribute (float, float16 or bfloat16)")
        args = dict(axis=self.axis, block_size=self.block_size, allow_axis=v >= 13, allow_blocked=v >= 21)
        d = _to_float(x)
        if x_zero_point is not None:
            if x_zero_point.dtype != x.dtype:
                raise self.run_error(f"x_zero_point dtype {x_zero_point.dtype} differs from x dtype {x.dtype}")
            if not _same_granularity(x_zero_point, x_scale):
                raise self.run_error(f"x_zero_point shape {list(x_zero_point.shape)} differs from "
                                     f"x_scale shape {list(x_scale.shape)}")
            d = d - _to_float(expand_param(self, x_zero_point, x.shape, what="x_zero_point", **args))
        scale = _to_float(expand_param(self, x_scale, x.shape, what="x_scale", **args))
        # float64 holds (x - zp) * scale exactly for every type here but int32: one rounding, at the end.
        return ((d * scale).astype(out_dtype),)


def _np_type(op: Op, code: int, what: str) -> np.dtype:
    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(code))
    except Exception as e:
        raise op.model_error(f"{what}={code} is not a known ONNX tensor type") from e


def dynamic_quantize(op: Op, x: np.ndarray, what: str = "x"):
    """DynamicQuantizeLinear: (uint8 values, float32 scale, uint8 zero point) over x's range
    widened to include 0."""
    _require_dtype(op, x, _names(np.float32), what)
    if x.size and np.isnan(x).any():
        raise op.run_error(f"{what} contains NaN: the quantization range is undefined")
    qmin, qmax = np.float32(0), np.float32(255)
    # The range always includes 0, so 0 quantizes exactly.
    hi = np.float32(max(0.0, float(x.max()))) if x.size else np.float32(0)
    lo = np.float32(min(0.0, float(x.min()))) if x.size else np.float32(0)
    if not (np.isfinite(hi) and np.isfinite(lo)):
        raise op.run_error(f"{what} contains inf: the quantization range is undefined")
    # All-zero input: any scale works; 1 (as onnxruntime) avoids dividing by zero.
    scale = np.float32(1.0) if hi == lo else np.float32(hi - lo) / (qmax - qmin)
    zp = np.rint(np.clip(qmin - lo / scale, qmin, qmax))
    y = np.clip(np.rint(x / scale) + zp, qmin, qmax)
    return y.astype(np.uint8), np.array(scale, dtype=np.float32), np.array(zp, dtype=np.uint8)


@register("DynamicQuantizeLinear", 11)
class DynamicQuantizeLinear(Op):
    def run(self, x):
        return dynamic_quantize(self, x)


# --- integer products ---------------------------------------------------------------------------

def _shifted(op: Op, a: np.ndarray, zp, what: str, allowed=_U8_I8) -> np.ndarray:
    """a - zero_point in int64 (zp already broadcastable), checking dtypes."""
    _require_dtype(op, a, allowed, what)
    out = a.astype(np.int64)
    if zp is not None:
        if zp.dtype != a.dtype:
            raise op.run_error(f"the zero point of {what} has dtype {zp.dtype}, {what} has {a.dtype}")
        out = out - zp.astype(np.int64)
    return out


def _matmul_zp(op: Op, zp, a: np.ndarray, per: str, what: str):
    """MatMul zero point (or scale) -> broadcastable against a: scalar, 1-D per row of a / per
    column of b, or N-D ([.., M, 1] / [.., 1, N])."""
    if zp is None:
        return None
    if zp.size == 1 and zp.ndim <= 1:
        return zp.reshape(())
    if a.ndim < 2:
        raise op.run_error(f"{what} must be a scalar for a 1-D input, got shape {list(zp.shape)}")
    if zp.ndim == 1:
        n = a.shape[-2] if per == "row" else a.shape[-1]
        if zp.shape[0] != n:
            raise op.run_error(f"{what} has {zp.shape[0]} values; per-{per} quantization needs {n}")
        return zp.reshape(n, 1) if per == "row" else zp
    want = list(a.shape)
    want[-1 if per == "row" else -2] = 1
    try:
        np.broadcast_shapes(zp.shape, tuple(want))
    except ValueError:
        raise op.run_error(f"{what} shape {list(zp.shape)} does not broadcast to {want} "
                           f"(per-{per} quantization of an input of shape {list(a.shape)})") from None
    if zp.shape[-1 if per == "row" else -2] != 1:
        raise op.run_error(f"{what} shape {list(zp.shape)} must be 1 along the reduced axis")
    return zp


def _check_matmul(op: Op, a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise op.run_error("matmul inputs must have rank >= 1")
    ka = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        raise op.run_error(f"inner dimensions differ: A {list(a.shape)} @ B {list(b.shape)}")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise op.run_error(f"batch dimensions of A {list(a.shape)} and B {list(b.shape)} do not broadcast") from None


def integer_matmul(op: Op, a, b, a_zero_point=None, b_zero_point=None) -> np.ndarray:
    """(A - a_zero_point) @ (B - b_zero_point), exact, in int64; zero points per tensor, per row
    of A or per column of B."""
    _check_matmul(op, a, b)
    A = _shifted(op, a, _matmul_zp(op, a_zero_point, a, "row", "a_zero_point"), "A")
    B = _shifted(op, b, _matmul_zp(op, b_zero_point, b, "column", "b_zero_point"), "B")
    return np.matmul(A, B)


def per_column_scale(op: Op, scale, b: np.ndarray, what: str):
    """A scale per tensor or per column of B, broadcastable against the product."""
    return _matmul_zp(op, scale, b, "column", what)


@register("MatMulInteger", 10)
class MatMulInteger(Op):
    def run(self, a, b, a_zero_point=None, b_zero_point=None):
        # int64 accumulation is exact; the spec allows the int32 result to wrap.
        return (integer_matmul(self, a, b, a_zero_point, b_zero_point).astype(np.int32),)


def _requantize(acc: np.ndarray, multiplier: np.ndarray, y_zero_point: np.ndarray, out_dtype) -> np.ndarray:
    """y = saturate(round(acc * multiplier) + y_zp) for integer outputs; for float8 outputs the
    zero point is added in float and the value cast with saturation."""
    v = acc.astype(np.float64) * multiplier
    if np.dtype(out_dtype) in _INT_RANGES:
        return saturate_int(np.rint(v) + y_zero_point.astype(np.float64), out_dtype)
    return cast_to_float_type(v + _to_float(y_zero_point), out_dtype, True)


@register("QLinearMatMul", 10, 21)
class QLinearMatMul(Op):
    def run(self, a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point):
        q_types = _U8_I8 if self.version < 21 else _U8_I8 | _F8_NAMES
        scale_types = _names(np.float32) if self.version < 21 else _HIGH_FLOATS
        for s, what in ((a_scale, "a_scale"), (b_scale, "b_scale"), (y_scale, "y_scale")):
            _require_dtype(self, s, scale_types, what)
        _require_dtype(self, y_zero_point, q_types, "y_zero_point")
        _check_matmul(self, a, b)
        for zp, s, what in ((a_zero_point, a_scale, "a"), (b_zero_point, b_scale, "b"), (y_zero_point, y_scale, "y")):
            if not _same_granularity(zp, s):
                raise self.run_error(f"{what}_zero_point shape {list(zp.shape)} differs from "
                                     f"{what}_scale shape {list(s.shape)}")
        if y_scale.size != 1 or y_scale.ndim > 1:
            raise self.run_error(f"y_scale / y_zero_point must be scalars (per-tensor), "
                                 f"got shape {list(y_scale.shape)}")
        A = self._dequantized_ints(a, _matmul_zp(self, a_zero_point, a, "row", "a_zero_point"), "a", q_types)
        B = self._dequantized_ints(b, _matmul_zp(self, b_zero_point, b, "column", "b_zero_point"), "b", q_types)
        sa = _to_float(_matmul_zp(self, a_scale, a, "row", "a_scale"))
        sb = _to_float(_matmul_zp(self, b_scale, b, "column", "b_scale"))
        acc = np.matmul(A, B)
        if a.ndim == 1 and np.ndim(sa):  # matmul drops the row axis of a 1-D a
            sa = sa.reshape(-1)
        multiplier = sa * sb / _to_float(y_scale.reshape(()))
        return (_requantize(acc, multiplier, y_zero_point.reshape(()), y_zero_point.dtype),)

    def _dequantized_ints(self, a, zp, what, q_types):
        if a.dtype in _F8_NAMES:  # float8 "quantization": subtract in float
            _require_dtype(self, a, q_types, what)
            return _to_float(a) - (0.0 if zp is None else _to_float(zp))
        return _shifted(self, a, zp, what, q_types)


# --- integer convolution (NumPy im2col) ---------------------------------------------------------

class _IntConvAttrs(Op):
    """The Conv attributes shared by ConvInteger and QLinearConv."""

    def setup(self):
        self.auto_pad = self.attr("auto_pad", "NOTSET")
        if self.auto_pad not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
            raise self.model_error(f"unknown auto_pad {self.auto_pad!r}")
        self.group = self.attr("group", 1)
        if self.group < 1:
            raise self.model_error(f"group must be >= 1, got {self.group}")
        self.kernel_shape = self.attr("kernel_shape", None)
        self.pads = self.attr("pads", None)
        self.strides = self.attr("strides", None)
        self.dilations = self.attr("dilations", None)

    def conv(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Integer (int64) N-D convolution of already zero-point-shifted x (N, C, *S) and w (M, C/g, *K)."""
        if x.ndim < 3 or w.ndim != x.ndim:
            raise self.run_error(f"x must be (N, C, D1, ...) and w (M, C/group, k1, ...) of the same rank; "
                                 f"got x {list(x.shape)}, w {list(w.shape)}")
        nsp = x.ndim - 2
        kernel = list(w.shape[2:])
        if self.kernel_shape is not None and list(self.kernel_shape) != kernel:
            raise self.run_error(f"kernel_shape {self.kernel_shape} differs from the weight's {kernel}")
        strides = list(self.strides) if self.strides else [1] * nsp
        dil = list(self.dilations) if self.dilations else [1] * nsp
        if len(strides) != nsp or len(dil) != nsp or min(strides + dil) < 1:
            raise self.run_error(f"strides {strides} / dilations {dil} must be {nsp} positive values")
        if self.pads is not None and self.auto_pad == "NOTSET" and (len(self.pads) != 2 * nsp or min(self.pads) < 0):
            raise self.run_error(f"pads {self.pads} must be {2 * nsp} non-negative values")
        pads = resolve_pads(self.auto_pad, x.shape[2:], kernel, strides, dil, self.pads)
        n, c = x.shape[:2]
        m, g = w.shape[0], self.group
        if c != w.shape[1] * g or m % g:
            raise self.run_error(f"channels do not fit group={g}: x has {c}, w is {list(w.shape)}")
        xp = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[i + nsp]) for i in range(nsp)])
        extent = [(k - 1) * d + 1 for k, d in zip(kernel, dil)]
        out_sp = [(xp.shape[2 + i] - extent[i]) // strides[i] + 1 for i in range(nsp)]
        if min(out_sp) < 1:
            raise self.run_error(f"the (dilated) kernel {extent} does not fit the padded input {list(xp.shape[2:])}")
        win = np.lib.stride_tricks.sliding_window_view(xp, extent, axis=tuple(range(2, 2 + nsp)))
        win = win[(slice(None), slice(None))
                  + tuple(slice(0, o * s, s) for o, s in zip(out_sp, strides))
                  + tuple(slice(None, None, d) for d in dil)]  # (N, C, *O, *K)
        cg, mg = c // g, m // g
        k_axes = list(range(2 + nsp, 2 + 2 * nsp))
        outs = []
        for gi in range(g):
            cols = win[:, gi * cg:(gi + 1) * cg]
            wg = w[gi * mg:(gi + 1) * mg]
            y = np.tensordot(cols, wg, axes=([1] + k_axes, [1] + list(range(2, 2 + nsp))))  # (N, *O, Mg)
            outs.append(np.moveaxis(y, -1, 1))
        return np.concatenate(outs, axis=1) if g > 1 else outs[0]


def _conv_w_zp(op: Op, zp, m: int, what: str):
    """Weight zero point / scale: scalar or 1-D per output channel -> broadcastable to (M, 1, ...)."""
    if zp is None:
        return None
    if zp.size == 1 and zp.ndim <= 1:
        return zp.reshape(())
    if zp.ndim != 1 or zp.shape[0] != m:
        raise op.run_error(f"{what} must be a scalar or hold one value per output channel ({m}), "
                           f"got shape {list(zp.shape)}")
    return zp


def _scalar_param(op: Op, p, what: str):
    if p is None:
        return None
    if p.size != 1 or p.ndim > 1:
        raise op.run_error(f"{what} must be a scalar (per-tensor), got shape {list(p.shape)}")
    return p.reshape(())


@register("ConvInteger", 10)
class ConvInteger(_IntConvAttrs):
    def run(self, x, w, x_zero_point=None, w_zero_point=None):
        X = _shifted(self, x, _scalar_param(self, x_zero_point, "x_zero_point"), "x")
        if w.ndim < 1:
            raise self.run_error("w must have rank >= 3")
        wzp = _conv_w_zp(self, w_zero_point, w.shape[0], "w_zero_point")
        if wzp is not None and wzp.ndim == 1:
            wzp = wzp.reshape((-1,) + (1,) * (w.ndim - 1))
        W = _shifted(self, w, wzp, "w")
        return (self.conv(X, W).astype(np.int32),)


@register("QLinearConv", 10)
class QLinearConv(_IntConvAttrs):
    def run(self, x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B=None):
        for s, what in ((x_scale, "x_scale"), (w_scale, "w_scale"), (y_scale, "y_scale")):
            _require_dtype(self, s, _names(np.float32), what)
        _require_dtype(self, y_zero_point, _U8_I8, "y_zero_point")
        if w.ndim < 3:
            raise self.run_error(f"w must be (M, C/group, k1, ...), got shape {list(w.shape)}")
        m = w.shape[0]
        X = _shifted(self, x, _scalar_param(self, x_zero_point, "x_zero_point"), "x")
        wzp = _conv_w_zp(self, w_zero_point, m, "w_zero_point")
        ws = _conv_w_zp(self, w_scale, m, "w_scale")
        channel_shape = (-1,) + (1,) * (w.ndim - 2)  # per output channel, against y (N, M, *O)
        W = _shifted(self, w, None if wzp is None else wzp.reshape(channel_shape + (1,) if wzp.ndim else ()), "w")
        acc = self.conv(X, W)
        if B is not None:
            _require_dtype(self, B, _names(np.int32), "B")
            if B.shape != (m,):
                raise self.run_error(f"B must be 1-D with one value per output channel ({m}), "
                                     f"got shape {list(B.shape)}")
            acc = acc + B.astype(np.int64).reshape(channel_shape)
        xs = _to_float(_scalar_param(self, x_scale, "x_scale"))
        ysc = _to_float(_scalar_param(self, y_scale, "y_scale"))
        wsf = _to_float(ws if ws.ndim == 0 else ws.reshape(channel_shape))
        yzp = _scalar_param(self, y_zero_point, "y_zero_point")
        return (_requantize(acc, xs * wsf / ysc, yzp, y_zero_point.dtype),)

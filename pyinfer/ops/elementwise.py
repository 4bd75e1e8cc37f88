"""Elementwise arithmetic and math operators.

float32 goes through the C++ kernels (pyinfer.kernels: broadcasting, SIMD, threads); other
dtypes use NumPy, with the result cast back to the ONNX output dtype (NumPy promotes, ONNX
never does).
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..lowering import KeepPython, Native
from ..registry import register
from .base import Op

_MAX_KERNEL_RANK = 8  # the C++ broadcasting kernels' limit


def legacy_broadcast(op: Op, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Opset < 7 binary ops: without broadcast=1 the shapes must match; with it, B is broadcast
    onto A starting at `axis` (default: B's shape matches A's trailing dims). Returns B reshaped
    so that NumPy broadcasting does the same thing."""
    if op.version >= 7:
        return b
    if not op.attr("broadcast", 0):
        if a.shape != b.shape and b.size != 1:
            raise op.run_error(f"shapes {a.shape} and {b.shape} differ and broadcast is not set")
        return b
    axis = op.attr("axis", None)
    if axis is None or b.ndim == 0:
        return b
    if axis < 0:
        axis += a.ndim
    if not 0 <= axis <= a.ndim - b.ndim:
        raise op.run_error(f"axis {op.attr('axis')} does not place B {b.shape} inside A {a.shape}")
    return b.reshape((1,) * axis + b.shape + (1,) * (a.ndim - axis - b.ndim))


def use_kernel(*arrays) -> bool:
    return all(isinstance(x, np.ndarray) and x.dtype == np.float32 and x.ndim <= _MAX_KERNEL_RANK
               for x in arrays)


def as_dtype(result, dtype) -> np.ndarray:
    """NumPy's result as an array of exactly `dtype` (scalars included)."""
    return np.asarray(result).astype(dtype, copy=False)


# The integer kernel's ops (shape arithmetic: sizes, offsets computed from Shape).
_INT_KERNEL_OPS = ("add", "sub", "mul", "div", "maximum", "minimum")


def lower_binary(op: Op, node, kernel_op: str):
    """Two inputs broadcast NumPy-style (opset >= 7): float32 as kernels.prepare_binary, int32 /
    int64 arithmetic as kernels.prepare_int_binary."""
    if op.version < 7 or len(node.inputs) != 2 or node.inputs[1] is None:
        return None
    if max(node.inputs[0].ndim, node.inputs[1].ndim) > _MAX_KERNEL_RANK:
        return None
    if node.float32(0, 1):
        return Native(kernels.prepare_binary(kernel_op, node.shape(0), node.shape(1)), [0, 1],
                      reshapable=True)
    dtype = node.inputs[0].dtype
    if kernel_op in _INT_KERNEL_OPS and dtype in (np.int32, np.int64) and node.dtypes_in({dtype}, 0, 1):
        return Native(kernels.prepare_int_binary(kernel_op, node.shape(0), node.shape(1), dtype.name), [0, 1],
                      reshapable=True)
    return KeepPython(f"no {kernel_op} kernel for {dtype}")


class _Binary(Op):
    empty_tensors_ok = True
    kernel_op = ""  # the pyinfer.kernels function for float32: "add", ...

    def run(self, a, b):
        b = legacy_broadcast(self, a, b)
        if a.dtype != b.dtype:
            raise self.run_error(f"inputs have different dtypes {a.dtype} and {b.dtype}")
        if use_kernel(a, b):
            return (getattr(kernels, self.kernel_op)(a, b, num_threads=self.num_threads),)
        with np.errstate(all="ignore"):
            return (as_dtype(self.numpy(a, b), a.dtype),)

    def lower(self, node):
        return lower_binary(self, node, self.kernel_op)

    def numpy(self, a, b):
        raise NotImplementedError


@register("Add", 1, 6, 7, 13, 14)
class Add(_Binary):
    kernel_op = "add"

    def numpy(self, a, b):
        return np.add(a, b)


@register("Sub", 1, 6, 7, 13, 14)
class Sub(_Binary):
    kernel_op = "sub"

    def numpy(self, a, b):
        return np.subtract(a, b)


@register("Mul", 1, 6, 7, 13, 14)
class Mul(_Binary):
    kernel_op = "mul"

    def numpy(self, a, b):
        return np.multiply(a, b)


def int_div_trunc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer division rounding toward zero (C semantics, as ONNX wants); NumPy floors.
    Division by zero gives 0 instead of undefined behaviour."""
    safe_b = np.where(b == 0, 1, b).astype(b.dtype)
    q = np.floor_divide(a, safe_b)
    # floor and trunc differ when the signs differ and the division is inexact
    fix = (np.remainder(a, safe_b) != 0) & ((a < 0) != (safe_b < 0))
    q = q + fix.astype(q.dtype)
    return np.where(b == 0, 0, q)


@register("Div", 1, 6, 7, 13, 14)
class Div(_Binary):
    kernel_op = "div"

    def numpy(self, a, b):
        if np.issubdtype(a.dtype, np.integer):
            return int_div_trunc(a, b)
        return np.divide(a, b)


@register("Pow", 1, 7, 12, 13, 15)
class Pow(Op):
    """Y = X ** E with Y of X's dtype; since Pow-12 E may have another numeric dtype."""

    def run(self, x, e):
        e = legacy_broadcast(self, x, e)
        if x.dtype == np.float32 and e.dtype != np.float32 and e.dtype.kind in "iuf" and e.dtype.itemsize <= 4:
            e = e.astype(np.float32)  # exact for int8..int16, float16; int32 exponents lose nothing that matters
        if use_kernel(x, e):
            return (kernels.pow(x, e, num_threads=self.num_threads),)
        return self._run_numpy(x, e)

    def lower(self, node):
        return lower_binary(self, node, "pow")

    def _run_numpy(self, x, e):
        with np.errstate(all="ignore"):
            if x.dtype.kind in "iu":
                if e.dtype.kind in "iu" and not np.any(e < 0):
                    # integer power, wrapping like C (numpy keeps integer arithmetic)
                    return (as_dtype(np.power(x, e.astype(np.int64) if x.dtype.kind == "i" else e), x.dtype),)
                # fractional / negative exponents: compute in float64, truncate toward zero
                return (as_dtype(np.trunc(np.power(x.astype(np.float64), e.astype(np.float64))), x.dtype),)
            wide = np.promote_types(x.dtype, np.float32) if e.dtype.kind in "iu" else np.promote_types(x.dtype, e.dtype)
            return (as_dtype(np.power(x.astype(wide), e.astype(wide)), x.dtype),)


class _Unary(Op):
    empty_tensors_ok = True
    kernel_op = None  # the pyinfer.kernels function for float32 ("sqrt", ...), if any

    def run(self, x):
        if self.kernel_op is not None and x.dtype == np.float32:
            return (getattr(kernels, self.kernel_op)(x, num_threads=self.num_threads),)
        with np.errstate(all="ignore"):
            return (as_dtype(self.numpy(x), x.dtype),)

    def lower(self, node):
        if self.kernel_op is None or not node.float32(0):
            return KeepPython(f"no {self.op_type} kernel for {node.inputs[0].dtype}")
        return Native(kernels.prepare_math(self.kernel_op, node.shape(0)), [0], reshapable=True)

    def numpy(self, x):
        raise NotImplementedError


def _unary(op_type, versions, fn, kernel_op=None):
    cls = type(op_type, (_Unary,), {
        "kernel_op": kernel_op,
        "numpy": lambda self, x: fn(x),
        "__doc__": f"ONNX {op_type}: elementwise {fn.__name__}.",
    })
    return register(op_type, *versions)(cls)


Sqrt = _unary("Sqrt", (1, 6, 13), np.sqrt, "sqrt")
Exp = _unary("Exp", (1, 6, 13), np.exp, "exp")
Log = _unary("Log", (1, 6, 13), np.log, "log")
Abs = _unary("Abs", (1, 6, 13), np.abs, "abs")
Neg = _unary("Neg", (1, 6, 13), np.negative, "neg")
Reciprocal = _unary("Reciprocal", (1, 6, 13), np.reciprocal, "reciprocal")
Floor = _unary("Floor", (1, 6, 13), np.floor, "floor")
Ceil = _unary("Ceil", (1, 6, 13), np.ceil, "ceil")
Round = _unary("Round", (11, 22), np.round)  # numpy rounds half to even, as ONNX does
Sign = _unary("Sign", (9, 13), np.sign)
Sin = _unary("Sin", (7, 22), np.sin)
Cos = _unary("Cos", (7, 22), np.cos)
Tan = _unary("Tan", (7, 22), np.tan)
Asin = _unary("Asin", (7, 22), np.arcsin)
Acos = _unary("Acos", (7, 22), np.arccos)
Atan = _unary("Atan", (7, 22), np.arctan)
Sinh = _unary("Sinh", (9, 22), np.sinh)
Cosh = _unary("Cosh", (9, 22), np.cosh)
Asinh = _unary("Asinh", (9, 22), np.arcsinh)
Acosh = _unary("Acosh", (9, 22), np.arccosh)
Atanh = _unary("Atanh", (9, 22), np.arctanh)
BitwiseNot = _unary("BitwiseNot", (18,), np.invert)


class _Variadic(Op):
    """Max/Min/Sum/Mean over any number of inputs, broadcasting (opset >= 8)."""
    empty_tensors_ok = True

    kernel_op = ""  # the pyinfer.kernels function combining two float32 inputs
    numpy_fn = None

    def run(self, *inputs):
        inputs = [x for x in inputs if x is not None]
        if not inputs:
            raise self.run_error("needs at least one input")
        dtype = inputs[0].dtype
        if any(x.dtype != dtype for x in inputs):
            raise self.run_error(f"inputs have different dtypes {[str(x.dtype) for x in inputs]}")
        if self.version < 8 and any(x.shape != inputs[0].shape for x in inputs):
            raise self.run_error(f"opset < 8 needs equal shapes, got {[x.shape for x in inputs]}")
        acc = inputs[0]
        for x in inputs[1:]:
            if use_kernel(acc, x):
                acc = getattr(kernels, self.kernel_op)(acc, x, num_threads=self.num_threads)
            else:
                with np.errstate(all="ignore"):
                    acc = as_dtype(type(self).numpy_fn(acc, x), dtype)
        return (self.finish(np.array(acc, copy=len(inputs) == 1), len(inputs)),)

    def finish(self, acc, count):
        return acc

    def lower(self, node):  # two inputs: one broadcasting kernel (opset >= 8)
        if type(self).finish is not _Variadic.finish or self.version < 8 or len(node.inputs) != 2:
            return None
        return lower_binary(self, node, self.kernel_op)


@register("Max", 1, 6, 8, 12, 13)
class Max(_Variadic):
    kernel_op = "maximum"
    numpy_fn = staticmethod(np.maximum)


@register("Min", 1, 6, 8, 12, 13)
class Min(_Variadic):
    kernel_op = "minimum"
    numpy_fn = staticmethod(np.minimum)


@register("Sum", 1, 6, 8, 13)
class Sum(_Variadic):
    kernel_op = "add"
    numpy_fn = staticmethod(np.add)


@register("Mean", 1, 6, 8, 13)
class Mean(_Variadic):
    kernel_op = "add"
    numpy_fn = staticmethod(np.add)

    def finish(self, acc, count):
        return as_dtype(acc / acc.dtype.type(count), acc.dtype)


@register("Mod", 10, 13, 28)
class Mod(Op):
    """fmod=0: the result takes the divisor's sign (Python %, numpy.mod); fmod=1: the dividend's
    (C fmod). Integer modulo by zero gives 0 instead of undefined behaviour."""

    def setup(self):
        self.fmod = self.attr("fmod", 0)
        if self.fmod not in (0, 1):
            raise self.model_error(f"fmod must be 0 or 1, got {self.fmod}")

    def run(self, a, b):
        if a.dtype != b.dtype:
            raise self.run_error(f"inputs have different dtypes {a.dtype} and {b.dtype}")
        fn = np.fmod if self.fmod else np.mod
        with np.errstate(all="ignore"):
            if a.dtype.kind in "iu":
                safe_b = np.where(b == 0, 1, b).astype(b.dtype)
                return (as_dtype(np.where(b == 0, 0, fn(a, safe_b)), a.dtype),)
            return (as_dtype(fn(a, b), a.dtype),)


@register("BitShift", 11, 28)
class BitShift(Op):
    def setup(self):
        self.direction = self.attr("direction")
        if self.direction not in ("LEFT", "RIGHT"):
            raise self.model_error(f"direction must be 'LEFT' or 'RIGHT', got {self.direction!r}")

    def run(self, x, y):
        if x.dtype != y.dtype or x.dtype.kind not in "iu":
            raise self.run_error(f"needs two integer inputs of one dtype, got {x.dtype} and {y.dtype}")
        bits = x.dtype.itemsize * 8
        # shifting by >= the bit width is undefined in C; define it as 0 (or the sign fill)
        big = (y >= bits) | (y < 0)
        safe = np.where(big, 0, y).astype(y.dtype)
        if self.direction == "LEFT":
            out = np.where(big, 0, np.left_shift(x, safe))
        else:
            fill = np.where(x < 0, -1, 0) if x.dtype.kind == "i" else 0
            out = np.where(big, fill, np.right_shift(x, safe))
        return (as_dtype(out, x.dtype),)


def _bitwise(op_type, fn):
    class Bitwise(Op):
        def run(self, a, b):
            if a.dtype != b.dtype:
                raise self.run_error(f"inputs have different dtypes {a.dtype} and {b.dtype}")
            return (as_dtype(fn(a, b), a.dtype),)

    Bitwise.__name__ = Bitwise.__qualname__ = op_type
    return register(op_type, 18)(Bitwise)


BitwiseAnd = _bitwise("BitwiseAnd", np.bitwise_and)
BitwiseOr = _bitwise("BitwiseOr", np.bitwise_or)
BitwiseXor = _bitwise("BitwiseXor", np.bitwise_xor)


@register("IsNaN", 9, 13, 20)
class IsNaN(Op):
    def run(self, x):
        return (np.isnan(x.astype(np.float32) if x.dtype.kind == "V" else x),)


@register("IsInf", 10, 20)
class IsInf(Op):
    def setup(self):
        self.positive = self.attr("detect_positive", 1)
        self.negative = self.attr("detect_negative", 1)

    def run(self, x):
        if x.dtype.kind == "V" or x.dtype.itemsize == 1:  # float8 (ml_dtypes)
            x = x.astype(np.float32)
        inf = np.isinf(x)
        if not self.positive:
            inf &= x < 0
        if not self.negative:
            inf &= x > 0
        return (inf,)

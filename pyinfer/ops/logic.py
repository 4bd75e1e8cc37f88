"""Comparison and logic operators, Where, Einsum, and the type / constant-producing ops
(Cast, CastLike, Range, ConstantOfShape, Constant, EyeLike). run() is NumPy: these are cheap or
dtype-juggling ops where the exact ONNX semantics matter more than SIMD; in compiled plans the
comparisons, And / Or / Xor / Not, Where, Cast, Range and ConstantOfShape lower to C++ kernels
(csrc/elementwise/compare.cpp, cast.cpp, csrc/indexing/where.cpp, csrc/shape/) so that shape
arithmetic and masks do not return to Python.

Strings are object arrays of Python str (what onnx.numpy_helper.to_array gives).
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from .. import kernels
from ..errors import KernelArgumentError
from ..limits import check_allocation
from ..lowering import KERNEL_DTYPES, REAL_DTYPES, KeepPython, Native
from ..registry import register
from .base import Op
from .elementwise import legacy_broadcast


def _is_string(x: np.ndarray) -> bool:
    return x.dtype.kind in "OUS"


class _Compare(Op):
    empty_tensors_ok = True
    fn = None

    def run(self, a, b):
        b = legacy_broadcast(self, a, b)
        if _is_string(a) != _is_string(b) or (not _is_string(a) and a.dtype != b.dtype):
            raise self.run_error(f"inputs have different dtypes {a.dtype} and {b.dtype}")
        if _is_string(a):
            a, b = a.astype(np.str_), b.astype(np.str_)
        return (np.asarray(type(self).fn(a, b), dtype=np.bool_),)

    def lower(self, node):
        return _lower_compare(self, node, type(self).fn.__name__)


def _lower_compare(op: Op, node, kernel_op: str):
    """kernels.prepare_compare for two inputs of one kernel dtype (bool only where allowed)."""
    a, b = node.inputs
    allowed = REAL_DTYPES | {np.dtype(bool)} if kernel_op == "equal" else REAL_DTYPES
    if kernel_op in ("and", "or", "xor"):
        allowed = {np.dtype(bool)}
    if op.version < 7 or a.dtype != b.dtype or a.dtype not in allowed:
        return KeepPython(f"no kernel for {a.dtype} (opset {op.version})")
    try:
        return Native(kernels.prepare_compare(kernel_op, node.shape(0), node.shape(1), a.dtype.name), [0, 1],
                      reshapable=True)
    except KernelArgumentError:
        return None  # shapes that do not broadcast (run() reports it) or rank above the kernel's


def _compare(op_type, versions, fn):
    cls = type(op_type, (_Compare,), {"fn": staticmethod(fn), "__doc__": f"ONNX {op_type} ({fn.__name__})."})
    return register(op_type, *versions)(cls)


# The kernel names are numpy's function names (np.less_equal.__name__ == "less_equal").
Equal = _compare("Equal", (1, 7, 11, 13, 19), np.equal)
Less = _compare("Less", (1, 7, 9, 13), np.less)
LessOrEqual = _compare("LessOrEqual", (12, 16), np.less_equal)
Greater = _compare("Greater", (1, 7, 9, 13), np.greater)
GreaterOrEqual = _compare("GreaterOrEqual", (12, 16), np.greater_equal)


class _Logical(Op):
    fn = None

    def run(self, a, b):
        b = legacy_broadcast(self, a, b)
        if a.dtype != np.bool_ or b.dtype != np.bool_:
            raise self.run_error(f"needs bool inputs, got {a.dtype} and {b.dtype}")
        return (type(self).fn(a, b),)

    def lower(self, node):
        return _lower_compare(self, node, type(self).fn.__name__.removeprefix("logical_"))


And = register("And", 1, 7)(type("And", (_Logical,), {"fn": staticmethod(np.logical_and)}))
Or = register("Or", 1, 7)(type("Or", (_Logical,), {"fn": staticmethod(np.logical_or)}))
Xor = register("Xor", 1, 7)(type("Xor", (_Logical,), {"fn": staticmethod(np.logical_xor)}))


@register("Not", 1)
class Not(Op):
    def run(self, x):
        if x.dtype != np.bool_:
            raise self.run_error(f"needs a bool input, got {x.dtype}")
        return (np.logical_not(x),)

    def lower(self, node):
        return Native(kernels.prepare_logical_not(node.shape(0)), [0], reshapable=True)


@register("Where", 9, 16)
class Where(Op):
    empty_tensors_ok = True

    def run(self, cond, x, y):
        if cond.dtype != np.bool_:
            raise self.run_error(f"condition must be bool, got {cond.dtype}")
        if x.dtype != y.dtype:
            raise self.run_error(f"X and Y have different dtypes {x.dtype} and {y.dtype}")
        return (np.where(cond, x, y).astype(x.dtype, copy=False),)

    def lower(self, node):
        cond, x, y = node.inputs
        if cond.dtype != np.bool_ or x.dtype != y.dtype or x.dtype not in KERNEL_DTYPES:
            return KeepPython(f"no kernel for {x.dtype}")
        try:
            return Native(kernels.prepare_where(node.shape(0), node.shape(1), node.shape(2), x.dtype.name), [0, 1, 2],
                          reshapable=True)
        except KernelArgumentError:
            return None


@register("Einsum", 12, 28)
class Einsum(Op):
    def setup(self):
        self.equation = self.attr("equation").replace(" ", "")

    def run(self, *inputs):
        dtype = inputs[0].dtype
        if dtype.kind == "V":  # bfloat16 / float8 (ml_dtypes): einsum has no loops for them
            inputs = [x.astype(np.float32) for x in inputs]
        try:
            out = np.einsum(self.equation, *inputs, optimize=len(inputs) > 2)
        except ValueError as e:
            raise self.run_error(f"equation {self.equation!r} does not fit the inputs "
                                 f"{[x.shape for x in inputs]}: {e}") from e
        return (np.asarray(out).astype(dtype, copy=False),)


# --- casts ------------------------------------------------------------------------------

_FLOAT8 = {TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E4M3FNUZ, TensorProto.FLOAT8E5M2,
           TensorProto.FLOAT8E5M2FNUZ}
_FLOAT8E8M0 = getattr(TensorProto, "FLOAT8E8M0", None)


def _from_strings(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Parse strings ('3.14', '1e-5', 'INF', '-inf', 'NaN', case-insensitive) to `dtype`.
    Integer targets go through float64 then truncate ('100.5' -> 100), as the spec allows."""
    flat = [float(s.decode() if isinstance(s, bytes) else s) for s in x.reshape(-1)]
    as_float = np.array(flat, dtype=np.float64).reshape(x.shape)
    if np.dtype(dtype).kind in "iub":
        exact = np.array([int(s) if _is_int_literal(s) else None for s in x.reshape(-1)], dtype=object)
        if all(v is not None for v in exact):  # big int64 literals lose precision via float64
            return exact.reshape(x.shape).astype(dtype)
    return as_float.astype(dtype)


def _is_int_literal(s) -> bool:
    s = s.decode() if isinstance(s, bytes) else str(s)
    try:
        int(s)
        return True
    except ValueError:
        return False


def _to_strings(x: np.ndarray) -> np.ndarray:
    if x.dtype.kind == "V" or x.dtype.kind == "f" and x.dtype.itemsize < 4:  # ml_dtypes, float16
        x = x.astype(np.float32)
    return x.astype(np.str_).astype(object)


def cast(x: np.ndarray, to: int, saturate: bool = True, round_mode: str = "up") -> np.ndarray:
    """ONNX Cast of x to the TensorProto type `to`."""
    if to == TensorProto.STRING:
        return _to_strings(x)
    dtype = helper.tensor_dtype_to_np_dtype(to)
    if _is_string(x):
        return _from_strings(x, dtype)
    with np.errstate(all="ignore"):
        if to in _FLOAT8 and saturate:
            # out-of-range values and +-inf clamp to the largest finite float8 (NaN stays NaN)
            src = x if x.dtype.kind == "f" and x.dtype.itemsize >= 4 else x.astype(np.float32)
            return numpy_helper.saturate_cast(src, dtype)
        if _FLOAT8E8M0 is not None and to == _FLOAT8E8M0:
            src = x if x.dtype.kind == "f" and x.dtype.itemsize >= 4 else x.astype(np.float32)
            return numpy_helper.to_float8e8m0(src, saturate, round_mode).astype(dtype)
        return x.astype(dtype)


def _tensor_type(op: Op, to) -> int:
    if isinstance(to, str):  # Cast-1 took the type name as a string
        if not hasattr(TensorProto, to.upper()):
            raise op.model_error(f"unknown type name {to!r}")
        return getattr(TensorProto, to.upper())
    try:
        helper.tensor_dtype_to_np_dtype(to)
    except (KeyError, ValueError) as e:
        if to != TensorProto.STRING:
            raise op.model_error(f"unsupported target type {to}") from e
    return int(to)


@register("Cast", 1, 6, 9, 13, 19, 21, 23, 24, 25, 28)
class Cast(Op):
    empty_tensors_ok = True

    def setup(self):
        self.to = _tensor_type(self, self.attr("to"))
        self.saturate = bool(self.attr("saturate", 1))
        self.round_mode = self.attr("round_mode", "up")

    def run(self, x):
        return (cast(x, self.to, self.saturate, self.round_mode),)

    def lower(self, node):
        return _lower_cast(node)


# The casts the kernel does (numpy's astype among them); float16, strings, float8 stay NumPy.
_CAST_DTYPES = REAL_DTYPES | {np.dtype(bool)}


def _lower_cast(node):
    x, y = node.inputs[0], node.outputs[0]
    if x.dtype not in _CAST_DTYPES or y.dtype not in _CAST_DTYPES:
        return KeepPython(f"no cast kernel from {x.dtype} to {y.dtype}")
    return Native(kernels.prepare_cast(node.shape(0), x.dtype.name, y.dtype.name), [0], reshapable=True)


@register("CastLike", 15, 19, 21, 23, 24, 25)
class CastLike(Op):
    def setup(self):
        self.saturate = bool(self.attr("saturate", 1))
        self.round_mode = self.attr("round_mode", "up")

    def run(self, x, like):
        to = TensorProto.STRING if _is_string(like) else helper.np_dtype_to_tensor_dtype(like.dtype)
        return (cast(x, to, self.saturate, self.round_mode),)

    def lower(self, node):
        return _lower_cast(node)  # reads x only: the kernel's one input is node input 0


# --- constants --------------------------------------------------------------------------

@register("Range", 11, 27)
class Range(Op):
    empty_tensors_ok = True

    def run(self, start, limit, delta):
        for name, v in (("start", start), ("limit", limit), ("delta", delta)):
            if v.size != 1:
                raise self.run_error(f"{name} must be a scalar, got shape {v.shape}")
        dtype = start.dtype
        s, l, d = start.reshape(()), limit.reshape(()), delta.reshape(())
        if d == 0:
            raise self.run_error("delta must not be 0")
        wide = np.float32 if dtype.kind in "fV" and dtype.itemsize < 4 else None
        if wide is not None and self.attr("stash_type", 1) == 1:
            s, l, d = s.astype(wide), l.astype(wide), d.astype(wide)
        # number of elements per spec: max(ceil((limit - start) / delta), 0)
        count = np.ceil((float(l) - float(s)) / float(d))
        if not np.isfinite(count):
            raise self.run_error(f"start {s}, limit {l} and delta {d} do not give a finite number of elements")
        n = int(max(count, 0))
        check_allocation(self, [n], dtype)
        if dtype.kind in "iu":
            out = s + np.arange(n, dtype=np.int64) * int(d)
        else:
            # the spec defines output[i] = start + i * delta
            out = s + np.arange(n, dtype=s.dtype) * d
        return (np.asarray(out).astype(dtype, copy=False),)

    def lower(self, node):
        """A kernel for the count this plan saw (the values are read on every run: in a static
        plan a different count moves the call to the dynamic plan; there, int64 and int32 limits
        are the kernel's control inputs, so other values get the kernel for their count)."""
        dtype = node.inputs[0].dtype
        if node.dynamic and dtype not in (np.int64, np.int32):
            return KeepPython(f"{dtype} limits computed at run time: not in a dynamic plan")
        if dtype.name not in ("float32", "float64", "int16", "int32", "int64") or \
                any(m.dtype != dtype for m in node.inputs):
            return KeepPython(f"no kernel for {dtype}")
        try:
            k = kernels.prepare_range(dtype.name, node.outputs[0].shape[0], [node.shape(i) for i in range(3)])
        except KernelArgumentError:
            return None
        return Native(k, [0, 1, 2], reshapable=dtype in (np.int64, np.int32))


@register("ConstantOfShape", 9, 20, 21, 23, 24, 25)
class ConstantOfShape(Op):
    empty_tensors_ok = True

    def setup(self):
        value = self.attr("value", None)
        self.value = np.zeros(1, np.float32) if value is None else np.asarray(value)
        if self.value.size != 1:
            raise self.model_error(f"value must hold one element, got shape {self.value.shape}")

    def run(self, shape):
        if shape.dtype != np.int64 or shape.ndim != 1:
            raise self.run_error(f"shape must be a 1-D int64 tensor, got {shape.dtype} {shape.shape}")
        if np.any(shape < 0):
            raise self.run_error(f"negative dimension in shape {shape.tolist()}")
        check_allocation(self, shape.tolist(), self.value.dtype)
        return (np.full(tuple(int(d) for d in shape), self.value.reshape(()), dtype=self.value.dtype),)

    def lower(self, node):
        if self.value.dtype not in KERNEL_DTYPES or node.inputs[0].dtype != np.int64 or node.inputs[0].ndim != 1:
            return KeepPython(f"no kernel for {self.value.dtype}")
        out = list(node.outputs[0].shape)
        # The shape is the kernel's control input: other values, another kernel (dynamic plans).
        return Native(kernels.prepare_constant_of_shape(out, self.value.dtype.name, self.value.tobytes()), [0],
                      reshapable=True)


@register("Constant", 1, 9, 11, 12, 13, 19, 21, 23, 24, 25)
class Constant(Op):
    def setup(self):
        given = [a.name for a in self.node.attribute]
        if len(given) != 1:
            raise self.model_error(f"needs exactly one value attribute, got {given}")
        which = given[0]
        raw = self.node.attribute[0]
        if which == "value":
            self.value = numpy_helper.to_array(raw.t)
        elif which == "sparse_value":
            st = raw.sparse_tensor
            values = numpy_helper.to_array(st.values)
            idx = numpy_helper.to_array(st.indices)
            dense = np.zeros(tuple(st.dims), dtype=values.dtype)
            if idx.ndim == 1:
                dense.reshape(-1)[idx] = values
            else:
                dense[tuple(idx.T)] = values
            self.value = dense
        elif which == "value_float":
            self.value = np.array(raw.f, dtype=np.float32)
        elif which == "value_floats":
            self.value = np.array(list(raw.floats), dtype=np.float32)
        elif which == "value_int":
            self.value = np.array(raw.i, dtype=np.int64)
        elif which == "value_ints":
            self.value = np.array(list(raw.ints), dtype=np.int64)
        elif which == "value_string":
            self.value = np.array(raw.s.decode("utf-8"), dtype=object)
        elif which == "value_strings":
            self.value = np.array([s.decode("utf-8") for s in raw.strings], dtype=object)
        else:
            raise self.model_error(f"unknown attribute {which!r}")
        if self.value.dtype.kind in "US":
            self.value = self.value.astype(object)

    def run(self):
        return (self.value.copy(),)


@register("EyeLike", 9, 22)
class EyeLike(Op):
    def setup(self):
        self.k = self.attr("k", 0)
        dtype = self.attr("dtype", None)
        self.dtype = None if dtype is None else helper.tensor_dtype_to_np_dtype(dtype)

    def run(self, x):
        if x.ndim != 2:
            raise self.run_error(f"input must be 2-D, got shape {x.shape}")
        dtype = self.dtype or x.dtype
        return (np.eye(x.shape[0], x.shape[1], k=self.k).astype(dtype),)



"""MatMul + Add -> Gemm, for 2-D MatMuls.

MatMul(A, B) + C equals Gemm(A, B, C) when A and B are 2-D and C broadcasts unidirectionally to
(M, N) with the Add's output still (M, N): a constant C that is a scalar, [N], [1, N], [1, 1] or
[M, N] with M known; a computed C of exactly the product's shape (a recurrent cell's x W + h R).

A constant bias added to a sum whose other term is a MatMul moves onto that product first:
(P + MatMul(A, B)) + c -> P + Gemm(A, B, c), so that x W + h R + b (a GRU / LSTM cell written
out, as in tf2onnx's Loop bodies) becomes two Gemms and no Add. Floating-point addition is
reassociated there (a rounding difference, well within the comparison tolerances).
"""
from __future__ import annotations

import onnx
from onnx import helper

from .workgraph import WorkGraph

NAME = "matmul_add_to_gemm"

_GEMM_TYPES = (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16)


def _bias_fits(c, m, n) -> bool:
    if c.ndim > 2:
        return False
    if c.ndim == 0:
        return True
    if c.shape[-1] not in (1, n):
        return False
    return c.ndim == 1 or c.shape[0] == 1 or (isinstance(m, int) and c.shape[0] == m)


def _is_add(node) -> bool:
    return node is not None and node.op_type == "Add" and node.domain in ("", "ai.onnx") and len(node.input) == 2


def _product(g: WorkGraph, y: str):
    """(MatMul node, M, N) when y is a 2-D float MatMul's output read by one node only, else None."""
    mm = g.producer(y)
    if mm is None or mm.op_type != "MatMul" or mm.domain not in ("", "ai.onnx") or not g.single_use(y):
        return None
    a_shape, b_shape = g.shape(mm.input[0]), g.shape(mm.input[1])
    if a_shape is None or b_shape is None or len(a_shape) != 2 or len(b_shape) != 2:
        return None
    if not isinstance(b_shape[1], int) or g.elem_type(y) not in _GEMM_TYPES:
        return None
    return mm, a_shape[0], b_shape[1]


def _c_fits(g: WorkGraph, c_name: str, y: str, m, n) -> bool:
    """Whether c_name may be the C of a Gemm computing y = (m, n)."""
    if g.elem_type(c_name) != g.elem_type(y):
        return False
    c = g.const(c_name)
    if c is not None:
        return c.dtype.kind == "f" and _bias_fits(c, m, n)
    dims = g.shape(c_name)  # computed: exactly the product's shape, nothing to broadcast
    return dims is not None and len(dims) == 2 and dims[1] == n and dims[0] == m and m is not None


def run(g: WorkGraph) -> int:
    if g.opset.get("", 1) < 11:  # older Gemm needs broadcast flags / a required C of fixed rank
        return 0
    count = 0
    for rewrite in (_move_bias, _fuse):  # biases first: P + MatMul would otherwise take the product
        for add in list(g.nodes):
            if _is_add(add):
                count += rewrite(g, add)
    return count


def _fuse(g: WorkGraph, add) -> int:
    """Add(MatMul(A, B), C) -> Gemm(A, B, C)."""
    for side in (0, 1):
        y, c_name = add.input[side], add.input[1 - side]
        found = _product(g, y)
        if found is None or c_name == y or not _c_fits(g, c_name, y, found[1], found[2]):
            continue
        mm = found[0]
        gemm = helper.make_node("Gemm", [mm.input[0], mm.input[1], c_name], [add.output[0]], name=mm.name or add.name)
        g.replace([mm, add], [gemm])
        return 1
    return 0


def _move_bias(g: WorkGraph, add) -> int:
    """Add(Add(P, MatMul(A, B)), c) with c constant -> Add(P, Gemm(A, B, c))."""
    for side in (0, 1):
        inner_out, c_name = add.input[side], add.input[1 - side]
        inner = g.producer(inner_out)
        if g.const(c_name) is None or not _is_add(inner) or not g.single_use(inner_out):
            continue
        for term in (0, 1):
            y, other = inner.input[term], inner.input[1 - term]
            found = _product(g, y)
            if found is None or y == other or not _c_fits(g, c_name, y, found[1], found[2]):
                continue
            if g.shape(y) != g.shape(add.output[0]):
                continue  # the bias must not widen the sum (it broadcasts within the product's shape)
            mm = found[0]
            biased = g.fresh_name(y + "_biased")
            if g.is_float32(y):
                g.set_float_shape(biased, g.shape(y))
            gemm = helper.make_node("Gemm", [mm.input[0], mm.input[1], c_name], [biased], name=mm.name or inner.name)
            total = helper.make_node("Add", [other, biased], [add.output[0]], name=add.name)
            g.replace([mm, inner, add], [gemm, total])
            return 1
    return 0

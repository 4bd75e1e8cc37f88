"""MatMul + Add(bias) -> Gemm, for 2-D MatMuls.

MatMul(A, B) + C equals Gemm(A, B, C) when A and B are 2-D and the constant C broadcasts
unidirectionally to (M, N) with the Add's output still (M, N): C is a scalar, [N], [1, N],
[1, 1] or [M, N] with M known.
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


def run(g: WorkGraph) -> int:
    if g.opset.get("", 1) < 11:  # older Gemm needs broadcast flags / a required C of fixed rank
        return 0
    count = 0
    for add in list(g.nodes):
        if add.op_type != "Add" or add.domain not in ("", "ai.onnx") or len(add.input) != 2:
            continue
        for side in (0, 1):
            y, c_name = add.input[side], add.input[1 - side]
            mm = g.producer(y)
            if mm is None or mm.op_type != "MatMul" or mm.domain not in ("", "ai.onnx"):
                continue
            c = g.const(c_name)
            a_shape, b_shape = g.shape(mm.input[0]), g.shape(mm.input[1])
            if c is None or a_shape is None or b_shape is None or len(a_shape) != 2 or len(b_shape) != 2:
                continue
            if not isinstance(b_shape[1], int) or g.elem_type(y) not in _GEMM_TYPES:
                continue
            if c.dtype.kind != "f" or g.elem_type(c_name) != g.elem_type(y) or not g.single_use(y):
                continue
            if not _bias_fits(c, a_shape[0], b_shape[1]):
                continue
            gemm = helper.make_node("Gemm", [mm.input[0], mm.input[1], c_name], [add.output[0]],
                                    name=mm.name or add.name)
            g.replace([mm, add], [gemm])
            count += 1
            break
    return count

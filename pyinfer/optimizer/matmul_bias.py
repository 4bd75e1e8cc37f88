"""A constant bias added after a MatMul of rank 3 or more goes into the GEMM epilogue:
Add(MatMul(A, B), c) -> pyinfer::FusedMatMul(A, B, c) for c of shape [N] (or [1, ..., 1, N]), N the
last dimension of B. The kernel adds the bias to each output tile while it is in cache (2-D
products become Gemm: matmul_add_to_gemm). float32 only.
"""
from __future__ import annotations

import numpy as np
from onnx import helper

from .patterns import is_op
from .workgraph import FUSED_DOMAIN, WorkGraph, attrs_of

NAME = "fuse_matmul_bias"


def plain_matmul(node) -> bool:
    """A MatMul, or a FusedMatMul with nothing fused yet (no bias, residual or activation)."""
    if is_op(node, "MatMul"):
        return True
    return (node is not None and node.domain == FUSED_DOMAIN and node.op_type == "FusedMatMul"
            and len([i for i in node.input if i]) == 2 and len(node.input) <= 2
            and not attrs_of(node).get("activation", ""))


def run(g: WorkGraph) -> int:
    count = 0
    for add in list(g.nodes):
        if not is_op(add, "Add") or len(add.input) != 2:
            continue
        for side in (0, 1):
            mm, bias = g.producer(add.input[side]), add.input[1 - side]
            c = g.const(bias)
            if not plain_matmul(mm) or c is None or c.dtype != np.float32 or not g.single_use(add.input[side]):
                continue
            a_dims, b_dims = g.shape(mm.input[0]), g.shape(mm.input[1])
            if a_dims is None or b_dims is None or len(a_dims) < 3 or len(b_dims) < 2 or not g.is_float32(mm.input[0]):
                continue
            n = b_dims[-1]
            if not isinstance(n, int) or c.size != n or (c.ndim and c.shape[-1] != n) or c.ndim > len(a_dims):
                continue
            if c.ndim > 1:  # [1, ..., 1, N]: the kernel takes [N]
                bias = g.add_constant(bias, np.ascontiguousarray(c.reshape(n)))
            fused = helper.make_node("FusedMatMul", [mm.input[0], mm.input[1], bias], [add.output[0]],
                                     name=mm.name or add.name, domain=FUSED_DOMAIN)
            g.replace([mm, add], [fused])
            g.set_float_shape(add.output[0], list(a_dims[:-1]) + [n])
            count += 1
            break
    return count

"""A Gemm between a Reshape to 2-D and a Reshape back runs on the N-D input instead:

    Reshape(Gemm(Reshape(x, [-1, K]), W, c), [d0, ..., dn-2, N])  ->  pyinfer::FusedMatMul(x, W, c)

what Hugging Face's Conv1D (GPT-2's projections) exports: x.view(-1, K) @ W + c, viewed back. Both
Reshapes and the shape arithmetic computing their targets go; the plans run one native step. The
Reshape back must restore x's leading dimensions (its target traced to x's own dims, or numbers
equal to them) and N; Gemm with alpha = beta = 1, no transA, a constant float32 W (transB: the
weight is transposed once here) and a constant c of shape [N] or [1, N].
"""
from __future__ import annotations

import numpy as np
from onnx import helper

from .patterns import is_op, producer_op
from .reshape_shapes import trace_entries
from .workgraph import FUSED_DOMAIN, WorkGraph, attrs_of

NAME = "unflatten_gemm"


def _restores(g: WorkGraph, reshape, x: str, n: int) -> bool:
    """Whether the Reshape's target is x's dims but the last, then n."""
    entries = trace_entries(g, reshape.input[1])
    dims = g.shape(x)
    if entries is None or dims is None or len(entries) != len(dims):
        return False
    free = 0
    for i, e in enumerate(entries[:-1]):
        if e == -1:
            free += 1
        elif not (e == (x, i) or (isinstance(e, int) and e == dims[i] and e > 0)):
            return False
    return entries[-1] in (n, -1) and free + (entries[-1] == -1) <= 1


def run(g: WorkGraph) -> int:
    count = 0
    for gemm in list(g.nodes):
        if not is_op(gemm, "Gemm") or len(gemm.input) < 2 or g.opset.get("", 1) < 11:
            continue
        a = attrs_of(gemm)
        if float(a.get("alpha", 1.0)) != 1.0 or float(a.get("beta", 1.0)) != 1.0 or int(a.get("transA", 0)):
            continue
        flat = producer_op(g, gemm.input[0], "Reshape")
        w = g.const(gemm.input[1])
        c = g.const(gemm.input[2]) if len(gemm.input) > 2 and gemm.input[2] else None
        users = g.consumers(gemm.output[0])
        if flat is None or w is None or w.dtype != np.float32 or w.ndim != 2 or len(users) != 1 \
                or not is_op(users[0], "Reshape") or not g.single_use(gemm.output[0]):
            continue
        x, back = flat.input[0], users[0]
        dims, target = g.shape(x), g.const(flat.input[1])
        k, n = (w.shape[1], w.shape[0]) if int(a.get("transB", 0)) else w.shape
        if dims is None or len(dims) < 3 or dims[-1] != k or target is None or \
                [int(t) for t in np.asarray(target).reshape(-1)] != [-1, k]:
            continue
        if c is not None and (c.dtype != np.float32 or c.size != n or c.ndim > 2) or not g.is_float32(x):
            continue
        if not _restores(g, back, x, n):
            continue
        weight = gemm.input[1] if not int(a.get("transB", 0)) else g.add_constant(gemm.input[1], np.ascontiguousarray(w.T))
        inputs = [x, weight] + ([g.add_constant(gemm.input[2], c.reshape(n)) if c.ndim != 1 else gemm.input[2]]
                                if c is not None else [])
        fused = helper.make_node("FusedMatMul", inputs, [back.output[0]], name=gemm.name or back.output[0],
                                 domain=FUSED_DOMAIN)
        removed = [gemm, back] + ([flat] if g.single_use(flat.output[0]) else [])
        g.replace(removed, [fused])
        g.set_float_shape(back.output[0], list(dims[:-1]) + [n])
        count += 1
    return count

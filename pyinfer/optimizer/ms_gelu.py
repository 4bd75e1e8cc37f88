"""onnxruntime's GELU ops after a MatMul go into its epilogue: MatMul -> com.microsoft BiasGelu(b),
FastGelu(bias) or Gelu becomes pyinfer::FusedMatMul(A, B, bias, activation=Gelu) (approximate
"tanh" for FastGelu), the bias a constant [N]. What onnxruntime's transformer optimizer writes for
BERT's and GPT-2's feed-forward layers. float32 only.
"""
from __future__ import annotations

import numpy as np
from onnx import helper

from .matmul_bias import plain_matmul
from .workgraph import FUSED_DOMAIN, WorkGraph

NAME = "fuse_microsoft_gelu"

MS = "com.microsoft"
_APPROXIMATE = {"Gelu": "none", "BiasGelu": "none", "FastGelu": "tanh"}


def run(g: WorkGraph) -> int:
    count = 0
    for act in list(g.nodes):
        if act.domain != MS or act.op_type not in _APPROXIMATE or not act.input:
            continue
        mm = g.producer(act.input[0])
        if not plain_matmul(mm) or not g.single_use(act.input[0]):
            continue
        # float32: known from shape inference, or from the MatMul's constant weights (onnx infers
        # nothing past a com.microsoft node the graph still held when shapes were inferred)
        weights = g.const(mm.input[1])
        if not (g.is_float32(act.input[0]) or weights is not None and weights.dtype == np.float32):
            continue
        bias_name = act.input[1] if len(act.input) > 1 else ""
        bias = g.const(bias_name) if bias_name else None
        if bias_name and (bias is None or bias.dtype != np.float32 or bias.ndim != 1):
            continue
        fused = helper.make_node("FusedMatMul", [mm.input[0], mm.input[1]] + ([bias_name] if bias_name else []),
                                 [act.output[0]], name=mm.name or act.name, domain=FUSED_DOMAIN,
                                 activation="Gelu", approximate=_APPROXIMATE[act.op_type])
        if act.input[0] in g.types:
            g.types[act.output[0]] = g.types[act.input[0]]
        g.replace([mm, act], [fused])
        count += 1
    return count

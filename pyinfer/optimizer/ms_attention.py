"""onnxruntime's com.microsoft Attention (the Q, K and V projections merged into one weight) becomes
its two halves on pyinfer's kernels: pyinfer::FusedMatMul(input, weights, bias) writes the packed
QKV, pyinfer::MultiHeadAttention reads it in place (mask_index as key padding, attention_bias as
the additive mask). Without a past input (a past is a stacked [2, B, N, P, H] tensor the kernel
does not read) and for a raw [B, T] mask_index, a [B] one (the keys before each index: it becomes
that [B, T] mask) or none; constant float32 weights.
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from .workgraph import FUSED_DOMAIN, WorkGraph, attrs_of

NAME = "split_microsoft_attention"

MS = "com.microsoft"


def _present(node, i: int) -> bool:
    return len(node.input) > i and bool(node.input[i])


# Ops whose output 0 has the shape of their input 0. onnx's shape inference knows none of the
# com.microsoft ones, so the input of every Attention after the first (a SkipLayerNormalization's
# output, after a BiasGelu) would otherwise have no known shape.
_SAME_SHAPE = {(MS, "SkipLayerNormalization"), (MS, "SkipSimplifiedLayerNormalization"), (MS, "BiasGelu"),
               (MS, "FastGelu"), (MS, "Gelu"), (FUSED_DOMAIN, "FusedLayerNormalization"), ("", "LayerNormalization")}


def _typed(g: WorkGraph, name: str, depth: int = 16) -> tuple[int, list | None]:
    """name's (element type, dims); when unknown, derived through the ops that produce it: the
    shape-preserving ones above and MatMul by a constant matrix (a layer's projections)."""
    node = g.producer(name)
    if g.shape(name) is not None or not depth or node is None or node.output[0] != name:
        return g.elem_type(name), g.shape(name)
    if (node.domain, node.op_type) in _SAME_SHAPE:
        return _typed(g, node.input[0], depth - 1)
    w = g.const(node.input[1]) if node.domain == "" and node.op_type == "MatMul" else None
    if w is not None and w.ndim == 2:
        elem_type, dims = _typed(g, node.input[0], depth - 1)
        if dims and dims[-1] == w.shape[0]:
            return elem_type, list(dims[:-1]) + [w.shape[1]]
    return g.elem_type(name), None


def _keep_before(g: WorkGraph, x: str, lengths: str) -> tuple[list, str]:
    """Nodes computing keep[b, t] = t < lengths[b] (int32 [B, T], T the sequence axis of x) from
    a 1-D mask_index, and keep's name."""
    def const(base, value):
        return g.add_constant(base, np.array(value, np.int64))

    names = [g.fresh_name(f"{lengths}_{base}") for base in ("shape", "seq", "range", "wide", "column", "less", "keep")]
    shape, seq, steps, wide, column, less, keep = names
    nodes = [helper.make_node("Shape", [x], [shape], name=shape),
             helper.make_node("Gather", [shape, const("one", 1)], [seq], name=seq, axis=0),
             helper.make_node("Range", [const("zero", 0), seq, const("one", 1)], [steps], name=steps),
             helper.make_node("Cast", [lengths], [wide], name=wide, to=TensorProto.INT64),
             helper.make_node("Reshape", [wide, const("column", [-1, 1])], [column], name=column),
             helper.make_node("Less", [steps, column], [less], name=less),
             helper.make_node("Cast", [less], [keep], name=keep, to=TensorProto.INT32)]
    return nodes, keep


def run(g: WorkGraph) -> int:
    count = 0
    for att in list(g.nodes):
        if att.domain != MS or att.op_type != "Attention" or len(att.output) > 1 and any(att.output[1:]):
            continue
        a = attrs_of(att)
        if _present(att, 4) or _present(att, 6) or int(a.get("do_rotary", 0)) or \
                int(a.get("past_present_share_buffer", 0)):
            continue
        w = g.const(att.input[1])
        elem_type, dims = _typed(g, att.input[0])
        heads = int(a.get("num_heads", 0))
        if w is None or w.ndim != 2 or dims is None or len(dims) != 3 or elem_type != TensorProto.FLOAT or heads <= 0:
            continue
        sizes = a.get("qkv_hidden_sizes")
        sizes = [int(s) for s in sizes] if sizes else [w.shape[1] // 3] * 3
        if sum(sizes) != w.shape[1] or sizes[0] != sizes[1] or sizes[0] % heads or sizes[2] % heads:
            continue
        mask = att.input[3] if _present(att, 3) else ""
        mask_dims = g.shape(mask) if mask else None
        if mask and (g.elem_type(mask) != 6 or mask_dims is None or len(mask_dims) not in (1, 2)):
            continue  # int32 [B, T] (1 keeps a key) or [B] (the keys before that index)
        if mask and len(mask_dims) == 1 and (mask_dims[0] != dims[0] or g.opset.get("", 1) < 11):
            continue  # ([2B]: end and start positions, not split here)
        lengths = []
        if mask and len(mask_dims) == 1:
            lengths, mask = _keep_before(g, att.input[0], mask)
        qkv = g.fresh_name("qkv")
        proj = helper.make_node("FusedMatMul", [att.input[0], att.input[1]] + ([att.input[2]] if _present(att, 2) else []),
                                [qkv], name=qkv, domain=FUSED_DOMAIN)
        g.set_float_shape(qkv, list(dims[:2]) + [w.shape[1]])
        extra = dict(v_head_size=sizes[2] // heads) if sizes[2] != sizes[0] else {}
        scale = float(a.get("scale", 0.0))
        mha = helper.make_node("MultiHeadAttention", [qkv, "", "", att.input[5] if _present(att, 5) else "", "", "", mask],
                               [att.output[0]], name=att.name or att.output[0], domain=FUSED_DOMAIN, num_heads=heads,
                               kv_num_heads=heads, scale=scale, causal=int(a.get("unidirectional", 0)),
                               mask_filter_value=float(a.get("mask_filter_value", -10000.0)), **extra)
        g.replace([att], lengths + [proj, mha])
        g.set_float_shape(att.output[0], list(dims[:2]) + [sizes[2]])
        count += 1
    return count

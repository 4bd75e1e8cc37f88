"""onnxruntime's com.microsoft Attention (the Q, K and V projections merged into one weight) becomes
its two halves on pyinfer's kernels: pyinfer::FusedMatMul(input, weights, bias) writes the packed
QKV, pyinfer::MultiHeadAttention reads it in place (mask_index as key padding, attention_bias as
the additive mask). Without a past input (a past is a stacked [2, B, N, P, H] tensor the kernel
does not read) and for a raw [B, T] mask_index or none; constant float32 weights.
"""
from __future__ import annotations

from onnx import helper

from .workgraph import FUSED_DOMAIN, WorkGraph, attrs_of

NAME = "split_microsoft_attention"

MS = "com.microsoft"


def _present(node, i: int) -> bool:
    return len(node.input) > i and bool(node.input[i])


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
        dims = g.shape(att.input[0])
        heads = int(a.get("num_heads", 0))
        if w is None or w.ndim != 2 or dims is None or len(dims) != 3 or not g.is_float32(att.input[0]) or heads <= 0:
            continue
        sizes = a.get("qkv_hidden_sizes")
        sizes = [int(s) for s in sizes] if sizes else [w.shape[1] // 3] * 3
        if sum(sizes) != w.shape[1] or sizes[0] != sizes[1] or sizes[0] % heads or sizes[2] % heads:
            continue
        mask = att.input[3] if _present(att, 3) else ""
        mask_dims = g.shape(mask) if mask else None
        if mask and (g.elem_type(mask) != 6 or mask_dims is None or len(mask_dims) != 2):  # int32 [B, T] only
            continue
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
        g.replace([att], [proj, mha])
        g.set_float_shape(att.output[0], list(dims[:2]) + [sizes[2]])
        count += 1
    return count

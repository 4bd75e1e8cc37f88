"""A residual Add in front of a layer norm becomes the norm's skip input:
LayerNormalization(Add(x, skip)) -> pyinfer::FusedLayerNormalization(x, scale, bias, skip).

The kernel forms x + skip while it reads the row, so the sum is never written and read back.
When something else reads the sum too (the residual stream of a pre-norm block: GPT-2, ViT,
Whisper), the fused node writes it as its Sum output. Applies to LayerNormalization (17, and
onnxruntime's before 17), RMSNormalization, SimplifiedLayerNormalization and a FusedLayerNormalization
without a skip yet, on float32. Broadcasting the kernel cannot stream (a skip that is not x's
trailing dims) is computed by the node's run() instead.
"""
from __future__ import annotations

from onnx import helper

from .patterns import is_op
from .workgraph import FUSED_DOMAIN, WorkGraph, attrs_of

NAME = "fuse_skip_layer_norm"


def _norm(node):
    """(rms, epsilon default) for a norm this pass takes, else None."""
    if node.domain in ("", "ai.onnx") and node.op_type in ("LayerNormalization", "RMSNormalization",
                                                            "SimplifiedLayerNormalization"):
        return node.op_type != "LayerNormalization", 1e-5
    if node.domain == FUSED_DOMAIN and node.op_type == "FusedLayerNormalization" and \
            not (len(node.input) > 3 and any(node.input[3:])):
        return bool(attrs_of(node).get("rms", 0)), 1e-5
    return None


def _outputs(node, rms: bool):
    """The fused node's (Y, Mean, InvStdDev) names from the norm's outputs."""
    out = list(node.output) + [""] * 3
    if node.op_type == "SimplifiedLayerNormalization":  # outputs Y, inv_std_var
        return [out[0], "", out[1]]
    if node.op_type == "RMSNormalization":
        return [out[0], "", ""]
    return out[:3]


def run(g: WorkGraph) -> int:
    count = 0
    for norm in list(g.nodes):
        kind = _norm(norm)
        if kind is None or not norm.input:
            continue
        rms, default_eps = kind
        add = g.producer(norm.input[0])
        if not is_op(add, "Add") or len(add.input) != 2 or any(g.is_const(i) for i in add.input):
            continue
        if not (g.is_float32(add.output[0]) and g.is_float32(add.input[0]) and g.is_float32(add.input[1])):
            continue
        if list(norm.input).count(add.output[0]) != 1:
            continue
        a = attrs_of(norm)
        outputs = _outputs(norm, rms)
        if rms and outputs[1]:
            continue
        # x: the Add input with the sum's rank (its full shape), the other one is the skip
        out_rank = len(g.shape(add.output[0]) or [])
        first_rank = len(g.shape(add.input[0]) or [])
        x, skip = (add.input[1], add.input[0]) if out_rank and first_rank < out_rank else add.input
        others = [u for u in g.consumers(add.output[0]) if u is not norm]
        total = add.output[0] if others or g.is_pinned(add.output[0]) else ""
        beta = norm.input[2] if len(norm.input) > 2 and norm.op_type in ("LayerNormalization",
                                                                         "FusedLayerNormalization") else ""
        inputs = [x, norm.input[1], beta, skip]
        fused = helper.make_node("FusedLayerNormalization", inputs, outputs + [total], name=norm.name or outputs[0],
                                 domain=FUSED_DOMAIN, axis=int(a.get("axis", -1)),
                                 epsilon=float(a.get("epsilon", default_eps)), rms=int(rms))
        while fused.output and not fused.output[-1]:
            fused.output.pop()
        g.replace([add, norm], [fused])
        count += 1
    return count

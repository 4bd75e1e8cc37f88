"""A residual Add fused into the Conv before it: y = conv(x) + bias + z -> pyinfer::FusedConv(x, W, B, z).

A two-input Sum is the same addition (older exporters, e.g. the ResNet-50 in onnx's light models,
write residuals that way) and fuses alike.

z must have exactly the conv output's shape (no broadcasting: known ranks, each dimension the
same number or the same symbolic name) and dtype float32. A following activation is fused by
activation_fusion, giving y = act(conv(x) + bias + z).
"""
from __future__ import annotations

from .workgraph import FUSED_DOMAIN, WorkGraph, attrs_of, copy_node

NAME = "fuse_residual_add"


def same_shape(a, b) -> bool:
    if a is None or b is None or len(a) != len(b):
        return False
    return all(x is not None and x == y and not (isinstance(x, int) and x <= 0) for x, y in zip(a, b))


def _conv_without_epilogue(node) -> bool:
    if node.op_type == "Conv" and node.domain in ("", "ai.onnx"):
        return True
    if node.op_type == "FusedConv" and node.domain == FUSED_DOMAIN:
        return not attrs_of(node).get("activation", "") and not (len(node.input) > 3 and node.input[3])
    return False


def run(g: WorkGraph) -> int:
    count = 0
    for add in list(g.nodes):
        if add.op_type not in ("Add", "Sum") or add.domain not in ("", "ai.onnx") or len(add.input) != 2:
            continue
        for side in (0, 1):
            y, z = add.input[side], add.input[1 - side]
            conv = g.producer(y)
            if conv is None or not _conv_without_epilogue(conv) or not g.single_use(y):
                continue
            if not (g.is_float32(y) and g.is_float32(z) and same_shape(g.shape(y), g.shape(z))):
                continue
            new = copy_node(conv, "FusedConv", FUSED_DOMAIN)
            while len(new.input) < 3:
                new.input.append("")
            new.input.append(z)
            new.output[0] = add.output[0]
            g.replace([conv, add], [new])
            count += 1
            break
    return count

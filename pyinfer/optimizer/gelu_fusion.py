"""GELU written out in elementary ops becomes one Gelu node:

    erf form:   0.5 * x * (1 + Erf(x / sqrt(2)))                 (BERT, ViT, wav2vec2 exports)
    tanh form:  0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))   (GPT-2's NewGELU)

in any order of the products and with x / sqrt(2) written as x * (1 / sqrt(2)) and x^3 as
Pow(x, 3) or x * x * x. The result is Gelu-20 (approximate "none" / "tanh") where the model's
opset has it, else pyinfer::Gelu with the same meaning; fuse_activation then folds it (and the
MatMul's bias) into the GEMM epilogue. float32 only.
"""
from __future__ import annotations

import math

from onnx import helper

from .patterns import is_op, near, scalar_operand
from .workgraph import FUSED_DOMAIN, WorkGraph

NAME = "fuse_gelu"

SQRT_HALF = math.sqrt(0.5)
SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def _scaled(g: WorkGraph, name: str, factor: float):
    """x for x * factor (or x / (1 / factor)), and the node; else None."""
    node = g.producer(name)
    found = scalar_operand(g, node) if node is not None else None
    if found is None:
        return None
    x, c, side = found
    if is_op(node, "Mul") and near(c, factor):
        return x, node
    if is_op(node, "Div") and side == 0 and near(c, 1 / factor):
        return x, node
    return None


def _cube_of(g: WorkGraph, name: str):
    """x and the nodes for Pow(x, 3) or x * x * x; else None."""
    node = g.producer(name)
    if is_op(node, "Pow"):
        found = scalar_operand(g, node)
        if found is not None and found[2] == 0 and found[1] == 3.0:
            return found[0], [node]
    if is_op(node, "Mul"):
        for side in (0, 1):
            sq = g.producer(node.input[side])
            if is_op(sq, "Mul") and sq.input[0] == sq.input[1] == node.input[1 - side]:
                return sq.input[0], [sq, node]
    return None


def _tanh_inner(g: WorkGraph, name: str):
    """x and the nodes for sqrt(2/pi) * (x + 0.044715 * x^3); else None."""
    found = _scaled(g, name, SQRT_2_OVER_PI)
    if found is None:
        return None
    inner, scale_node = found
    add = g.producer(inner)
    if not is_op(add, "Add"):
        return None
    for side in (0, 1):
        cube = _scaled(g, add.input[1 - side], 0.044715)
        found = _cube_of(g, cube[0]) if cube is not None else None
        if found is not None and found[0] == add.input[side]:
            return found[0], found[1] + [cube[1], add, scale_node]
    return None


def _products(g: WorkGraph, half: str, x: str):
    """The Mul nodes computing 0.5 * x * half (any order), ending in one output; else None."""
    users = g.consumers(half)
    if len(users) != 1 or not is_op(users[0], "Mul"):
        return None
    first = users[0]
    other = first.input[1] if first.input[0] == half else first.input[0]
    nxt = g.consumers(first.output[0])
    nxt = nxt[0] if len(nxt) == 1 and is_op(nxt[0], "Mul") else None
    if other == x:  # (x * half) * 0.5
        found = _scaled(g, nxt.output[0], 0.5) if nxt is not None else None
        return [first, nxt] if found is not None and found[0] == first.output[0] else None
    if _scaled(g, first.output[0], 0.5) is not None:  # x * (half * 0.5)
        return [first, nxt] if nxt is not None and x in nxt.input else None
    halved = _scaled(g, other, 0.5)  # (0.5 * x) * half
    return [halved[1], first] if halved is not None and halved[0] == x else None


def _match(g: WorkGraph, act):
    """(x, approximate, nodes) for the GELU around the Erf / Tanh node `act`."""
    if is_op(act, "Erf"):
        found = _scaled(g, act.input[0], SQRT_HALF)
        if found is None:
            return None
        x, inner = found[0], [found[1]]
        approximate = "none"
    else:
        found = _tanh_inner(g, act.input[0])
        if found is None:
            return None
        x, inner = found
        approximate = "tanh"
    users = g.consumers(act.output[0])
    if len(users) != 1 or not is_op(users[0], "Add"):
        return None
    one = scalar_operand(g, users[0])
    if one is None or one[1] != 1.0:
        return None
    products = _products(g, users[0].output[0], x)
    if products is None:
        return None
    return x, approximate, inner + [act, users[0]] + products


def run(g: WorkGraph) -> int:
    count = 0
    for act in list(g.nodes):
        if not (is_op(act, "Erf") or is_op(act, "Tanh")) or not any(n is act for n in g.nodes):
            continue
        found = _match(g, act)
        if found is None:
            continue
        x, approximate, nodes = found
        out = nodes[-1].output[0]
        inside = {id(n) for n in nodes}
        if not g.is_float32(x) or any(o != out and (g.is_pinned(o) or any(id(u) not in inside for u in g.consumers(o)))
                                      for n in nodes for o in n.output):
            continue
        domain = "" if g.opset.get("", 1) >= 20 else FUSED_DOMAIN
        gelu = helper.make_node("Gelu", [x], [out], name=out, domain=domain, approximate=approximate)
        g.replace(nodes, [gelu])
        count += 1
    return count

"""Small graph-matching helpers the transformer fusions share."""
from __future__ import annotations

import numpy as np

from .workgraph import WorkGraph, attrs_of


def is_op(node, op_type: str) -> bool:
    """node is the default-domain op op_type."""
    return node is not None and node.op_type == op_type and node.domain in ("", "ai.onnx")


def producer_op(g: WorkGraph, name: str, op_type: str):
    """The producer of `name` if it is the default-domain op op_type, else None."""
    node = g.producer(name) if name else None
    return node if is_op(node, op_type) else None


def scalar(g: WorkGraph, name: str):
    """The value of a constant holding one number (any shape of size 1), else None."""
    c = g.const(name)
    if c is None or np.asarray(c).size != 1 or np.asarray(c).dtype.kind not in "fiu":
        return None
    return float(np.asarray(c).reshape(-1)[0])


def near(value, target: float, rel: float = 1e-3) -> bool:
    return value is not None and abs(value - target) <= rel * abs(target)


def scalar_operand(g: WorkGraph, node):
    """(tensor input, scalar) for a two-input node with one constant scalar input, else None."""
    if len(node.input) != 2:
        return None
    for side in (0, 1):
        c = scalar(g, node.input[1 - side])
        if c is not None and not g.is_const(node.input[side]):
            return node.input[side], c, side
    return None


def perm(node):
    return [int(p) for p in attrs_of(node).get("perm", [])]


def dead_after(g: WorkGraph, removed: list, taken_over=(), needed=()) -> list | None:
    """`removed` plus the nodes that die with it: those feeding only removed or dying nodes (the
    shape arithmetic of a Reshape target, a Transpose only the fused part read). Values in
    `taken_over` are produced again by the replacing node: their producers may go even though the
    values are pinned or read elsewhere; producers of `needed` (what the replacing nodes read) stay.
    None if a remaining node would still read a value only the removed nodes produced."""
    dead = {id(n) for n in removed}
    nodes = list(removed)
    changed = True
    while changed:
        changed = False
        for node in g.nodes:
            outs = [o for o in node.output if o]
            if id(node) in dead or not outs or not any(g.consumers(o) for o in outs) or any(o in needed for o in outs):
                continue
            if any(o not in taken_over and (g.is_pinned(o) or any(id(u) not in dead for u in g.consumers(o)))
                   for o in outs):
                continue
            dead.add(id(node))
            nodes.append(node)
            changed = True
    produced = {o for n in nodes for o in n.output if o} - set(taken_over)
    for node in g.nodes:
        if id(node) not in dead and any(i in produced for i in node.input):
            return None
    if any(o in produced for o in g.output_names):
        return None
    return nodes


def depends_on(g: WorkGraph, names, targets) -> bool:
    """Whether any of `names` is computed from one of `targets` (walking producers upwards)."""
    targets, seen, todo = set(targets), set(), [n for n in names if n]
    while todo:
        name = todo.pop()
        if name in targets:
            return True
        if name in seen:
            continue
        seen.add(name)
        node = g.producer(name)
        if node is not None:
            todo.extend(i for i in node.input if i)
    return False

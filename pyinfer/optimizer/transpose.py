"""Transpose pairs: an inverse pair cancels; two in a row become one.

Transpose(Transpose(x, p1), p2) has dims x.shape[p1[p2[i]]]: the identity when p1[p2[i]] == i.
"""
from __future__ import annotations

from onnx import helper

from .workgraph import WorkGraph, attrs_of

NAME = "cancel_transposes"


def _perm(g: WorkGraph, node):
    a = attrs_of(node)
    if "perm" in a:
        return [int(p) for p in a["perm"]]
    dims = g.shape(node.input[0])
    return None if dims is None else list(range(len(dims)))[::-1]


def run(g: WorkGraph) -> int:
    count = 0
    for second in list(g.nodes):
        if second.op_type != "Transpose" or second.domain not in ("", "ai.onnx"):
            continue
        first = g.producer(second.input[0])
        if first is None or first.op_type != "Transpose" or first.domain not in ("", "ai.onnx"):
            continue
        p1, p2 = _perm(g, first), _perm(g, second)
        if p1 is None or p2 is None or len(p1) != len(p2):
            continue
        composed = [p1[i] for i in p2]
        if composed == list(range(len(p1))):
            # The first one stays if something else reads it; elimination removes it otherwise.
            if g.bypass(second, second.output[0], first.input[0]):
                count += 1
        elif g.single_use(first.output[0]):
            merged = helper.make_node("Transpose", [first.input[0]], [second.output[0]],
                                      name=first.name or second.name, perm=composed)
            g.replace([first, second], [merged])
            count += 1
    return count

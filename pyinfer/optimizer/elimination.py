"""Dead-node, unused-output and unused-initializer elimination.

A node is live if one of its outputs is a graph output or is read by a live node (subgraph
reads included). Everything else is removed; then the optional outputs (by the op's schema)
that nobody reads are dropped from the live nodes (Dropout's mask, MaxPool's indices: an op asked
for fewer outputs may run natively, or do less); then every constant nobody reads.
"""
from __future__ import annotations

import functools

import onnx

from ..graph import node_reads
from .workgraph import WorkGraph

NAME = "eliminate_dead_nodes"


def run(g: WorkGraph) -> int:
    needed = set(g.output_names)
    live = []
    for node in reversed(g.nodes):
        if any(out and out in needed for out in node.output):
            live.append(node)
            needed.update(node_reads(node))
    removed = len(g.nodes) - len(live)
    if removed:
        live_ids = {id(n) for n in live}
        g.remove([n for n in g.nodes if id(n) not in live_ids])
    dropped = _drop_unread_outputs(g, live, needed)
    if dropped:
        g.changed()
    unused = [name for name in g.constants if name not in needed]
    for name in unused:
        del g.constants[name]
    if unused:
        g.changed()
    return removed + dropped + len(unused)


def _drop_unread_outputs(g: WorkGraph, nodes, needed: set) -> int:
    dropped = 0
    for node in nodes:
        if len(node.output) < 2 or node.domain not in ("", "ai.onnx"):
            continue
        optional = _optional_outputs(node.op_type, g.opset.get("", 1))
        for i, out in enumerate(node.output):
            if out and i in optional and out not in needed:
                node.output[i] = ""
                dropped += 1
    return dropped


@functools.lru_cache(maxsize=None)
def _optional_outputs(op_type: str, opset: int) -> frozenset:
    """Indices of the outputs the default-domain op's schema marks optional."""
    try:
        schema = onnx.defs.get_schema(op_type, opset, "")
    except onnx.defs.SchemaError:
        return frozenset()
    optional = onnx.defs.OpSchema.FormalParameterOption.Optional
    return frozenset(i for i, f in enumerate(schema.outputs) if f.option == optional)

"""Dead-node and unused-initializer elimination.

A node is live if one of its outputs is a graph output or is read by a live node (subgraph
reads included). Everything else is removed, then every constant nobody reads.
"""
from __future__ import annotations

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
    unused = [name for name in g.constants if name not in needed]
    for name in unused:
        del g.constants[name]
    if unused:
        g.changed()
    return removed + len(unused)

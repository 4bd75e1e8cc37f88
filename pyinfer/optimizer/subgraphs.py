"""The passes on subgraphs: If branches, Loop and Scan bodies are optimized like the main graph
(onnxruntime's graph transformers also recurse into them). A tf2onnx Loop or a Silero-style If
otherwise runs its body as written, every iteration: unfused MatMul + Add + Sigmoid chains,
Conv + Relu pairs, Identity nodes.

A body reads values of the graphs around it by name. Its WorkGraph sees them as:
- the outer constants it reads (initializers and folded values of the enclosing graphs):
  constants it may fold and fuse with but never writes back (`borrowed`: the body keeps reading
  them from the outer scope), and
- every other outer value: an extra graph input, typed where the enclosing graph knows the
  type, removed again from the optimized body.
New constants a body makes get names no enclosing graph uses, and are stored in the body.
"""
from __future__ import annotations

import onnx
from onnx import helper

from ..graph import free_names
from .workgraph import WorkGraph

_GRAPH, _GRAPHS = onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS


def optimize_subgraphs(g: WorkGraph, run_passes) -> dict:
    """Optimize every subgraph of g's nodes in place, outermost first (each body sees its
    enclosing graph already optimized). run_passes(WorkGraph) -> {pass name: rewrites}.
    Returns the rewrites summed over the bodies."""
    counts = {}
    changed = False
    for node in g.nodes:
        for attr in node.attribute:
            bodies = [attr.g] if attr.type == _GRAPH else list(attr.graphs) if attr.type == _GRAPHS else []
            for body in bodies:
                optimized, body_counts = _optimize_body(g, body, run_passes)
                if optimized is None:
                    continue
                body.CopyFrom(optimized)
                changed = True
                for name, n in body_counts.items():
                    counts[name] = counts.get(name, 0) + n
    if changed:
        g.changed()  # the bodies' outer reads may differ now
    return counts


def _optimize_body(outer: WorkGraph, body: onnx.GraphProto, run_passes):
    """(optimized body, rewrite counts), or (None, {}) when the body is left as it is."""
    free = free_names(body)
    visible = outer.visible_constants()
    borrowed = {name: visible[name] for name in free if name in visible}
    extra = [_value_info(outer, name) for name in sorted(free) if name not in borrowed]
    wrapper = onnx.ModelProto(ir_version=outer.model.ir_version)
    wrapper.opset_import.extend(outer.model.opset_import)
    wrapper.functions.extend(outer.model.functions)
    wrapper.graph.CopyFrom(body)
    wrapper.graph.input.extend(extra)
    try:
        wg = WorkGraph(wrapper, num_threads=outer.num_threads, max_memory_bytes=outer.max_memory_bytes,
                       borrowed=borrowed, reserved=outer.taken_names())
    except Exception:  # noqa: BLE001  a body the WorkGraph cannot take: it runs as written
        return None, {}
    counts = run_passes(wg)
    for name, n in optimize_subgraphs(wg, run_passes).items():  # the bodies inside this one
        counts[name] = counts.get(name, 0) + n
    if not any(counts.values()):
        return None, {}
    graph = wg.to_model().graph
    extra_names = {vi.name for vi in extra}
    kept = [vi for vi in graph.input if vi.name not in extra_names]
    del graph.input[:]
    graph.input.extend(kept)
    return graph, counts


def _value_info(outer: WorkGraph, name: str) -> onnx.ValueInfoProto:
    elem, dims = outer.types.get(name, (0, None))
    if not elem:
        vi = onnx.ValueInfoProto()
        vi.name = name
        return vi
    return helper.make_tensor_value_info(name, elem, dims)

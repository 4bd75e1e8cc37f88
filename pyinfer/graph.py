"""Graph helpers shared by the executor, the optimizer and the session: structural checks and
topological order, the names nodes read, the opset imports, the initializers as arrays."""
from __future__ import annotations

from collections import deque

import numpy as np
import onnx
from onnx import numpy_helper

from .errors import InvalidModelError


def topological_order(graph: onnx.GraphProto, outer_scope: set[str] = frozenset()) -> list[onnx.NodeProto]:
    """Nodes in an order where every input is produced before use.

    Raises InvalidModelError for an input nobody produces, a value produced twice, or a cycle.
    """
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    available |= {t.values.name for t in graph.sparse_initializer}
    available |= set(outer_scope)
    producer: dict[str, int] = {}
    for idx, node in enumerate(graph.node):
        for out in node.output:
            if not out:
                continue
            if out in available and out not in outer_scope:
                raise InvalidModelError(
                    f"node {_label(node)} writes {out!r}, which is already a graph input or initializer"
                )
            if out in producer:
                raise InvalidModelError(
                    f"value {out!r} is produced twice (by nodes {_label(graph.node[producer[out]])} "
                    f"and {_label(node)})"
                )
            producer[out] = idx

    consumers: dict[int, list[int]] = {i: [] for i in range(len(graph.node))}
    missing_count = []
    for idx, node in enumerate(graph.node):
        deps = set()
        for name in node_reads(node):
            if name in producer:
                if producer[name] != idx:
                    deps.add(producer[name])
                else:
                    raise InvalidModelError(f"node {_label(node)} consumes its own output {name!r}")
            elif name not in available:
                raise InvalidModelError(
                    f"node {_label(node)} reads {name!r}, which is neither a graph input, an "
                    f"initializer, nor the output of any node"
                )
        missing_count.append(len(deps))
        for d in deps:
            consumers[d].append(idx)

    ready = deque(i for i, c in enumerate(missing_count) if c == 0)
    order = []
    while ready:
        i = ready.popleft()
        order.append(graph.node[i])
        for j in consumers[i]:
            missing_count[j] -= 1
            if missing_count[j] == 0:
                ready.append(j)
    if len(order) != len(graph.node):
        stuck = [_label(graph.node[i]) for i, c in enumerate(missing_count) if c > 0]
        raise InvalidModelError(f"the graph has a cycle through nodes {', '.join(stuck[:5])}")

    listed = set()
    for out in graph.output:
        if out.name in listed:
            raise InvalidModelError(f"graph output {out.name!r} is listed twice")
        listed.add(out.name)
        if out.name not in producer and out.name not in available:
            raise InvalidModelError(f"graph output {out.name!r} is not produced by any node")
    return order


_GRAPH, _GRAPHS = onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS


def node_reads(node: onnx.NodeProto):
    """Names a node reads, including the outer-scope names its subgraphs read."""
    names = [n for n in node.input if n]
    for attr in node.attribute:
        kind = attr.type
        if kind == _GRAPH:
            names.extend(free_names(attr.g))
        elif kind == _GRAPHS:
            for g in attr.graphs:
                names.extend(free_names(g))
    return names


def free_names(graph: onnx.GraphProto) -> set[str]:
    """Names a subgraph reads from its enclosing scopes."""
    defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    for node in graph.node:
        defined.update(o for o in node.output if o)
    used = {o.name for o in graph.output}  # an output may be an outer value passed through
    for node in graph.node:
        used.update(node_reads(node))
    return used - defined


def _label(node: onnx.NodeProto) -> str:
    return f"{node.name!r} ({node.op_type})" if node.name else f"<unnamed {node.op_type}>"


def opset_map(model_or_imports) -> dict[str, int]:
    """domain -> opset version, from a model or its opset_import list ("ai.onnx" is "")."""
    imports = model_or_imports.opset_import if hasattr(model_or_imports, "opset_import") else model_or_imports
    out = {}
    for imp in imports:
        out["" if imp.domain == "ai.onnx" else imp.domain] = imp.version
    if "" not in out:
        out[""] = 1  # very old models without an explicit default-domain import
    return out


def initializer_arrays(graph: onnx.GraphProto, weights: dict | None = None) -> dict[str, np.ndarray]:
    """name -> array of every initializer. weights: arrays of initializers the proto holds as
    stubs (loader.load_model_parts); the returned dict is that very dict, extended."""
    consts = {} if weights is None else weights
    for t in graph.initializer:
        if t.name in consts:
            continue
        try:
            consts[t.name] = numpy_helper.to_array(t)
        except Exception as e:
            raise InvalidModelError(f"initializer {t.name!r} cannot be read: {e}") from e
    for st in graph.sparse_initializer:
        dense = numpy_helper.to_array(st.values)
        idx = numpy_helper.to_array(st.indices)
        full = np.zeros(tuple(st.dims), dtype=dense.dtype)
        if idx.ndim == 1:
            full.reshape(-1)[idx] = dense
        else:
            full[tuple(idx.T)] = dense
        consts[st.values.name] = full
    return consts

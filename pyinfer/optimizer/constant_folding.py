"""Constant folding: a node whose inputs are all constants is computed now, with pyinfer's own ops.

Also folds shape arithmetic on values whose static shape is known (graph input / value_info
declarations and onnx shape inference): Shape and Size of such a value, and Gather / Slice
picking only the known entries of a Shape (so `x.size(1)` folds even when the batch dimension
is symbolic). A symbolic or unknown dimension is never folded.

Size: a result no larger than the node's inputs always folds. One that grows (ConstantOfShape,
Expand, Tile, Range...: the weights of onnx's light models are ConstantOfShape nodes) folds while
everything folding has grown so far stays within the session's max_memory_bytes (the per-tensor
limit, here a budget for the whole graph), so the result is packed and fused like an initializer
instead of being recomputed on every run. Over the budget it is left to run time.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import Error
from ..limits import effective_limit
from ..ops.base import OpContext
from ..registry import lookup
from .workgraph import WorkGraph, attrs_of, has_subgraph

NAME = "fold_constants"

# Ops whose result is not a function of their inputs.
_NONDETERMINISTIC = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                     "Multinomial", "Bernoulli"}
# Growth below this many bytes is not counted against the budget (shape tensors, small masks).
_FREE_GROWTH_BYTES = 1 << 16


def run(g: WorkGraph) -> int:
    if any(n.op_type in ("Shape", "Size") for n in g.nodes):  # the shape folding below reads them
        g.infer_shapes()
    limit = effective_limit(g.max_memory_bytes)
    folded = []
    for node in list(g.nodes):
        values = _constant_value(node) or _fold_shape_op(g, node)
        if values is None and _all_inputs_constant(g, node):
            # The op's own allocation checks (ConstantOfShape, Expand...) see what is left of the
            # budget, so an oversized result is refused before it is allocated.
            left = max(limit - g.folded_growth, 0)
            ctx = OpContext(num_threads=g.num_threads, opset=g.opset, constants=g.constants,
                            max_memory_bytes=left)
            values = _evaluate(g, node, ctx)
            if values is not None:
                grown = _growth(g, node, values)
                if grown > left:
                    continue
                g.folded_growth += grown
        if values is None:
            continue
        for name, value in zip(node.output, values):
            if name:
                g.set_constant(name, value)
        folded.append(node)
    # Removed together: one removal per node rebuilt the node list and the lookups each time
    # (a MobileNetV2 export has 70 Constant nodes). Their outputs are constants already, which is
    # all the later nodes of this loop look at.
    if folded:
        g.remove(folded)
    return len(folded)


def _constant_value(node):
    """A Constant node holding a tensor: its value as it is, without building the op."""
    if node.op_type != "Constant" or node.domain not in ("", "ai.onnx") or len(node.attribute) != 1:
        return None
    attr = node.attribute[0]
    if attr.name != "value" or attr.type != onnx.AttributeProto.TENSOR or attr.t.data_location == 1:
        return None  # value_float(s), sparse values, external data: the op's setup handles them
    try:
        return [numpy_helper.to_array(attr.t)]
    except Exception:  # noqa: BLE001  a malformed tensor: the op reports it at run time
        return None


def _all_inputs_constant(g: WorkGraph, node) -> bool:
    return all(g.is_const(n) for n in node.input if n)


def _evaluate(g: WorkGraph, node, ctx):
    domain = "" if node.domain == "ai.onnx" else node.domain
    if domain != "" or node.op_type in _NONDETERMINISTIC or has_subgraph(node):
        return None
    args = [g.const(n) if n else None for n in node.input]
    try:
        cls, version = lookup(node.op_type, domain, g.opset.get(domain, 1), node.name)
        results = cls(node, version, ctx).run(*args)
    except (Error, Exception):  # an op that fails now fails again (with its message) at run time
        return None
    outputs = [o for o in node.output]
    if len(results) < len([o for o in outputs if o]):
        return None
    values = []
    for name, value in zip(outputs, results):
        if not name:
            values.append(None)
            continue
        if not isinstance(value, np.ndarray):
            if isinstance(value, np.generic):
                value = np.asarray(value)
            else:
                return None  # sequences, optionals: not representable as an initializer
        values.append(value)
    return values


def _growth(g: WorkGraph, node, values) -> int:
    """Bytes the results add beyond the node's inputs (0 when they are no larger, or small)."""
    out = sum(v.nbytes for v in values if v is not None)
    grown = out - sum(np.asarray(g.const(n)).nbytes for n in node.input if n)
    return grown if grown > _FREE_GROWTH_BYTES else 0


# --- shapes ----------------------------------------------------------------------------
def _clamp(i: int, rank: int) -> int:
    return min(max(i + rank if i < 0 else i, 0), rank)


def shape_entries(g: WorkGraph, name: str):
    """The entries of the value `name` if it is (a slice of) a Shape: a list of int | None."""
    node = g.producer(name)
    if node is None or node.op_type != "Shape" or node.domain not in ("", "ai.onnx"):
        return None
    dims = g.shape(node.input[0])
    if dims is None:
        return None
    rank = len(dims)
    a = attrs_of(node)
    start, end = _clamp(int(a.get("start", 0)), rank), _clamp(int(a.get("end", rank)), rank)
    return [d if isinstance(d, int) else None for d in dims[start:end]]


def _as_const(entries):
    if entries is None or any(d is None for d in entries):
        return None
    return np.array(entries, dtype=np.int64)


_SHAPE_OPS = frozenset({"Shape", "Size", "Gather", "Slice"})


def _fold_shape_op(g: WorkGraph, node):
    if (node.op_type not in _SHAPE_OPS or node.domain not in ("", "ai.onnx") or not node.input
            or g.is_const(node.input[0])):
        return None
    op = node.op_type
    if op == "Shape":
        value = _as_const(shape_entries(g, node.output[0]))
        return None if value is None else [value]
    if op == "Size":
        dims = g.static_shape(node.input[0])
        return None if dims is None else [np.array(int(np.prod(dims, dtype=np.int64)), dtype=np.int64)]
    entries = shape_entries(g, node.input[0])
    if entries is None:
        return None
    if op == "Gather":
        indices = g.const(node.input[1]) if len(node.input) > 1 else None
        if indices is None or int(attrs_of(node).get("axis", 0)) != 0:
            return None
        idx = np.asarray(indices, dtype=np.int64)
        n = len(entries)
        if np.any(idx < -n) or np.any(idx >= n):
            return None  # out of range: let the op report it at run time
        picked = [entries[int(i)] for i in idx.reshape(-1)]
        if any(d is None for d in picked):
            return None
        return [np.array(picked, dtype=np.int64).reshape(idx.shape)]
    if op == "Slice" and g.opset.get("", 1) >= 10:
        params = [g.const(n) if n else None for n in list(node.input[1:]) + [""] * (5 - len(node.input))]
        starts, ends, axes, steps = params[:4]
        if starts is None or ends is None or starts.size != 1 or ends.size != 1:
            return None
        if axes is not None and (axes.size != 1 or int(axes.reshape(-1)[0]) not in (0, -1)):
            return None
        step = 1 if steps is None else int(steps.reshape(-1)[0])
        if step == 0:
            return None
        # Python slicing on the list clamps exactly like ONNX Slice for a 1-D input.
        s, e = int(starts.reshape(-1)[0]), int(ends.reshape(-1)[0])
        big = 1 << 62
        s, e = max(min(s, big), -big), max(min(e, big), -big)
        value = _as_const(entries[s:e:step])
        return None if value is None else [value]
    return None

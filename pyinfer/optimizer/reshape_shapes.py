"""Reshape targets computed from shapes become constants (onnxruntime's ReshapeFusion).

Exporters with dynamic axes write `x.view(b, s, heads, d)` as
Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), Unsqueeze(Gather(Shape(x), 1)), [heads], [d])):
a dozen shape nodes per Reshape, run on every inference. Each entry of such a target is traced
back (Concat / Unsqueeze / Squeeze / Gather / Cast of a Shape or a constant) to a dimension of some
value or a number. An entry that is dimension i of the Reshape's own input (the same number or the
same symbolic name, by shape inference) becomes 0 ("copy this dimension", allowzero 0), a number
stays, and one entry left unknown becomes -1 (the element count fixes it). The target is then a
constant, the shape nodes die, and the plans run the Reshape as an alias.

A Reshape whose constant target gives its input's own shape (all dims copied or -1 in the one
remaining place) is removed.
"""
from __future__ import annotations

import numpy as np

from .workgraph import WorkGraph, attrs_of

NAME = "fold_reshape_shapes"

_UNKNOWN = object()


def _is(node, op: str) -> bool:
    return node is not None and node.op_type == op and node.domain in ("", "ai.onnx")


def _axes(g: WorkGraph, node):
    """Unsqueeze / Squeeze axes (attribute before opset 13, input after), or None."""
    if len(node.input) > 1 and node.input[1]:
        v = g.const(node.input[1])
        return None if v is None else [int(a) for a in np.asarray(v).reshape(-1)]
    a = attrs_of(node).get("axes")
    return None if a is None else [int(x) for x in a]


def trace_entries(g: WorkGraph, name: str, depth: int = 0):
    """The entries of the 1-D (or scalar) integer value `name`: a list whose items are ints or
    (value, dim index) pairs naming a dimension of another value, or _UNKNOWN; None if the value
    cannot be traced at all."""
    c = g.const(name)
    if c is not None:
        c = np.asarray(c)
        return [int(v) for v in c.reshape(-1)] if c.dtype.kind in "iu" and c.ndim <= 1 else None
    node = g.producer(name)
    if node is None or depth > 12:
        return None
    if _is(node, "Shape"):
        dims = g.shape(node.input[0])
        if dims is None:
            return None
        rank = len(dims)
        a = attrs_of(node)
        clamp = lambda i: min(max(i + rank if i < 0 else i, 0), rank)  # noqa: E731
        return [(node.input[0], i) for i in range(clamp(int(a.get("start", 0))), clamp(int(a.get("end", rank))))]
    if _is(node, "Concat"):
        out = []
        for part in node.input:
            entries = trace_entries(g, part, depth + 1)
            if entries is None:
                return None
            out += entries
        return out
    if _is(node, "Cast") or _is(node, "Unsqueeze") or _is(node, "Squeeze"):
        if (_is(node, "Unsqueeze") and _axes(g, node) not in ([0], [-1])) or \
                (_is(node, "Squeeze") and _axes(g, node) not in (None, [0], [-1])):
            return None
        return trace_entries(g, node.input[0], depth + 1)
    if _is(node, "Gather") and int(attrs_of(node).get("axis", 0)) == 0:
        idx = g.const(node.input[1])
        entries = trace_entries(g, node.input[0], depth + 1)
        if idx is None or entries is None:
            return None
        n = len(entries)
        picked = [int(i) for i in np.asarray(idx).reshape(-1)]
        if any(not -n <= i < n for i in picked):
            return None
        return [entries[i] for i in picked]
    if _is(node, "Slice") and len(node.input) >= 3:
        entries = trace_entries(g, node.input[0], depth + 1)
        params = [g.const(n) if n else None for n in list(node.input[1:5]) + [""] * (5 - len(node.input))]
        starts, ends, axes, steps = params
        if entries is not None and starts is not None and ends is not None and starts.size == ends.size == 1 \
                and (axes is None or int(np.asarray(axes).reshape(-1)[0]) in (0, -1)) \
                and (steps is None or int(np.asarray(steps).reshape(-1)[0]) != 0):
            step = 1 if steps is None else int(np.asarray(steps).reshape(-1)[0])
            big = 1 << 62  # Python slicing clamps like ONNX Slice on a 1-D input
            lo, hi = (max(min(int(np.asarray(v).reshape(-1)[0]), big), -big) for v in (starts, ends))
            return entries[lo:hi:step]
    shape = g.shape(name)
    if shape is not None and len(shape) <= 1:  # some other computation: its entries are unknown
        n = 1 if not shape else shape[0]
        return [_UNKNOWN] * n if isinstance(n, int) else None
    return None


def _dim(g: WorkGraph, entry):
    """An entry's value: an int, a symbolic name (str), or None (unknown)."""
    if isinstance(entry, int):
        return entry
    if entry is _UNKNOWN:
        return None
    dims = g.shape(entry[0])
    return None if dims is None or entry[1] >= len(dims) else dims[entry[1]]


def constant_target(g: WorkGraph, reshape):
    """The constant target equivalent to the Reshape's computed one, or None."""
    entries = trace_entries(g, reshape.input[1])
    data = g.shape(reshape.input[0])
    if entries is None or data is None:
        return None
    copy_allowed = not int(attrs_of(reshape).get("allowzero", 0))
    out, unknown = [], []
    for i, entry in enumerate(entries):
        value = _dim(g, entry)
        if isinstance(entry, int):
            out.append(entry)
        elif copy_allowed and value is not None and i < len(data) and data[i] == value:
            out.append(0)
        elif isinstance(value, int):
            out.append(value)
        else:
            out.append(None)
            unknown.append(i)
    if len(unknown) > 1 or (unknown and -1 in out):
        return None
    for i in unknown:
        out[i] = -1
    return np.array(out, dtype=np.int64)


def _keeps_shape(g: WorkGraph, reshape, target) -> bool:
    """Whether the constant target gives the input's own shape: every entry copies its dim (0, or
    the same known number) except at most one -1."""
    data = g.shape(reshape.input[0])
    if data is None or len(target) != len(data):
        return False
    copy_allowed = not int(attrs_of(reshape).get("allowzero", 0))
    free = 0
    for t, d in zip(target.tolist(), data):
        if t == -1:
            free += 1
        elif not ((t == 0 and copy_allowed) or (isinstance(d, int) and t == d and d != 0)):
            return False
    return free <= 1


def run(g: WorkGraph) -> int:
    count = 0
    for node in list(g.nodes):
        if not _is(node, "Reshape") or len(node.input) < 2:
            continue
        target = g.const(node.input[1])
        if target is None:
            target = constant_target(g, node)
            if target is None:
                continue
            node.input[1] = g.add_constant(node.name or "reshape_shape", target)
            g.changed()
            count += 1
        if _keeps_shape(g, node, np.asarray(target)) and g.bypass(node, node.output[0], node.input[0]):
            count += 1
    return count

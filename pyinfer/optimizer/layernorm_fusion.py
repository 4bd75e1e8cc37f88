"""Layer and RMS normalization written out in elementary ops become one node.

    mean = ReduceMean(x, last axes); d = Sub(x, mean)
    var = ReduceMean(Pow(d, 2) | Mul(d, d)); std = Sqrt(Add(var, eps))
    y = Div(d, std) | Mul(d, Reciprocal(std)) [* gamma] [+ beta]

(torch's legacy exporter before LayerNormalization-17, TensorFlow converters) becomes
LayerNormalization (opset 17+) or pyinfer::FusedLayerNormalization; the RMS form
y = x / sqrt(ReduceMean(x^2) + eps) [* gamma] (T5, LLaMA) becomes RMSNormalization (opset 23+) or
pyinfer::FusedLayerNormalization with rms=1. Both run the layer_norm kernel. float32 only; the
reduced axes must be the trailing ones, gamma and beta constants of the normalized shape.
"""
from __future__ import annotations

import numpy as np
from onnx import helper

from .patterns import is_op, producer_op, scalar, scalar_operand
from .workgraph import FUSED_DOMAIN, WorkGraph, attrs_of

NAME = "fuse_layer_norm"


def _mean_axes(g: WorkGraph, node):
    """The axes of a keepdims ReduceMean (attribute, or input from opset 18), or None."""
    a = attrs_of(node)
    if not int(a.get("keepdims", 1)):
        return None
    if len(node.input) > 1 and node.input[1]:
        axes = g.const(node.input[1])
        return None if axes is None else [int(x) for x in np.asarray(axes).reshape(-1)]
    return [int(x) for x in a["axes"]] if "axes" in a else None


def _trailing(axes, rank) -> int | None:
    """The first normalized axis if `axes` are the last len(axes) axes of a rank-`rank` value."""
    if axes is None or rank is None:
        return None
    norm = sorted(a % rank for a in axes)
    return norm[0] if norm == list(range(rank - len(norm), rank)) else None


def _square_of(g: WorkGraph, name: str):
    """x for Pow(x, 2) or Mul(x, x), else None."""
    node = g.producer(name)
    if is_op(node, "Pow") and scalar(g, node.input[1]) == 2.0:
        return node.input[0], node
    if is_op(node, "Mul") and node.input[0] == node.input[1]:
        return node.input[0], node
    return None


def _std(g: WorkGraph, name: str):
    """(variance-like value, epsilon, nodes) for Sqrt(Add(v, eps)), else None."""
    sqrt = producer_op(g, name, "Sqrt")
    add = producer_op(g, sqrt.input[0], "Add") if sqrt is not None else None
    found = scalar_operand(g, add) if add is not None else None
    if found is None:
        return None
    return found[0], found[1], [add, sqrt]


def _normalized(g: WorkGraph, name: str):
    """(numerator, std value, nodes) for Div(n, std) or Mul(n, Reciprocal(std)) | Mul(Reciprocal, n)."""
    node = g.producer(name)
    if is_op(node, "Div"):
        return node.input[0], node.input[1], [node]
    if is_op(node, "Mul"):
        for side in (0, 1):
            rec = producer_op(g, node.input[side], "Reciprocal")
            if rec is not None:
                return node.input[1 - side], rec.input[0], [rec, node]
    return None


def _affine(g: WorkGraph, name: str, cols: int):
    """Walk Mul(gamma) then Add(beta) after the normalized value: (gamma, beta (constant names or
    None), last value, nodes)."""
    gamma = beta = None
    nodes = []
    for op in ("Mul", "Add"):
        users = g.consumers(name)
        if len(users) != 1 or not is_op(users[0], op) or g.is_pinned(name):
            break
        node = users[0]
        other = node.input[1] if node.input[0] == name else node.input[0]
        c = g.const(other)
        if c is None or c.dtype != np.float32 or c.size != cols or (c.ndim and c.shape[-1] != c.size and cols > 1):
            break
        if op == "Mul":
            gamma = other
        else:
            beta = other
        nodes.append(node)
        name = node.output[0]
    return gamma, beta, name, nodes


def _match(g: WorkGraph, top):
    """Starting from the normalizing Div / Mul node `top`: (x, axis, epsilon, rms, nodes)."""
    found = _normalized(g, top.output[0])
    if found is None:
        return None
    numerator, std_name, nodes = found
    std = _std(g, std_name)
    if std is None:
        return None
    var_name, eps, std_nodes = std
    var = producer_op(g, var_name, "ReduceMean")
    sq = _square_of(g, var.input[0]) if var is not None else None
    if sq is None:
        return None
    dims = g.shape(numerator)
    axis = _trailing(_mean_axes(g, var), len(dims) if dims is not None else None)
    if axis is None:
        return None
    nodes = nodes + std_nodes + [var, sq[1]]
    sub = producer_op(g, numerator, "Sub")
    if sub is not None and sq[0] == numerator:
        mean = producer_op(g, sub.input[1], "ReduceMean")
        if mean is None or mean.input[0] != sub.input[0] or _trailing(_mean_axes(g, mean), len(dims)) != axis:
            return None
        return sub.input[0], axis, eps, False, nodes + [sub, mean]
    if sq[0] == numerator:  # RMS: x / sqrt(mean(x^2) + eps)
        return numerator, axis, eps, True, nodes
    return None


def _fuse(g: WorkGraph, top) -> bool:
    found = _match(g, top)
    if found is None:
        return False
    x, axis, eps, rms, nodes = found
    dims = g.shape(x)
    cols = int(np.prod(dims[axis:])) if all(isinstance(d, int) for d in dims[axis:]) else None
    if cols is None or not g.is_float32(x):
        return False
    gamma, beta, out, affine = _affine(g, top.output[0], cols)
    # every intermediate is read only inside the pattern
    inside = {id(n) for n in nodes + affine}
    for n in nodes + affine:
        for o in n.output:
            if o != out and (g.is_pinned(o) or any(id(u) not in inside for u in g.consumers(o))):
                return False
    scale = gamma if gamma is not None else g.add_constant("norm_scale", np.ones(dims[axis:], np.float32))
    shift = [beta] if beta is not None else []
    opset = g.opset.get("", 1)
    if not rms and opset >= 17:
        node = helper.make_node("LayerNormalization", [x, scale] + shift, [out], axis=axis, epsilon=eps, name=out)
    elif rms and opset >= 23 and beta is None:
        node = helper.make_node("RMSNormalization", [x, scale], [out], axis=axis, epsilon=eps, name=out)
    else:
        node = helper.make_node("FusedLayerNormalization", [x, scale] + (shift or [""]), [out], axis=axis,
                                epsilon=eps, rms=int(rms), domain=FUSED_DOMAIN, name=out)
    g.replace(nodes + affine, [node])
    if out not in g.types:
        g.set_float_shape(out, dims)
    return True


def run(g: WorkGraph) -> int:
    count = 0
    for node in list(g.nodes):
        if (is_op(node, "Div") or is_op(node, "Mul")) and any(n is node for n in g.nodes) and _fuse(g, node):
            count += 1
    return count


"""Mul / Add by a per-channel constant folded into the Conv before it.

conv(x, W, b) * c  = conv(x, W * c, b * c)     (c per output channel, or a scalar)
conv(x, W, b) + c  = conv(x, W, b + c)
c must broadcast against [N, M, spatial...] without changing the shape: after dropping
leading 1s it is [M or 1, 1, ..., 1]. Computed in float64, stored in the weights' dtype.
"""
from __future__ import annotations

import numpy as np

from .workgraph import WorkGraph, copy_node

NAME = "fold_conv_mul_add"


def per_channel(c: np.ndarray, rank: int, channels: int):
    """c as a float64 vector of length `channels`, if it is per-channel for a rank-`rank` output."""
    if c.ndim > rank:
        return None
    full = c.reshape((1,) * (rank - c.ndim) + c.shape)
    if full.shape[0] != 1 or any(d != 1 for d in full.shape[2:]) or full.shape[1] not in (1, channels):
        return None
    return np.broadcast_to(full.reshape(-1).astype(np.float64), (channels,))


def fold_mul_add_into_producers(g: WorkGraph, accepts, fold) -> int:
    """Each Mul / Add of a constant and a value whose producer `accepts(g, producer)` and that
    nothing else reads: `fold(g, producer, op_type, constant)` gives the node replacing both
    (or None to leave them). Returns how many pairs were replaced."""
    count = 0
    for node in list(g.nodes):
        if node.op_type not in ("Mul", "Add") or node.domain not in ("", "ai.onnx") or len(node.input) != 2:
            continue
        for side in (0, 1):
            y, c_name = node.input[side], node.input[1 - side]
            producer = g.producer(y)
            if producer is None or not g.is_const(c_name) or not g.single_use(y) or not accepts(g, producer):
                continue
            new = fold(g, producer, node.op_type, g.const(c_name))
            if new is not None:
                new.output[0] = node.output[0]
                g.replace([producer, node], [new])
                count += 1
                break
    return count


def _is_conv(g: WorkGraph, node) -> bool:
    return node.op_type == "Conv" and node.domain in ("", "ai.onnx")


def run(g: WorkGraph) -> int:
    return fold_mul_add_into_producers(g, _is_conv, _fold)


def _fold(g: WorkGraph, conv, op_type, c):
    w = g.const(conv.input[1])
    b_name = conv.input[2] if len(conv.input) > 2 else ""
    b = g.const(b_name) if b_name else None
    if w is None or (b_name and b is None) or w.dtype.kind != "f" or c.dtype != w.dtype:
        return None
    channels = w.shape[0]
    v = per_channel(c, w.ndim, channels)
    if v is None:
        return None
    b64 = None if b is None else b.astype(np.float64)
    node = copy_node(conv)
    if op_type == "Mul":
        w_new = w.astype(np.float64) * v.reshape((-1,) + (1,) * (w.ndim - 1))
        node.input[1] = g.add_constant(conv.input[1], w_new.astype(w.dtype))
        if b64 is None:
            return node
        b_new = b64 * v
    else:
        b_new = v.copy() if b64 is None else b64 + v
    b_const = g.add_constant(b_name or conv.name or "bias", b_new.astype(w.dtype))
    if len(node.input) > 2:
        node.input[2] = b_const
    else:
        node.input.append(b_const)
    return node

"""Channels-last islands back to NCHW: Transpose(0,2,3,1) -> ops on the last axis -> Transpose(0,3,1,2).

ConvNeXt is exported as
    Transpose(x, 0,2,3,1) -> LayerNormalization(axis=-1) -> MatMul(W1) -> Add(b1) -> Gelu
        -> MatMul(W2) -> Add(b2) -> Transpose(0,3,1,2) -> Mul(gamma) -> Add(residual)
(and its LayerNorm2d as Transpose -> LayerNormalization -> Transpose). Between the two Transposes
every op works on the channel axis alone, so the island is rewritten to run on the NCHW map:
LayerNormalization over the last axis becomes pyinfer::ChannelLayerNorm (ops/cnn_blocks.py),
MatMul by a constant [K, N] a 1x1 Conv with weights W^T [N, K, 1, 1], a per-channel constant
([N] or [1, 1, 1, N]) of Add / Sub / Mul / Div is reshaped to [N, 1, 1], and elementwise ops
(scalar constants, other values of the island, unary activations) stay as they are. Both
Transposes go. The rest of the optimizer then treats the convs as any other: the bias Add and
the layer scale Mul fold into them (fold_conv_mul_add), the Gelu fuses (fuse_activation), the
residual Add fuses (fuse_residual_add); tract and OpenVINO also keep ConvNeXt in one layout.

An island is rewritten only whole: it has one entry (the first Transpose), every value inside is
read only inside it or by a Transpose(0,3,1,2) exit, none is a graph output, every op is one of
the above and the entry's input is a rank-4 float32 map whose channel count is known.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from .workgraph import FUSED_DOMAIN, WorkGraph, attrs_of

NAME = "nhwc_to_nchw"

_TO_NHWC, _TO_NCHW = [0, 2, 3, 1], [0, 3, 1, 2]
_UNARY = {"Relu", "Gelu", "Erf", "Sigmoid", "Tanh", "HardSwish", "HardSigmoid", "LeakyRelu", "Elu", "Softplus",
          "Mish", "Neg", "Abs", "Sqrt", "Exp", "Identity"}
_BINARY = {"Add", "Sub", "Mul", "Div"}


def _perm(node):
    return [int(p) for p in attrs_of(node).get("perm", [])]


def _is_transpose(node, perm) -> bool:
    return node.op_type == "Transpose" and node.domain in ("", "ai.onnx") and _perm(node) == perm


class _Island:
    def __init__(self, entry):
        self.entry = entry
        self.nodes = []        # inside, topological order not guaranteed
        self.exits = []        # the Transpose(0,3,1,2) nodes
        self.channels = {}     # value -> channel count (its last axis)


def _channel_const(g: WorkGraph, name: str, channels: int):
    """A constant operand as it must read in NCHW: scalars stay, per-channel vectors become
    [C, 1, 1]; anything else (None) ends the island."""
    v = g.const(name)
    if v is None:
        return None
    if v.size == 1 and v.ndim <= 4:
        return v.reshape(())
    if v.ndim >= 1 and v.shape[-1] == channels and v.size == channels and v.ndim <= 4:
        return v.reshape(channels, 1, 1)
    return None


def _grow(g: WorkGraph, entry) -> _Island | None:
    x = entry.input[0]
    dims = g.shape(x)
    if dims is None or len(dims) != 4 or not isinstance(dims[1], int) or not g.is_float32(x):
        return None
    isl = _Island(entry)
    isl.channels[entry.output[0]] = dims[1]
    frontier = [entry.output[0]]
    seen = {id(entry)}
    waiting = []  # nodes with an input not known yet (a value the island makes later)
    while frontier or waiting:
        if not frontier:
            ready = [n for n in waiting if _inputs_known(g, isl, n)]
            if not ready:
                return None  # an input from outside the island
            for n in ready:
                waiting.remove(n)
                if not _take(g, isl, n, frontier):
                    return None
            continue
        value = frontier.pop()
        if g.is_pinned(value):
            return None
        for user in g.consumers(value):
            if id(user) in seen:
                continue
            seen.add(id(user))
            if _is_transpose(user, _TO_NCHW):
                isl.exits.append(user)
            elif not _inputs_known(g, isl, user):
                waiting.append(user)
            elif not _take(g, isl, user, frontier):
                return None
    return isl if isl.exits else None


def _inputs_known(g: WorkGraph, isl: _Island, node) -> bool:
    return all(not n or n in isl.channels or g.is_const(n) for n in node.input)


def _take(g: WorkGraph, isl: _Island, node, frontier) -> bool:
    out_c = _admit(g, isl, node)
    if out_c is None:
        return False
    isl.nodes.append(node)
    isl.channels[node.output[0]] = out_c
    frontier.append(node.output[0])
    return True


def _admit(g: WorkGraph, isl: _Island, node) -> int | None:
    """The channel count of node's output inside the island, or None when it cannot be inside."""
    if node.domain not in ("", "ai.onnx") or len([o for o in node.output if o]) != 1:
        return None
    ins = [n for n in node.input if n]
    inside = [n for n in ins if n in isl.channels]
    if not inside:
        return None
    c = isl.channels[inside[0]]
    op = node.op_type
    if op in _UNARY:
        return c if len(ins) == 1 else None
    if op in _BINARY and len(ins) == 2:
        others = [n for n in ins if n not in isl.channels]
        if not others:
            return c if isl.channels[ins[0]] == isl.channels[ins[1]] else None
        return c if _channel_const(g, others[0], c) is not None else None
    if op == "MatMul" and len(ins) == 2 and node.input[0] in isl.channels:
        w = g.const(node.input[1])
        if w is None or w.ndim != 2 or w.shape[0] != c or w.dtype != np.float32:
            return None
        return int(w.shape[1])
    if op == "LayerNormalization" and node.input[0] in isl.channels:
        if int(attrs_of(node).get("axis", -1)) not in (-1, 3) or int(attrs_of(node).get("stash_type", 1)) != 1:
            return None
        for i in (1, 2):
            if len(node.input) > i and node.input[i]:
                v = g.const(node.input[i])
                if v is None or v.shape != (c,) or v.dtype != np.float32:
                    return None
        return c
    return None


def _rewrite(g: WorkGraph, isl: _Island) -> None:
    x = isl.entry.input[0]
    rename = {isl.entry.output[0]: x}
    new_nodes = []
    for node in isl.nodes:
        ins = [rename.get(n, n) for n in node.input]
        op = node.op_type
        if op == "MatMul":
            w = g.const(node.input[1])
            wname = g.add_constant(node.input[1] + "_nchw", np.ascontiguousarray(w.T).reshape(w.shape[1], w.shape[0], 1, 1))
            new = helper.make_node("Conv", [ins[0], wname], list(node.output), name=node.name)
        elif op == "LayerNormalization":
            eps = float(attrs_of(node).get("epsilon", 1e-5))
            new = helper.make_node("ChannelLayerNorm", ins[:3], [node.output[0]], name=node.name,
                                   domain=FUSED_DOMAIN, epsilon=eps)
        else:
            c = isl.channels[node.output[0]]
            for i, name in enumerate(node.input):
                if name and name not in isl.channels:
                    v = _channel_const(g, name, c)
                    if v.shape != g.const(name).shape:
                        ins[i] = g.add_constant(name + "_nchw", np.ascontiguousarray(v))
            new = helper.make_node(op, ins, list(node.output), name=node.name)
            new.attribute.extend(node.attribute)
        new_nodes.append(new)
    for t in isl.exits:
        new_nodes.append(helper.make_node("Identity", [rename.get(t.input[0], t.input[0])], [t.output[0]], name=t.name))
    n, _, h, w = g.shape(x)
    for node in isl.nodes:  # the values are NCHW now (onnx's inference cannot see past ChannelLayerNorm)
        g.types[node.output[0]] = (onnx.TensorProto.FLOAT, [n, isl.channels[node.output[0]], h, w])
    old = [isl.entry] + isl.nodes + isl.exits
    # A topological order: the island reads only x and constants, so its nodes (in their
    # original relative order) go where the entry was, before anything that reads an exit.
    order = {id(n): i for i, n in enumerate(g.nodes)}
    ranked = sorted(zip(old[1:], new_nodes), key=lambda p: order[id(p[0])])
    pos = order[id(isl.entry)]
    ids = {id(n) for n in old}
    g.nodes = g.nodes[:pos] + [n for _, n in ranked] + [n for n in g.nodes[pos:] if id(n) not in ids]
    g.changed()
    for node in old:  # weights only the old nodes read (transposed copies replace them)
        for name in node.input:
            if name in g.constants and not g.consumers(name) and not g.is_pinned(name):
                del g.constants[name]


def run(g: WorkGraph) -> int:
    count = 0
    for node in list(g.nodes):
        if not _is_transpose(node, _TO_NHWC):
            continue
        isl = _grow(g, node)
        if isl is None:
            continue
        _rewrite(g, isl)
        count += 1
    return count

"""Squeeze-and-excitation blocks to one pyinfer::SqueezeExcite (ops/squeeze_excite.py).

    p = GlobalAveragePool(x)           (or ReduceMean over every spatial axis, keepdims=1)
    h = Conv1x1(p, W1, B1) -> act      (FusedConv after fuse_activation; act optional)
    g = Conv1x1(h, W2, B2) -> gate     (a FusedConv whose activation is Sigmoid or HardSigmoid)
    y = Mul(z, g)                      (z is x itself, or another map of g's channels: LRASPP)
becomes SqueezeExcite(x, W1, B1, W2, B2, z). The one-layer form (p -> Conv1x1 -> gate, LRASPP's
scale branch) becomes SqueezeExcite(x, W1, B1, "", "", z). MobileNetV3, EfficientNet, RegNetY,
MNASNet-A and LRASPP are built of these; each was six plan steps. It runs after fuse_activation
in the same round, which gives the convs their activations first. The convs must be 1x1, stride
1, no padding, one group, no residual, constant float32 weights; p, h and g must have no other
reader; z must have exactly the Mul's output shape (g broadcasts onto it).
"""
from __future__ import annotations

import numpy as np

from ..ops.epilogue import Act
from .workgraph import FUSED_DOMAIN, WorkGraph, attrs_of, set_attr

NAME = "fuse_squeeze_excite"

_GATES = ("Sigmoid", "HardSigmoid")
_EPILOGUE_ATTRS = ("activation", "activation_alpha", "activation_beta", "clip_min", "clip_max", "approximate")


def _pool_input(g: WorkGraph, node):
    """x when `node` is a global average pool of x (rank 4, keepdims), else None."""
    if node is None or node.domain not in ("", "ai.onnx"):
        return None
    x = node.input[0] if node.input else None
    dims = g.shape(x) if x else None
    if dims is None or len(dims) != 4:
        return None
    if node.op_type == "GlobalAveragePool":
        return x
    if node.op_type != "ReduceMean":
        return None
    a = attrs_of(node)
    if int(a.get("keepdims", 1)) != 1:
        return None
    axes = a.get("axes")
    if len(node.input) > 1 and node.input[1]:
        axes = g.const(node.input[1])
        if axes is None:
            return None
    if axes is None:
        return None
    if sorted(int(v) % 4 for v in np.asarray(axes).reshape(-1)) != [2, 3]:
        return None
    return x


def _conv1x1(g: WorkGraph, node):
    """(W, B or "", epilogue attrs) of a 1x1, stride-1, unpadded, single-group Conv / FusedConv
    without a residual and with constant float32 weights; None otherwise."""
    if node is None or len(node.output) != 1:
        return None
    fused = node.domain == FUSED_DOMAIN and node.op_type == "FusedConv"
    if not fused and (node.domain not in ("", "ai.onnx") or node.op_type != "Conv"):
        return None
    if len(node.input) > 3 and node.input[3]:
        return None  # a residual
    w = g.const(node.input[1]) if len(node.input) > 1 else None
    if w is None or w.dtype != np.float32 or w.ndim != 4 or w.shape[2:] != (1, 1):
        return None
    b = node.input[2] if len(node.input) > 2 and node.input[2] else ""
    if b and (g.const(b) is None or g.const(b).dtype != np.float32):
        return None
    a = attrs_of(node)
    if (int(a.get("group", 1)) != 1 or any(int(v) != 1 for v in a.get("strides", [1, 1]))
            or any(int(v) != 0 for v in a.get("pads", [0, 0, 0, 0]))
            or any(int(v) != 1 for v in a.get("dilations", [1, 1]))
            or a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID")):
        return None
    epilogue = {k: v for k, v in a.items() if k in _EPILOGUE_ATTRS} if fused else {}
    return node.input[1], b, epilogue


def _match(g: WorkGraph, mul):
    if mul.op_type != "Mul" or mul.domain not in ("", "ai.onnx") or len(mul.input) != 2:
        return None
    for gi in (0, 1):
        gate_out, z = mul.input[gi], mul.input[1 - gi]
        gate = g.producer(gate_out)
        layer2 = _conv1x1(g, gate)
        if layer2 is None or layer2[2].get("activation") not in _GATES or not g.single_use(gate_out):
            continue
        inner = g.producer(gate.input[0])
        x = _pool_input(g, inner)
        chain = [inner, gate]
        layers = [layer2]
        if x is None:
            layer1 = _conv1x1(g, inner)
            if layer1 is None or not g.single_use(gate.input[0]):
                continue
            pool = g.producer(inner.input[0])
            x = _pool_input(g, pool)
            if x is None or not g.single_use(inner.input[0]):
                continue
            chain = [pool, inner, gate]
            layers = [layer1, layer2]
        elif not g.single_use(gate.input[0]):
            continue
        if not all(g.is_float32(n) for n in (x, z, mul.output[0])):
            continue
        zdims, ydims = g.shape(z), g.shape(mul.output[0])
        if zdims is None or ydims is None or len(zdims) != 4 or list(zdims) != list(ydims) or any(
                d is None for d in zdims):
            continue
        w_last = g.const(layers[-1][0])
        if not isinstance(zdims[1], int) or w_last.shape[0] != zdims[1]:
            continue
        return x, z, chain, layers
    return None


def run(g: WorkGraph) -> int:
    count = 0
    for mul in list(g.nodes):
        found = _match(g, mul)
        if found is None:
            continue
        x, z, chain, layers = found
        (w1, b1, e1), (w2, b2, e2) = (layers[0], layers[1]) if len(layers) == 2 else ((layers[0][0], layers[0][1], {}),
                                                                                       ("", "", layers[0][2]))
        inputs = [x, w1, b1, w2, b2, "" if z == x else z]
        while inputs and not inputs[-1]:
            inputs.pop()
        from onnx import helper

        new = helper.make_node("SqueezeExcite", inputs, [mul.output[0]], name=mul.name or chain[-1].name,
                               domain=FUSED_DOMAIN)
        if len(layers) == 2:
            for k, v in e1.items():
                set_attr(new, k, v)
        set_attr(new, "gate", e2["activation"])
        gate_act = Act.from_onnx(e2["activation"])
        for k in ("alpha", "beta")[:gate_act.param_count]:
            if f"activation_{k}" in e2:
                set_attr(new, f"gate_{k}", float(e2[f"activation_{k}"]))
        g.replace(chain + [mul], [new])
        count += 1
    return count

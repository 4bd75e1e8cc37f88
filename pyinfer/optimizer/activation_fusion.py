"""Activations fused into the Conv / Gemm / MatMul before them.

Conv -> act becomes pyinfer::FusedConv, Gemm -> act pyinfer::FusedGemm, MatMul -> act
pyinfer::FusedMatMul, BatchNormalization (inference, constant parameters) -> act
pyinfer::FusedBatchNormalization, with attributes `activation` (Relu, Clip, LeakyRelu, Sigmoid, Tanh,
HardSigmoid, HardSwish, Gelu, Silu, Mish) and its parameters (`activation_alpha`, `activation_beta`,
`clip_min` / `clip_max`, `approximate`). A FusedConv with a residual but no activation yet (see
residual_fusion) also takes one. float32 only.

Activations written as two nodes that read the producer's output twice are recognised too, as
onnxruntime's QuickGelu / SiLU fusions do:
    Mul(x, Sigmoid(x))                         -> Silu   (SiLU / Swish: EfficientNet, RegNetY)
    Mul(x, HardSigmoid(x, 1/6, 1/2))           -> HardSwish
    Swish(x) with alpha 1 (opset 24)           -> Silu
The Sigmoid / HardSigmoid must be read by that Mul alone, and x by those two nodes alone.
"""
from __future__ import annotations

import numpy as np

from . import bn_scale
from .workgraph import FUSED_DOMAIN, WorkGraph, attrs_of, copy_node, set_attr

NAME = "fuse_activation"

_TARGETS = {("", "Conv"): "FusedConv", ("", "Gemm"): "FusedGemm", ("", "MatMul"): "FusedMatMul",
            ("", "BatchNormalization"): "FusedBatchNormalization",
            (FUSED_DOMAIN, "FusedConv"): "FusedConv", (FUSED_DOMAIN, "FusedGemm"): "FusedGemm",
            (FUSED_DOMAIN, "FusedMatMul"): "FusedMatMul"}


def activation_attrs(g: WorkGraph, node):
    """The fused-op attributes describing activation node `node`, or None if it cannot fuse."""
    a = attrs_of(node)
    op = node.op_type
    if node.domain == FUSED_DOMAIN and op == "Gelu":  # fuse_gelu's, for opsets before Gelu-20
        return {"activation": op, "approximate": a.get("approximate", "none")}
    if node.domain not in ("", "ai.onnx") or len(node.output) != 1:
        return None
    if op in ("Relu", "Sigmoid", "HardSwish", "Tanh", "Mish"):
        return {"activation": op}
    if op == "HardSigmoid":
        return {"activation": op, "activation_alpha": float(a.get("alpha", 0.2)),
                "activation_beta": float(a.get("beta", 0.5))}
    if op == "Swish":
        return {"activation": "Silu"} if float(a.get("alpha", 1.0)) == 1.0 else None
    if op == "LeakyRelu":
        return {"activation": op, "activation_alpha": float(a.get("alpha", 0.01))}
    if op == "Gelu":
        return {"activation": op, "approximate": a.get("approximate", "none")}
    if op == "Clip":
        if g.opset.get("", 1) < 11:
            lo, hi = a.get("min", -np.inf), a.get("max", np.inf)
        else:
            bounds = []
            for i, default in ((1, -np.inf), (2, np.inf)):
                if len(node.input) > i and node.input[i]:
                    v = g.const(node.input[i])
                    if v is None or v.size != 1:
                        return None
                    bounds.append(float(v.reshape(-1)[0]))
                else:
                    bounds.append(default)
            lo, hi = bounds
        return {"activation": "Clip", "clip_min": float(lo), "clip_max": float(hi)}
    return None


# The op types activation_attrs may take: a cheap test before anything else is looked at.
_ACTIVATIONS = frozenset({"Relu", "Sigmoid", "HardSwish", "Tanh", "Mish", "HardSigmoid", "Swish", "LeakyRelu",
                          "Gelu", "Clip"})


def _fusable_target(g: WorkGraph, node) -> str | None:
    domain = "" if node.domain == "ai.onnx" else node.domain
    fused = _TARGETS.get((domain, node.op_type))
    if fused is None or len(node.output) != 1:
        return None
    if domain == FUSED_DOMAIN and any(a.name == "activation" and a.s for a in node.attribute):
        return None  # already has one
    if node.op_type == "Gemm" and g.opset.get("", 1) < 7:
        return None  # Gemm-1/6 broadcast semantics differ; FusedGemm always broadcasts
    if node.op_type == "BatchNormalization" and not bn_scale.inference_bn(g, node):
        return None
    return fused


def _keep_epsilon_only(node):
    """FusedBatchNormalization has opset-15 BN semantics: epsilon is its only BN attribute (the
    older is_test / spatial / momentum / consumed_inputs were checked by inference_bn), and one
    output."""
    keep = [a for a in node.attribute if a.name == "epsilon"]
    del node.attribute[:]
    node.attribute.extend(keep)
    del node.output[1:]


def _gate_activation(g: WorkGraph, mul, x: str):
    """(gate node, attributes) when Mul node `mul` is x * gate(x) for an activation gate(x) * x
    the epilogues apply (Silu, HardSwish), else None. x must be read by the gate and the Mul only."""
    if mul.op_type != "Mul" or mul.domain not in ("", "ai.onnx") or len(mul.input) != 2:
        return None
    other = mul.input[1] if mul.input[0] == x else mul.input[0] if mul.input[1] == x else None
    if other is None or other == x:
        return None
    gate = g.producer(other)
    if gate is None or gate.domain not in ("", "ai.onnx") or list(gate.input) != [x] or not g.single_use(other):
        return None
    users = g.consumers(x)
    if len(users) != 2 or g.is_pinned(x) or {id(u) for u in users} != {id(gate), id(mul)}:
        return None
    if gate.op_type == "Sigmoid":
        return gate, {"activation": "Silu"}
    if gate.op_type == "HardSigmoid":
        a = attrs_of(gate)
        if np.float32(a.get("alpha", 0.2)) == np.float32(1 / 6) and float(a.get("beta", 0.5)) == 0.5:
            return gate, {"activation": "HardSwish"}
    return None


def _fuse_gates(g: WorkGraph) -> int:
    """Mul(x, Sigmoid(x)) and Mul(x, HardSigmoid(x)) after a fusable producer of x."""
    count = 0
    for prod in list(g.nodes):
        if len(prod.output) != 1 or not prod.output[0]:
            continue
        x = prod.output[0]
        found = None
        for user in g.consumers(x):
            found = _gate_activation(g, user, x)
            if found is not None:
                mul = user
                break
        if found is None:
            continue
        fused = _fusable_target(g, prod)
        if fused is None or not g.is_float32(x):
            continue
        gate, attrs = found
        new = copy_node(prod, fused, FUSED_DOMAIN)
        if fused == "FusedBatchNormalization":
            _keep_epsilon_only(new)
        for k, v in attrs.items():
            set_attr(new, k, v)
        new.output[0] = mul.output[0]
        g.replace([prod, gate, mul], [new])
        count += 1
    return count


def run(g: WorkGraph) -> int:
    count = _fuse_gates(g)
    for act in list(g.nodes):
        if act.op_type not in _ACTIVATIONS or not act.input or not act.input[0]:
            continue
        prod = g.producer(act.input[0])
        if prod is None:
            continue
        fused = _fusable_target(g, prod)
        if fused is None or not g.single_use(act.input[0]) or not g.is_float32(act.input[0]):
            continue
        attrs = activation_attrs(g, act)
        if attrs is None:
            continue
        new = copy_node(prod, fused, FUSED_DOMAIN)
        if fused == "FusedBatchNormalization":
            _keep_epsilon_only(new)
        for k, v in attrs.items():
            set_attr(new, k, v)
        new.output[0] = act.output[0]
        if act.input[0] in g.types:  # an activation keeps the shape (onnx's inference cannot see through `new`)
            g.types[act.output[0]] = g.types[act.input[0]]
        g.replace([prod, act], [new])
        count += 1
    return count

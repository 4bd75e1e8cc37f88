"""Mul / Add by a per-channel constant folded into the BatchNormalization before it.

Inference BN is y = (x - mean) * scale / sqrt(var + eps) + B, per channel (axis 1), so
  BN(x) * c = BN'(x) with scale' = scale * c, B' = B * c
  BN(x) + c = BN'(x) with B' = B + c
(mean, var and epsilon unchanged). c must be per-channel for the BN output's rank without
changing its shape: after dropping leading 1s it is [C or 1, 1, ..., 1] (so a [C] vector only
for rank 2, where axis 1 is the last). Computed in float64, stored in the parameters' dtype.
Pre-activation networks (DenseNet: Concat -> BN -> Mul -> Add -> Relu) have such chains where
the BN cannot fold into a conv; activation_fusion then fuses the Relu into the BN
(pyinfer::FusedBatchNormalization), leaving one pass over the tensor instead of four.
"""
from __future__ import annotations

import numpy as np

from .conv_scale import fold_mul_add_into_producers, per_channel
from .workgraph import WorkGraph, attrs_of, copy_node

NAME = "fold_bn_mul_add"


def inference_bn(g: WorkGraph, bn) -> bool:
    """bn is a standard BatchNormalization in inference mode over axis 1 with constant 1-D
    parameters of one length, and its statistics outputs (older opsets) are unused."""
    if bn.op_type != "BatchNormalization" or bn.domain not in ("", "ai.onnx") or len(bn.input) < 5:
        return False
    if not all(g.is_const(n) for n in bn.input[1:5]):
        return False
    a = attrs_of(bn)
    version = g.opset.get("", 1)
    if int(a.get("training_mode", 0)) != 0 or int(a.get("spatial", 1)) != 1:
        return False
    if version < 7 and not int(a.get("is_test", 0)):
        return False  # training mode before opset 7 (pyinfer refuses it; leave it alone)
    if any(out and (g.consumers(out) or g.is_pinned(out)) for out in bn.output[1:]):
        return False
    params = [g.const(n) for n in bn.input[1:5]]
    return all(p.ndim == 1 and p.shape == params[0].shape and p.dtype.kind == "f" for p in params)


def run(g: WorkGraph) -> int:
    return fold_mul_add_into_producers(g, inference_bn, _fold)


def _fold(g: WorkGraph, bn, op_type, c):
    shape = g.shape(bn.output[0]) or g.shape(bn.input[0])
    if shape is None or len(shape) < 2 or not isinstance(shape[1], int):
        return None
    scale, bias = g.const(bn.input[1]), g.const(bn.input[2])
    channels = scale.shape[0]
    # Parameters of another dtype than x (BN-15's T2, e.g. float16) would round the product
    # more coarsely than the unfolded graph computes it.
    if shape[1] != channels or c.dtype.kind != "f" or scale.dtype != c.dtype or bias.dtype != c.dtype:
        return None
    v = per_channel(c, len(shape), channels)
    if v is None or not np.all(np.isfinite(v)):
        return None
    node = copy_node(bn)
    if op_type == "Mul":
        node.input[1] = g.add_constant(bn.input[1], (scale.astype(np.float64) * v).astype(scale.dtype))
        node.input[2] = g.add_constant(bn.input[2], (bias.astype(np.float64) * v).astype(bias.dtype))
    else:
        node.input[2] = g.add_constant(bn.input[2], (bias.astype(np.float64) + v).astype(bias.dtype))
    return node

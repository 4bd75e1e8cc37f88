"""BatchNormalization folded into the Conv / ConvTranspose / Gemm before it.

Inference BN is y = (x - mean) * s + beta with s = scale / sqrt(var + eps), per channel (axis 1).
With x = conv(in, W) + b that is conv(in, W * s) + (b - mean) * s + beta: the weights are
rescaled per output channel and a bias is created if there was none. The per-channel factors
are computed in float64; float32 weights are multiplied in float32 (one rounding, as a float64
product would also end with; it is 5x faster on large convs), other float types in float64.
Only when the conv's output is read by the BN alone.
"""
from __future__ import annotations

import numpy as np
from ..weight_memory import weight_array
from .workgraph import WorkGraph, attrs_of, copy_node, set_attr

NAME = "fold_batchnorm"

_PRODUCERS = ("Conv", "ConvTranspose", "Gemm")


def _bn_params(g: WorkGraph, bn):
    """(s, shift) in float64 such that BN(x) = x * s + shift, or None if BN is not foldable."""
    if len(bn.input) < 5 or not all(g.is_const(n) for n in bn.input[1:5]):
        return None
    a = attrs_of(bn)
    if int(a.get("training_mode", 0)) != 0 or int(a.get("spatial", 1)) != 1:
        return None
    # Older BN versions have extra (training statistics) outputs: they must be unused.
    if any(out and (g.consumers(out) or g.is_pinned(out)) for out in bn.output[1:]):
        return None
    scale, beta, mean, var = (np.asarray(g.const(n), dtype=np.float64) for n in bn.input[1:5])
    if not (scale.ndim == beta.ndim == mean.ndim == var.ndim == 1):
        return None
    if not (scale.shape == beta.shape == mean.shape == var.shape):
        return None
    eps = float(a.get("epsilon", 1e-5))
    s = scale / np.sqrt(var + eps)
    return s, beta - mean * s


def run(g: WorkGraph) -> int:
    count = 0
    for bn in list(g.nodes):
        if bn.op_type != "BatchNormalization" or bn.domain not in ("", "ai.onnx"):
            continue
        prod = g.producer(bn.input[0])
        if prod is None or prod.op_type not in _PRODUCERS or prod.domain not in ("", "ai.onnx"):
            continue
        if not g.single_use(bn.input[0]) or len(prod.output) != 1:
            continue
        params = _bn_params(g, bn)
        if params is None:
            continue
        new = _fold(g, prod, *params)
        if new is None:
            continue
        new.output[0] = bn.output[0]
        g.replace([prod, bn], [new])
        count += 1
    return count


def _fold(g: WorkGraph, prod, s, shift):
    """A copy of prod with rescaled weights and bias, or None when the shapes do not allow it."""
    w = g.const(prod.input[1]) if len(prod.input) > 1 else None
    b_name = prod.input[2] if len(prod.input) > 2 else ""
    b = g.const(b_name) if b_name else None
    if w is None or (b_name and b is None) or w.dtype.kind != "f":
        return None
    if b is not None and b.dtype != w.dtype:
        return None
    a = attrs_of(prod)
    # The weights' own precision for float32 (see the module doc), float64 otherwise.
    w64 = w if w.dtype == np.float32 else w.astype(np.float64)
    if w.dtype == np.float32:
        s = s.astype(np.float32)
    channels = s.shape[0]
    if prod.op_type == "Conv":
        if w.ndim < 3 or w.shape[0] != channels:
            return None
        w_new = np.multiply(w64, s.reshape((-1,) + (1,) * (w.ndim - 1)), out=weight_array(w.shape, w.dtype),
                            casting="same_kind")
    elif prod.op_type == "ConvTranspose":
        # W is [C, M/group, k...]; output channel g*Mg + m is W[g*Cg:(g+1)*Cg, m].
        group = int(a.get("group", 1))
        if w.ndim < 3 or w.shape[1] * group != channels or w.shape[0] % group:
            return None
        ws = w64.reshape((group, w.shape[0] // group, w.shape[1]) + w.shape[2:])
        ws = ws * s.reshape((group, 1, w.shape[1]) + (1,) * (w.ndim - 2))
        w_new = ws.reshape(w.shape)
    else:  # Gemm: the output columns are the channels
        return _fold_gemm(g, prod, a, w, b, s, shift)
    if b is not None and b.shape != (channels,):
        return None
    b64 = np.zeros(channels) if b is None else b.astype(np.float64)
    b_new = b64 * s.astype(np.float64) + shift
    node = copy_node(prod)
    node.input[1] = g.add_constant(prod.input[1], w_new.astype(w.dtype, copy=False))
    b_const = g.add_constant(b_name or prod.name or "bias", b_new.astype(w.dtype))
    if len(node.input) > 2:
        node.input[2] = b_const
    else:
        node.input.append(b_const)
    return node


def _fold_gemm(g: WorkGraph, prod, a, w, c, s, shift):
    if w.ndim != 2 or g.opset.get("", 1) < 7:  # Gemm-1/6 need a broadcast flag for a 1-D C
        return None
    trans_b = int(a.get("transB", 0))
    n = w.shape[0] if trans_b else w.shape[1]
    if n != s.shape[0]:
        return None
    beta = float(a.get("beta", 1.0))
    w_new = w.astype(np.float64) * (s.reshape(-1, 1) if trans_b else s.reshape(1, -1))
    if c is None:
        c64 = np.zeros(n)
    elif c.ndim == 0 or c.shape in ((n,), (1, n), (1,)):
        c64 = np.broadcast_to(c.astype(np.float64).reshape(-1) * beta, (n,))
    else:
        return None  # a full (M, N) C: leave it
    c_new = c64 * s + shift
    node = copy_node(prod)
    node.input[1] = g.add_constant(prod.input[1], w_new.astype(w.dtype, copy=False))
    c_name = g.add_constant(prod.input[2] if len(prod.input) > 2 and prod.input[2] else "gemm_bias",
                            c_new.astype(w.dtype))
    if len(node.input) > 2:
        node.input[2] = c_name
    else:
        node.input.append(c_name)
    set_attr(node, "beta", 1.0)
    return node

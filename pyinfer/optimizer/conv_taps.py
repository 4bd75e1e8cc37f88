"""Convolution taps that only ever read padding are dropped.

An atrous convolution whose dilation is as large as its map (DeepLabV3's ASPP: 3x3 at rates 12,
24 and 36 on a 14 x 14 or 33 x 33 map) reads the zero padding with every tap but the middle
one for every output position: those taps multiply zeros. For each spatial axis the taps k with
no output o reading inside the input (0 <= o * stride - pad_begin + k * dilation < size) at the
start and end of the kernel are cut from the weights; the begin pad shrinks by the cut taps'
extent and the end pad is set so the output keeps its size (both must stay >= 0, otherwise the
conv is left alone). A kernel cut to one tap along an axis gets dilation 1 there: a 3x3 at
rate 24 on 14 x 14 becomes a 1x1 convolution, 1/9 of the work, with the same result up to the
order of accumulation (the dropped products were all 0 * w; weights with a non-finite value,
whose products with the padding would be NaN, are left alone).

Conv and pyinfer::FusedConv with constant weights, explicit pads (auto_pad NOTSET) and a known
input size; the new weights get a new name (a shared original is never changed).
"""
from __future__ import annotations

import numpy as np

from .workgraph import FUSED_DOMAIN, WorkGraph, attrs_of, set_attr

NAME = "prune_padding_taps"


def _used_taps(size: int, out: int, k: int, s: int, d: int, pb: int) -> tuple[int, int]:
    """[first, last] taps along one axis that read the input for some output position."""
    used = [t for t in range(k) if any(0 <= o * s - pb + t * d < size for o in range(out))]
    return (used[0], used[-1]) if used else (k // 2, k // 2)


def run(g: WorkGraph) -> int:
    count = 0
    for node in g.nodes:
        is_conv = node.op_type == "Conv" and node.domain in ("", "ai.onnx")
        if not (is_conv or (node.op_type == "FusedConv" and node.domain == FUSED_DOMAIN)) or len(node.input) < 2:
            continue
        w = g.const(node.input[1])
        dims = g.static_shape(node.input[0])
        if w is None or dims is None or w.ndim < 3 or len(dims) != w.ndim or not np.all(np.isfinite(w)):
            continue
        a = attrs_of(node)
        if a.get("auto_pad", "NOTSET") != "NOTSET":
            continue
        rank = w.ndim - 2
        ks = list(w.shape[2:])
        strides = [int(v) for v in a.get("strides", [1] * rank)]
        dil = [int(v) for v in a.get("dilations", [1] * rank)]
        pads = [int(v) for v in a.get("pads", [0] * (2 * rank))]
        if len(strides) != rank or len(dil) != rank or len(pads) != 2 * rank:
            continue
        cuts, new_pads, new_dil = [], list(pads), list(dil)
        for ax in range(rank):
            size, k, s, d, pb, pe = dims[2 + ax], ks[ax], strides[ax], dil[ax], pads[ax], pads[rank + ax]
            out = (size + pb + pe - ((k - 1) * d + 1)) // s + 1
            if out <= 0:
                break
            first, last = _used_taps(size, out, k, s, d, pb)
            kk = last - first + 1
            nd = 1 if kk == 1 else d
            npb = pb - first * d
            npe = (out - 1) * s + (kk - 1) * nd + 1 - size - npb
            if npb < 0 or npe < 0:
                first, last, kk, nd, npb, npe = 0, k - 1, k, d, pb, pe
            cuts.append((first, last + 1))
            new_pads[ax], new_pads[rank + ax], new_dil[ax] = npb, npe, nd
        else:
            if all(c == (0, k) for c, k in zip(cuts, ks)):
                continue
            sl = (slice(None), slice(None)) + tuple(slice(a0, a1) for a0, a1 in cuts)
            node.input[1] = g.add_constant(node.input[1] + "_taps", np.ascontiguousarray(w[sl]))
            set_attr(node, "pads", new_pads)
            set_attr(node, "dilations", new_dil)
            if "kernel_shape" in a:
                set_attr(node, "kernel_shape", [c1 - c0 for c0, c1 in cuts])
            g.changed()
            count += 1
    return count  # the old weights, read by nobody now, go in eliminate_dead_nodes

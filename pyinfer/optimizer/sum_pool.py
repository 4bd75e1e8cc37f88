"""AveragePool followed by Mul by the window size -> pyinfer::SumPool.

avg_pool(x) * prod(kernel) is the plain window sum when every window divides by the full
kernel size: no padding (or count_include_pad=1), explicit pads (auto_pad NOTSET / VALID)
and ceil_mode=0 (no truncated last window).
"""
from __future__ import annotations

import numpy as np
from onnx import helper

from .workgraph import FUSED_DOMAIN, WorkGraph, attrs_of

NAME = "avgpool_mul_to_sumpool"


def run(g: WorkGraph) -> int:
    count = 0
    for mul in list(g.nodes):
        if mul.op_type != "Mul" or mul.domain not in ("", "ai.onnx") or len(mul.input) != 2:
            continue
        for side in (0, 1):
            y, c_name = mul.input[side], mul.input[1 - side]
            pool = g.producer(y)
            if pool is None or pool.op_type != "AveragePool" or pool.domain not in ("", "ai.onnx"):
                continue
            new = _sum_pool(g, pool, mul, g.const(c_name), y)
            if new is not None:
                g.replace([pool, mul], [new])
                count += 1
                break
    return count


def _sum_pool(g: WorkGraph, pool, mul, c, y):
    if c is None or c.size != 1 or c.ndim > 1 or not g.single_use(y) or not g.is_float32(y):
        return None
    a = attrs_of(pool)
    kernel = [int(k) for k in a.get("kernel_shape", [])]
    pads = [int(p) for p in a.get("pads", [0] * (2 * len(kernel)))]
    if not kernel or a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID", "") or int(a.get("ceil_mode", 0)):
        return None
    if a.get("auto_pad") == "VALID":
        pads = [0] * (2 * len(kernel))
    if any(pads) and not int(a.get("count_include_pad", 0)):
        return None
    if float(c.reshape(-1)[0]) != float(np.prod(kernel)):
        return None
    attrs = {"kernel_shape": kernel, "pads": pads}
    for name in ("strides", "dilations"):
        if name in a:
            attrs[name] = [int(v) for v in a[name]]
    return helper.make_node("SumPool", [pool.input[0]], [mul.output[0]], name=pool.name, domain=FUSED_DOMAIN, **attrs)

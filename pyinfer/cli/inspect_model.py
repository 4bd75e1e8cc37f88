"""`pyinfer inspect MODEL`: what a model contains and what the optimizer does to it.

Reports the inputs and outputs (shapes, types), the parameter count, the op histogram before
and after optimization, multiply-accumulates per op type (Conv, ConvTranspose, Gemm, MatMul and
their fused forms, from inferred shapes), how often each optimizer pass fired and, unless
--no-plan, the nodes a compiled plan still runs as Python steps and why (python_steps.py).

    report = inspect_model("model.onnx")          # a dict
    print(format_report(report))
    main(["model.onnx", "--level", "extended", "--dim", "batch=8"])   # the CLI entry
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

import numpy as np
import onnx

from ..errors import Error
from ..loader import load_model
from ..optimizer import optimize
from ..optimizer.workgraph import WorkGraph
from ..options import GraphOptimizationLevel, to_optimization_level
from ..session import NodeArg
from .python_steps import format_python_steps, python_steps

_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
           "all": "ORT_ENABLE_ALL"}


class _Dims:
    """Resolves dimensions to ints: symbolic names from `overrides`, else 1 (and remembers which)."""

    def __init__(self, overrides: dict):
        self.overrides = overrides
        self.defaulted = set()

    def resolve(self, dims):
        if dims is None:
            return None
        out = []
        for d in dims:
            if isinstance(d, int):
                out.append(d)
            elif isinstance(d, str) and d in self.overrides:
                out.append(self.overrides[d])
            elif isinstance(d, str):
                self.defaulted.add(d)
                out.append(1)
            else:
                return None  # an unknown, unnamed dimension
        return out


def node_macs(node: onnx.NodeProto, shape_of, attrs) -> int | None:
    """Multiply-accumulates of one node, or None if it is not a counted op or shapes are unknown."""
    op = node.op_type
    if op in ("Conv", "FusedConv"):
        y, w = shape_of(node.output[0]), shape_of(node.input[1])
        if y is None or w is None or len(w) < 3:
            return None
        return int(np.prod(y, dtype=np.int64) * np.prod(w[1:], dtype=np.int64))
    if op == "ConvTranspose":
        x, w = shape_of(node.input[0]), shape_of(node.input[1])
        if x is None or w is None or len(w) < 3:
            return None
        return int(np.prod(x, dtype=np.int64) * np.prod(w[1:], dtype=np.int64))
    # Gemm / MatMul: M and N from the output, K from B (usually a constant, so known even when
    # shape inference lost A's inner dimension, e.g. after a Reshape to [batch, -1]).
    if op in ("Gemm", "FusedGemm"):
        y, b = shape_of(node.output[0]), shape_of(node.input[1])
        if y is None or b is None or len(y) != 2 or len(b) != 2:
            return None
        k = b[1] if attrs(node).get("transB", 0) else b[0]
        return int(y[0]) * int(y[1]) * int(k)
    if op in ("MatMul", "FusedMatMul"):
        y, b = shape_of(node.output[0]), shape_of(node.input[1])
        if y is None or b is None or not b:
            return None
        k = b[0] if len(b) == 1 else b[-2]
        return int(np.prod(y, dtype=np.int64)) * int(k)
    return None


def _macs_by_op(nodes, types: dict, dims: _Dims) -> tuple[Counter, int]:
    from ..optimizer.workgraph import attrs_of

    def shape_of(name):
        t = types.get(name)
        return None if t is None else dims.resolve(t[1])

    macs, unknown = Counter(), 0
    for node in nodes:
        if node.op_type not in ("Conv", "FusedConv", "ConvTranspose", "Gemm", "FusedGemm", "MatMul", "FusedMatMul"):
            continue
        m = node_macs(node, shape_of, attrs_of)
        if m is None:
            unknown += 1
            continue
        label = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
        macs[label] += m
    return macs, unknown


def _param_count(model: onnx.ModelProto) -> tuple[int, int]:
    """(elements, bytes) of the initializers and Constant node values."""
    count = nbytes = 0
    tensors = list(model.graph.initializer)
    tensors += [a.t for n in model.graph.node if n.op_type == "Constant" for a in n.attribute if a.name == "value"]
    for t in tensors:
        n = int(np.prod(t.dims, dtype=np.int64))
        count += n
        try:
            nbytes += n * onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
        except Exception:
            pass
    return count, nbytes


def inspect_model(model, level=GraphOptimizationLevel.ORT_ENABLE_ALL, dims: dict | None = None,
                  plan_steps: bool = False) -> dict:
    """The inspection report as a dict (see format_report). dims: symbolic dimension -> value.
    plan_steps: also compile a plan on random inputs and list its Python steps ("plan")."""
    proto = load_model(model)
    level = to_optimization_level(level)
    resolver = _Dims(dict(dims or {}))
    before = WorkGraph(proto)
    before.infer_shapes()
    optimized, report = optimize(proto, level)
    types_after = report.shapes or before.types
    macs_before, unknown_before = _macs_by_op(before.nodes, before.types, resolver)
    macs_after, unknown_after = _macs_by_op(optimized.graph.node, types_after, resolver)
    init_names = {t.name for t in proto.graph.initializer}

    def arg(vi):
        a = NodeArg.from_value_info(vi)
        return {"name": a.name, "type": a.type, "shape": a.shape}

    params_before, bytes_before = _param_count(proto)
    params_after, bytes_after = _param_count(optimized)
    return {
        "opset": {(i.domain or "ai.onnx"): i.version for i in proto.opset_import},
        "level": level.name,
        "inputs": [arg(vi) for vi in proto.graph.input if vi.name not in init_names],
        "outputs": [arg(vi) for vi in proto.graph.output],
        "parameters": {"before": params_before, "after": params_after,
                       "bytes_before": bytes_before, "bytes_after": bytes_after},
        "ops_before": dict(report.ops_before.most_common()),
        "ops_after": dict(report.ops_after.most_common()),
        "nodes_before": sum(report.ops_before.values()),
        "nodes_after": sum(report.ops_after.values()),
        "macs_before": dict(macs_before.most_common()),
        "macs_after": dict(macs_after.most_common()),
        "macs_unknown_nodes": {"before": unknown_before, "after": unknown_after},
        "symbolic_dims_as_1": sorted(resolver.defaulted),
        "dims": dict(resolver.overrides),
        "passes": dict(report.pass_counts),
        "rounds": report.rounds,
        **({"plan": python_steps(proto, dims)} if plan_steps else {}),
    }


def _human(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)


def format_report(info: dict) -> str:
    lines = []
    lines.append(f"opset: {', '.join(f'{d} {v}' for d, v in info['opset'].items())}")
    for title in ("inputs", "outputs"):
        lines.append(f"{title}:")
        for a in info[title]:
            lines.append(f"  {a['name']}: {a['type']} {a['shape']}")
    p = info["parameters"]
    lines.append(f"parameters: {p['before']:,} ({_human(p['bytes_before'])}B) before, "
                 f"{p['after']:,} ({_human(p['bytes_after'])}B) after optimization")
    lines.append(f"ops ({info['nodes_before']} nodes before, {info['nodes_after']} after, level {info['level']}):")
    names = list(dict.fromkeys(list(info["ops_before"]) + list(info["ops_after"])))
    width = max([len(n) for n in names] + [10])
    lines.append(f"  {'op':<{width}}  {'before':>7}  {'after':>7}")
    for n in names:
        lines.append(f"  {n:<{width}}  {info['ops_before'].get(n, 0):>7}  {info['ops_after'].get(n, 0):>7}")
    lines.append("multiply-accumulates:")
    for when in ("before", "after"):
        macs = info[f"macs_{when}"]
        total = sum(macs.values())
        parts = ", ".join(f"{k} {_human(v)}" for k, v in macs.items()) or "none"
        unknown = info["macs_unknown_nodes"][when]
        extra = f" ({unknown} nodes with unknown shapes not counted)" if unknown else ""
        lines.append(f"  {when}: {_human(total)} total: {parts}{extra}")
    if info["symbolic_dims_as_1"]:
        lines.append(f"  symbolic dimensions counted as 1: {', '.join(info['symbolic_dims_as_1'])} "
                     f"(set them with --dim NAME=VALUE)")
    lines.append(f"passes ({info['rounds']} rounds):")
    for name, count in info["passes"].items():
        lines.append(f"  {name:<24} {count}")
    if "plan" in info:
        lines.extend(format_python_steps(info["plan"]))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="pyinfer inspect",
                                     description="inputs, outputs, parameters, ops and MACs of a model, "
                                                 "before and after graph optimization")
    parser.add_argument("model")
    parser.add_argument("--level", choices=list(_LEVELS), default="all", help="optimization level (default all)")
    parser.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE",
                        help="value of a symbolic dimension for the MAC count (default 1)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--no-plan", action="store_true",
                        help="do not compile a plan on random inputs (to list the nodes that stay Python steps)")
    args = parser.parse_args(argv)
    dims = {}
    for item in args.dim:
        name, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            print(f"pyinfer inspect: --dim expects NAME=VALUE with a positive integer, got {item!r}", file=sys.stderr)
            return 2
        dims[name] = int(value)
    try:
        info = inspect_model(args.model, _LEVELS[args.level], dims, plan_steps=not args.no_plan)
    except Error as e:
        print(f"pyinfer inspect: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(info, indent=2) if args.json else format_report(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Runs the passes of a GraphOptimizationLevel to a fixed point and reports what fired.

Order within one round (each pass sees the previous one's result):
  basic:     remove_identity, fold_constants, split_wide_concat, eliminate_dead_nodes
  extended:  cancel_transposes, nhwc_to_nchw, fold_batchnorm, fold_conv_mul_add, prune_padding_taps,
             fold_bn_mul_add, matmul_add_to_gemm, fold_reshape_shapes, avgpool_mul_to_sumpool
  all:       fuse_layer_norm, fuse_gelu, unflatten_gemm, fuse_attention, fuse_matmul_bias,
             split_microsoft_attention, fuse_microsoft_gelu, fuse_skip_layer_norm,
             fuse_residual_add, fuse_activation, fuse_squeeze_excite
Rounds repeat until one changes nothing (at most MAX_ROUNDS). Dead-node elimination runs last
in every round, so what a rewrite leaves behind is gone before the next round. Then the same
passes run on every subgraph (If branches, Loop / Scan bodies: subgraphs.py).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import onnx

from ..options import GraphOptimizationLevel as Level
from . import (
    activation_fusion,
    attention_fusion,
    bn_folding,
    bn_scale,
    channels_last,
    constant_folding,
    conv_scale,
    conv_taps,
    elimination,
    flattened_gemm,
    gelu_fusion,
    identity,
    layernorm_fusion,
    matmul_add,
    matmul_bias,
    ml_elementwise,
    ms_attention,
    ms_embed_layernorm,
    ms_gelu,
    reshape_shapes,
    residual_fusion,
    skip_layernorm_fusion,
    squeeze_excite,
    sum_pool,
    transpose,
    wide_concat,
)
from .subgraphs import optimize_subgraphs
from .workgraph import WorkGraph

MAX_ROUNDS = 10

# (pass module, lowest level that runs it), in the order they run within a round.
PASSES = [
    (identity, Level.ORT_ENABLE_BASIC),
    (constant_folding, Level.ORT_ENABLE_BASIC),
    (wide_concat, Level.ORT_ENABLE_BASIC),
    (ml_elementwise, Level.ORT_ENABLE_BASIC),
    (transpose, Level.ORT_ENABLE_EXTENDED),
    (channels_last, Level.ORT_ENABLE_EXTENDED),
    (bn_folding, Level.ORT_ENABLE_EXTENDED),
    (conv_scale, Level.ORT_ENABLE_EXTENDED),
    (conv_taps, Level.ORT_ENABLE_EXTENDED),
    (bn_scale, Level.ORT_ENABLE_EXTENDED),
    (matmul_add, Level.ORT_ENABLE_EXTENDED),
    (reshape_shapes, Level.ORT_ENABLE_EXTENDED),
    (sum_pool, Level.ORT_ENABLE_EXTENDED),
    (layernorm_fusion, Level.ORT_ENABLE_ALL),
    (gelu_fusion, Level.ORT_ENABLE_ALL),
    (flattened_gemm, Level.ORT_ENABLE_ALL),
    (attention_fusion, Level.ORT_ENABLE_ALL),
    (matmul_bias, Level.ORT_ENABLE_ALL),
    (ms_embed_layernorm, Level.ORT_ENABLE_ALL),
    (ms_attention, Level.ORT_ENABLE_ALL),
    (ms_gelu, Level.ORT_ENABLE_ALL),
    (skip_layernorm_fusion, Level.ORT_ENABLE_ALL),
    (residual_fusion, Level.ORT_ENABLE_ALL),
    (activation_fusion, Level.ORT_ENABLE_ALL),
    (squeeze_excite, Level.ORT_ENABLE_ALL),
    (elimination, Level.ORT_ENABLE_BASIC),
]


@dataclass
class OptimizationReport:
    level: Level
    rounds: int = 0
    pass_counts: dict = field(default_factory=dict)  # pass name -> rewrites, in pass order
    ops_before: Counter = field(default_factory=Counter)  # "domain::Op" or "Op" -> count
    ops_after: Counter = field(default_factory=Counter)
    shapes: dict = field(default_factory=dict)  # value name -> (elem_type, dims) after optimization


def op_histogram(nodes) -> Counter:
    return Counter(f"{n.domain}::{n.op_type}" if n.domain not in ("", "ai.onnx") else n.op_type for n in nodes)


def passes_for(level) -> list:
    return [module for module, lowest in PASSES if level >= lowest]


def optimize(model: onnx.ModelProto, level=Level.ORT_ENABLE_ALL, num_threads: int = 0,
             only: list[str] | None = None,
             max_memory_bytes: int | None = None) -> tuple[onnx.ModelProto, OptimizationReport]:
    """The optimized model (constants inside) and a report. `only` restricts to the named
    passes (for tests).

    num_threads and max_memory_bytes apply to the ops that constant folding runs.
    """
    level = Level(level)
    if level == Level.ORT_DISABLE_ALL:
        return model, _report(level, model.graph.node)
    g = WorkGraph(model, num_threads=num_threads, max_memory_bytes=max_memory_bytes)
    report = _run_passes(g, level, only)
    return g.to_model(), report


def optimize_parts(model: onnx.ModelProto, weights: dict, level=Level.ORT_ENABLE_ALL, num_threads: int = 0,
                   max_memory_bytes: int | None = None) -> tuple[onnx.ModelProto, dict, OptimizationReport]:
    """optimize() for a model whose large initializers are stubs with their arrays in `weights`
    (loader.load_model_parts): returns the optimized model in the same form, its weights and the
    report. The weights dict is taken over and changed in place (replaced weights are freed
    while the passes run)."""
    level = Level(level)
    if level == Level.ORT_DISABLE_ALL:
        return model, weights, _report(level, model.graph.node)
    g = WorkGraph(model, num_threads=num_threads, max_memory_bytes=max_memory_bytes, weights=weights)
    report = _run_passes(g, level, None)
    optimized, weights = g.to_model_and_weights()
    return optimized, weights, report


def _report(level, nodes) -> OptimizationReport:
    report = OptimizationReport(level=level, ops_before=op_histogram(nodes))
    report.ops_after = report.ops_before.copy()
    return report


def _run_passes(g: WorkGraph, level, only) -> OptimizationReport:
    report = OptimizationReport(level=level, ops_before=op_histogram(g.nodes))
    passes = [p for p in passes_for(level) if only is None or p.NAME in only]
    report.pass_counts, report.rounds = _to_fixed_point(g, passes)
    for name, n in optimize_subgraphs(g, lambda body: _to_fixed_point(body, passes)[0]).items():
        report.pass_counts[name] += n
    report.ops_after = op_histogram(g.nodes)
    report.shapes = dict(g.types)
    return report


def _to_fixed_point(g: WorkGraph, passes) -> tuple[dict, int]:
    """({pass name: rewrites}, rounds) of running the passes until a round changes nothing."""
    g.infer_shapes()
    counts = {p.NAME: 0 for p in passes}
    rounds = 0
    for _ in range(MAX_ROUNDS):
        rounds += 1
        changed = 0
        for p in passes:
            n = p.run(g)
            counts[p.NAME] += n
            changed += n
        if not changed:
            break
    return counts, rounds

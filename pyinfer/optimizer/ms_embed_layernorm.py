"""onnxruntime's com.microsoft EmbedLayerNormalization (BERT's embeddings, as its transformer
optimizer writes them) becomes the standard ops it stands for, each with a kernel in compiled
plans: Gathers of the word, position and segment rows, their sum, pyinfer::FusedLayerNormalization,
and the mask_index output as ReduceSum(mask != 0) per row (zeros without a mask). Positions
without a position_ids input are Range(0, S), S read from input_ids' shape, so one plan serves
every sequence length. float32 tables only; the Gathers check every index on every run.
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from .workgraph import FUSED_DOMAIN, WorkGraph, attrs_of

NAME = "split_microsoft_embed_layer_norm"

MS = "com.microsoft"
IDS, SEGMENT_IDS, WORD, POSITION, SEGMENT, GAMMA, BETA, MASK, POSITION_IDS = range(9)


def _given(node, i: int) -> str:
    return node.input[i] if len(node.input) > i else ""


def _wanted(g: WorkGraph, node, i: int) -> str:
    """Output i's name when something reads it (or it is a graph output), else ""."""
    name = node.output[i] if len(node.output) > i else ""
    return name if name and (g.is_pinned(name) or g.consumers(name)) else ""


def _split(g: WorkGraph, node) -> bool:
    word, position, gamma = (g.const(_given(node, i)) for i in (WORD, POSITION, GAMMA))
    ids = _given(node, IDS)
    if word is None or position is None or gamma is None or word.ndim != 2 or position.ndim != 2:
        return False
    hidden = word.shape[1]
    tables = [_given(node, i) for i in (WORD, POSITION, SEGMENT, GAMMA, BETA) if _given(node, i)]
    if not all(g.is_float32(t) for t in tables) or position.shape[1] != hidden or gamma.size != hidden:
        return False
    dims = g.shape(ids)
    if dims is None or len(dims) != 2 or g.opset.get("", 1) < 11:  # (Range: opset 11)
        return False
    name = node.name or node.output[0]
    new, fresh = [], lambda base: g.fresh_name(f"{name}_{base}")

    def add(op, inputs, **kw):
        out = fresh(op.lower())
        new.append(helper.make_node(op, inputs, [out], name=out, **kw))
        return out

    total = add("Gather", [_given(node, WORD), ids], axis=0)
    g.set_float_shape(total, list(dims) + [hidden])
    if _given(node, POSITION_IDS):
        rows = add("Gather", [_given(node, POSITION), _given(node, POSITION_IDS)], axis=0)
    else:  # positions 0 .. S-1: Range to S, the sequence axis of input_ids
        seq = add("Gather", [add("Shape", [ids]), g.add_constant("one", np.array(1, np.int64))], axis=0)
        steps = add("Range", [g.add_constant("zero", np.array(0, np.int64)), seq,
                              g.add_constant("one", np.array(1, np.int64))])
        rows = add("Gather", [_given(node, POSITION), steps], axis=0)  # [S, H]: out-of-table S is refused
    total = add("Add", [total, rows])
    g.set_float_shape(total, list(dims) + [hidden])
    if _given(node, SEGMENT) and _given(node, SEGMENT_IDS):
        total = add("Add", [total, add("Gather", [_given(node, SEGMENT), _given(node, SEGMENT_IDS)], axis=0)])
        g.set_float_shape(total, list(dims) + [hidden])
    eps = float(attrs_of(node).get("epsilon", 1e-12))
    out = node.output[0]
    new.append(helper.make_node("FusedLayerNormalization", [total, _given(node, GAMMA), _given(node, BETA)], [out],
                                name=out, axis=-1, epsilon=eps, rms=0, domain=FUSED_DOMAIN))
    g.set_float_shape(out, list(dims) + [hidden])
    mask_index = _wanted(g, node, 1)
    if mask_index:
        g.set_shape(mask_index, TensorProto.INT32, [dims[0]])
        if _given(node, MASK):  # the count of non-zero entries per row
            ones = add("Cast", [add("Cast", [_given(node, MASK)], to=TensorProto.BOOL)], to=TensorProto.INT32)
            new.append(_reduce_sum(g, ones, mask_index))
        else:
            batch = add("Slice", [add("Shape", [ids]), g.add_constant("zero", np.array([0], np.int64)),
                                  g.add_constant("one", np.array([1], np.int64))])
            new.append(helper.make_node("ConstantOfShape", [batch], [mask_index], name=mask_index,
                                        value=helper.make_tensor("value", TensorProto.INT32, [1], [0])))
    embedding_sum = _wanted(g, node, 2)
    if embedding_sum:
        new.append(helper.make_node("Identity", [total], [embedding_sum], name=embedding_sum))
    g.replace([node], new)
    return True


def _reduce_sum(g: WorkGraph, x: str, out: str):
    """ReduceSum over axis 1 without keepdims, in the form the model's opset has."""
    if g.opset.get("", 1) >= 13:
        return helper.make_node("ReduceSum", [x, g.add_constant("axis", np.array([1], np.int64))], [out], name=out,
                                keepdims=0)
    return helper.make_node("ReduceSum", [x], [out], name=out, axes=[1], keepdims=0)


def run(g: WorkGraph) -> int:
    return sum(1 for node in list(g.nodes)
               if node.domain == MS and node.op_type == "EmbedLayerNormalization" and _split(g, node))

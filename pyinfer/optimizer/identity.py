"""Removal of nodes that pass their input through: Identity, inference-mode Dropout, a Cast to the
type the input already has, and Mul / Div by a constant one that broadcasts nothing (onnxmltools
writes the last two after a LightGBM classifier, skl2onnx a Cast after an SVM). Readers of the
output read the input instead."""
from __future__ import annotations

import numpy as np
import onnx

from .workgraph import WorkGraph

NAME = "remove_identity"


def _is_passthrough(g: WorkGraph, node) -> bool:
    if node.domain not in ("", "ai.onnx") or len(node.output) != 1:
        return False
    if node.op_type == "Identity":
        return len(node.input) == 1
    if node.op_type == "Cast":
        to = next((a.i for a in node.attribute if a.name == "to"), None)
        return to is not None and to != onnx.TensorProto.UNDEFINED and _elem_type(g, node.input[0]) == to
    if node.op_type in ("Mul", "Div"):
        return len(node.input) == 2 and _is_neutral_one(g, node.input[0], node.input[1])
    if node.op_type != "Dropout":
        return False
    # The mask output must be unused, and training_mode (Dropout-12+) absent or a constant False.
    if any(out and (g.consumers(out) or g.is_pinned(out)) for out in node.output[1:]):
        return False
    if len(node.input) >= 3 and node.input[2]:
        mode = g.const(node.input[2])
        if mode is None or bool(np.asarray(mode).reshape(-1)[0]):
            return False
    return True


def _is_neutral_one(g: WorkGraph, x: str, one: str) -> bool:
    """Whether multiplying (dividing) x by the constant `one` gives x: every element 1, the same
    dtype as x, and no broadcasting that would change x's shape (a single element, or a shape of
    ones no longer than x's known rank)."""
    c = g.const(one)
    if c is None or c.size != 1 or float(np.asarray(c).reshape(-1)[0]) != 1.0:
        return False
    elem = _elem_type(g, x)
    if not elem or onnx.helper.tensor_dtype_to_np_dtype(elem) != c.dtype:
        return False
    rank = len(g.shape(x)) if g.shape(x) is not None else None
    return c.ndim == 0 or (rank is not None and c.ndim <= rank)


def _elem_type(g: WorkGraph, name: str) -> int:
    """The element type of a value: from shape inference, or else from its producer's schema when
    that allows a single type there (onnx infers nothing for the ai.onnx.ml classifiers' scores,
    whose schema says tensor(float)); 0 when unknown."""
    elem = g.elem_type(name)
    node = g.producer(name)
    if elem or node is None:
        return elem
    try:
        schema = onnx.defs.get_schema(node.op_type, g.opset.get(node.domain or "", 1), node.domain)
    except onnx.defs.SchemaError:
        return 0
    outputs = list(node.output)
    if outputs.index(name) >= len(schema.outputs):
        return 0
    formal = schema.outputs[outputs.index(name)]
    allowed = {c.type_param_str: list(c.allowed_type_strs) for c in schema.type_constraints}
    types = allowed.get(formal.type_str, [formal.type_str])
    if len(types) != 1 or not types[0].startswith("tensor("):
        return 0
    try:
        return onnx.TensorProto.DataType.Value(types[0][len("tensor("):-1].upper())  # tensor(float) -> FLOAT
    except ValueError:
        return 0


def run(g: WorkGraph) -> int:
    count = 0
    for node in list(g.nodes):
        if not node.input or not _is_passthrough(g, node) or not node.input[0] or not node.output[0]:
            continue
        if g.bypass(node, node.output[0], node.input[0]):
            count += 1
    return count

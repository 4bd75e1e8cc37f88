"""ai.onnx.ml's elementwise preprocessors as the standard ops they are, each with a kernel in
compiled plans (skl2onnx writes them for Binarizer and SimpleImputer):

  Binarizer(x, threshold)   -> Cast(Greater(x, threshold), x's type) (the attribute is a float32:
                               comparing float32 x with it is exact; integers with its floor)
  Imputer(x) of float32 x   -> Where(missing, fill, x); missing = x != x (NaN replaced) or
                               Equal(x, replaced_value_float); fill one value or one per column

The op's errors (a wrong dtype, a fill of the wrong length) are then the kernels': the pass only
splits nodes whose input type and column count it knows and whose attributes fit them.
"""
from __future__ import annotations

import math

import numpy as np
from onnx import TensorProto, helper

from .workgraph import WorkGraph, attrs_of

NAME = "split_ml_elementwise"

ML = "ai.onnx.ml"


def _binarizer(g: WorkGraph, node) -> list | None:
    x = node.input[0]
    t = float(attrs_of(node).get("threshold", 0.0))
    elem = g.elem_type(x)
    if elem == TensorProto.FLOAT and math.isfinite(t):
        bound = np.array(t, np.float32)  # (a float attribute: t is a float32)
    elif elem == TensorProto.INT64 and math.isfinite(t) and abs(t) < 2.0 ** 62:
        bound = np.array(math.floor(t), np.int64)  # x > t <=> x > floor(t) for integers
    else:
        return None
    above = g.fresh_name(f"{node.output[0]}_above")
    return [helper.make_node("Greater", [x, g.add_constant("threshold", bound)], [above], name=above),
            helper.make_node("Cast", [above], [node.output[0]], name=node.name or node.output[0], to=elem)]


def _imputer(g: WorkGraph, node) -> list | None:
    x, a = node.input[0], attrs_of(node)
    fill = np.asarray(a.get("imputed_value_floats", []), np.float32).reshape(-1)
    dims = g.shape(x)
    if g.elem_type(x) != TensorProto.FLOAT or not fill.size or not dims:
        return None
    if fill.size > 1 and dims[-1] != fill.size:
        return None  # (a column count the op checks when it runs)
    replaced = np.float32(a.get("replaced_value_float", 0.0))
    missing = g.fresh_name(f"{node.output[0]}_missing")
    if np.isnan(replaced):  # NaN is the one value not equal to itself
        same = g.fresh_name(f"{node.output[0]}_same")
        test = [helper.make_node("Equal", [x, x], [same], name=same),
                helper.make_node("Not", [same], [missing], name=missing)]
    else:
        test = [helper.make_node("Equal", [x, g.add_constant("replaced", np.array(replaced))], [missing],
                                 name=missing)]
    return test + [helper.make_node("Where", [missing, g.add_constant("fill", fill), x], [node.output[0]],
                                    name=node.name or node.output[0])]


def run(g: WorkGraph) -> int:
    if g.opset.get("", 1) < 11:  # (Equal on floats, Where, Greater on integers)
        return 0
    count = 0
    for node in list(g.nodes):
        if node.domain != ML or node.op_type not in ("Binarizer", "Imputer") or not node.input or not node.input[0]:
            continue
        new = _binarizer(g, node) if node.op_type == "Binarizer" else _imputer(g, node)
        if new:
            g.replace([node], new)
            count += 1
    return count

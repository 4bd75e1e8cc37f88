"""Builders for the hostile-input tests: tiny models that are easy to break on purpose."""
from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models", "fixtures")
CIFAR = os.path.join(FIXTURES, "cifar10.legacy.onnx")
CIFAR_DATA = os.path.join(FIXTURES, "cifar10.legacy.npz")


def model(nodes, inputs, outputs, initializers=(), opset=17, extra_opsets=(), ir_version=None):
    graph = helper.make_graph(list(nodes), "g", list(inputs), list(outputs), list(initializers))
    imports = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    m = helper.make_model(graph, opset_imports=imports)
    if ir_version is not None:
        m.ir_version = ir_version
    return m


def vi(name, dims, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, dims)


def add_model(w=None):
    """Y = X + W with W = [1, 2, 3, 4] (an initializer, the piece external-data tests move out)."""
    w = np.array([1, 2, 3, 4], np.float32) if w is None else w
    return model([helper.make_node("Add", ["X", "W"], ["Y"], name="add")],
                 [vi("X", [4])], [vi("Y", [4])], [numpy_helper.from_array(w, "W")])


def single_op(op_type, in_shapes, out_count=1, attrs=None, consts=(), opset=17, elem=TensorProto.FLOAT,
              domain=""):
    """A one-node model: inputs X0..Xn (float, shapes given), constant initializers appended after."""
    inputs = [vi(f"X{i}", s, elem) for i, s in enumerate(in_shapes)]
    inits = [numpy_helper.from_array(np.asarray(c), f"C{i}") for i, c in enumerate(consts)]
    names = [f"X{i}" for i in range(len(in_shapes))] + [f"C{i}" for i in range(len(consts))]
    outs = [f"Y{i}" for i in range(out_count)]
    node = helper.make_node(op_type, names, outs, name="n0", domain=domain, **(attrs or {}))
    return model([node], inputs, [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outs],
                 inits, opset=opset)


def externalize(m: onnx.ModelProto, name: str, location: str, offset=None, length=None):
    """Mark initializer `name` as stored externally at `location` (data removed from the proto)."""
    for t in m.graph.initializer:
        if t.name == name:
            t.ClearField("raw_data")
            t.ClearField("float_data")
            t.data_location = TensorProto.EXTERNAL
            del t.external_data[:]
            entries = {"location": location}
            if offset is not None:
                entries["offset"] = str(offset)
            if length is not None:
                entries["length"] = str(length)
            for k, v in entries.items():
                e = t.external_data.add()
                e.key, e.value = k, v
            return m
    raise KeyError(name)


def save(m: onnx.ModelProto, path) -> str:
    with open(path, "wb") as f:
        f.write(m.SerializeToString())
    return str(path)

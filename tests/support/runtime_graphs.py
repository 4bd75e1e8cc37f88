"""Small graphs for the runtime tests."""
import numpy as np
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT


def chain_model(n: int = 30, width: int = 16, batch="N"):
    """x -> (Add c, Mul c, Relu) repeated: a chain of n small native ops."""
    nodes, prev = [], "x"
    kinds = ["Add", "Mul", "Relu"]
    for i in range(n):
        kind = kinds[i % 3]
        out = "y" if i == n - 1 else f"v{i}"
        nodes.append(helper.make_node(kind, [prev] if kind == "Relu" else [prev, "c"], [out]))
        prev = out
    c = numpy_helper.from_array(np.linspace(-0.5, 0.5, width, dtype=np.float32).reshape(1, width), "c")
    g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", F, [batch, width])],
                          [helper.make_tensor_value_info("y", F, [batch, width])], [c])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def conv_model(rng, c_in=3, c_out=8):
    """Conv (constant weights) -> Relu -> Reshape -> Softmax, plus a second output."""
    w = numpy_helper.from_array(rng.standard_normal((c_out, c_in, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(c_out).astype(np.float32), "b")
    shape = numpy_helper.from_array(np.array([0, -1], np.int64), "shape")
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Reshape", ["r", "shape"], ["flat"]),
        helper.make_node("Softmax", ["flat"], ["y"], axis=-1),
        helper.make_node("Add", ["r", "r"], ["z"]),
    ]
    g = helper.make_graph(nodes, "conv", [helper.make_tensor_value_info("x", F, ["N", c_in, "H", "W"])],
                          [helper.make_tensor_value_info("y", F, None), helper.make_tensor_value_info("z", F, None)],
                          [w, b, shape])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def data_dependent_model():
    """Compress(x, keep) -> Relu -> Add 1: the Compress output's shape depends on keep's values."""
    one = numpy_helper.from_array(np.ones((1,), np.float32), "one")
    nodes = [helper.make_node("Compress", ["x", "keep"], ["k"], axis=0),
             helper.make_node("Relu", ["k"], ["r"]),
             helper.make_node("Add", ["r", "one"], ["y"])]
    g = helper.make_graph(nodes, "dd", [helper.make_tensor_value_info("x", F, [8]),
                                        helper.make_tensor_value_info("keep", TensorProto.BOOL, [8])],
                          [helper.make_tensor_value_info("y", F, None)], [one])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

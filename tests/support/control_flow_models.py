"""Models with control flow, shaped like the ones users bring (tests and tools/bench_control_flow.py).

if_conv_lstm_model: a streaming detector whose body sits in an If on the sample rate (as Silero
  VAD's exports do): each branch a Conv1d + LSTM + Linear; one branch keeps its weights as its own
  initializers, the other reads the main graph's (outer scope), as exporters write both.
loop_gru_model: a GRU written as a Loop over time steps, the way tf2onnx converts a Keras GRU
  whose length is not fixed: the body gathers x[t] from the outer scope by the iteration number,
  carries h, and scans the outputs out.
"""
import numpy as np
from onnx import TensorProto, helper, numpy_helper

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _init(name, value):
    return numpy_helper.from_array(np.asarray(value), name)


def _branch(tag, rng, channels, hidden, kernel, own_weights):
    """Conv1d(channels -> hidden, kernel) + ReLU -> [T, 1, hidden] -> LSTM(hidden) -> Linear(1) + Sigmoid."""
    w = {f"{tag}_conv_w": rng.standard_normal((hidden, channels, kernel)) / np.sqrt(channels * kernel),
         f"{tag}_conv_b": rng.standard_normal(hidden) * 0.1,
         f"{tag}_W": rng.standard_normal((1, 4 * hidden, hidden)) / np.sqrt(hidden),
         f"{tag}_R": rng.standard_normal((1, 4 * hidden, hidden)) / np.sqrt(hidden),
         f"{tag}_B": rng.standard_normal((1, 8 * hidden)) * 0.1,
         f"{tag}_fc_w": rng.standard_normal((hidden, 1)) / np.sqrt(hidden)}
    w = {k: v.astype(np.float32) for k, v in w.items()}
    w[f"{tag}_perm_axes"] = np.array([1], np.int64)
    nodes = [
        helper.make_node("Conv", ["x", f"{tag}_conv_w", f"{tag}_conv_b"], [f"{tag}_c"], pads=[kernel // 2] * 2),
        helper.make_node("Relu", [f"{tag}_c"], [f"{tag}_r"]),
        helper.make_node("Transpose", [f"{tag}_r"], [f"{tag}_t"], perm=[2, 0, 1]),  # [T, 1, hidden]
        helper.make_node("LSTM", [f"{tag}_t", f"{tag}_W", f"{tag}_R", f"{tag}_B", "", "h0", "c0"],
                         [f"{tag}_y", f"{tag}_h", f"{tag}_cn"], hidden_size=hidden),
        helper.make_node("Squeeze", [f"{tag}_y", f"{tag}_perm_axes"], [f"{tag}_ys"]),  # [T, 1, hidden]
        helper.make_node("MatMul", [f"{tag}_ys", f"{tag}_fc_w"], [f"{tag}_logit"]),
        helper.make_node("Sigmoid", [f"{tag}_logit"], [f"{tag}_prob"]),
    ]
    outputs = [helper.make_tensor_value_info(f"{tag}_prob", F, None),
               helper.make_tensor_value_info(f"{tag}_h", F, None), helper.make_tensor_value_info(f"{tag}_cn", F, None)]
    inits = [_init(k, v) for k, v in w.items()]
    graph = helper.make_graph(nodes, f"{tag}_branch", [], outputs, initializer=inits if own_weights else [])
    return graph, ([] if own_weights else inits)


def if_conv_lstm_model(rng, channels=8, hidden=32):
    """(x [1, channels, T], sr int64 [1], h0, c0 [1, 1, hidden]) -> (prob [T, 1, 1], h, c):
    the 16 kHz branch (own weights, kernel 5) when sr == 16000, else the 8 kHz one (the main
    graph's weights, kernel 3)."""
    then_g, _ = _branch("k16", rng, channels, hidden, 5, own_weights=True)
    else_g, outer_inits = _branch("k8", rng, channels, hidden, 3, own_weights=False)
    nodes = [helper.make_node("Equal", ["sr", "sr16k"], ["is16k"]),
             helper.make_node("Squeeze", ["is16k"], ["cond"]),
             helper.make_node("If", ["cond"], ["prob", "h", "c"], then_branch=then_g, else_branch=else_g)]
    graph = helper.make_graph(
        nodes, "if_conv_lstm",
        [helper.make_tensor_value_info("x", F, [1, channels, "T"]), helper.make_tensor_value_info("sr", I64, [1]),
         helper.make_tensor_value_info("h0", F, [1, 1, hidden]), helper.make_tensor_value_info("c0", F, [1, 1, hidden])],
        [helper.make_tensor_value_info("prob", F, None), helper.make_tensor_value_info("h", F, None),
         helper.make_tensor_value_info("c", F, None)],
        initializer=[_init("sr16k", np.array([16000], np.int64))] + outer_inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def loop_gru_model(rng, features=16, hidden=32):
    """(x [T, 1, features], h0 [1, hidden]) -> (y [T, 1, hidden], h [1, hidden]): a GRU cell
    (linear_before_reset = 0, Keras' reset_after=False) in a Loop whose trip count is Shape(x)[0]."""
    s = 1 / np.sqrt(hidden)
    w = {"Wz": rng.standard_normal((features, hidden)) * s, "Wr": rng.standard_normal((features, hidden)) * s,
         "Wh": rng.standard_normal((features, hidden)) * s, "Rz": rng.standard_normal((hidden, hidden)) * s,
         "Rr": rng.standard_normal((hidden, hidden)) * s, "Rh": rng.standard_normal((hidden, hidden)) * s,
         "bz": rng.standard_normal(hidden) * 0.1, "br": rng.standard_normal(hidden) * 0.1,
         "bh": rng.standard_normal(hidden) * 0.1}
    w = {k: v.astype(np.float32) for k, v in w.items()}
    body_nodes = [
        helper.make_node("Gather", ["x", "i"], ["xt3"], axis=0),           # x[t]: [1, features]
        helper.make_node("MatMul", ["xt3", "Wz"], ["xz"]), helper.make_node("MatMul", ["h_in", "Rz"], ["hz"]),
        helper.make_node("Add", ["xz", "hz"], ["z0"]), helper.make_node("Add", ["z0", "bz"], ["z1"]),
        helper.make_node("Sigmoid", ["z1"], ["z"]),
        helper.make_node("MatMul", ["xt3", "Wr"], ["xr"]), helper.make_node("MatMul", ["h_in", "Rr"], ["hr"]),
        helper.make_node("Add", ["xr", "hr"], ["r0"]), helper.make_node("Add", ["r0", "br"], ["r1"]),
        helper.make_node("Sigmoid", ["r1"], ["r"]),
        helper.make_node("Mul", ["r", "h_in"], ["rh"]),
        helper.make_node("MatMul", ["xt3", "Wh"], ["xh"]), helper.make_node("MatMul", ["rh", "Rh"], ["hh"]),
        helper.make_node("Add", ["xh", "hh"], ["n0"]), helper.make_node("Add", ["n0", "bh"], ["n1"]),
        helper.make_node("Tanh", ["n1"], ["n"]),
        helper.make_node("Sub", ["h_in", "n"], ["d"]), helper.make_node("Mul", ["z", "d"], ["zd"]),
        helper.make_node("Add", ["n", "zd"], ["h_out"]),                   # h' = (1 - z) n + z h
        helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        helper.make_node("Identity", ["h_out"], ["y_t"]),
    ]
    body = helper.make_graph(
        body_nodes, "gru_step",
        [helper.make_tensor_value_info("i", I64, []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_in", F, [1, hidden])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_out", F, [1, hidden]), helper.make_tensor_value_info("y_t", F, [1, hidden])])
    nodes = [helper.make_node("Shape", ["x"], ["xs"]),
             helper.make_node("Gather", ["xs", "zero"], ["trips"], axis=0),
             helper.make_node("Loop", ["trips", "true", "h0"], ["h", "y"], body=body)]
    graph = helper.make_graph(
        nodes, "loop_gru",
        [helper.make_tensor_value_info("x", F, ["T", 1, features]), helper.make_tensor_value_info("h0", F, [1, hidden])],
        [helper.make_tensor_value_info("y", F, None), helper.make_tensor_value_info("h", F, None)],
        initializer=[_init(k, v) for k, v in w.items()]
        + [_init("zero", np.array(0, np.int64)), _init("true", np.array(True))])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

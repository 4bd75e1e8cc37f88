"""Per-node overhead: a chain of small ops (Add / Mul / Relu on a 1x16 tensor), one thread.

Times pyinfer's Python executor (executor="python", op.run per node), pyinfer's compiled plan
(executor="plan") and onnxruntime (intra_op_num_threads=1, graph optimizations off so the
chain is not folded), interleaved repetitions, and reports the median per-node microseconds.

    python tools/bench_overhead.py [--nodes 500] [--repeats 30] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from _checkout import use_checkout_if_built  # noqa: E402

use_checkout_if_built()
import pyinfer  # noqa: E402


def chain_model(n: int, width: int = 16):
    nodes, prev = [], "x"
    kinds = ["Add", "Mul", "Relu"]
    for i in range(n):
        kind = kinds[i % 3]
        out = "y" if i == n - 1 else f"v{i}"
        nodes.append(helper.make_node(kind, [prev] if kind == "Relu" else [prev, "c"], [out], name=f"n{i}"))
        prev = out
    c = numpy_helper.from_array(np.full((1, width), 0.999, np.float32), "c")
    g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, width])], [c])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=30, help="interleaved rounds")
    ap.add_argument("--inner", type=int, default=20, help="runs per timing")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)

    model = chain_model(args.nodes)
    x = np.random.default_rng(0).standard_normal((1, 16)).astype(np.float32)
    feeds = {"x": x}
    level = pyinfer.GraphOptimizationLevel.ORT_DISABLE_ALL
    runners = {
        "pyinfer python executor": pyinfer.InferenceSession(model, num_threads=1, graph_optimization_level=level,
                                                            executor="python"),
        "pyinfer compiled plan": pyinfer.InferenceSession(model, num_threads=1, graph_optimization_level=level,
                                                          executor="plan"),
    }
    try:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        runners["onnxruntime"] = ort.InferenceSession(model.SerializeToString(), so,
                                                      providers=["CPUExecutionProvider"])
    except ImportError:
        print("onnxruntime is not installed: timing pyinfer only")
    ref = None
    for name, sess in runners.items():
        for _ in range(3):  # warm-up (pyinfer: record shapes, compile the plan)
            y = sess.run(None, feeds)[0]
        ref = y if ref is None else ref
        np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
    times = {name: [] for name in runners}
    for _ in range(args.repeats):
        for name, sess in runners.items():
            t0 = time.perf_counter()
            for _ in range(args.inner):
                sess.run(None, feeds)
            times[name].append((time.perf_counter() - t0) / args.inner)
    result = {name: statistics.median(t) / args.nodes * 1e6 for name, t in times.items()}
    print(f"{args.nodes}-node chain of Add/Mul/Relu on 1x16, one thread; median of {args.repeats} "
          f"interleaved rounds x {args.inner} runs")
    for name, us in result.items():
        print(f"  {name:<26} {us:8.3f} us/node   ({us * args.nodes / 1000:.3f} ms/run)")
    if "onnxruntime" in result:
        print(f"  compiled plan / onnxruntime: {result['pyinfer compiled plan'] / result['onnxruntime']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"nodes": args.nodes, "us_per_node": result}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

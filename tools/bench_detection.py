"""Detection post-processing (scores -> TopK -> NonMaxSuppression -> Gather), one thread:
pyinfer's compiled plan and Python executor against onnxruntime, interleaved rounds, medians.

The graph is tests/support/detection_graphs.py's (SSDlite320's sizes by default: 3234 anchors,
91 classes, 1000 candidates). Also prints the plan's Python steps (pyinfer inspect's list).

    python tools/bench_detection.py [--anchors 3234] [--classes 91] [--candidates 1000] [--rounds 30]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from _checkout import use_checkout_if_built, use_test_support  # noqa: E402

use_checkout_if_built()
use_test_support()
import onnxruntime as ort  # noqa: E402

import pyinfer  # noqa: E402
from pyinfer.cli.python_steps import format_python_steps, python_steps  # noqa: E402
from support.detection_graphs import postprocess_feeds, postprocess_model  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--anchors", type=int, default=3234)
    ap.add_argument("--classes", type=int, default=91)
    ap.add_argument("--candidates", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args(argv)
    model = postprocess_model(args.anchors, args.classes, args.candidates).SerializeToString()
    feeds = postprocess_feeds(np.random.default_rng(0), args.anchors, args.classes)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    runners = {
        "pyinfer plan": pyinfer.InferenceSession(model, num_threads=1, executor="plan").run,
        "pyinfer python": pyinfer.InferenceSession(model, num_threads=1, executor="python").run,
        "onnxruntime": ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"]).run,
    }
    want = runners["onnxruntime"](None, feeds)
    for name, run in runners.items():
        for _ in range(3):  # warm-up (pyinfer: record, compile, run)
            got = run(None, feeds)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=name)
    times = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, run in runners.items():
            t0 = time.perf_counter()
            run(None, feeds)
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["onnxruntime"])
    print(f"load average {os.getloadavg()[0]:.2f}; kept {len(want[0])} boxes")
    for name, t in times.items():
        med = statistics.median(t)
        print(f"  {name:<16} {med * 1e3:8.3f} ms  {med / base:5.2f}x onnxruntime")
    print("\n".join(format_python_steps(python_steps(model))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

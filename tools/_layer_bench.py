"""Shared by the per-layer benchmarks (bench_conv.py, bench_pool.py): one single-node ONNX model
timed through pyinfer's and onnxruntime's InferenceSession with the same thread count, the
timing rounds alternating between the two (load from other processes and frequency drift hit
both alike); the medians count. ratio = onnxruntime time / pyinfer time (> 1: pyinfer faster)."""
from __future__ import annotations

import time

import numpy as np


def add_arguments(ap) -> None:
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--filter", default="", help="only layers whose label contains this")


def print_header(isa: str, repeats: int, width: int) -> None:
    print(f"isa: {isa}  (ms, median of {repeats} interleaved rounds; "
          f"ratio = onnxruntime / pyinfer, > 1: pyinfer faster)")
    print(f"| {'layer':{width}} | thr | pyinfer ms | ort ms | ratio | max abs diff |")
    print(f"|{'-' * (width + 2)}|-----|------------|--------|-------|--------------|")


def time_layer(model: bytes, x: np.ndarray, threads: int, repeats: int, inner: int) -> tuple:
    """(pyinfer median s, onnxruntime median s, max |difference| of the outputs)."""
    import onnxruntime as ort

    import pyinfer

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    ref = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    ours = pyinfer.InferenceSession(model, num_threads=threads)
    y_ref = ref.run(None, {"x": x})[0]
    y = ours.run(None, {"x": x})[0]
    diff = float(np.max(np.abs(y - y_ref))) if y.shape == y_ref.shape else float("inf")
    t_ours, t_ref = [], []
    for _ in range(repeats):
        for sess, times in ((ours, t_ours), (ref, t_ref)):
            t0 = time.perf_counter()
            for _ in range(inner):
                sess.run(None, {"x": x})
            times.append((time.perf_counter() - t0) / inner)
    return float(np.median(t_ours)), float(np.median(t_ref)), diff


def print_row(label: str, width: int, threads: int, mine: float, theirs: float, diff: float) -> None:
    print(f"| {label:{width}} | {threads:3} | {mine * 1e3:10.3f} | {theirs * 1e3:6.3f} | {theirs / mine:5.2f} | "
          f"{diff:12.1e} |", flush=True)

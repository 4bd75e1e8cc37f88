"""Peak memory and session creation time: pyinfer vs onnxruntime, batch 1.

Models (--model, one or several):
  resnet50     onnx's light_resnet50 (shipped with the onnx package: ResNet-50 whose weights are
               ConstantOfShape nodes) with every ConstantOfShape replaced by a random float32
               initializer of its shape (98 MiB of weights)
  mobilenetv2  MobileNetV2 (width 1.0) with random weights, exported by torch.onnx (legacy
               exporter) through tests/support/model_export.py (14 MiB)
saved once into a cache directory. Each runtime runs in its own subprocess, interleaved:

  creation time  model path -> session -> first inference done (wall clock, and the process's CPU
                 time, which other jobs on a loaded machine disturb less)
  peak RSS       VmHWM from /proc/self/status after the first and after `--runs` inferences
  baseline       VmRSS after importing the runtime and numpy, before loading the model

    python tools/bench_memory.py [--model resnet50,mobilenetv2] [--threads 1] [--runs 5] [--repeats 3]
                                 [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def build_model(path: str) -> None:
    import numpy as np
    import onnx
    from onnx import numpy_helper

    src = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", "light_resnet50.onnx")
    m = onnx.load(src)
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    data_inputs = [vi for vi in m.graph.input if vi.name not in inits]
    rng = np.random.default_rng(0)
    keep = []
    for node in m.graph.node:
        if node.op_type == "ConstantOfShape":
            shape = [int(d) for d in inits[node.input[0]]]
            fan_in = max(1, int(np.prod(shape[1:]))) if len(shape) > 1 else 1
            w = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
            if "_rm_" in node.output[0] or "running_var" in node.output[0] or node.output[0].endswith("_riv_0"):
                w = np.abs(w) + 0.5  # variances must be positive
            m.graph.initializer.append(numpy_helper.from_array(w, node.output[0]))
        else:
            keep.append(node)
    del m.graph.node[:]
    m.graph.node.extend(keep)
    used = {i for n in m.graph.node for i in n.input}
    kept = [t for t in m.graph.initializer if t.name in used]
    del m.graph.initializer[:]
    m.graph.initializer.extend(kept)
    del m.graph.input[:]
    m.graph.input.extend(data_inputs)
    m.ir_version = max(m.ir_version, 4)  # initializers need not be graph inputs
    onnx.checker.check_model(m)
    onnx.save(m, path)


def build_mobilenetv2(path: str) -> None:
    import shutil

    from _checkout import use_test_support
    use_test_support()
    from support.model_export import export

    with tempfile.TemporaryDirectory() as tmp:
        onnx_path, _ = export("mobilenetv2", "legacy", tmp)
        shutil.copyfile(onnx_path, path)


MODELS = {"resnet50": ("resnet50_random.onnx", build_model, "ResNet-50 (random weights)"),
          "mobilenetv2": ("mobilenetv2_random.onnx", build_mobilenetv2, "MobileNetV2 (random weights)")}


def child(runtime: str, model: str, threads: int, runs: int) -> dict:
    import numpy as np

    if runtime == "pyinfer":
        from _checkout import use_checkout_if_built
        use_checkout_if_built()
        import pyinfer

        base = _status("VmRSS")
        t0, c0 = time.perf_counter(), time.process_time()
        sess = pyinfer.InferenceSession(model, num_threads=threads)
    else:
        import onnxruntime as ort

        base = _status("VmRSS")
        t0, c0 = time.perf_counter(), time.process_time()
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
    y = sess.run(None, {name: x})[0]
    creation, creation_cpu = time.perf_counter() - t0, time.process_time() - c0
    hwm_first = _status("VmHWM")
    for _ in range(runs - 1):
        y = sess.run(None, {name: x})[0]
    return {"creation_s": creation, "creation_cpu_s": creation_cpu, "baseline_rss": base, "peak_rss_first": hwm_first,
            "peak_rss": _status("VmHWM"), "output_sum": float(np.sum(y, dtype=np.float64))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet50,mobilenetv2", help="comma-separated: " + ", ".join(MODELS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5, help="inferences per subprocess")
    ap.add_argument("--repeats", type=int, default=3, help="subprocesses per runtime (median)")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "pyinfer_bench"))
    ap.add_argument("--json")
    ap.add_argument("--child", choices=["pyinfer", "onnxruntime"], help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.path, args.threads, args.runs)))
        return 0
    os.makedirs(args.cache, exist_ok=True)
    names = args.model.split(",")
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        ap.error(f"unknown models {unknown}; choose from {', '.join(MODELS)}")
    report = {}
    for name in names:
        file_name, build, title = MODELS[name]
        model = os.path.join(args.cache, file_name)
        if not os.path.exists(model):
            build(model)
        summary = measure(model, title, args)
        if summary is None:
            return 1
        report[name] = summary
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "runs": args.runs, "models": report}, f, indent=2)
    return 0


def measure(model: str, title: str, args) -> dict | None:
    """Median creation time and peak RSS of each runtime over interleaved subprocesses (printed)."""
    results = {"pyinfer": [], "onnxruntime": []}
    for _ in range(args.repeats):
        for rt in results:  # interleaved
            out = subprocess.run([sys.executable, __file__, "--child", rt, "--path", model, "--threads",
                                  str(args.threads), "--runs", str(args.runs)], capture_output=True, text=True)
            if out.returncode != 0:
                print(out.stderr[-3000:], file=sys.stderr)
                return None
            results[rt].append(json.loads(out.stdout.strip().splitlines()[-1]))
    summary = {}
    mib = 1 / (1 << 20)
    print(f"{title} ({os.path.getsize(model) * mib:.0f} MiB file), batch 1, threads {args.threads}; median of "
          f"{args.repeats} subprocesses; load average {os.getloadavg()[0]:.2f}")
    for rt, rows in results.items():
        s = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        summary[rt] = s
        print(f"  {rt:<12} peak RSS {s['peak_rss'] * mib:7.1f} MiB (after first run {s['peak_rss_first'] * mib:7.1f}, "
              f"baseline {s['baseline_rss'] * mib:6.1f})   creation + first run {s['creation_s'] * 1000:8.1f} ms "
              f"(CPU {s['creation_cpu_s'] * 1000:6.1f} ms)")
    p, o = summary["pyinfer"], summary["onnxruntime"]
    print(f"  pyinfer / onnxruntime: peak RSS {p['peak_rss'] / o['peak_rss']:.2f}x, "
          f"above baseline {(p['peak_rss'] - p['baseline_rss']) / (o['peak_rss'] - o['baseline_rss']):.2f}x, "
          f"creation {p['creation_s'] / o['creation_s']:.2f}x (CPU time {p['creation_cpu_s'] / o['creation_cpu_s']:.2f}x)")
    rel = abs(p["output_sum"] - o["output_sum"]) / max(abs(o["output_sum"]), 1e-12)
    print(f"  outputs agree: sum of outputs {p['output_sum']:.6f} vs {o['output_sum']:.6f} (rel diff {rel:.2g})")
    summary["runs"] = results
    return summary


if __name__ == "__main__":
    sys.exit(main())

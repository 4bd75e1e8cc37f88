#!/usr/bin/env python
"""Time pyinfer against onnxruntime on transformer models exported from Hugging Face transformers,
and check both against PyTorch float32.

    python tools/bench_transformers.py [--models bert-base,minilm,...|all] [--cases CASE,...]
                                       [--exporters legacy,dynamo] [--threads 1,2] [--repeats 10]
                                       [--warmup 2] [--size full|tiny] [--cache DIR] [--json FILE]
                                       [--profile]

Models (tests/support/transformer_models.py, random weights, configurations built in code, nothing
downloaded): bert-base, minilm, distilbert, gpt2 (a prompt), gpt2-past (one decode step with past
keys / values), vit, swin, whisper-encoder, wav2vec2. Cases: bert-base runs b1s128, b8s128 and the
sequence sweep b1s16 ... b1s512; gpt2 a 128-token prompt; gpt2-past one token after 127; the others
their one input (224 x 224 images, 30 s of mel frames, 5 s of audio).

The ONNX files and PyTorch's reference outputs are cached under --cache (default
~/.cache/pyinfer/transformers; not part of the checkout): the legacy export has dynamic batch and
sequence axes and serves every case, the dynamo export is made per case (fixed shapes).

onnxruntime runs at its default optimization level (ORT_ENABLE_ALL, its own transformer fusions),
intra_op_num_threads = the thread count, one inter-op thread, idle threads not spinning (see
pyinfer/cli/bench.py ort_session). After warm-up the two runtimes alternate, one call each per
round; the table shows medians and ratio = pyinfer / onnxruntime, and max |runtime - PyTorch|
over the outputs divided by the output's scale (max |PyTorch|).

On a shared machine the wall-clock medians include the time other jobs hold the core. Each call's
CPU time is recorded too (the calling thread's at 1 thread, where both runtimes compute on it; the
process's otherwise, which also counts pyinfer's workers' short polls): `cpu ratio` is the ratio of
the CPU-time medians, the comparison that load from other jobs disturbs least.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from _checkout import use_checkout_if_built, use_test_support  # noqa: E402

use_checkout_if_built()
use_test_support()

import numpy as np  # noqa: E402

from support import transformer_models as tm  # noqa: E402

BERT_SWEEP = (16, 64, 128, 256, 512)


def cases_of(model: str) -> dict:
    """case name -> case parameters (transformer_models' case functions take them)."""
    if model == "bert-base":
        cases = {"b1s128": dict(batch=1, seq=128), "b8s128": dict(batch=8, seq=128)}
        cases.update({f"b1s{s}": dict(batch=1, seq=s) for s in BERT_SWEEP if s != 128})
        return cases
    if model == "gpt2":
        return {"prompt128": dict(seq=128)}
    if model == "gpt2-past":
        return {"past127": dict(seq=1, past=127)}
    return {"default": {}}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="all", help="comma-separated, or all: " + ", ".join(tm.SPECS))
    p.add_argument("--cases", default="all", help="case names (see cases_of), comma-separated, or all")
    p.add_argument("--exporters", default="legacy,dynamo")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--size", default="full", choices=("full", "tiny"))
    p.add_argument("--cache", default=os.path.expanduser("~/.cache/pyinfer/transformers"))
    p.add_argument("--json", metavar="FILE", help="write the rows as JSON here")
    p.add_argument("--profile", action="store_true",
                   help="also print pyinfer's time per op type (first thread count, one profiled run per repeat)")
    return p.parse_args(argv)


class Model:
    """One model at one size: its torch module (built on first use), exports and references."""

    def __init__(self, name: str, size: str, cache: str):
        self.name, self.size, self.spec = name, size, tm.SPECS[name]
        self.dir = os.path.join(cache, size)
        os.makedirs(self.dir, exist_ok=True)
        self._module = None

    def module(self):
        if self._module is None:
            self._module = tm.build(self.name, self.size)
        return self._module

    def feeds(self, params: dict) -> dict:
        return tm.make_feeds(self.spec.cases(self.size, **params))

    def reference(self, case: str, params: dict) -> tuple[dict, list]:
        path = os.path.join(self.dir, f"{self.name}.{case}.ref.npz")
        ins, outs = tm.names(self.spec, self.size)
        if not os.path.exists(path):
            feeds = self.feeds(params)
            want = tm.torch_outputs(self.module(), feeds, ins)
            np.savez(path, **{f"in.{k}": v for k, v in feeds.items()}, **{f"out.{i}": v for i, v in enumerate(want)})
        data = np.load(path)
        feeds = {n: data[f"in.{n}"] for n in ins}
        return feeds, [data[f"out.{i}"] for i in range(len(outs))]

    def onnx_path(self, exporter: str, case: str, params: dict) -> str:
        tag = exporter if exporter == "legacy" else f"{exporter}.{case}"
        path = os.path.join(self.dir, f"{self.name}.{tag}.onnx")
        if not os.path.exists(path):
            t0 = time.perf_counter()
            tm.export(self.module(), self.name, self.size, exporter, path + ".tmp", self.feeds(params))
            os.replace(path + ".tmp", path)
            data = path + ".tmp.data"
            if os.path.exists(data):  # the dynamo exporter writes large weights beside the file
                raise RuntimeError(f"{path}: weights written to a separate file; not supported here")
            print(f"  exported {os.path.basename(path)} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        return path


def relative_error(got: list, want: list) -> float:
    """max over outputs of max |got - want| / max |want|."""
    worst = 0.0
    for g, w in zip(got, want):
        scale = float(np.max(np.abs(w))) or 1.0
        worst = max(worst, float(np.max(np.abs(g.astype(np.float64) - w.astype(np.float64)))) / scale)
    return worst


def profile_ops(path: str, feeds: dict, threads: int, runs: int) -> list:
    """pyinfer's (op type, ms per run, share) over `runs` profiled runs of the compiled plan,
    largest first."""
    import pyinfer

    sess = pyinfer.InferenceSession(path, num_threads=threads, enable_profiling=True,
                                    profile_file_prefix=os.path.join("/tmp", "bench_transformers"))
    for _ in range(2 + runs):  # the first two record shapes and compile the plan
        sess.run(None, feeds)
    trace = sess.end_profiling()
    with open(trace) as f:
        events = sorted(json.load(f), key=lambda e: e.get("ts", 0))
    os.remove(trace)
    sessions = [e["ts"] for e in events if e.get("cat") == "Session"]
    start = sessions[2] if len(sessions) > 2 else 0
    by_op = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["ts"] >= start:
            by_op[e["args"]["op_name"]] += e["dur"]
    total = sum(by_op.values()) or 1
    return [(op, us / 1e3 / runs, us / total) for op, us in by_op.most_common()]


def time_rounds(runners: dict, repeats: int, warmup: int, threads: int) -> dict:
    """name -> (wall seconds, CPU seconds) per call: warm-up calls, then `repeats` rounds calling each
    runner once, the order alternating (as pyinfer.cli.bench.time_interleaved, with CPU time)."""
    cpu = time.thread_time if threads == 1 else time.process_time
    names = list(runners)
    for name in names:
        for _ in range(warmup):
            runners[name]()
    out = {name: ([], []) for name in names}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            w0, c0 = time.perf_counter(), cpu()
            runners[name]()
            out[name][0].append(time.perf_counter() - w0)
            out[name][1].append(cpu() - c0)
    return out


def bench_one(model: Model, case: str, params: dict, exporter: str, threads: list, args) -> list:
    import pyinfer
    from pyinfer.cli.bench import ort_session

    feeds, want = model.reference(case, params)
    path = model.onnx_path(exporter, case, params)
    rows = []
    for t in threads:
        sess = pyinfer.InferenceSession(path, num_threads=t)
        ort = ort_session(path, t)
        got = sess.run(None, feeds)
        for _ in range(2):  # the first call records shapes, the second compiles the plan
            got = sess.run(None, feeds)
        ort_got = ort.run(None, feeds)
        times = time_rounds({"pyinfer": lambda: sess.run(None, feeds), "ort": lambda: ort.run(None, feeds)},
                            args.repeats, args.warmup, t)
        (p, pc), (o, oc) = ([1e3 * float(np.median(x)) for x in times[k]] for k in ("pyinfer", "ort"))
        row = dict(model=model.name, case=case, export=exporter, threads=t, pyinfer_ms=p, ort_ms=o, ratio=p / o,
                   pyinfer_cpu_ms=pc, ort_cpu_ms=oc, cpu_ratio=pc / oc,
                   pyinfer_err=relative_error(got, want), ort_err=relative_error(ort_got, want),
                   scale=float(max(np.max(np.abs(w)) for w in want)))
        print(f"{model.name:16s} {case:9s} {exporter:6s} {t:2d}  pyinfer {p:9.2f} ms  ort {o:9.2f} ms  "
              f"ratio {p / o:5.2f}  cpu ratio {pc / oc:5.2f}  err/scale pyinfer {row['pyinfer_err']:.1e} "
              f"ort {row['ort_err']:.1e}", flush=True)
        rows.append(row)
        del sess, ort
    if args.profile:
        for op, ms, share in profile_ops(path, feeds, threads[0], max(3, args.repeats // 2))[:12]:
            print(f"      {op:32s} {ms:9.2f} ms {100 * share:5.1f}%")
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    models = list(tm.SPECS) if args.models == "all" else args.models.split(",")
    threads = [int(t) for t in args.threads.split(",")]
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    print(f"CPU: {cpu}; load average {os.getloadavg()[0]:.1f} at start", flush=True)
    rows = []
    for name in models:
        model = Model(name, args.size, args.cache)
        for case, params in cases_of(name).items():
            if args.cases != "all" and case not in args.cases.split(","):
                continue
            for exporter in args.exporters.split(","):
                try:
                    rows += bench_one(model, case, params, exporter, threads, args)
                except Exception as e:  # one model failing to export must not end the run
                    print(f"{name:16s} {case:9s} {exporter:6s} FAILED: {type(e).__name__}: {str(e)[:200]}", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `pyinfer` command line: run a model, demo, bench, inspect, profile, serve.

This package holds what only the command line needs (timing helpers, the bundled demo and its
data, the inspect report): `import pyinfer` never imports it, so a service embedding the
runtime loads none of it. The library never imports pyinfer.cli (an import-linter contract).
"""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["inspect"]:  # its own parser lives with the report code
        from .inspect_model import main as inspect_main

        return inspect_main(argv[1:])
    parser = argparse.ArgumentParser(prog="pyinfer", description="CPU inference for ONNX models")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run a model on .npy inputs and print or save the outputs")
    p.add_argument("model")
    p.add_argument("--input", "-i", action="append", default=[], metavar="NAME=FILE.npy")
    p.add_argument("--output-dir", "-o", help="save each output as NAME.npy here instead of printing")
    p.add_argument("--threads", type=int, default=None)

    p = sub.add_parser("demo", help="classify the bundled images with the bundled CIFAR-10 CNN")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--repeats", type=int, default=50, help="timed runs for the median latency")

    sub.add_parser("inspect", help="inputs, outputs, parameters, op histogram before/after optimization, MACs",
                   add_help=False)

    p = sub.add_parser("bench", help="time a model on random inputs (optionally against onnxruntime and OpenVINO)")
    p.add_argument("model")
    p.add_argument("--threads", type=int, default=None, help="kernel threads (default: one per physical core)")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--dim", action="append", default=[], metavar="NAME=N",
                   help="value for a symbolic input dimension (default 1)")
    p.add_argument("--int-high", type=int, default=100, help="integer inputs are drawn from [0, INT_HIGH)")
    p.add_argument("--compare", default="", metavar="ort[,openvino]",
                   help="also time these runtimes with the same inputs and threads (OpenVINO forced to float32)")

    p = sub.add_parser("profile", help="per-op-type time table (and bar chart) from a profiled run")
    p.add_argument("model")
    p.add_argument("--threads", type=int, default=None, help="kernel threads (default: one per physical core)")
    p.add_argument("--repeats", type=int, default=10, help="profiled runs (after 2 warm-up runs)")
    p.add_argument("--dim", action="append", default=[], metavar="NAME=N",
                   help="value for a symbolic input dimension (default 1)")
    p.add_argument("--png", help="save a bar chart of time per op type here (needs matplotlib)")
    p.add_argument("--trace", help="keep the Chrome-trace JSON under this prefix (default: a temporary file)")

    from ..serve.cli import add_parser as add_serve_parser  # its code lives in pyinfer/serve/

    add_serve_parser(sub)
    args = parser.parse_args(argv)
    if getattr(args, "threads", None) is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    if args.command == "run":
        return _cmd_run(args)
    if args.command == "demo":
        return _cmd_demo(args)
    if args.command == "bench":
        return _cmd_bench(args)
    if args.command == "profile":
        return _cmd_profile(args)
    if args.command == "serve":
        from ..serve.cli import main as serve_main

        return serve_main(args)
    return 2


def _cmd_profile(args) -> int:
    import json
    import os
    import shutil
    import tempfile

    from ..errors import Error
    from ..profiling import format_table, op_type_table, save_bar_chart
    from ..session import InferenceSession
    from .bench import parse_dims, random_feeds

    tmp = None
    prefix = args.trace
    if not prefix:
        tmp = tempfile.mkdtemp(prefix="pyinfer_profile_")
        prefix = os.path.join(tmp, "profile")
    try:
        sess = InferenceSession(args.model, num_threads=args.threads, enable_profiling=True,
                                profile_file_prefix=prefix)
        feeds = random_feeds(sess.get_inputs(), parse_dims(args.dim))
        for _ in range(2):  # warm-up: the first run records shapes, the second compiles the plan
            sess.run(None, feeds)
        sess.end_profiling()  # drop the warm-up events
        for _ in range(max(args.repeats, 1)):
            sess.run(None, feeds)
        path = sess.end_profiling()
    except (Error, ValueError) as e:
        print(f"pyinfer: error: {e}", file=sys.stderr)
        return 1
    with open(path) as f:
        events = json.load(f)
    rows = op_type_table(events)
    runs = sum(1 for e in events if e.get("cat") == "Session")
    threads = "default" if args.threads is None else args.threads
    print(f"{args.model}  threads: {threads}  profiled runs: {runs}")
    print(format_table(rows))
    if args.trace:
        print(f"trace: {path}")
    else:  # the warm-up trace lies there too (unless both got the same timestamped name)
        shutil.rmtree(tmp, ignore_errors=True)
    if args.png:
        if save_bar_chart(rows, args.png):
            print(f"bar chart: {args.png}")
        else:
            print("matplotlib is not installed: no bar chart (pip install matplotlib)")
    return 0


def _cmd_demo(args) -> int:
    from ..errors import Error
    from .demo import run_demo

    try:
        run_demo(num_threads=args.threads, repeats=max(args.repeats, 1))
    except Error as e:
        print(f"pyinfer: error: {e}", file=sys.stderr)
        return 1
    return 0


def _cmd_bench(args) -> int:
    from ..errors import Error
    from ..session import InferenceSession
    from .bench import (ProgressBar, have_onnxruntime, have_openvino, max_abs_diff, openvino_runner, ort_session,
                        parse_dims, random_feeds, summarize, time_interleaved)

    peers = [c.strip() for c in args.compare.split(",") if c.strip()]
    unknown = [c for c in peers if c not in ("ort", "openvino")]
    if unknown:
        print(f"pyinfer: --compare takes ort and/or openvino, not {', '.join(unknown)}", file=sys.stderr)
        return 2
    for peer, have, package in (("ort", have_onnxruntime, "onnxruntime"), ("openvino", have_openvino, "openvino")):
        if peer in peers and not have():
            print(f"pyinfer: --compare {peer} needs {package} (pip install {package})", file=sys.stderr)
            return 2
    try:
        sess = InferenceSession(args.model, num_threads=args.threads)
        feeds = random_feeds(sess.get_inputs(), parse_dims(args.dim), int_high=args.int_high)
        runners = {"pyinfer": lambda: sess.run(None, feeds)}
        if "ort" in peers:
            ort = ort_session(args.model, args.threads)
            runners["onnxruntime"] = lambda: ort.run(None, feeds)
        if "openvino" in peers:
            runners["openvino"] = openvino_runner(args.model, args.threads, feeds,
                                                  [o.name for o in sess.get_outputs()])
        mine = sess.run(None, feeds)
        diffs = {name: max_abs_diff(mine, run()) for name, run in runners.items() if name != "pyinfer"}
        bar = ProgressBar(args.repeats, label="timing ")
        try:
            times = time_interleaved(runners, args.repeats, args.warmup, progress=bar)
        finally:
            bar.close()
    except (Error, ValueError) as e:
        print(f"pyinfer: error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # a peer that cannot load or run the model
        print(f"pyinfer: error: a peer runtime failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    shapes = ", ".join(f"{k}{list(v.shape)}" for k, v in feeds.items())
    threads = "default" if args.threads is None else args.threads
    print(f"{args.model}  inputs: {shapes}  threads: {threads}")
    stats = {name: summarize(t) for name, t in times.items()}
    for name, st in stats.items():
        print(f"  {name:<12} median {st['median_ms']:9.3f} ms   min {st['min_ms']:9.3f} ms   "
              f"q1-q3 {st['q1_ms']:.3f}-{st['q3_ms']:.3f} ms   ({st['repeats']} runs)")
    for name, diff in diffs.items():
        ratio = stats["pyinfer"]["median_ms"] / stats[name]["median_ms"]
        print(f"  pyinfer/{name}: {ratio:.2f}x   max |difference| of outputs: {diff:.3g}")
    return 0


def _cmd_run(args) -> int:
    import os

    import numpy as np

    from ..errors import Error
    from ..session import InferenceSession

    try:
        sess = InferenceSession(args.model, num_threads=args.threads)
        feeds = {}
        for item in args.input:
            name, sep, path = item.partition("=")
            if not sep:
                print(f"pyinfer: --input expects NAME=FILE.npy, got {item!r}", file=sys.stderr)
                return 2
            feeds[name] = np.load(path)
        outputs = sess.run(None, feeds)
    except Error as e:
        print(f"pyinfer: error: {e}", file=sys.stderr)
        return 1
    for arg, value in zip(sess.get_outputs(), outputs):
        if args.output_dir:
            os.makedirs(args.output_dir, exist_ok=True)
            np.save(os.path.join(args.output_dir, f"{arg.name}.npy"), value)
        else:
            print(f"{arg.name}: shape={list(np.shape(value))} dtype={np.asarray(value).dtype}")
            print(np.asarray(value))
    return 0

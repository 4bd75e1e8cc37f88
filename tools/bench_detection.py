"""Detection at one thread, pyinfer against onnxruntime: interleaved rounds, medians, ratios.

Two kinds of model:
  postprocess   the post-processing graph alone (scores -> TopK -> NonMaxSuppression -> Gather,
                tests/support/detection_graphs.py; SSDlite320's sizes by default: 3234 anchors,
                91 classes, 1000 candidates): pyinfer's compiled plan and Python executor.
  ssdlite320_mobilenet_v3_large, fasterrcnn_mobilenet_v3_large_320_fpn (or `detectors`: both)
                torchvision's full models, random weights (tests/support/detection_export.py;
                exported once into the cache, which needs torchvision: a wheel unpacked with
                `pip install --no-deps --target DIR`, named by --torchvision-path or
                $PYINFER_TORCHVISION_PATH). Each round feeds the next of --images different
                images, so the data-dependent shapes (boxes kept, RoIs per level) change from
                call to call as they do in use; --images 1 repeats the export image.

Prints lscpu's model name and the load average with the figures, checks the detections against
onnxruntime's (as sets: tests/support/detection_graphs.match_detections), and lists the static
plan's Python steps on the first image (pyinfer inspect's list).

    python tools/bench_detection.py [--model detectors] [--rounds 20] [--images 4]
    python tools/bench_detection.py --model postprocess [--anchors 3234] [--classes 91] [--candidates 1000]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from _machine import cpu_name  # noqa: E402
from _checkout import use_checkout_if_built, use_test_support  # noqa: E402

use_checkout_if_built()
use_test_support()
import onnxruntime as ort  # noqa: E402

import pyinfer  # noqa: E402
from pyinfer.cli.python_steps import format_python_steps, python_steps  # noqa: E402
from support import detection_export  # noqa: E402
from support.detection_graphs import match_detections, postprocess_feeds, postprocess_model  # noqa: E402




def ort_session(model):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def interleave(runners: dict, feeds: list, rounds: int) -> dict:
    """{name: median seconds}: per round every runner once, on feeds[round % len(feeds)]."""
    for run in runners.values():
        for f in feeds * 2:  # warm-up (pyinfer: record, compile; the dynamic plan for a new image)
            run(None, f)
    times = {name: [] for name in runners}
    for i in range(rounds):
        f = feeds[i % len(feeds)]
        for name, run in runners.items():
            t0 = time.perf_counter()
            run(None, f)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def report(title: str, med: dict) -> None:
    base = med["onnxruntime"]
    print(f"{title} (1 thread; {cpu_name()}; load average {os.getloadavg()[0]:.2f})")
    for name, m in med.items():
        print(f"  {name:<16} {m * 1e3:8.3f} ms  {m / base:5.2f}x onnxruntime")


def bench_postprocess(args) -> None:
    model = postprocess_model(args.anchors, args.classes, args.candidates).SerializeToString()
    feeds = postprocess_feeds(np.random.default_rng(0), args.anchors, args.classes)
    runners = {
        "pyinfer plan": pyinfer.InferenceSession(model, num_threads=1, executor="plan").run,
        "pyinfer python": pyinfer.InferenceSession(model, num_threads=1, executor="python").run,
        "onnxruntime": ort_session(model).run,
    }
    want = runners["onnxruntime"](None, feeds)
    for name, run in runners.items():
        for g, w in zip(run(None, feeds), want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=name)
    report(f"postprocess: {args.anchors} anchors, {args.classes} classes, {args.candidates} candidates; "
           f"kept {len(want[0])} boxes", interleave(runners, [feeds], args.rounds))
    print("\n".join(format_python_steps(python_steps(model))))


def bench_detector(name: str, args) -> None:
    path, npz = detection_export.cached_export(name, torchvision_path=args.torchvision_path)
    feeds = [detection_export.load(npz)[0]] + [{"images": detection_export.image(seed)}
                                                 for seed in range(1, args.images)]
    runners = {"pyinfer": pyinfer.InferenceSession(path, num_threads=1).run, "onnxruntime": ort_session(path).run}
    kept = []
    for f in feeds:
        got, want = runners["pyinfer"](None, f), runners["onnxruntime"](None, f)
        missing = match_detections(got, want, box_atol=0.01, score_atol=1e-3)
        kept.append(f"{len(want[0])}" + (f" ({len(missing)} differ)" if missing else ""))
    report(f"{name}: {len(feeds)} image(s), detections per image {', '.join(kept)}",
           interleave(runners, feeds, args.rounds))
    print("\n".join(format_python_steps(python_steps(path, feeds=feeds[0]))))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="postprocess",
                    choices=("postprocess", "detectors") + detection_export.MODELS)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--images", type=int, default=4, help="full models: distinct images fed in turn")
    ap.add_argument("--torchvision-path", default=None, help="a torchvision unpacked by pip install --target")
    ap.add_argument("--anchors", type=int, default=3234)
    ap.add_argument("--classes", type=int, default=91)
    ap.add_argument("--candidates", type=int, default=1000)
    args = ap.parse_args(argv)
    if args.model == "postprocess":
        bench_postprocess(args)
        return 0
    for name in detection_export.MODELS if args.model == "detectors" else (args.model,):
        bench_detector(name, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

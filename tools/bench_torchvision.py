#!/usr/bin/env python
"""torchvision's models, exported by both PyTorch exporters, timed against onnxruntime and OpenVINO.

    python tools/bench_torchvision.py [NAME ...] [--size 224] [--exporter legacy,dynamo]
                                      [--threads 1,2] [--peers ort,openvino] [--export-only]
                                      [--repeats N] [--warmup N] [--time-budget S] [--json FILE] [--png FILE]

NAME: one of tests/support/torchvision_models.py BUILDERS (default: all of them). Each model gets
random weights (fixed seed) and randomized BatchNorm statistics (ConvNeXt its layer scales too), is
exported at batch 1, SIZE x SIZE, by the legacy (TorchScript, opset 17) and dynamo exporters into
$PYINFER_TEST_CACHE/torchvision or ~/.cache/pyinfer/torchvision (outside the checkout; reused
while the architectures and torch stay the same), and timed by tools/bench.py (rows NAME.leg /
NAME.dyn; |d| columns check pyinfer against onnxruntime / OpenVINO, "=torch" against PyTorch's
outputs). torchvision itself is used when it can be imported (--prefer-torchvision); it cannot be
installed beside this environment's CPU torch, so the architectures are rebuilt in plain torch.nn
and checked against torchvision's parameter counts (tests/models/test_torchvision_models.py).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _checkout import use_checkout_if_built, use_test_support  # noqa: E402

use_checkout_if_built()
use_test_support()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--exporter", default="legacy,dynamo")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--peers", default="ort,openvino")
    p.add_argument("--export-only", action="store_true", help="fill the export cache and stop")
    for opt in ("--repeats", "--warmup", "--time-budget", "--json", "--png"):  # handed to bench.py
        p.add_argument(opt, default=None)
    args = p.parse_args(argv)
    rest = []
    for opt in ("repeats", "warmup", "time_budget", "json", "png"):
        if getattr(args, opt) is not None:
            rest += ["--" + opt.replace("_", "-"), getattr(args, opt)]
    from support import torchvision_export, torchvision_models

    names = args.names or list(torchvision_models.BUILDERS)
    unknown = [n for n in names if n not in torchvision_models.BUILDERS]
    if unknown:
        p.error(f"unknown model(s) {unknown}; choose from {', '.join(torchvision_models.BUILDERS)}")
    for name in names:  # export first (in this process), so the timing children only load files
        for exporter in args.exporter.split(","):
            t0 = time.perf_counter()
            path, _ = torchvision_export.cached_export(name, exporter, args.size)
            print(f"{name:30s} {exporter:7s} {path} ({time.perf_counter() - t0:.1f} s)", flush=True)
    if args.export_only:
        return 0
    import bench

    return bench.main([f"tv:{n}@s{args.size}" for n in names] + ["--exporter", args.exporter, "--threads",
                                                                  args.threads, "--peers", args.peers] + rest)


if __name__ == "__main__":
    sys.exit(main())

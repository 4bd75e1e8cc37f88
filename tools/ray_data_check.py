#!/usr/bin/env python
"""The Ray Data recipe (examples/ray_data_batch.py) over many images, compared with a local session.

Starts a local Ray cluster, classifies N random 32x32 images with the bundled CIFAR-10 CNN at the
given concurrency (one single-threaded session per actor, pickled to the actors), and compares
labels and logits with the same session run locally in batches.

    python tools/ray_data_check.py --images 10000 --concurrency 2
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
sys.path[:0] = [ROOT, EXAMPLES]

import pyinfer  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=10_000)
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--model", default=os.path.join(ROOT, "pyinfer", "cli", "data", "cifar10_cnn.onnx"))
    args = p.parse_args()

    import ray

    import ray_data_batch

    ray.init(num_cpus=args.concurrency, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([ROOT, EXAMPLES])}})
    try:
        session = pyinfer.InferenceSession(args.model, num_threads=1)
        images = np.random.default_rng(0).standard_normal((args.images, 3, 32, 32)).astype(np.float32)
        t0 = time.perf_counter()
        labels, logits = ray_data_batch.classify_images(images, session, args.concurrency, args.batch_size)
        ray_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        want = np.concatenate([session.run(None, {"input": images[i:i + args.batch_size]})[0]
                               for i in range(0, len(images), args.batch_size)])
        local_s = time.perf_counter() - t0
    finally:
        ray.shutdown()
    same_labels = int((labels == want.argmax(1)).sum())
    print(f"{args.images} images, concurrency {args.concurrency}: Ray Data {ray_s:.1f} s (cluster start not "
          f"counted), local {local_s:.1f} s")
    print(f"labels equal: {same_labels}/{args.images}; logits max |diff| {np.abs(logits - want).max():.3g}, "
          f"bit-identical rows {int((logits == want).all(axis=1).sum())}/{args.images}")
    return 0 if same_labels == args.images else 1


if __name__ == "__main__":
    sys.exit(main())

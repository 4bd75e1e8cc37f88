#!/usr/bin/env python
"""Per-layer pooling timing: pyinfer against onnxruntime on single-node pooling models.

Usage: python tools/bench_pool.py [--threads 1 2] [--repeats 9] [--filter resnet]

Each row is one MaxPool / AveragePool / GlobalAveragePool layer typical of ResNet, a small
CIFAR-10 CNN, AlexNet and Inception. Both engines run the same ONNX model through their
InferenceSession with the given thread count; the timing rounds alternate between the two
(so load from other processes and frequency drift hit both alike) and the medians count.
ratio = onnxruntime time / pyinfer time (> 1: pyinfer is faster). On a shared machine quote
ratios, not absolute times, and rerun noisy rows (--filter).
"""
from __future__ import annotations

import argparse
import os

# NumPy's OpenBLAS worker threads busy-wait after use; on a 2-core machine they steal time
# from whichever engine runs next. Nothing timed here needs them.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

import _layer_bench  # noqa: E402  (tools/ is the script's directory: on sys.path)

# (label, op, input shape, attributes)
LAYERS = [
    ("resnet stem max 3x3 s2 p1 @112", "MaxPool", (1, 64, 112, 112),
     dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    ("cifar max 2x2 s2 32@32", "MaxPool", (1, 32, 32, 32), dict(kernel_shape=[2, 2], strides=[2, 2])),
    ("cifar max 2x2 s2 64@16", "MaxPool", (1, 64, 16, 16), dict(kernel_shape=[2, 2], strides=[2, 2])),
    ("cifar max 2x2 s2 32@32 b32", "MaxPool", (32, 32, 32, 32), dict(kernel_shape=[2, 2], strides=[2, 2])),
    ("cifar max 2x2 s2 64@16 b32", "MaxPool", (32, 64, 16, 16), dict(kernel_shape=[2, 2], strides=[2, 2])),
    ("alexnet max 3x3 s2 @55", "MaxPool", (1, 64, 55, 55), dict(kernel_shape=[3, 3], strides=[2, 2])),
    ("inception max 3x3 s1 p1 @28", "MaxPool", (1, 192, 28, 28),
     dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])),
    ("inception max 3x3 s2 ceil @28", "MaxPool", (1, 192, 28, 28),
     dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)),
    ("avg 3x3 s1 p1 excl-pad @28", "AveragePool", (1, 256, 28, 28),
     dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0)),
    ("global avg 2048@7", "GlobalAveragePool", (1, 2048, 7, 7), {}),
]


def pool_model(op, shape, attrs):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node(op, ["x"], ["y"], **attrs)], "pool",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _layer_bench.add_arguments(ap)
    args = ap.parse_args()
    from _checkout import use_checkout_if_built
    use_checkout_if_built()
    import pyinfer

    _layer_bench.print_header(pyinfer._kernels.active_isa(), args.repeats, 32)
    for label, op, shape, attrs in LAYERS:
        if args.filter not in label:
            continue
        model = pool_model(op, shape, attrs)
        x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
        inner = max(1, int(2e7 / x.size))  # calls per sample: ~>= 20 M input values
        for t in args.threads:
            mine, theirs, diff = _layer_bench.time_layer(model, x, t, args.repeats, inner)
            _layer_bench.print_row(label, 32, t, mine, theirs, diff)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Per-layer Conv timing: pyinfer against onnxruntime on single-node Conv models.

Usage: python tools/bench_conv.py [--threads 1 2] [--repeats 9] [--filter resnet] [--fused]
                                  [--no-winograd]

Each row is one Conv layer typical of ResNet-50 / MobileNetV2 / AlexNet at batch 1 (weights
and bias are initializers, as in a real model). Both engines run the same ONNX model through
their InferenceSession with the given thread count; the timing rounds alternate between the
two (so load from other processes and frequency drift hit both alike) and the medians count.
ratio = onnxruntime time / pyinfer time (> 1: pyinfer is faster). On a shared machine quote
ratios, not absolute times, and rerun noisy rows (--filter).
--fused: the layers get a Relu after the Conv (pyinfer fuses it when its graph layer does).
--no-winograd: pyinfer's 3x3 stride-1 layers stay on the direct kernels (compare the two runs
to see where Winograd F(4x4, 3x3) pays; csrc/conv/winograd.cpp winograd_pays).
"""
from __future__ import annotations

import argparse
import os

# NumPy's OpenBLAS worker threads busy-wait after use; on a 2-core machine they steal time
# from whichever engine runs next. Nothing timed here needs them.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

import _layer_bench  # noqa: E402  (tools/ is the script's directory: on sys.path)

# (label, C, H(=W), M, kernel, stride, pad, group)
LAYERS = [
    ("resnet50 stem 7x7 s2", 3, 224, 64, 7, 2, 3, 1),
    ("resnet50 1x1 64->64 @56", 64, 56, 64, 1, 1, 0, 1),
    ("resnet50 3x3 64 @56", 64, 56, 64, 3, 1, 1, 1),
    ("resnet50 1x1 64->256 @56", 64, 56, 256, 1, 1, 0, 1),
    ("resnet50 1x1 256->64 @56", 256, 56, 64, 1, 1, 0, 1),
    ("resnet50 3x3 128 s2 @56", 128, 56, 128, 3, 2, 1, 1),
    ("resnet50 1x1 256->512 s2 @56", 256, 56, 512, 1, 2, 0, 1),
    ("resnet50 3x3 128 @28", 128, 28, 128, 3, 1, 1, 1),
    ("resnet50 1x1 512->128 @28", 512, 28, 128, 1, 1, 0, 1),
    ("resnet50 3x3 256 @14", 256, 14, 256, 3, 1, 1, 1),
    ("resnet50 1x1 1024->256 @14", 1024, 14, 256, 1, 1, 0, 1),
    ("resnet50 1x1 1024->2048 s2 @14", 1024, 14, 2048, 1, 2, 0, 1),
    ("resnet50 3x3 512 @7", 512, 7, 512, 3, 1, 1, 1),
    ("resnet50 1x1 512->2048 @7", 512, 7, 2048, 1, 1, 0, 1),
    ("resnet50 1x1 2048->512 @7", 2048, 7, 512, 1, 1, 0, 1),
    ("mobilenetv2 stem 3x3 s2", 3, 224, 32, 3, 2, 1, 1),
    ("mobilenetv2 dw3x3 32 @112", 32, 112, 32, 3, 1, 1, 32),
    ("mobilenetv2 1x1 32->16 @112", 32, 112, 16, 1, 1, 0, 1),
    ("mobilenetv2 1x1 16->96 @112", 16, 112, 96, 1, 1, 0, 1),
    ("mobilenetv2 dw3x3 96 s2 @112", 96, 112, 96, 3, 2, 1, 96),
    ("mobilenetv2 dw3x3 144 @56", 144, 56, 144, 3, 1, 1, 144),
    ("mobilenetv2 dw3x3 192 @28", 192, 28, 192, 3, 1, 1, 192),
    ("mobilenetv2 dw3x3 576 s2 @14", 576, 14, 576, 3, 2, 1, 576),
    ("mobilenetv2 dw3x3 960 @7", 960, 7, 960, 3, 1, 1, 960),
    ("mnasnet dw5x5 1152 @7", 1152, 7, 1152, 5, 1, 2, 1152),
    ("efficientnet dw5x5 480 @14", 480, 14, 480, 5, 1, 2, 480),
    ("efficientnet dw3x3 240 @28", 240, 28, 240, 3, 1, 1, 240),
    ("convnext dw7x7 384 @14", 384, 14, 384, 7, 1, 3, 384),
    ("mobilenetv2 1x1 320->1280 @7", 320, 7, 1280, 1, 1, 0, 1),
    ("mobilenetv2 1x1 960->160 @7", 960, 7, 160, 1, 1, 0, 1),
    ("mobilenetv2 1x1 144->24 @56", 144, 56, 24, 1, 1, 0, 1),
    ("squeezenet 1x1 512->64 @13", 512, 13, 64, 1, 1, 0, 1),
    ("shufflenetv2 1x1 58->58 @28", 58, 28, 58, 1, 1, 0, 1),
    ("shufflenetv2 dw3x3 58 @28", 58, 28, 58, 3, 1, 1, 58),
    ("shufflenetv2 dw3x3 116 @14", 116, 14, 116, 3, 1, 1, 116),
    ("shufflenetv2 dw3x3 232 @7", 232, 7, 232, 3, 1, 1, 232),
    ("shufflenetv2 dw3x3 58 s2 @56", 58, 56, 58, 3, 2, 1, 58),
    ("shufflenetv2 dw3x3 116 s2 @28", 116, 28, 116, 3, 2, 1, 116),
    ("shufflenetv2 dw3x3 232 s2 @14", 232, 14, 232, 3, 2, 1, 232),
    ("resnext grp3x3 128 g32 @56", 128, 56, 128, 3, 1, 1, 32),
    ("resnext grp3x3 256 g32 s2 @56", 256, 56, 256, 3, 2, 1, 32),
    ("resnext grp3x3 256 g32 @28", 256, 28, 256, 3, 1, 1, 32),
    ("resnext grp3x3 512 g32 s2 @28", 512, 28, 512, 3, 2, 1, 32),
    ("resnext grp3x3 512 g32 @14", 512, 14, 512, 3, 1, 1, 32),
    ("resnext grp3x3 1024 g32 s2 @14", 1024, 14, 1024, 3, 2, 1, 32),
    ("resnext grp3x3 1024 g32 @7", 1024, 7, 1024, 3, 1, 1, 32),
    ("regnet_y grp3x3 104 g13 @28", 104, 28, 104, 3, 1, 1, 13),
    ("regnet_y grp3x3 208 g26 @14", 208, 14, 208, 3, 1, 1, 26),
    ("regnet_y grp3x3 440 g55 @7", 440, 7, 440, 3, 1, 1, 55),
    ("regnet_x grp3x3 168 g7 @28", 168, 28, 168, 3, 1, 1, 7),
    ("regnet_x grp3x3 408 g17 @14", 408, 14, 408, 3, 1, 1, 17),
    ("regnet_x grp3x3 912 g38 @7", 912, 7, 912, 3, 1, 1, 38),
    ("alexnet 11x11 s4 3->64", 3, 224, 64, 11, 4, 2, 1),
    ("alexnet 5x5 64->192 @27", 64, 27, 192, 5, 1, 2, 1),
    ("alexnet 3x3 192->384 @13", 192, 13, 384, 3, 1, 1, 1),
    ("alexnet 3x3 256->256 @13", 256, 13, 256, 3, 1, 1, 1),
    ("densenet 1x1 128->128 @56", 128, 56, 128, 1, 1, 0, 1),
    ("densenet 3x3 128->32 @56", 128, 56, 32, 3, 1, 1, 1),
    ("densenet 1x1 384->128 @28", 384, 28, 128, 1, 1, 0, 1),
    ("densenet 3x3 128->32 @28", 128, 28, 32, 3, 1, 1, 1),
    ("densenet 1x1 768->128 @14", 768, 14, 128, 1, 1, 0, 1),
    ("densenet 3x3 128->32 @14", 128, 14, 32, 3, 1, 1, 1),
    ("densenet 1x1 768->128 @7", 768, 7, 128, 1, 1, 0, 1),
    ("densenet 3x3 128->32 @7", 128, 7, 32, 3, 1, 1, 1),
    ("inception 3x3 96->128 @28", 96, 28, 128, 3, 1, 1, 1),
    ("inception 1x1 192->64 @28", 192, 28, 64, 1, 1, 0, 1),
    ("inception 3x3 64->96 @28", 64, 28, 96, 3, 1, 1, 1),
    ("inception 1x1 576->128 @14", 576, 14, 128, 1, 1, 0, 1),
    ("vgg 3x3 64 @224", 64, 224, 64, 3, 1, 1, 1),
    ("vgg 3x3 128 @112", 128, 112, 128, 3, 1, 1, 1),
    ("vgg 3x3 256 @56", 256, 56, 256, 3, 1, 1, 1),
    ("cifar 3x3 32->64 @16", 32, 16, 64, 3, 1, 1, 1),
    ("small 3x3 16->16 @32", 16, 32, 16, 3, 1, 1, 1),
    ("small 3x3 32->32 @32", 32, 32, 32, 3, 1, 1, 1),
]


def conv_model(c, h, m, k, s, p, g, relu):
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = (rng.standard_normal((m, c // g, k, k)) / np.sqrt(c // g * k * k)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c" if relu else "y"], kernel_shape=[k, k],
                              strides=[s, s], pads=[p] * 4, group=g)]
    if relu:
        nodes.append(helper.make_node("Relu", ["c"], ["y"]))
    graph = helper.make_graph(
        nodes, "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, h])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _layer_bench.add_arguments(ap)
    ap.add_argument("--fused", action="store_true", help="Conv followed by Relu")
    ap.add_argument("--no-winograd", action="store_true", help="3x3 stride-1 layers on the direct kernels")
    args = ap.parse_args()
    from _checkout import use_checkout_if_built
    use_checkout_if_built()
    import pyinfer

    if args.no_winograd:
        pyinfer._kernels._set_conv_algorithm("no_winograd")

    _layer_bench.print_header(pyinfer._kernels.active_isa(), args.repeats, 30)
    for label, c, h, m, k, s, p, g in LAYERS:
        if args.filter not in label:
            continue
        model = conv_model(c, h, m, k, s, p, g, args.fused)
        x = np.random.default_rng(1).standard_normal((1, c, h, h)).astype(np.float32)
        out_h = (h + 2 * p - k) // s + 1
        flops = 2.0 * m * out_h * out_h * (c // g) * k * k
        inner = max(1, int(2e7 / flops))  # calls per sample: ~>= 20 MFLOP
        for t in args.threads:
            mine, theirs, diff = _layer_bench.time_layer(model, x, t, args.repeats, inner)
            _layer_bench.print_row(label, 30, t, mine, theirs, diff)


if __name__ == "__main__":
    main()

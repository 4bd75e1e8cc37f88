#!/usr/bin/env python
"""Export the PyTorch model suite to ONNX with PyTorch's reference outputs.

The suite lives in tests/support (torch_models.py: the architectures; model_export.py: the
export, also used by the tests and tools/bench.py). Each model gets random weights (fixed seed)
and randomized BatchNorm statistics. For every model and exporter this writes:

    DIR/<model>.<exporter>.onnx   the exported model (weights inside the file)
    DIR/<model>.<exporter>.npz    reference cases: "<case>.in.<input name>" and
                                  "<case>.out.<output name>" arrays, computed by PyTorch

Models: the CNNs cifar10, resnet18, mobilenetv2, squeezenet11, textcnn, and the sequence models
(nn.LSTM / nn.GRU / nn.RNN, exported as ONNX LSTM / GRU / RNN nodes by the legacy exporter):
bilstm, gru, rnn_tanh, rnn_relu and crnn at benchmark sizes, bilstm_small, gru_small,
rnn_tanh_small and rnn_relu_small for tests,
lstm_varlen (padded batch + lengths -> the LSTM's sequence_lens input; legacy exporter only) and
lstm_stream (one LSTM step with the state as inputs and outputs); model_export.SPECS describes each.

Usage:
    python tools/export_models.py --out DIR [--models cifar10,resnet18,...]
                                  [--exporter legacy|dynamo|legacy_bn|both|all] [--opset 17]

Exporters: "legacy" is the TorchScript exporter (torch.onnx.export(dynamo=False)); "dynamo" is the
torch.export-based one (needs the onnxscript package); "legacy_bn" keeps BatchNormalization nodes.
"""
from __future__ import annotations

import argparse
import os
import sys

from _checkout import use_test_support

use_test_support()
from support.model_export import DEFAULT_EXPORTERS, EXPORTERS, LEGACY_OPSET, SPECS, export  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--models", default=",".join(SPECS),
                        help=f"comma-separated subset of: {', '.join(SPECS)}")
    parser.add_argument("--exporter", choices=(*EXPORTERS, "both", "all"), default="both",
                        help="both = legacy and dynamo; all adds legacy_bn (BatchNormalization kept)")
    parser.add_argument("--opset", type=int, default=LEGACY_OPSET, help="opset for the legacy exporter")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(SPECS)}")
    exporters = {"both": DEFAULT_EXPORTERS, "all": EXPORTERS}.get(args.exporter, (args.exporter,))
    failures = 0
    for name in names:
        for exporter in exporters:
            try:
                onnx_path, _ = export(name, exporter, args.out, args.opset, args.seed)
                print(f"{name:14s} {exporter:7s} -> {onnx_path} ({os.path.getsize(onnx_path) / 1e6:.1f} MB)")
            except Exception as e:  # keep going: one exporter failing on one model is a result too
                failures += 1
                print(f"{name:14s} {exporter:7s} FAILED: {type(e).__name__}: {e}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

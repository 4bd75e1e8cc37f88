"""The PyTorch model suite exported to ONNX with PyTorch's reference outputs (tests/models, tools/).

Each model (support/torch_models.py) gets random weights (fixed seed) and randomized BatchNorm
statistics, so a runtime that folds or applies BatchNorm wrongly gives visibly wrong answers.
For every model and exporter export() writes:

    DIR/<model>.<exporter>.onnx   the exported model (weights inside the file)
    DIR/<model>.<exporter>.npz    reference cases: "<case>.in.<input name>" and
                                  "<case>.out.<output name>" arrays, computed by PyTorch

Exporters: "legacy" is the TorchScript exporter (torch.onnx.export(dynamo=False)); "dynamo" is the
torch.export-based one (needs the onnxscript package); "legacy_bn" is the legacy exporter told to
keep BatchNormalization nodes (training=PRESERVE on an eval-mode model skips its Conv+BN fusion),
so the runtime's own BatchNormalization is exercised. SPECS describes each model.
tools/export_models.py is the command line.
"""
from __future__ import annotations

import hashlib
import logging
import os
import warnings

import numpy as np
import torch
from torch import nn

from . import torch_models
from .reference_cases import load_cases  # noqa: F401  (tools/bench.py reads the cases through here)
from .torch_models import (BiLstmTagger, CifarCNN, Crnn, ElmanRnn, GruEncoder, LstmStep, MobileNetV2, ResNet18,
                           SqueezeNet11, TextCNN, VarLenLstm, with_random_weights)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPORTERS = ("legacy", "dynamo", "legacy_bn")
DEFAULT_EXPORTERS = ("legacy", "dynamo")
LEGACY_OPSET = 17


# --- the suite -------------------------------------------------------------------------------


class ModelSpec:
    """How to build one model and what to feed it.

    cases: name -> tuple of input tensors (one per forward argument); the first case is the one
    handed to the exporter (give it a batch above 1: the dynamo exporter fixes a dimension whose
    example is 1). input_names / output_names / dynamic axes are the ONNX interface.
    """

    def __init__(self, name, build, cases, input_names, output_names, dynamic_axes, description, extra=None):
        self.name, self.build, self.cases = name, build, cases
        self.input_names, self.output_names = input_names, output_names
        self.dynamic_axes, self.description = dynamic_axes, description
        # extra(model) -> more reference arrays for the .npz, for checks the cases cannot express
        self.extra = extra


def _images(batch, size, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, 3, size, size, generator=g),)


def _tokens(batch, seq_len, seed, vocab=5000):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, vocab, (batch, seq_len), generator=g, dtype=torch.int64),)


def _feats(batch, seq_len, features, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, seq_len, features, generator=g),)


def _gray_images(batch, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, 1, 32, 128, generator=g),)


SEQ_AXES = lambda *names: {n: {0: "batch", 1: "seq_len"} for n in names}  # noqa: E731
STATE_AXES = lambda *names: {n: {1: "batch"} for n in names}  # noqa: E731  (num_layers*dirs, batch, hidden)


def _varlen_cases(features, lengths, seed):
    """One padded batch, then each of its sequences alone, unpadded (batch 1, its own length)."""
    (x,) = _feats(len(lengths), max(lengths), features, seed)
    cases = {f"b{len(lengths)}": (x, torch.tensor(lengths, dtype=torch.int64))}
    for i, n in enumerate(lengths):
        cases[f"seq{i}"] = (x[i:i + 1, :n].clone(), torch.tensor([n], dtype=torch.int64))
    return cases


def _stream_cases(features, hidden, layers, batch, seed):
    g = torch.Generator().manual_seed(seed)
    return {f"b{batch}": (torch.randn(batch, features, generator=g), torch.randn(layers, batch, hidden, generator=g),
                          torch.randn(layers, batch, hidden, generator=g))}


def _stream_sequence(model, batch=3, steps=10, seed=40):
    """The whole-sequence reference for LstmStep: nn.LSTM run once over `steps` steps.

    Stored as case "sequence": in.x (batch, steps, features), in.h, in.c; out.y (batch, steps,
    hidden), out.h, out.c. A runtime calling the step model `steps` times must reproduce it.
    """
    lstm = model.lstm
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, steps, lstm.input_size, generator=g)
    h = torch.randn(lstm.num_layers, batch, lstm.hidden_size, generator=g)
    c = torch.randn(lstm.num_layers, batch, lstm.hidden_size, generator=g)
    with torch.no_grad():
        y, (h_n, c_n) = lstm(x, (h, c))
    return {"sequence.in.x": x.numpy(), "sequence.in.h": h.numpy(), "sequence.in.c": c.numpy(),
            "sequence.out.y": y.numpy(), "sequence.out.h": h_n.numpy(), "sequence.out.c": c_n.numpy()}


def _seq_specs():
    """The sequence models: benchmark sizes, and *_small versions of the big ones for tests."""
    lstm_io = (["tokens"], ["logits", "h_n", "c_n"], {**SEQ_AXES("tokens", "logits"), **STATE_AXES("h_n", "c_n")})
    gru_io = (["feats"], ["y", "h_n"], {**SEQ_AXES("feats", "y"), **STATE_AXES("h_n")})
    return (
        ModelSpec("bilstm", BiLstmTagger, lambda: {"b8_t128": _tokens(8, 128, 20)}, *lstm_io,
                  "2-layer bidirectional LSTM tagger, embedding 128, hidden 256; batch 8, seq 128"),
        ModelSpec("bilstm_small", lambda: BiLstmTagger(vocab=100, embed=16, hidden=24),
                  lambda: {"b3_t11": _tokens(3, 11, 21, vocab=100), "b2_t6": _tokens(2, 6, 22, vocab=100)}, *lstm_io,
                  "bilstm at embedding 16, hidden 24"),
        ModelSpec("gru", GruEncoder, lambda: {"b16_t64": _feats(16, 64, 80, 23), "b1_t64": _feats(1, 64, 80, 24)},
                  *gru_io, "2-layer GRU, 80 features, hidden 512; batch 16 and batch 1, seq 64"),
        ModelSpec("gru_small", lambda: GruEncoder(features=10, hidden=24),
                  lambda: {"b3_t9": _feats(3, 9, 10, 25), "b1_t13": _feats(1, 13, 10, 26)},
                  *gru_io, "gru at 10 features, hidden 24"),
        ModelSpec("rnn_tanh", lambda: ElmanRnn("tanh"),
                  lambda: {"b8_t100": _feats(8, 100, 64, 27), "b1_t100": _feats(1, 100, 64, 28)},
                  *gru_io, "2-layer nn.RNN tanh, 64 features, hidden 128; seq 100"),
        ModelSpec("rnn_relu", lambda: ElmanRnn("relu"),
                  lambda: {"b8_t100": _feats(8, 100, 64, 29), "b1_t100": _feats(1, 100, 64, 30)},
                  *gru_io, "2-layer nn.RNN relu, 64 features, hidden 128; seq 100"),
        # The dynamo exporter unrolls nn.RNN step by step (a fixed seq_len): both cases share it.
        ModelSpec("rnn_tanh_small", lambda: ElmanRnn("tanh", features=8, hidden=16),
                  lambda: {"b3_t12": _feats(3, 12, 8, 35), "b1_t12": _feats(1, 12, 8, 36)},
                  *gru_io, "rnn_tanh at 8 features, hidden 16"),
        ModelSpec("rnn_relu_small", lambda: ElmanRnn("relu", features=8, hidden=16),
                  lambda: {"b3_t12": _feats(3, 12, 8, 37), "b1_t12": _feats(1, 12, 8, 38)},
                  *gru_io, "rnn_relu at 8 features, hidden 16"),
        ModelSpec("lstm_varlen", VarLenLstm, lambda: _varlen_cases(12, [9, 14, 3, 14, 1], 31),
                  ["feats", "lengths"], ["y", "h_n", "c_n"],
                  {**SEQ_AXES("feats", "y"), "lengths": {0: "batch"}, **STATE_AXES("h_n", "c_n")},
                  "bidirectional LSTM over a padded batch with lengths (ONNX sequence_lens); "
                  "cases seq<i> are its sequences run alone"),
        ModelSpec("lstm_stream", LstmStep, lambda: _stream_cases(16, 32, 2, 3, 32),
                  ["x", "h", "c"], ["y", "h_out", "c_out"],
                  {"x": {0: "batch"}, "y": {0: "batch"}, **STATE_AXES("h", "c", "h_out", "c_out")},
                  "one step of a 2-layer LSTM, state in and out; case 'sequence' is a whole "
                  "sequence for a loop over steps", extra=_stream_sequence),
        ModelSpec("crnn", Crnn, lambda: {"b2": _gray_images(2, 33), "b1": _gray_images(1, 34)},
                  ["image"], ["log_probs"], {"image": {0: "batch"}, "log_probs": {0: "batch"}},
                  "CRNN: conv stack on 1x32x128, 32 columns into a 2-layer BiLSTM (hidden 128), 37 classes"),
    )


SPECS = {
    s.name: s for s in (
        ModelSpec("cifar10", CifarCNN, lambda: {"b1": _images(1, 32, 1), "b4": _images(4, 32, 2)},
                  ["input"], ["logits"], {"input": {0: "batch"}, "logits": {0: "batch"}},
                  "course CIFAR-10 CNN, 1x3x32x32, dynamic batch"),
        ModelSpec("resnet18", ResNet18, lambda: {"b1": _images(1, 224, 3)},
                  ["input"], ["logits"], {"input": {0: "batch"}, "logits": {0: "batch"}},
                  "ResNet-18 (BasicBlock), 224x224"),
        ModelSpec("mobilenetv2", MobileNetV2, lambda: {"b1": _images(1, 224, 4)},
                  ["input"], ["logits"], {"input": {0: "batch"}, "logits": {0: "batch"}},
                  "MobileNetV2 width 1.0, 224x224"),
        ModelSpec("squeezenet11", SqueezeNet11, lambda: {"b1": _images(1, 224, 5)},
                  ["input"], ["logits"], {"input": {0: "batch"}, "logits": {0: "batch"}},
                  "SqueezeNet 1.1, 224x224"),
        ModelSpec("textcnn", TextCNN, lambda: {"b2_t40": _tokens(2, 40, 6), "b3_t17": _tokens(3, 17, 7)},
                  ["tokens"], ["logits"], {"tokens": {0: "batch", 1: "seq_len"}, "logits": {0: "batch"}},
                  "Conv1d text classifier, int64 token ids (batch, seq_len)"),
        *_seq_specs(),
    )
}


def build_model(name: str, seed: int = 0) -> nn.Module:
    """The model `name` with seeded random weights, in eval mode."""
    return with_random_weights(SPECS[name].build, seed)


def reference_cases(model: nn.Module, spec: ModelSpec) -> dict[str, np.ndarray]:
    """PyTorch's outputs for every case, keyed "<case>.in.<name>" / "<case>.out.<name>"."""
    arrays = {}
    with torch.no_grad():
        for case, inputs in spec.cases().items():
            outputs = model(*inputs)
            outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
            for name, t in zip(spec.input_names, inputs):
                arrays[f"{case}.in.{name}"] = t.numpy()
            for name, t in zip(spec.output_names, outputs):
                arrays[f"{case}.out.{name}"] = t.numpy()
    return arrays


def _export_onnx(model, spec, inputs, path, exporter, opset):
    # The dynamo exporter logs a warning per missing torchvision op; torchvision is not used here.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter in ("legacy", "legacy_bn"):
            mode = torch.onnx.TrainingMode.PRESERVE if exporter == "legacy_bn" else torch.onnx.TrainingMode.EVAL
            torch.onnx.export(model, inputs, path, dynamo=False, opset_version=opset, training=mode,
                              input_names=spec.input_names, output_names=spec.output_names,
                              dynamic_axes=spec.dynamic_axes, do_constant_folding=True)
        else:
            # torch.export wants one Dim per symbolic axis; the same name means the same Dim.
            dims = {}
            dynamic_shapes = [
                {axis: dims.setdefault(label, torch.export.Dim(label, min=1 if label != "seq_len" else 5))
                 for axis, label in spec.dynamic_axes.get(name, {}).items()}
                for name in spec.input_names
            ]
            torch.onnx.export(model, inputs, path, dynamo=True, external_data=False,
                              input_names=spec.input_names, output_names=spec.output_names,
                              dynamic_shapes=tuple(dynamic_shapes), report=False, verbose=False)


def export(name: str, exporter: str, out_dir: str, opset: int = LEGACY_OPSET, seed: int = 0) -> tuple[str, str]:
    """Export model `name` with `exporter` into out_dir; return (onnx path, npz path)."""
    if exporter not in EXPORTERS:
        raise ValueError(f"unknown exporter {exporter!r}; choose from {EXPORTERS}")
    spec = SPECS[name]
    os.makedirs(out_dir, exist_ok=True)
    model = build_model(name, seed)
    onnx_path = os.path.join(out_dir, f"{name}.{exporter}.onnx")
    npz_path = os.path.join(out_dir, f"{name}.{exporter}.npz")
    first_case = next(iter(spec.cases().values()))
    tmp = onnx_path + ".tmp"
    _export_onnx(model, spec, first_case, tmp, exporter, opset)
    arrays = reference_cases(model, spec)
    if spec.extra is not None:
        arrays.update(spec.extra(model))
    np.savez(npz_path, **arrays)
    os.replace(tmp, onnx_path)  # the .onnx appears last: its presence means the pair is complete
    return onnx_path, npz_path


def cached_export(name: str, exporter: str, base: str | None = None) -> tuple[str, str]:
    """export() into a cache directory, reusing earlier results: (onnx path, npz path).

    The directory is keyed by a hash of this module, the architectures and the torch version, so
    a change to any of them never serves stale files. base: $PYINFER_TEST_CACHE, else
    <repo>/cache/models (git-ignored).
    """
    digest = hashlib.sha256(torch.__version__.encode())
    for source in (__file__, torch_models.__file__):
        with open(os.path.abspath(source), "rb") as f:
            digest.update(f.read())
    base = base or os.environ.get("PYINFER_TEST_CACHE") or os.path.join(ROOT, "cache", "models")
    out = os.path.join(base, digest.hexdigest()[:12])
    onnx_path = os.path.join(out, f"{name}.{exporter}.onnx")
    if not os.path.exists(onnx_path):  # export() writes the .onnx last
        return export(name, exporter, out)
    return onnx_path, os.path.join(out, f"{name}.{exporter}.npz")

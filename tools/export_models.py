#!/usr/bin/env python
"""Define a small suite of PyTorch models and export them to ONNX with PyTorch's reference outputs.

Each model gets random weights (fixed seed) and randomized BatchNorm statistics, so a runtime that
folds or applies BatchNorm wrongly gives visibly wrong answers. For every model and exporter this
writes:

    DIR/<model>.<exporter>.onnx   the exported model (weights inside the file)
    DIR/<model>.<exporter>.npz    reference cases: "<case>.in.<input name>" and
                                  "<case>.out.<output name>" arrays, computed by PyTorch

Models: the CNNs cifar10, resnet18, mobilenetv2, squeezenet11, textcnn, and the sequence models
(nn.LSTM / nn.GRU / nn.RNN, exported as ONNX LSTM / GRU / RNN nodes by the legacy exporter):
bilstm, gru, rnn_tanh, rnn_relu and crnn at benchmark sizes, bilstm_small, gru_small,
rnn_tanh_small and rnn_relu_small for tests,
lstm_varlen (padded batch + lengths -> the LSTM's sequence_lens input; legacy exporter only) and
lstm_stream (one LSTM step with the state as inputs and outputs). SPECS below describes each.

Usage:
    python tools/export_models.py --out DIR [--models cifar10,resnet18,...]
                                  [--exporter legacy|dynamo|legacy_bn|both|all] [--opset 17]

Exporters: "legacy" is the TorchScript exporter (torch.onnx.export(dynamo=False)); "dynamo" is the
torch.export-based one (needs the onnxscript package). torchvision is not used: the architectures
are written out below in plain torch.nn.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# "legacy_bn" is the legacy exporter told to keep BatchNormalization nodes (training=PRESERVE on an
# eval-mode model skips its Conv+BN fusion), so the runtime's own BatchNormalization is exercised.
EXPORTERS = ("legacy", "dynamo", "legacy_bn")
DEFAULT_EXPORTERS = ("legacy", "dynamo")
LEGACY_OPSET = 17


# --- architectures ---------------------------------------------------------------------------


class CifarCNN(nn.Module):
    """The course's CIFAR-10 CNN: two conv-relu-maxpool stages and two linear layers."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 8 * 8, 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)


class ResNet18(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        layers, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


def _conv_bn_relu6(cin, cout, k, stride, groups=1):
    return [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU6(inplace=True)]


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        self.use_residual = stride == 1 and cin == cout
        layers = []
        if expand != 1:
            layers += _conv_bn_relu6(cin, hidden, 1, 1)
        layers += _conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden)  # depthwise
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]  # linear bottleneck
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.block(x) if self.use_residual else self.block(x)


class MobileNetV2(nn.Module):
    # (expansion t, output channels c, repeats n, first stride s), width multiplier 1.0
    CONFIG = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
              (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        layers, cin = _conv_bn_relu6(3, 32, 3, 2), 32
        for t, c, n, s in self.CONFIG:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers += _conv_bn_relu6(cin, 1280, 1, 1)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


class Fire(nn.Module):
    def __init__(self, cin: int, squeeze: int, expand1: int, expand3: int):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.expand1 = nn.Conv2d(squeeze, expand1, 1)
        self.expand3 = nn.Conv2d(squeeze, expand3, 3, padding=1)

    def forward(self, x):
        x = F.relu(self.squeeze(x))
        return torch.cat([F.relu(self.expand1(x)), F.relu(self.expand3(x))], 1)


class SqueezeNet11(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)  # noqa: E731  (ceil_mode as in the original)
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3, 2), nn.ReLU(inplace=True), pool(),
            Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), pool(),
            Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), pool(),
            Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
            Fire(384, 64, 256, 256), Fire(512, 64, 256, 256),
        )
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(512, num_classes, 1), nn.ReLU(inplace=True),
                                        nn.AdaptiveAvgPool2d(1))

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


class TextCNN(nn.Module):
    """Kim-style sentence classifier: embedding, parallel Conv1d k=3/4/5, max over time, linear."""

    def __init__(self, vocab: int = 5000, dim: int = 128, filters: int = 100, num_classes: int = 2):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.convs = nn.ModuleList(nn.Conv1d(dim, filters, k) for k in (3, 4, 5))
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(3 * filters, num_classes)

    def forward(self, tokens):
        x = self.embedding(tokens).transpose(1, 2)  # (batch, dim, seq_len)
        pooled = [torch.amax(F.relu(conv(x)), dim=2) for conv in self.convs]
        return self.fc(self.dropout(torch.cat(pooled, 1)))


# --- sequence models ---------------------------------------------------------------------------
# Each returns every state PyTorch gives (outputs and final h / c), so the exported Y, Y_h and Y_c
# of the ONNX LSTM / GRU / RNN nodes are all checked, not only what a classifier head keeps.


class BiLstmTagger(nn.Module):
    """Token tagger: embedding, stacked bidirectional batch_first LSTM, per-step linear head."""

    def __init__(self, vocab: int = 5000, embed: int = 128, hidden: int = 256, layers: int = 2, tags: int = 10):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, layers, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * hidden, tags)

    def forward(self, tokens):
        y, (h, c) = self.lstm(self.embedding(tokens))
        return self.fc(y), h, c


class GruEncoder(nn.Module):
    """Stacked unidirectional batch_first GRU over float feature frames (e.g. audio features)."""

    def __init__(self, features: int = 80, hidden: int = 512, layers: int = 2):
        super().__init__()
        self.gru = nn.GRU(features, hidden, layers, batch_first=True)

    def forward(self, feats):
        y, h = self.gru(feats)
        return y, h


class ElmanRnn(nn.Module):
    """Stacked nn.RNN (Elman) with tanh or relu."""

    def __init__(self, nonlinearity: str, features: int = 64, hidden: int = 128, layers: int = 2):
        super().__init__()
        self.rnn = nn.RNN(features, hidden, layers, nonlinearity=nonlinearity, batch_first=True)

    def forward(self, feats):
        y, h = self.rnn(feats)
        return y, h


class VarLenLstm(nn.Module):
    """Bidirectional LSTM over a padded batch of sequences of different lengths.

    pack_padded_sequence / pad_packed_sequence export (legacy exporter) as one ONNX LSTM whose
    sequence_lens input carries `lengths`: each row runs only its own steps, Y is 0 past its end,
    and the final states are each row's own last state.
    """

    def __init__(self, features: int = 12, hidden: int = 20):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, batch_first=True, bidirectional=True)

    def forward(self, feats, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(feats, lengths, batch_first=True, enforce_sorted=False)
        y, (h, c) = self.lstm(packed)
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=feats.shape[1])
        return y, h, c


class LstmStep(nn.Module):
    """One time step of a stacked LSTM with the state passed in and out, for streaming inference."""

    def __init__(self, features: int = 16, hidden: int = 32, layers: int = 2):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, layers, batch_first=True)

    def forward(self, x, h, c):
        y, (h, c) = self.lstm(x.unsqueeze(1), (h, c))
        return y.squeeze(1), h, c


class Crnn(nn.Module):
    """Text-line recognizer: conv stack over a 1x32x128 image, columns as a sequence, BiLSTM, CTC head.

    The conv stack leaves 128 channels x 2 rows x 32 columns; each column's 256 values are one step.
    """

    def __init__(self, classes: int = 37, hidden: int = 128):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),               # 32 x 16 x 64
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),              # 64 x 8 x 32
            nn.Conv2d(64, 128, 3, padding=1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
            nn.MaxPool2d((2, 1)),                                                     # 128 x 4 x 32
            nn.Conv2d(128, 128, 3, padding=1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
            nn.MaxPool2d((2, 1)),                                                     # 128 x 2 x 32
        )
        self.lstm = nn.LSTM(256, hidden, 2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, image):
        x = self.convs(image)                       # (batch, 128, 2, 32)
        x = torch.flatten(x, 1, 2).transpose(1, 2)  # (batch, 32 columns, 256 features)
        y, _ = self.lstm(x)
        return F.log_softmax(self.fc(y), dim=-1)


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


def randomize_batchnorm(model: nn.Module, gen: torch.Generator) -> None:
    """Give every BatchNorm non-trivial statistics and affine parameters (defaults are 0/1)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) * 0.6 + 0.7)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)


def build_model(name: str, seed: int = 0) -> nn.Module:
    """The model `name` with seeded random weights, in eval mode."""
    spec = SPECS[name]
    torch.manual_seed(seed)
    model = spec.build()
    randomize_batchnorm(model, torch.Generator().manual_seed(seed + 1))
    return model.eval()


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


def load_cases(npz_path: str) -> dict[str, tuple[dict, dict]]:
    """Read an .npz written by export(): case -> (inputs by name, outputs by name)."""
    cases: dict[str, tuple[dict, dict]] = {}
    with np.load(npz_path) as data:
        for key in data.files:
            case, kind, name = key.split(".", 2)
            ins, outs = cases.setdefault(case, ({}, {}))
            (ins if kind == "in" else outs)[name] = data[key]
    return cases


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

    The directory is keyed by a hash of this script and the torch version, so a change to either
    never serves stale files. base: $PYINFER_TEST_CACHE, else <repo>/cache/models (git-ignored).
    """
    import hashlib

    with open(os.path.abspath(__file__), "rb") as f:
        key = hashlib.sha256(f.read() + torch.__version__.encode()).hexdigest()[:12]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    base = base or os.environ.get("PYINFER_TEST_CACHE") or os.path.join(root, "cache", "models")
    out = os.path.join(base, key)
    onnx_path = os.path.join(out, f"{name}.{exporter}.onnx")
    if not os.path.exists(onnx_path):  # export() writes the .onnx last
        return export(name, exporter, out)
    return onnx_path, os.path.join(out, f"{name}.{exporter}.npz")


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

"""The PyTorch architectures of the model tests, written out in plain torch.nn (no torchvision).

CNNs: the course's CIFAR-10 CNN, ResNet-18, MobileNetV2, SqueezeNet 1.1, a Conv1d text classifier
and small ResNet / MobileNetV2 variants for the optimizer tests; sequence models: LSTM / GRU / RNN
taggers and encoders, a padded variable-length LSTM, a streaming LSTM step and a CRNN.
with_random_weights() gives any of them seeded weights and non-trivial BatchNorm statistics.
support/model_export.py exports them to ONNX with PyTorch's outputs.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


# --- CNNs ------------------------------------------------------------------------------------


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


class SmallResNet(nn.Module):
    """Three BasicBlocks (8, 16 channels) on a 3x3 stem: ResNet's shape at a test's size."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.layers = nn.Sequential(BasicBlock(8, 8, 1), BasicBlock(8, 16, 2), BasicBlock(16, 16, 1))
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def conv_bn_relu6(cin, cout, k, stride, groups=1):
    return [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU6(inplace=True)]


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        self.use_residual = stride == 1 and cin == cout
        layers = []
        if expand != 1:
            layers += conv_bn_relu6(cin, hidden, 1, 1)
        layers += conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden)  # depthwise
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]  # linear bottleneck
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.block(x) if self.use_residual else self.block(x)


class MobileNetV2(nn.Module):
    # (expansion t, output channels c, repeats n, first stride s), width multiplier 1.0
    CONFIG = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
              (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, num_classes: int = 1000, config=CONFIG, stem: int = 32, last: int = 1280):
        super().__init__()
        layers, cin = conv_bn_relu6(3, stem, 3, 2), stem
        for t, c, n, s in config:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers += conv_bn_relu6(cin, last, 1, 1)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, num_classes))

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


def small_mobilenetv2(num_classes: int = 10) -> nn.Module:
    """Four inverted residual blocks (8 to 16 channels): MobileNetV2's shape at a test's size."""
    return MobileNetV2(num_classes, config=((1, 8, 1, 1), (4, 12, 2, 2), (4, 16, 1, 2)), stem=8, last=32)


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


# --- weights ---------------------------------------------------------------------------------


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


def with_random_weights(build, seed: int = 0) -> nn.Module:
    """build() under a fixed seed, BatchNorm statistics randomized, in eval mode."""
    torch.manual_seed(seed)
    model = build()
    randomize_batchnorm(model, torch.Generator().manual_seed(seed + 1))
    return model.eval()

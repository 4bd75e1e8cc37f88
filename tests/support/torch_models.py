"""Small ResNet-style and MobileNetV2-style models exported from PyTorch (opset 17).

BatchNorm running statistics and affine parameters are randomized, so folding them is tested
with values far from the identity.
"""
from __future__ import annotations

import io
import warnings

import onnx


def _randomize_bn(model, torch, seed=0):
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.5)
            m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.25)
            m.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=gen) * 0.2)


def _export(model, torch, shape, dynamic_batch=False):
    """(the ONNX model, the eval-mode torch module it came from)."""
    model.eval()
    buf = io.BytesIO()
    kwargs = {}
    if dynamic_batch:
        kwargs["dynamic_axes"] = {"input": {0: "batch"}, "output": {0: "batch"}}
    # No constant folding and PRESERVE mode: otherwise the exporter folds BatchNorm itself.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (torch.randn(*shape),), buf, dynamo=False, opset_version=17,
                          training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                          input_names=["input"], output_names=["output"], **kwargs)
    return onnx.load_from_string(buf.getvalue()), model


def resnet_like(torch, dynamic_batch=False):
    nn = torch.nn

    class Basic(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return torch.relu(y + (x if self.down is None else self.down(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
            self.layers = nn.Sequential(Basic(8, 8, 1), Basic(8, 16, 2), Basic(16, 16, 1))
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            x = self.layers(self.stem(x))
            x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
            return self.fc(x)

    torch.manual_seed(0)
    net = Net()
    _randomize_bn(net, torch)
    return _export(net, torch, (2, 3, 16, 16), dynamic_batch)


def mobilenetv2_like(torch, dynamic_batch=False):
    nn = torch.nn

    def conv_bn(cin, cout, k, stride, groups=1, act=True):
        layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        if act:
            layers.append(nn.ReLU6())
        return layers

    class InvertedResidual(nn.Module):
        def __init__(self, cin, cout, stride, expand):
            super().__init__()
            hidden = cin * expand
            self.use_res = stride == 1 and cin == cout
            self.block = nn.Sequential(*conv_bn(cin, hidden, 1, 1), *conv_bn(hidden, hidden, 3, stride, hidden),
                                       *conv_bn(hidden, cout, 1, 1, act=False))

        def forward(self, x):
            return x + self.block(x) if self.use_res else self.block(x)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                *conv_bn(3, 8, 3, 2),
                InvertedResidual(8, 8, 1, 1), InvertedResidual(8, 12, 2, 4), InvertedResidual(12, 12, 1, 4),
                InvertedResidual(12, 16, 2, 4), *conv_bn(16, 32, 1, 1))
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(32, 10))

        def forward(self, x):
            x = self.features(x)
            x = nn.functional.adaptive_avg_pool2d(x, 1).reshape(x.shape[0], -1)
            return self.classifier(x)

    torch.manual_seed(1)
    net = Net()
    _randomize_bn(net, torch, seed=1)
    return _export(net, torch, (2, 3, 32, 32), dynamic_batch)

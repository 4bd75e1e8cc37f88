"""torchvision's ImageNet / segmentation architectures, rebuilt in plain torch.nn.

torchvision cannot be installed beside this environment's CPU build of torch (the wheels on hand
are CUDA builds whose operators fail to register), so the architectures the benchmarks and tests
need are written out here from torchvision 0.28's definitions: the same layers, channel counts,
strides, dilations, epsilons and forward passes, so the exported graphs have torchvision's shape
(module names differ; `PARAMETERS` holds torchvision's documented parameter counts, which the
tests check). When torchvision is importable, `build(name, prefer_torchvision=True)` returns the
real model instead.

    resnet50, resnext50_32x4d, mobilenet_v3_small, mobilenet_v3_large, efficientnet_b0,
    regnet_y_400mf, shufflenet_v2_x1_0, mnasnet1_0, convnext_tiny,
    deeplabv3_mobilenet_v3_large, lraspp_mobilenet_v3_large
(resnet18, mobilenet_v2 and squeezenet1_1 are torch_models.ResNet18 / MobileNetV2 / SqueezeNet11.)
Segmentation models return their "out" tensor only (no auxiliary head).
"""
from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from .torch_models import MobileNetV2, ResNet18, SqueezeNet11, randomize_batchnorm


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def conv_norm_act(cin, cout, k=3, stride=1, groups=1, act=nn.ReLU, norm=nn.BatchNorm2d, dilation=1,
                  padding=None, bias=None):
    """torchvision.ops.Conv2dNormActivation as a Sequential."""
    if padding is None:
        padding = (k - 1) // 2 * dilation
    if bias is None:
        bias = norm is None
    layers = [nn.Conv2d(cin, cout, k, stride, padding, dilation=dilation, groups=groups, bias=bias)]
    if norm is not None:
        layers.append(norm(cout))
    if act is not None:
        layers.append(act(inplace=True) if act in (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.SiLU) else act())
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """torchvision.ops.SqueezeExcitation: x * scale_act(fc2(act(fc1(avgpool(x)))))."""

    def __init__(self, channels, squeeze, act=nn.ReLU, scale_act=nn.Sigmoid):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = act()
        self.scale_activation = scale_act()

    def forward(self, x):
        s = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return s * x


# --- ResNet-50 / ResNeXt-50 -----------------------------------------------------------------


class Bottleneck(nn.Module):
    def __init__(self, inplanes, planes, stride=1, groups=1, base_width=64):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, layers=(3, 4, 6, 3), groups=1, width_per_group=64, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        blocks, inplanes = [], 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers)):
            for j in range(n):
                blocks.append(Bottleneck(inplanes, planes, 2 if (j == 0 and i > 0) else 1, groups, width_per_group))
                inplanes = planes * 4
        self.layers = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.avgpool(self.layers(x))
        return self.fc(torch.flatten(x, 1))


# --- MobileNetV3 ----------------------------------------------------------------------------

_BN_V3 = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)


class V3Block(nn.Module):
    """MobileNetV3's InvertedResidual (cnf: in, kernel, expanded, out, use_se, "RE"/"HS", stride, dilation)."""

    def __init__(self, cin, k, exp, cout, use_se, act_name, stride, dilation):
        super().__init__()
        self.use_res = stride == 1 and cin == cout
        self.is_cn = stride > 1  # torchvision's _is_cn: where a stage starts
        self.out_channels = cout
        act = nn.Hardswish if act_name == "HS" else nn.ReLU
        layers = []
        if exp != cin:
            layers.append(conv_norm_act(cin, exp, 1, norm=_BN_V3, act=act))
        layers.append(conv_norm_act(exp, exp, k, 1 if dilation > 1 else stride, groups=exp, norm=_BN_V3, act=act,
                                    dilation=dilation))
        if use_se:
            layers.append(SqueezeExcitation(exp, make_divisible(exp // 4, 8), scale_act=nn.Hardsigmoid))
        layers.append(conv_norm_act(exp, cout, 1, norm=_BN_V3, act=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        y = self.block(x)
        return y + x if self.use_res else y


def _v3_config(arch, dilated=False):
    d = 2 if dilated else 1
    if arch == "large":
        conf = [(16, 3, 16, 16, False, "RE", 1, 1), (16, 3, 64, 24, False, "RE", 2, 1),
                (24, 3, 72, 24, False, "RE", 1, 1), (24, 5, 72, 40, True, "RE", 2, 1),
                (40, 5, 120, 40, True, "RE", 1, 1), (40, 5, 120, 40, True, "RE", 1, 1),
                (40, 3, 240, 80, False, "HS", 2, 1), (80, 3, 200, 80, False, "HS", 1, 1),
                (80, 3, 184, 80, False, "HS", 1, 1), (80, 3, 184, 80, False, "HS", 1, 1),
                (80, 3, 480, 112, True, "HS", 1, 1), (112, 3, 672, 112, True, "HS", 1, 1),
                (112, 5, 672, 160, True, "HS", 2, d), (160, 5, 960, 160, True, "HS", 1, d),
                (160, 5, 960, 160, True, "HS", 1, d)]
        return conf, 1280
    conf = [(16, 3, 16, 16, True, "RE", 2, 1), (16, 3, 72, 24, False, "RE", 2, 1),
            (24, 3, 88, 24, False, "RE", 1, 1), (24, 5, 96, 40, True, "HS", 2, 1),
            (40, 5, 240, 40, True, "HS", 1, 1), (40, 5, 240, 40, True, "HS", 1, 1),
            (40, 5, 120, 48, True, "HS", 1, 1), (48, 5, 144, 48, True, "HS", 1, 1),
            (48, 5, 288, 96, True, "HS", 2, d), (96, 5, 576, 96, True, "HS", 1, d),
            (96, 5, 576, 96, True, "HS", 1, d)]
    return conf, 1024


def mobilenet_v3_features(arch, dilated=False) -> nn.Sequential:
    conf, _ = _v3_config(arch, dilated)
    layers = [conv_norm_act(3, 16, 3, 2, norm=_BN_V3, act=nn.Hardswish)]
    layers += [V3Block(*c) for c in conf]
    last_in = conf[-1][3]
    layers.append(conv_norm_act(last_in, 6 * last_in, 1, norm=_BN_V3, act=nn.Hardswish))
    return nn.Sequential(*layers)


class MobileNetV3(nn.Module):
    def __init__(self, arch="large", num_classes=1000):
        super().__init__()
        conf, last_channel = _v3_config(arch)
        self.features = mobilenet_v3_features(arch)
        out = 6 * conf[-1][3]
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(out, last_channel), nn.Hardswish(inplace=True), nn.Dropout(0.2),
                                        nn.Linear(last_channel, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# --- segmentation on MobileNetV3-Large ------------------------------------------------------


def _stage_indices(features):
    return [0] + [i for i, b in enumerate(features) if getattr(b, "is_cn", False)] + [len(features) - 1]


class ASPP(nn.Module):
    def __init__(self, cin, rates=(12, 24, 36), cout=256):
        super().__init__()
        self.convs = nn.ModuleList([conv_norm_act(cin, cout, 1, bias=False)] +
                                   [conv_norm_act(cin, cout, 3, dilation=r, bias=False) for r in rates])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout),
                                  nn.ReLU())
        self.project = nn.Sequential(nn.Conv2d(cout * (len(rates) + 2), cout, 1, bias=False), nn.BatchNorm2d(cout),
                                     nn.ReLU(), nn.Dropout(0.5))

    def forward(self, x):
        res = [c(x) for c in self.convs]
        res.append(F.interpolate(self.pool(x), size=x.shape[-2:], mode="bilinear", align_corners=False))
        return self.project(torch.cat(res, 1))


class DeepLabV3MobileNetV3(nn.Module):
    def __init__(self, num_classes=21):
        super().__init__()
        features = mobilenet_v3_features("large", dilated=True)
        self.backbone = features[:_stage_indices(features)[-1] + 1]
        self.classifier = nn.Sequential(ASPP(960), nn.Conv2d(256, 256, 3, padding=1, bias=False), nn.BatchNorm2d(256),
                                        nn.ReLU(), nn.Conv2d(256, num_classes, 1))

    def forward(self, x):
        size = x.shape[-2:]
        y = self.classifier(self.backbone(x))
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)


class LRASPPMobileNetV3(nn.Module):
    def __init__(self, num_classes=21, inter=128):
        super().__init__()
        features = mobilenet_v3_features("large", dilated=True)
        idx = _stage_indices(features)
        self.low_pos = idx[-4]
        self.backbone = features[:idx[-1] + 1]
        low, high = features[self.low_pos].out_channels, 960
        self.cbr = nn.Sequential(nn.Conv2d(high, inter, 1, bias=False), nn.BatchNorm2d(inter), nn.ReLU(inplace=True))
        self.scale = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(high, inter, 1, bias=False), nn.Sigmoid())
        self.low_classifier = nn.Conv2d(low, num_classes, 1)
        self.high_classifier = nn.Conv2d(inter, num_classes, 1)

    def forward(self, x):
        size = x.shape[-2:]
        y, low = x, None
        for i, m in enumerate(self.backbone):
            y = m(y)
            if i == self.low_pos:
                low = y
        z = self.cbr(y) * self.scale(y)
        z = F.interpolate(z, size=low.shape[-2:], mode="bilinear", align_corners=False)
        out = self.low_classifier(low) + self.high_classifier(z)
        return F.interpolate(out, size=size, mode="bilinear", align_corners=False)


# --- EfficientNet-B0 ------------------------------------------------------------------------


class MBConv(nn.Module):
    def __init__(self, expand, k, stride, cin, cout):
        super().__init__()
        self.use_res = stride == 1 and cin == cout
        exp = make_divisible(cin * expand, 8)
        layers = []
        if exp != cin:
            layers.append(conv_norm_act(cin, exp, 1, act=nn.SiLU))
        layers.append(conv_norm_act(exp, exp, k, stride, groups=exp, act=nn.SiLU))
        layers.append(SqueezeExcitation(exp, max(1, cin // 4), act=partial(nn.SiLU, inplace=True)))
        layers.append(conv_norm_act(exp, cout, 1, act=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        y = self.block(x)
        return y + x if self.use_res else y


class EfficientNetB0(nn.Module):
    CONFIG = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
              (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1))

    def __init__(self, num_classes=1000):
        super().__init__()
        layers = [conv_norm_act(3, 32, 3, 2, act=nn.SiLU)]
        for expand, k, stride, cin, cout, n in self.CONFIG:
            for i in range(n):
                layers.append(MBConv(expand, k, stride if i == 0 else 1, cin if i == 0 else cout, cout))
        layers.append(conv_norm_act(320, 1280, 1, act=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# --- RegNetY-400MF --------------------------------------------------------------------------


class RegNetBlock(nn.Module):
    """ResBottleneckBlock with SE (bottleneck multiplier 1)."""

    def __init__(self, win, wout, stride, group_width=8, se_ratio=0.25):
        super().__init__()
        self.proj = conv_norm_act(win, wout, 1, stride, act=None) if (win != wout or stride != 1) else None
        g = wout // group_width
        self.f = nn.Sequential(conv_norm_act(win, wout, 1), conv_norm_act(wout, wout, 3, stride, groups=g),
                               SqueezeExcitation(wout, int(round(se_ratio * win))), conv_norm_act(wout, wout, 1, act=None))
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.f(x)
        return self.activation((self.proj(x) if self.proj is not None else x) + y)


def regnet_widths(depth=16, w_0=48, w_a=27.89, w_m=2.09, group_width=8):
    """torchvision's BlockParams.from_init_params: (stage widths, stage depths)."""
    widths_cont = torch.arange(depth) * w_a + w_0
    capacity = torch.round(torch.log(widths_cont / w_0) / math.log(w_m))
    block_widths = (torch.round(torch.divide(w_0 * torch.pow(w_m, capacity), 8)) * 8).int().tolist()
    splits = [w != wp for w, wp in zip(block_widths + [0], [0] + block_widths)]
    stage_widths = [w for w, t in zip(block_widths, splits[:-1]) if t]
    stage_depths = torch.diff(torch.tensor([d for d, t in enumerate(splits) if t])).int().tolist()
    groups = [min(group_width, w) for w in stage_widths]
    stage_widths = [make_divisible(w, g) for w, g in zip(stage_widths, groups)]
    return stage_widths, stage_depths


class RegNetY400MF(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.stem = conv_norm_act(3, 32, 3, 2)
        widths, depths = regnet_widths()
        blocks, win = [], 32
        for w, d in zip(widths, depths):
            for i in range(d):
                blocks.append(RegNetBlock(win, w, 2 if i == 0 else 1))
                win = w
        self.trunk_output = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(win, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(self.trunk_output(self.stem(x))), 1))


# --- ShuffleNetV2 x1.0 ----------------------------------------------------------------------


def channel_shuffle(x, groups: int):
    b, c, h, w = x.size()
    x = x.view(b, groups, c // groups, h, w)
    return torch.transpose(x, 1, 2).contiguous().view(b, -1, h, w)


class ShuffleBlock(nn.Module):
    def __init__(self, inp, oup, stride):
        super().__init__()
        self.stride = stride
        bf = oup // 2
        if stride > 1:
            self.branch1 = nn.Sequential(nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False), nn.BatchNorm2d(inp),
                                         nn.Conv2d(inp, bf, 1, bias=False), nn.BatchNorm2d(bf), nn.ReLU(inplace=True))
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else bf, bf, 1, bias=False), nn.BatchNorm2d(bf), nn.ReLU(inplace=True),
            nn.Conv2d(bf, bf, 3, stride, 1, groups=bf, bias=False), nn.BatchNorm2d(bf),
            nn.Conv2d(bf, bf, 1, bias=False), nn.BatchNorm2d(bf), nn.ReLU(inplace=True))

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    def __init__(self, repeats=(4, 8, 4), channels=(24, 116, 232, 464, 1024), num_classes=1000):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, channels[0], 3, 2, 1, bias=False), nn.BatchNorm2d(channels[0]),
                                   nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        blocks, cin = [], channels[0]
        for n, cout in zip(repeats, channels[1:4]):
            blocks += [ShuffleBlock(cin, cout, 2)] + [ShuffleBlock(cout, cout, 1) for _ in range(n - 1)]
            cin = cout
        self.stages = nn.Sequential(*blocks)
        self.conv5 = nn.Sequential(nn.Conv2d(cin, channels[-1], 1, bias=False), nn.BatchNorm2d(channels[-1]),
                                   nn.ReLU(inplace=True))
        self.fc = nn.Linear(channels[-1], num_classes)

    def forward(self, x):
        x = self.conv5(self.stages(self.maxpool(self.conv1(x))))
        return self.fc(x.mean([2, 3]))


# --- MNASNet 1.0 ----------------------------------------------------------------------------

_BN_MNAS = partial(nn.BatchNorm2d, momentum=1 - 0.9997)


class MnasBlock(nn.Module):
    def __init__(self, cin, cout, k, stride, expand):
        super().__init__()
        mid = cin * expand
        self.use_res = cin == cout and stride == 1
        self.layers = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False), _BN_MNAS(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False), _BN_MNAS(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, cout, 1, bias=False), _BN_MNAS(cout))

    def forward(self, x):
        return self.layers(x) + x if self.use_res else self.layers(x)


class MNASNet10(nn.Module):
    STACKS = ((16, 24, 3, 2, 3, 3), (24, 40, 5, 2, 3, 3), (40, 80, 5, 2, 6, 3), (80, 96, 3, 1, 6, 2),
              (96, 192, 5, 2, 6, 4), (192, 320, 3, 1, 6, 1))

    def __init__(self, num_classes=1000):
        super().__init__()
        layers = [nn.Conv2d(3, 32, 3, 2, 1, bias=False), _BN_MNAS(32), nn.ReLU(inplace=True),
                  nn.Conv2d(32, 32, 3, 1, 1, groups=32, bias=False), _BN_MNAS(32), nn.ReLU(inplace=True),
                  nn.Conv2d(32, 16, 1, bias=False), _BN_MNAS(16)]
        for cin, cout, k, stride, expand, n in self.STACKS:
            layers += [MnasBlock(cin, cout, k, stride, expand)] + [MnasBlock(cout, cout, k, 1, expand) for _ in range(n - 1)]
        layers += [nn.Conv2d(320, 1280, 1, bias=False), _BN_MNAS(1280), nn.ReLU(inplace=True)]
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x):
        return self.classifier(self.layers(x).mean([2, 3]))


# --- ConvNeXt-Tiny --------------------------------------------------------------------------


class LayerNorm2d(nn.LayerNorm):
    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class CNBlock(nn.Module):
    def __init__(self, dim, layer_scale=1e-6):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y)))).permute(0, 3, 1, 2)
        return self.layer_scale * y + x


class ConvNeXtTiny(nn.Module):
    SETTING = ((96, 192, 3), (192, 384, 3), (384, 768, 9), (768, None, 3))

    def __init__(self, num_classes=1000):
        super().__init__()
        norm = partial(LayerNorm2d, eps=1e-6)
        layers = [nn.Sequential(nn.Conv2d(3, 96, 4, 4, 0), norm(96))]
        for cin, cout, n in self.SETTING:
            layers.append(nn.Sequential(*[CNBlock(cin) for _ in range(n)]))
            if cout is not None:
                layers.append(nn.Sequential(norm(cin), nn.Conv2d(cin, cout, 2, 2)))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(norm(768), nn.Flatten(1), nn.Linear(768, num_classes))

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)))


# --- the list -------------------------------------------------------------------------------

BUILDERS = {
    "resnet18": ResNet18,
    "resnet50": ResNet,
    "resnext50_32x4d": partial(ResNet, groups=32, width_per_group=4),
    "mobilenet_v2": MobileNetV2,
    "mobilenet_v3_small": partial(MobileNetV3, "small"),
    "mobilenet_v3_large": partial(MobileNetV3, "large"),
    "efficientnet_b0": EfficientNetB0,
    "regnet_y_400mf": RegNetY400MF,
    "shufflenet_v2_x1_0": ShuffleNetV2,
    "mnasnet1_0": MNASNet10,
    "squeezenet1_1": SqueezeNet11,
    "convnext_tiny": ConvNeXtTiny,
    "deeplabv3_mobilenet_v3_large": DeepLabV3MobileNetV3,
    "lraspp_mobilenet_v3_large": LRASPPMobileNetV3,
}
SEGMENTATION = ("deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large")

# torchvision's documented parameter counts (its model tables; segmentation without aux heads)
PARAMETERS = {
    "resnet18": 11_689_512, "resnet50": 25_557_032, "resnext50_32x4d": 25_028_904, "mobilenet_v2": 3_504_872,
    "mobilenet_v3_small": 2_542_856, "mobilenet_v3_large": 5_483_032, "efficientnet_b0": 5_288_548,
    "regnet_y_400mf": 4_344_144, "shufflenet_v2_x1_0": 2_278_604, "mnasnet1_0": 4_383_312,
    "squeezenet1_1": 1_235_496, "convnext_tiny": 28_589_128, "lraspp_mobilenet_v3_large": 3_221_538,
    # 11,029,328 documented, with the auxiliary FCNHead(40, 21): 3,851 of them
    "deeplabv3_mobilenet_v3_large": 11_029_328 - 3_851,
}


def torchvision_available() -> bool:
    try:
        import torchvision  # noqa: F401
    except Exception:  # an unusable install fails with RuntimeError too
        return False
    return True


def build(name: str, prefer_torchvision: bool = False) -> nn.Module:
    """The architecture `name` (default init), torchvision's own when asked for and importable."""
    if prefer_torchvision and torchvision_available():
        import torchvision

        if name in SEGMENTATION:
            return getattr(torchvision.models.segmentation, name)(weights=None, weights_backbone=None, aux_loss=False)
        return getattr(torchvision.models, name)(weights=None)
    return BUILDERS[name]()


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """BatchNorm statistics randomized; ConvNeXt's layer scales (1e-6 at init, which would make
    every block an identity) drawn from U(0.1, 0.5); eval mode."""
    gen = torch.Generator().manual_seed(seed + 1)
    randomize_batchnorm(model, gen)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layer_scale") or name.endswith("gamma"):
                p.copy_(torch.rand(p.shape, generator=gen) * 0.4 + 0.1)
    return model.eval()


def random_model(name: str, seed: int = 0, prefer_torchvision: bool = False) -> nn.Module:
    torch.manual_seed(seed)
    return randomize(build(name, prefer_torchvision), seed)

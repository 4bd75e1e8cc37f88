"""torchvision's ImageNet / segmentation architectures, rebuilt in plain torch.nn.

torchvision cannot be installed beside this environment's CPU build of torch (the wheels on hand
are CUDA builds whose operators fail to register), so the architectures the benchmarks and tests
need are written out here from torchvision 0.28's definitions: the same layers, channel counts,
strides, dilations, epsilons and forward passes, so the exported graphs have torchvision's shape
(module names differ; `PARAMETERS` holds torchvision's documented parameter counts, which the
tests check). When torchvision is importable, `build(name, prefer_torchvision=True)` returns the
real model instead.

    resnet50, resnext50_32x4d, wide_resnet50_2, mobilenet_v3_small, mobilenet_v3_large,
    efficientnet_b0, efficientnet_b3, efficientnet_v2_s, regnet_y_400mf, regnet_x_1_6gf,
    shufflenet_v2_x1_0, mnasnet1_0, convnext_tiny, densenet121, googlenet, inception_v3, vgg16,
    alexnet, deeplabv3_mobilenet_v3_large, lraspp_mobilenet_v3_large, fcn_resnet50, r3d_18
and, beside them, the detector YOLOv8n (support/yolov8.py, built from ultralytics' yaml).
(resnet18, mobilenet_v2 and squeezenet1_1 are torch_models.ResNet18 / MobileNetV2 / SqueezeNet11.)
Segmentation models return their "out" tensor only (no auxiliary head); googlenet is built without
its auxiliary classifiers (as its pretrained model is), inception_v3 with them (they only run in
training). The video model r3d_18 takes a [1, 3, FRAMES, H, W] clip (`input_shape`); `MIN_SIZE`
holds the smallest input side a model can be exported at.
"""
from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from . import yolov8
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


# --- ResNet-50 / ResNeXt-50 / Wide ResNet-50-2 ----------------------------------------------


class Bottleneck(nn.Module):
    def __init__(self, inplanes, planes, stride=1, groups=1, base_width=64, dilation=1):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, dilation, dilation=dilation, groups=groups, bias=False)
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
    """dilate: torchvision's replace_stride_with_dilation for layer2..4 (a stage's first block keeps
    the dilation before it)."""

    def __init__(self, layers=(3, 4, 6, 3), groups=1, width_per_group=64, num_classes=1000,
                 dilate=(False, False, False)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        blocks, inplanes, dilation = [], 64, 1
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers)):
            stride, previous = (2 if i > 0 else 1), dilation
            if i > 0 and dilate[i - 1]:
                dilation, stride = dilation * stride, 1
            for j in range(n):
                blocks.append(Bottleneck(inplanes, planes, stride if j == 0 else 1, groups, width_per_group,
                                         previous if j == 0 else dilation))
                inplanes = planes * 4
        self.layers = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, num_classes)

    def features(self, x):
        return self.layers(self.maxpool(self.relu(self.bn1(self.conv1(x)))))

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


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


# --- FCN on ResNet-50 -----------------------------------------------------------------------


class FCNResNet50(nn.Module):
    """ResNet-50 with layer3 / layer4 dilated (output stride 8), FCNHead on layer4's output."""

    def __init__(self, num_classes=21):
        super().__init__()
        self.backbone = ResNet(dilate=(False, True, True))
        del self.backbone.avgpool, self.backbone.fc  # IntermediateLayerGetter stops at layer4
        self.classifier = nn.Sequential(nn.Conv2d(2048, 512, 3, padding=1, bias=False), nn.BatchNorm2d(512), nn.ReLU(),
                                        nn.Dropout(0.1), nn.Conv2d(512, num_classes, 1))

    def forward(self, x):
        size = x.shape[-2:]
        y = self.classifier(self.backbone.features(x))
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)


# --- EfficientNet-B0 / B3 / V2-S ------------------------------------------------------------


class MBConv(nn.Module):
    def __init__(self, expand, k, stride, cin, cout, norm=nn.BatchNorm2d):
        super().__init__()
        self.use_res = stride == 1 and cin == cout
        exp = make_divisible(cin * expand, 8)
        layers = []
        if exp != cin:
            layers.append(conv_norm_act(cin, exp, 1, act=nn.SiLU, norm=norm))
        layers.append(conv_norm_act(exp, exp, k, stride, groups=exp, act=nn.SiLU, norm=norm))
        layers.append(SqueezeExcitation(exp, max(1, cin // 4), act=partial(nn.SiLU, inplace=True)))
        layers.append(conv_norm_act(exp, cout, 1, act=None, norm=norm))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        y = self.block(x)
        return y + x if self.use_res else y


class FusedMBConv(nn.Module):
    """EfficientNetV2's early blocks: the expansion and depthwise convs fused into one k x k conv, no SE."""

    def __init__(self, expand, k, stride, cin, cout, norm=nn.BatchNorm2d):
        super().__init__()
        self.use_res = stride == 1 and cin == cout
        exp = make_divisible(cin * expand, 8)
        if exp != cin:
            layers = [conv_norm_act(cin, exp, k, stride, act=nn.SiLU, norm=norm),
                      conv_norm_act(exp, cout, 1, act=None, norm=norm)]
        else:
            layers = [conv_norm_act(cin, cout, k, stride, act=nn.SiLU, norm=norm)]
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        y = self.block(x)
        return y + x if self.use_res else y


class EfficientNet(nn.Module):
    """B0 by default; B1-B7 scale B0's stages by width_mult (channels, rounded to 8) and depth_mult
    (blocks, rounded up); V2 lists its own stages, BatchNorm eps 1e-3 and a fixed last_channel."""

    B0 = ((MBConv, 1, 3, 1, 32, 16, 1), (MBConv, 6, 3, 2, 16, 24, 2), (MBConv, 6, 5, 2, 24, 40, 2),
          (MBConv, 6, 3, 2, 40, 80, 3), (MBConv, 6, 5, 1, 80, 112, 3), (MBConv, 6, 5, 2, 112, 192, 4),
          (MBConv, 6, 3, 1, 192, 320, 1))
    V2_S = ((FusedMBConv, 1, 3, 1, 24, 24, 2), (FusedMBConv, 4, 3, 2, 24, 48, 4), (FusedMBConv, 4, 3, 2, 48, 64, 4),
            (MBConv, 4, 3, 2, 64, 128, 6), (MBConv, 6, 3, 1, 128, 160, 9), (MBConv, 6, 3, 2, 160, 256, 15))

    def __init__(self, config=B0, width_mult=1.0, depth_mult=1.0, dropout=0.2, last_channel=None,
                 norm=nn.BatchNorm2d, num_classes=1000):
        super().__init__()

        def ch(c):
            return make_divisible(c * width_mult, 8)

        layers = [conv_norm_act(3, ch(config[0][4]), 3, 2, act=nn.SiLU, norm=norm)]
        for block, expand, k, stride, cin, cout, n in config:
            for i in range(int(math.ceil(n * depth_mult))):
                layers.append(block(expand, k, stride if i == 0 else 1, ch(cin if i == 0 else cout), ch(cout), norm))
        last_in = ch(config[-1][5])
        last = last_channel or 4 * last_in
        layers.append(conv_norm_act(last_in, last, 1, act=nn.SiLU, norm=norm))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# --- RegNetY-400MF / RegNetX-1.6GF ----------------------------------------------------------


class RegNetBlock(nn.Module):
    """ResBottleneckBlock (bottleneck multiplier 1), with SE where se_ratio is given (RegNetY)."""

    def __init__(self, win, wout, stride, group_width=8, se_ratio=0.25):
        super().__init__()
        self.proj = conv_norm_act(win, wout, 1, stride, act=None) if (win != wout or stride != 1) else None
        g = wout // group_width
        layers = [conv_norm_act(win, wout, 1), conv_norm_act(wout, wout, 3, stride, groups=g)]
        if se_ratio:
            layers.append(SqueezeExcitation(wout, int(round(se_ratio * win))))
        self.f = nn.Sequential(*layers, conv_norm_act(wout, wout, 1, act=None))
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


class RegNet(nn.Module):
    """RegNetY-400MF by default; the other RegNets differ in their width parameters (RegNetX: no SE)."""

    def __init__(self, depth=16, w_0=48, w_a=27.89, w_m=2.09, group_width=8, se_ratio=0.25, num_classes=1000):
        super().__init__()
        self.stem = conv_norm_act(3, 32, 3, 2)
        widths, depths = regnet_widths(depth, w_0, w_a, w_m, group_width)
        blocks, win = [], 32
        for w, d in zip(widths, depths):
            for i in range(d):
                blocks.append(RegNetBlock(win, w, 2 if i == 0 else 1, min(group_width, w), se_ratio))
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


# --- DenseNet-121 ---------------------------------------------------------------------------


class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1-BN-ReLU-conv3x3 on the concatenation of every earlier output in its block."""

    def __init__(self, cin, growth=32, bn_size=4):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, features):
        y = self.conv1(self.relu1(self.norm1(torch.cat(features, 1))))
        return self.conv2(self.relu2(self.norm2(y)))


class DenseBlock(nn.ModuleList):
    def forward(self, x):
        features = [x]
        for layer in self:
            features.append(layer(features))
        return torch.cat(features, 1)


class DenseNet121(nn.Module):
    def __init__(self, growth=32, blocks=(6, 12, 24, 16), init_features=64, num_classes=1000):
        super().__init__()
        layers = [nn.Conv2d(3, init_features, 7, 2, 3, bias=False), nn.BatchNorm2d(init_features),
                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
        c = init_features
        for i, n in enumerate(blocks):
            layers.append(DenseBlock([DenseLayer(c + j * growth, growth) for j in range(n)]))
            c += n * growth
            if i != len(blocks) - 1:  # transition: halve the channels and the resolution
                layers.append(nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                                            nn.Conv2d(c, c // 2, 1, bias=False), nn.AvgPool2d(2, 2)))
                c //= 2
        layers.append(nn.BatchNorm2d(c))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(F.relu(self.features(x), inplace=True), (1, 1))
        return self.classifier(torch.flatten(x, 1))


# --- GoogLeNet / Inception-v3 ---------------------------------------------------------------

_BN_INCEPTION = partial(nn.BatchNorm2d, eps=0.001)


def basic_conv(cin, cout, k, stride=1, padding=0):
    """BasicConv2d: conv (no bias), BatchNorm (eps 0.001), ReLU; unpadded unless asked."""
    return conv_norm_act(cin, cout, k, stride, norm=_BN_INCEPTION, padding=padding)


class GoogLeNetInception(nn.Module):
    def __init__(self, cin, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = basic_conv(cin, ch1x1, 1)
        self.branch2 = nn.Sequential(basic_conv(cin, ch3x3red, 1), basic_conv(ch3x3red, ch3x3, 3, padding=1))
        # the "5x5" branch is a 3x3 conv in torchvision (kept for its pretrained weights)
        self.branch3 = nn.Sequential(basic_conv(cin, ch5x5red, 1), basic_conv(ch5x5red, ch5x5, 3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), basic_conv(cin, pool_proj, 1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class GoogLeNet(nn.Module):
    """aux_logits=False (its pretrained model drops aux1 / aux2, and its parameter count excludes
    them), transform_input=False."""

    def __init__(self, num_classes=1000):
        super().__init__()
        pool = partial(nn.MaxPool2d, ceil_mode=True)
        self.features = nn.Sequential(
            basic_conv(3, 64, 7, 2, 3), pool(3, 2), basic_conv(64, 64, 1), basic_conv(64, 192, 3, padding=1),
            pool(3, 2),
            GoogLeNetInception(192, 64, 96, 128, 16, 32, 32), GoogLeNetInception(256, 128, 128, 192, 32, 96, 64),
            pool(3, 2),
            GoogLeNetInception(480, 192, 96, 208, 16, 48, 64), GoogLeNetInception(512, 160, 112, 224, 24, 64, 64),
            GoogLeNetInception(512, 128, 128, 256, 24, 64, 64), GoogLeNetInception(512, 112, 144, 288, 32, 64, 64),
            GoogLeNetInception(528, 256, 160, 320, 32, 128, 128), pool(2, 2),
            GoogLeNetInception(832, 256, 160, 320, 32, 128, 128), GoogLeNetInception(832, 384, 192, 384, 48, 128, 128))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x):
        return self.fc(self.dropout(torch.flatten(self.avgpool(self.features(x)), 1)))


def _avg_pool3(x):
    return F.avg_pool2d(x, 3, stride=1, padding=1)


class InceptionA(nn.Module):
    def __init__(self, cin, pool_features):
        super().__init__()
        self.branch1x1 = basic_conv(cin, 64, 1)
        self.branch5x5 = nn.Sequential(basic_conv(cin, 48, 1), basic_conv(48, 64, 5, padding=2))
        self.branch3x3dbl = nn.Sequential(basic_conv(cin, 64, 1), basic_conv(64, 96, 3, padding=1),
                                          basic_conv(96, 96, 3, padding=1))
        self.branch_pool = basic_conv(cin, pool_features, 1)

    def forward(self, x):
        return torch.cat([self.branch1x1(x), self.branch5x5(x), self.branch3x3dbl(x),
                          self.branch_pool(_avg_pool3(x))], 1)


class InceptionB(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3 = basic_conv(cin, 384, 3, 2)
        self.branch3x3dbl = nn.Sequential(basic_conv(cin, 64, 1), basic_conv(64, 96, 3, padding=1),
                                          basic_conv(96, 96, 3, 2))

    def forward(self, x):
        return torch.cat([self.branch3x3(x), self.branch3x3dbl(x), F.max_pool2d(x, 3, stride=2)], 1)


class InceptionC(nn.Module):
    """The 7x7 convolutions factorized into 1x7 and 7x1."""

    def __init__(self, cin, c7):
        super().__init__()
        self.branch1x1 = basic_conv(cin, 192, 1)
        self.branch7x7 = nn.Sequential(basic_conv(cin, c7, 1), basic_conv(c7, c7, (1, 7), padding=(0, 3)),
                                       basic_conv(c7, 192, (7, 1), padding=(3, 0)))
        self.branch7x7dbl = nn.Sequential(
            basic_conv(cin, c7, 1), basic_conv(c7, c7, (7, 1), padding=(3, 0)),
            basic_conv(c7, c7, (1, 7), padding=(0, 3)), basic_conv(c7, c7, (7, 1), padding=(3, 0)),
            basic_conv(c7, 192, (1, 7), padding=(0, 3)))
        self.branch_pool = basic_conv(cin, 192, 1)

    def forward(self, x):
        return torch.cat([self.branch1x1(x), self.branch7x7(x), self.branch7x7dbl(x),
                          self.branch_pool(_avg_pool3(x))], 1)


class InceptionD(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3 = nn.Sequential(basic_conv(cin, 192, 1), basic_conv(192, 320, 3, 2))
        self.branch7x7x3 = nn.Sequential(
            basic_conv(cin, 192, 1), basic_conv(192, 192, (1, 7), padding=(0, 3)),
            basic_conv(192, 192, (7, 1), padding=(3, 0)), basic_conv(192, 192, 3, 2))

    def forward(self, x):
        return torch.cat([self.branch3x3(x), self.branch7x7x3(x), F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):
    """Its 3x3 branches end in a 1x3 and a 3x1 conv side by side, concatenated."""

    def __init__(self, cin):
        super().__init__()
        self.branch1x1 = basic_conv(cin, 320, 1)
        self.branch3x3_1 = basic_conv(cin, 384, 1)
        self.branch3x3_2a = basic_conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = basic_conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = nn.Sequential(basic_conv(cin, 448, 1), basic_conv(448, 384, 3, padding=1))
        self.branch3x3dbl_3a = basic_conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = basic_conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = basic_conv(cin, 192, 1)

    def forward(self, x):
        a, b = self.branch3x3_1(x), self.branch3x3dbl_1(x)
        return torch.cat([self.branch1x1(x), torch.cat([self.branch3x3_2a(a), self.branch3x3_2b(a)], 1),
                          torch.cat([self.branch3x3dbl_3a(b), self.branch3x3dbl_3b(b)], 1),
                          self.branch_pool(_avg_pool3(x))], 1)


class InceptionAux(nn.Module):
    def __init__(self, cin, num_classes):
        super().__init__()
        self.conv0 = basic_conv(cin, 128, 1)
        self.conv1 = basic_conv(128, 768, 5)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x):
        x = self.conv1(self.conv0(F.avg_pool2d(x, 5, stride=3)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1))


class InceptionV3(nn.Module):
    """aux_logits=True (torchvision's default and pretrained layout: AuxLogits is in its parameter
    count) but, as in eval mode, forward returns the main logits only; transform_input=False."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.stem = nn.Sequential(basic_conv(3, 32, 3, 2), basic_conv(32, 32, 3), basic_conv(32, 64, 3, padding=1),
                                  nn.MaxPool2d(3, 2), basic_conv(64, 80, 1), basic_conv(80, 192, 3), nn.MaxPool2d(3, 2))
        self.mixed_5_6 = nn.Sequential(InceptionA(192, 32), InceptionA(256, 64), InceptionA(288, 64), InceptionB(288),
                                       InceptionC(768, 128), InceptionC(768, 160), InceptionC(768, 160),
                                       InceptionC(768, 192))
        self.AuxLogits = InceptionAux(768, num_classes)  # training only
        self.mixed_7 = nn.Sequential(InceptionD(768), InceptionE(1280), InceptionE(2048))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x):
        x = self.mixed_7(self.mixed_5_6(self.stem(x)))
        return self.fc(torch.flatten(self.dropout(self.avgpool(x)), 1))


# --- VGG-16 / AlexNet -----------------------------------------------------------------------


class VGG16(nn.Module):
    """Configuration "D" without BatchNorm, and torchvision's init: with PyTorch's default one the
    thirteen unnormalized convs would shrink the input's signal to nothing next to the biases."""

    CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")

    def __init__(self, num_classes=1000):
        super().__init__()
        layers, cin = [], 3
        for v in self.CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(0.5),
                                        nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(0.5),
                                        nn.Linear(4096, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class AlexNet(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(inplace=True), nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
                                        nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
                                        nn.Linear(4096, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# --- R3D-18 (video) -------------------------------------------------------------------------


class VideoBasicBlock(nn.Module):
    """BasicBlock with Conv3DSimple: 3x3x3 convs, the stride in time as well as space."""

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv3d(inplanes, planes, 3, stride, 1, bias=False), nn.BatchNorm3d(planes),
                                   nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(nn.Conv3d(planes, planes, 3, 1, 1, bias=False), nn.BatchNorm3d(planes))
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv3d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm3d(planes))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + identity)


class R3D18(nn.Module):
    def __init__(self, num_classes=400):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv3d(3, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False), nn.BatchNorm3d(64),
                                  nn.ReLU(inplace=True))
        blocks, inplanes = [], 64
        for i, planes in enumerate((64, 128, 256, 512)):
            blocks += [VideoBasicBlock(inplanes, planes, 2 if i > 0 else 1), VideoBasicBlock(planes, planes)]
            inplanes = planes
        self.layers = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(self.layers(self.stem(x))), 1))


# --- the list -------------------------------------------------------------------------------

BUILDERS = {
    "resnet18": ResNet18,
    "resnet50": ResNet,
    "resnext50_32x4d": partial(ResNet, groups=32, width_per_group=4),
    "wide_resnet50_2": partial(ResNet, width_per_group=128),
    "mobilenet_v2": MobileNetV2,
    "mobilenet_v3_small": partial(MobileNetV3, "small"),
    "mobilenet_v3_large": partial(MobileNetV3, "large"),
    "efficientnet_b0": EfficientNet,
    "efficientnet_b3": partial(EfficientNet, width_mult=1.2, depth_mult=1.4, dropout=0.3),
    "efficientnet_v2_s": partial(EfficientNet, EfficientNet.V2_S, last_channel=1280,
                                 norm=partial(nn.BatchNorm2d, eps=1e-3)),
    "regnet_y_400mf": RegNet,
    "regnet_x_1_6gf": partial(RegNet, depth=18, w_0=80, w_a=34.01, w_m=2.25, group_width=24, se_ratio=None),
    "shufflenet_v2_x1_0": ShuffleNetV2,
    "mnasnet1_0": MNASNet10,
    "squeezenet1_1": SqueezeNet11,
    "convnext_tiny": ConvNeXtTiny,
    "densenet121": DenseNet121,
    "googlenet": GoogLeNet,
    "inception_v3": InceptionV3,
    "vgg16": VGG16,
    "alexnet": AlexNet,
    "deeplabv3_mobilenet_v3_large": DeepLabV3MobileNetV3,
    "lraspp_mobilenet_v3_large": LRASPPMobileNetV3,
    "fcn_resnet50": FCNResNet50,
    "r3d_18": R3D18,
    "yolov8n": yolov8.yolov8n,
}
SEGMENTATION = ("deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large", "fcn_resnet50")
VIDEO = ("r3d_18",)
# detectors: output [1, 4 + classes, anchors], boxes in pixels then class probabilities
DETECTION = ("yolov8n",)
FRAMES = 8  # a video clip's length (torchvision's r3d_18 is trained on 16 frames; 8 keep the tests fast)
# the smallest input side each model exports at: inception_v3's stem and grid reductions need 75;
# the legacy exporter writes AdaptiveAvgPool2d only where the output size divides the input's,
# and vgg16's 7 x 7 / alexnet's 6 x 6 pools see exactly that at 224
MIN_SIZE = {"inception_v3": 75, "vgg16": 224, "alexnet": 224}

# torchvision's documented parameter counts (its model tables; segmentation without aux heads)
PARAMETERS = {
    "resnet18": 11_689_512, "resnet50": 25_557_032, "resnext50_32x4d": 25_028_904, "mobilenet_v2": 3_504_872,
    "mobilenet_v3_small": 2_542_856, "mobilenet_v3_large": 5_483_032, "efficientnet_b0": 5_288_548,
    "regnet_y_400mf": 4_344_144, "shufflenet_v2_x1_0": 2_278_604, "mnasnet1_0": 4_383_312,
    "squeezenet1_1": 1_235_496, "convnext_tiny": 28_589_128, "lraspp_mobilenet_v3_large": 3_221_538,
    # 11,029,328 documented, with the auxiliary FCNHead(40, 21): 3,851 of them
    "deeplabv3_mobilenet_v3_large": 11_029_328 - 3_851,
    "wide_resnet50_2": 68_883_240, "efficientnet_b3": 12_233_232, "efficientnet_v2_s": 21_458_488,
    "regnet_x_1_6gf": 9_190_136, "densenet121": 7_978_856, "vgg16": 138_357_544, "alexnet": 61_100_840,
    "googlenet": 6_624_904,  # without aux1 / aux2, as documented
    "inception_v3": 27_161_264,  # with AuxLogits, as documented
    # 35,322,218 documented, with the auxiliary FCNHead(1024, 21): 2,365,205 of them
    "fcn_resnet50": 35_322_218 - 2_365_205,
    "r3d_18": 33_371_472,
    **yolov8.PARAMETERS,  # ultralytics' count for the yaml model
}


def torchvision_available() -> bool:
    try:
        import torchvision  # noqa: F401
    except Exception:  # an unusable install fails with RuntimeError too
        return False
    return True


def build(name: str, prefer_torchvision: bool = False) -> nn.Module:
    """The architecture `name` (default init), torchvision's own when asked for and importable."""
    if prefer_torchvision and torchvision_available() and name not in DETECTION:
        import torchvision

        if name in SEGMENTATION:
            return getattr(torchvision.models.segmentation, name)(weights=None, weights_backbone=None, aux_loss=False)
        if name in VIDEO:
            return getattr(torchvision.models.video, name)(weights=None)
        if name == "googlenet":
            return torchvision.models.googlenet(weights=None, aux_logits=False)
        return getattr(torchvision.models, name)(weights=None)
    return BUILDERS[name]()


def input_shape(name: str, size: int) -> tuple[int, ...]:
    """Batch 1, size x size; a video model's input is a clip of FRAMES frames."""
    return (1, 3, FRAMES, size, size) if name in VIDEO else (1, 3, size, size)


def calibrate_batchnorm(model: nn.Module, shape: tuple[int, ...], gen: torch.Generator) -> None:
    """BatchNorm running statistics measured on random inputs of `shape` (batch 2), as training
    would leave them. With default init and made-up statistics the activations of a deep network
    shrink layer by layer: EfficientNet's, MNASNet's or Inception's output then moved by 1e-7..1e-5
    of its scale when the input changed, and a comparison with PyTorch checked little more than
    the last layers. Measured, every BatchNorm hands on unit-scale activations. Only the
    BatchNorms are in train mode (dropout and stochastic depth stay as at inference)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    model.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: the one pass sets the statistics
        m.train()
    with torch.no_grad():
        model(torch.randn((2,) + tuple(shape[1:]), generator=gen))
    for m in bns:
        m.momentum = 0.1


def randomize(model: nn.Module, seed: int = 0, shape: tuple[int, ...] | None = None) -> nn.Module:
    """BatchNorm affine parameters randomized and their statistics measured on random inputs of
    `shape` when given (calibrate_batchnorm), else randomized too; ConvNeXt's layer scales (1e-6
    at init, which would make every block an identity) drawn from U(0.1, 0.5); eval mode."""
    gen = torch.Generator().manual_seed(seed + 1)
    randomize_batchnorm(model, gen)
    if shape is not None:
        calibrate_batchnorm(model, shape, gen)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layer_scale") or name.endswith("gamma"):
                p.copy_(torch.rand(p.shape, generator=gen) * 0.4 + 0.1)
    return model.eval()


# BatchNorm statistics are measured at this size (or the model's minimum): maps of 4 x 4 and more
# in the last stages, where 64 x 64 leaves 2 x 2 and a few values per channel (EfficientNetV2-S's
# activations then grew to logits of ~1e4).
CALIBRATION_SIZE = 128


def random_model(name: str, seed: int = 0, prefer_torchvision: bool = False) -> nn.Module:
    torch.manual_seed(seed)
    shape = input_shape(name, max(CALIBRATION_SIZE, MIN_SIZE.get(name, 0)))
    return randomize(build(name, prefer_torchvision), seed, shape)

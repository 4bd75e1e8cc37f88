"""YOLOv8 built from its yaml (ultralytics' cfg/models/v8/yolov8.yaml), in plain torch.nn.

ultralytics is not a dependency (nor installable here without pulling its own stack), so the
modules its yaml names (Conv, C2f, SPPF, Detect with its DFL box decoder) are written out from
ultralytics 8.3's definitions, and the yaml's layer list is followed for scale n (depth 0.33,
width 0.25, at most 1024 channels): the same layers, channel counts, strides, BatchNorm eps
(1e-3) and inference-time forward pass, so the export has the graph `yolo export format=onnx`
writes: one [1, 4 + 80, anchors] tensor, boxes as (cx, cy, w, h) in input pixels then class
probabilities; no NMS in the graph. `PARAMETERS` holds the count ultralytics prints for the yaml
model (3,157,200), which the tests check.

Unlike ultralytics' DetectionModel, the class-logit biases are not set to log(5 / nc / (640 / s)^2)
(Detect.bias_init): that prior puts every score near 1e-5 before training, and a comparison with
PyTorch would then check almost nothing of the class branch.
"""
from __future__ import annotations

import math

import torch
from torch import nn

# yolov8.yaml's scales: [depth, width, max_channels]
SCALES = {"n": (0.33, 0.25, 1024), "s": (0.33, 0.50, 1024), "m": (0.67, 0.75, 768)}
PARAMETERS = {"yolov8n": 3_157_200}
STRIDES = (8, 16, 32)


def autopad(k: int) -> int:
    return k // 2


class Conv(nn.Module):
    """ultralytics.nn.modules.Conv: Conv2d (no bias) -> BatchNorm2d(eps 1e-3) -> SiLU."""

    def __init__(self, c1, c2, k=1, s=1, g=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k), groups=g, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=0.001, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c1, c2, shortcut=True, e=1.0):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 3)
        self.cv2 = Conv(c_, c2, 3)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """CSP bottleneck with two convolutions: split in halves, n bottlenecks on the second half,
    every intermediate concatenated into the closing 1x1."""

    def __init__(self, c1, c2, n=1, shortcut=False, e=0.5):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained 5x5 max pools, concatenated."""

    def __init__(self, c1, c2, k=5):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1)
        self.cv2 = Conv(c_ * 4, c2, 1)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        y = [self.cv1(x)]
        y.extend(self.m(y[-1]) for _ in range(3))
        return self.cv2(torch.cat(y, 1))


class DFL(nn.Module):
    """Distribution focal loss decoder: the expectation of a softmax over reg_max bins, as a fixed
    1x1 convolution with weights 0..reg_max-1."""

    def __init__(self, c1=16):
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.arange(c1, dtype=torch.float).view(1, c1, 1, 1))
        self.c1 = c1

    def forward(self, x):
        b, _, a = x.shape
        return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)


def make_anchors(feats, strides, offset=0.5):
    points, stride_tensor = [], []
    for x, stride in zip(feats, strides):
        h, w = x.shape[2:]
        sx = torch.arange(w, dtype=x.dtype) + offset
        sy = torch.arange(h, dtype=x.dtype) + offset
        sy, sx = torch.meshgrid(sy, sx, indexing="ij")
        points.append(torch.stack((sx, sy), -1).view(-1, 2))
        stride_tensor.append(torch.full((h * w, 1), stride, dtype=x.dtype))
    return torch.cat(points), torch.cat(stride_tensor)


class Detect(nn.Module):
    """The anchor-free head: per level a box branch (4 x reg_max bins) and a class branch, then
    the boxes decoded (DFL, distances to (cx, cy, w, h), times the stride) and the classes
    through a sigmoid; [b, 4 + nc, sum of h x w]."""

    def __init__(self, nc=80, ch=()):
        super().__init__()
        self.nc, self.reg_max = nc, 16
        self.no = nc + 4 * self.reg_max
        c2, c3 = max(16, ch[0] // 4, 4 * self.reg_max), max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * self.reg_max, 1))
                                 for x in ch)
        self.cv3 = nn.ModuleList(nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        self.dfl = DFL(self.reg_max)

    def forward(self, xs):
        xs = [torch.cat((box(x), cls(x)), 1) for x, box, cls in zip(xs, self.cv2, self.cv3)]
        b = xs[0].shape[0]
        anchors, strides = (t.transpose(0, 1) for t in make_anchors(xs, STRIDES))
        x_cat = torch.cat([x.view(b, self.no, -1) for x in xs], 2)
        box, cls = x_cat.split((4 * self.reg_max, self.nc), 1)
        lt, rb = self.dfl(box).chunk(2, 1)
        anchors = anchors.unsqueeze(0)
        x1y1, x2y2 = anchors - lt, anchors + rb
        dbox = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * strides
        return torch.cat((dbox, cls.sigmoid()), 1)


class YOLOv8(nn.Module):
    """yolov8.yaml's backbone and head at one scale; layer numbers in the comments are the yaml's."""

    def __init__(self, scale="n", nc=80):
        super().__init__()
        depth, width, max_channels = SCALES[scale]

        def ch(c):  # ultralytics' make_divisible(min(c, max_channels) * width, 8)
            return math.ceil(min(c, max_channels) * width / 8) * 8

        def n(r):
            return max(round(r * depth), 1)

        self.b0 = Conv(3, ch(64), 3, 2)                          # 0  P1/2
        self.b1 = Conv(ch(64), ch(128), 3, 2)                    # 1  P2/4
        self.b2 = C2f(ch(128), ch(128), n(3), True)              # 2
        self.b3 = Conv(ch(128), ch(256), 3, 2)                   # 3  P3/8
        self.b4 = C2f(ch(256), ch(256), n(6), True)              # 4
        self.b5 = Conv(ch(256), ch(512), 3, 2)                   # 5  P4/16
        self.b6 = C2f(ch(512), ch(512), n(6), True)              # 6
        self.b7 = Conv(ch(512), ch(1024), 3, 2)                  # 7  P5/32
        self.b8 = C2f(ch(1024), ch(1024), n(3), True)            # 8
        self.b9 = SPPF(ch(1024), ch(1024), 5)                    # 9
        self.up = nn.Upsample(scale_factor=2, mode="nearest")    # 10, 13
        self.h12 = C2f(ch(1024) + ch(512), ch(512), n(3))        # 11 concat P4, 12
        self.h15 = C2f(ch(512) + ch(256), ch(256), n(3))         # 14 concat P3, 15 (P3/8 small)
        self.h16 = Conv(ch(256), ch(256), 3, 2)                  # 16
        self.h18 = C2f(ch(256) + ch(512), ch(512), n(3))         # 17 concat head P4, 18 (P4/16 medium)
        self.h19 = Conv(ch(512), ch(512), 3, 2)                  # 19
        self.h21 = C2f(ch(512) + ch(1024), ch(1024), n(3))       # 20 concat head P5, 21 (P5/32 large)
        self.detect = Detect(nc, (ch(256), ch(512), ch(1024)))   # 22

    def forward(self, x):
        p3 = self.b4(self.b3(self.b2(self.b1(self.b0(x)))))
        p4 = self.b6(self.b5(p3))
        p5 = self.b9(self.b8(self.b7(p4)))
        h12 = self.h12(torch.cat((self.up(p5), p4), 1))
        h15 = self.h15(torch.cat((self.up(h12), p3), 1))
        h18 = self.h18(torch.cat((self.h16(h15), h12), 1))
        h21 = self.h21(torch.cat((self.h19(h18), p5), 1))
        return self.detect([h15, h18, h21])


def yolov8n() -> YOLOv8:
    return YOLOv8("n")

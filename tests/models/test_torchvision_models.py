"""torchvision's architectures (and YOLOv8n), exported by both PyTorch exporters, against PyTorch's outputs.

torchvision cannot be installed beside this environment's CPU torch, so the architectures are
rebuilt in plain torch.nn (support/torchvision_models.py) and checked here against torchvision's
documented parameter counts; where torchvision imports, its own models are exported and run too.
Random init; BatchNorm statistics measured on random inputs (torchvision_models.
calibrate_batchnorm: the activations keep their scale through every layer, so the output depends
on the input) under random affine parameters; ConvNeXt layer scales randomized; batch 1 at 64 x 64
so the tests stay fast (larger where a model cannot export that small: torchvision_models.MIN_SIZE);
exports are cached outside the checkout (support/torchvision_export.py).
"""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import pyinfer

torch = pytest.importorskip("torch")
from support import torchvision_export, torchvision_models  # noqa: E402

SIZE = 64
NAMES = [n for n in torchvision_models.BUILDERS if n not in ("resnet18", "mobilenet_v2", "squeezenet1_1")]
# the dynamo exporter takes 20-80 s a model: the models whose graphs it writes differently (Gelu,
# ReduceMean, HardSigmoid, Resize) run with it too
DYNAMO = ["efficientnet_b0", "convnext_tiny", "lraspp_mobilenet_v3_large", "shufflenet_v2_x1_0", "yolov8n"]


def _size(name):
    """SIZE, or the smallest side the model exports at (inception_v3 75, vgg16 / alexnet 224)."""
    return max(SIZE, torchvision_models.MIN_SIZE.get(name, 0))


@pytest.mark.parametrize("name", list(torchvision_models.PARAMETERS))
def test_architecture_has_torchvision_parameter_count(name):
    model = torchvision_models.build(name)
    assert sum(p.numel() for p in model.parameters()) == torchvision_models.PARAMETERS[name]


def _assert_close(got, want, detector):
    """atol relative to the output's scale: float32 rounding through 50 layers reaches a few 1e-5
    of it in every runtime (ResNet-50: pyinfer 5.6e-5, onnxruntime 3.2e-5), and Winograd
    F(4x4, 3x3) doubles pyinfer's on FCN-ResNet50 (1.4e-4; 7.9e-5 without it, onnxruntime
    6.9e-5). Every other model of the list stays under 8e-5. A detector's boxes (pixels) and
    class probabilities are compared apart: the boxes against their own scale (YOLOv8n at 640:
    pyinfer 1.4e-4 of it, onnxruntime 3.8e-5; its DFL decoder multiplies a logit's error by the
    stride), the probabilities (0..1) at the default tolerance."""
    if detector:
        _assert_close(got[:, :4], want[:, :4], False)
        np.testing.assert_allclose(got[:, 4:], want[:, 4:], rtol=1e-3, atol=1e-4)
        return
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=2e-4 * float(np.abs(want).max()))


def _check(path, npz, detector=False):
    feeds, (want,) = torchvision_export.load(npz)
    sess = pyinfer.InferenceSession(path)
    for _ in range(3):  # Python path, compile, plan
        (got,) = sess.run(None, feeds)
        _assert_close(got, want, detector)
    return sess


@pytest.mark.parametrize("exporter, name", [("legacy", n) for n in NAMES] + [("dynamo", n) for n in DYNAMO])
def test_matches_pytorch(name, exporter):
    if exporter == "dynamo" and importlib.util.find_spec("onnxscript") is None:
        pytest.skip("the dynamo exporter needs the onnxscript package")
    detector = name in torchvision_models.DETECTION
    sess = _check(*torchvision_export.cached_export(name, exporter, _size(name)), detector)
    after = sess.optimization_report.ops_after
    # the blocks fuse: no BatchNormalization or unfused SiLU / HardSwish left (a detector keeps the
    # Sigmoid of its class probabilities)
    assert after["BatchNormalization"] == 0 and after["HardSwish"] == 0, dict(after)
    assert after["Sigmoid"] == (1 if detector else 0), dict(after)


@pytest.mark.skipif(not torchvision_models.torchvision_available(), reason="torchvision is not installed "
                    "(it cannot be beside this environment's CPU torch); the rebuilt architectures are tested above")
@pytest.mark.parametrize("name", ["efficientnet_b0", "mobilenet_v3_large", "shufflenet_v2_x1_0", "convnext_tiny"])
def test_torchvision_itself_matches_pytorch(name):
    _check(*torchvision_export.cached_export(name, "legacy", SIZE, prefer_torchvision=True))

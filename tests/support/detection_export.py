"""torchvision's detection models (SSDlite320 and Faster R-CNN MobileNetV3-Large 320 FPN) exported
to ONNX with PyTorch's outputs, for tests/models/test_detection_models.py and tools/bench_detection.py.

    cached_export(name) -> (onnx path, npz path)        # exports in a child Python when not cached
    load(npz) -> (feeds, {"boxes", "scores", "labels"})

torchvision itself must be importable in the child Python: either a torchvision that matches the
installed torch, or a torchvision wheel unpacked with `pip install --no-deps --target DIR` and
named by $PYINFER_TORCHVISION_PATH (or the `torchvision_path` argument). PyPI's torchvision 0.28 is
a CUDA build whose C++ ops (torchvision._C) do not load beside a CPU torch 2.13; for that case
`import_torchvision` defines the ops these two models call (`torchvision::nms`,
`torchvision::roi_align`, and `torchvision::qnms`, whose fake torchvision registers at import)
with torch.library: a CPU kernel in plain torch and a fake kernel each, so the models run and
the TorchScript exporter reaches torchvision's ONNX symbolics (NonMaxSuppression, RoiAlign).
The export runs in a child Python so that the test process never imports torchvision (other
tests take "torchvision importable" to mean a matching install).

Random init (fixed seed), BatchNorm affine parameters randomized and statistics calibrated on the
image, the classification logits spread to a standard deviation of 2 (`_spread`), eval mode,
torchvision's own thresholds: on the image SSDlite sends 90 classes x 300 candidates (27,000 boxes)
into NonMaxSuppression, Faster R-CNN 450 proposals and then ~5,000 class boxes. One image,
IMAGE x IMAGE, soft random rectangles on noise.
The cache lives outside the checkout: $PYINFER_TEST_CACHE/detection, else
~/.cache/pyinfer/detection, keyed by this module's source and the torch version.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import warnings

import numpy as np

MODELS = ("ssdlite320_mobilenet_v3_large", "fasterrcnn_mobilenet_v3_large_320_fpn")
IMAGE = 320
OPSET = 17
LOGIT_STD = 2.0  # the classification logits' spread after build() (see _spread)
UNAVAILABLE = 3  # the child's exit status when torchvision cannot be imported


class TorchvisionUnavailable(RuntimeError):
    pass


def cache_root(base: str | None = None) -> str:
    base = base or os.environ.get("PYINFER_TEST_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "pyinfer")
    return os.path.join(base, "detection")


def _key() -> str:
    import importlib.metadata

    digest = hashlib.sha256(importlib.metadata.version("torch").encode())
    with open(os.path.abspath(__file__), "rb") as f:
        digest.update(f.read())
    return digest.hexdigest()[:12]


def paths(name: str, base: str | None = None) -> tuple[str, str]:
    stem = os.path.join(cache_root(base), _key(), name)
    return stem + ".onnx", stem + ".npz"


def cached_export(name: str, base: str | None = None, torchvision_path: str | None = None) -> tuple[str, str]:
    """(onnx, npz) of model `name`, exported in a child Python when not cached; raises
    TorchvisionUnavailable (with the child's reason) when torchvision cannot be imported there."""
    if name not in MODELS:
        raise ValueError(f"unknown detection model {name!r}; choose from {MODELS}")
    onnx_path, npz_path = paths(name, base)
    if os.path.exists(onnx_path):
        return onnx_path, npz_path
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # the unpacked torchvision last: a torchvision installed beside torch comes first
    unpacked = torchvision_path or os.environ.get("PYINFER_TORCHVISION_PATH")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tests_dir] + [p for p in sys.path if p] +
                                                       ([unpacked] if unpacked else []))}
    proc = subprocess.run([sys.executable, "-m", "support.detection_export", name, os.path.dirname(onnx_path)],
                          env=env, cwd="/", capture_output=True, text=True)
    if proc.returncode == UNAVAILABLE:
        raise TorchvisionUnavailable(proc.stderr.strip().splitlines()[-1])
    if proc.returncode != 0:
        raise RuntimeError(f"exporting {name} failed:\n{proc.stderr[-4000:]}")
    return onnx_path, npz_path


def load(npz: str) -> tuple[dict, dict]:
    """(feeds, PyTorch's outputs: boxes (N, 4), scores (N,), labels (N,) int64) of an export's .npz."""
    with np.load(npz) as z:
        return {"images": z["images"]}, {k: z[k] for k in ("boxes", "scores", "labels")}


# ---- in the child Python -------------------------------------------------------------------------

def _nms(dets, scores, iou_threshold: float):
    """torchvision's CPU nms: boxes in score order (stable, descending), a box dropped when its
    IoU with a kept one exceeds the threshold; returns the kept indices."""
    import torch

    order = torch.sort(scores, stable=True, descending=True).indices
    boxes = dets[order]
    x1, y1, x2, y2 = boxes.unbind(1)
    area = (x2 - x1) * (y2 - y1)
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        w = (torch.minimum(x2[i], x2[i + 1:]) - torch.maximum(x1[i], x1[i + 1:])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[i + 1:]) - torch.maximum(y1[i], y1[i + 1:])).clamp(min=0)
        inter = w * h
        suppressed[i + 1:] |= inter / (area[i] + area[i + 1:] - inter) > iou_threshold
    return order[torch.tensor(keep, dtype=torch.long)]


_LIBRARY = None  # the torch.library.Library that holds the definitions: kept alive with the process


def _define_ops() -> None:
    import torch

    global _LIBRARY
    _LIBRARY = lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
               "SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor")
    lib.impl("nms", _nms, "CPU")

    def roi_align(input, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned):
        module = sys.modules["torchvision.ops.roi_align"]  # (torchvision.ops.roi_align is the function)

        # torchvision's own plain-torch version, without its torch.compile wrapper (compiling takes
        # seconds and gives the same numbers)
        fn = getattr(module._roi_align, "__wrapped__", module._roi_align)
        return fn(input, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned)

    def roi_align_fake(input, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned):
        return input.new_empty((rois.shape[0], input.shape[1], pooled_height, pooled_width))

    lib.impl("roi_align", roi_align, "CPU")
    torch.library.register_fake("torchvision::roi_align", roi_align_fake, lib=lib)
    # nms's and qnms's fakes are torchvision's own (_meta_registrations registers them at import)


def _has_ops() -> bool:
    return True


def import_torchvision():
    """torchvision, with its ops defined in Python when its C++ ops cannot load (see the module doc).
    cached_export's child finds an unpacked torchvision on its PYTHONPATH."""
    try:
        import torchvision

        if torchvision.extension._has_ops():
            return torchvision
    except ModuleNotFoundError:
        raise
    except Exception:  # a torchvision whose _C does not load fails at import (its fakes need the ops)
        for mod in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[mod]
    _define_ops()
    import torchvision  # noqa: F811

    # what _assert_has_ops reads: the definitions above stand in (a def, not a lambda: batched_nms
    # is scripted when traced, and TorchScript compiles this too)
    torchvision.extension._has_ops = _has_ops
    sys.modules["torchvision.ops.roi_align"]._has_ops = _has_ops  # else roi_align traces its Python form
    return torchvision


def build(name: str, seed: int = 0):
    import torch

    from .torch_models import randomize_batchnorm

    torchvision = import_torchvision()
    torch.manual_seed(seed)
    model = getattr(torchvision.models.detection, name)(weights=None, weights_backbone=None)
    randomize_batchnorm(model, torch.Generator().manual_seed(seed + 1))
    model.eval()
    x = torch.from_numpy(image(seed))
    _calibrate_batchnorm(model, x)
    if name.startswith("ssdlite"):
        layers = [[m[1] for m in model.head.classification_head.module_list]]
    else:
        # the RPN's objectness first: the box head's calibration sees the proposals it picks
        layers = [[model.rpn.head.cls_logits], [model.roi_heads.box_predictor.cls_score]]
    for group in layers:
        _spread(model, group, x)
    return model


def _calibrate_batchnorm(model, x) -> None:
    """Every BatchNorm's running statistics set to those of its input on image x (its affine
    parameters stay random). Random statistics around random convolutions shrink the signal layer
    by layer until the per-channel offsets are all that is left: features the same at every
    position, and scores tied across anchors. A map of one position takes the spread of all its
    channels."""
    import torch

    def calibrate(bn, inputs):
        (t,) = inputs
        dims = [d for d in range(t.dim()) if d != 1]
        if t.numel() // t.shape[1] > 1:
            bn.running_mean.copy_(t.mean(dims))
            bn.running_var.copy_(t.var(dims))
        else:
            bn.running_mean.zero_()
            bn.running_var.fill_(float(t.pow(2).mean()))

    hooks = [m.register_forward_pre_hook(calibrate) for m in model.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        model([x[0]])
    for h in hooks:
        h.remove()


def _spread(model, layers, x, std: float = LOGIT_STD) -> None:
    """Scale each layer's weight and bias so that its outputs (logits) have standard deviation
    `std` on image x: random heads (torchvision draws them with std 0.01-0.03) give logits near zero,
    every score the same and the order of NonMaxSuppression's candidates a matter of rounding."""
    import torch

    seen = {}
    hooks = [m.register_forward_hook(lambda m, i, o: seen.setdefault(m, [])
                                     .append(o.detach().flatten())) for m in layers]
    with torch.no_grad():
        model([x[0]])
        for h in hooks:
            h.remove()
        for m in layers:
            k = std / float(torch.cat(seen[m]).std())
            m.weight.mul_(k)
            m.bias.mul_(k)


def image(seed: int = 0):
    """A (1, 3, IMAGE, IMAGE) image in [0, 1]: a few dozen soft rectangles on low noise."""
    rng = np.random.default_rng(seed)
    img = rng.uniform(0.0, 0.15, (3, IMAGE, IMAGE)).astype(np.float32)
    yy, xx = np.mgrid[0:IMAGE, 0:IMAGE]
    for _ in range(40):
        cx, cy = rng.uniform(0, IMAGE, 2)
        hw, hh = rng.uniform(8, 80, 2)
        mask = np.exp(-(np.maximum(np.abs(xx - cx) / hw, np.abs(yy - cy) / hh) ** 8))
        img += mask[None] * rng.uniform(-0.5, 0.8, (3, 1, 1)).astype(np.float32)
    return np.clip(img, 0.0, 1.0)[None].astype(np.float32)


class _Wrapped:
    """The detection model as export wants it: images (1, 3, H, W) -> boxes, scores, labels."""

    def __new__(cls, model):
        import torch

        class Wrapped(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, images):
                (out,) = self.model(list(images))
                return out["boxes"], out["scores"], out["labels"]

        return Wrapped().eval()


def export(name: str, out_dir: str, seed: int = 0) -> tuple[str, str]:
    import torch

    os.makedirs(out_dir, exist_ok=True)
    model = _Wrapped(build(name, seed))
    x = torch.from_numpy(image(seed))
    onnx_path, npz_path = os.path.join(out_dir, name + ".onnx"), os.path.join(out_dir, name + ".npz")
    with torch.no_grad():
        boxes, scores, labels = model(x)
    tmp = f"{onnx_path}.{os.getpid()}.tmp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), tmp, dynamo=False, opset_version=OPSET, input_names=["images"],
                          output_names=["boxes", "scores", "labels"], do_constant_folding=True)
    np.savez(npz_path, images=x.numpy(), boxes=boxes.numpy(), scores=scores.numpy(), labels=labels.numpy())
    os.replace(tmp, onnx_path)  # the .onnx appears last: its presence means the pair is complete
    return onnx_path, npz_path


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    name, out_dir = argv
    try:
        import_torchvision()
    except Exception as e:  # noqa: BLE001 - any failure to import means: no torchvision here
        print(f"torchvision cannot be imported ({type(e).__name__}: {e}); set PYINFER_TORCHVISION_PATH to a "
              "torchvision unpacked with pip install --no-deps --target", file=sys.stderr)
        return UNAVAILABLE
    export(name, out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


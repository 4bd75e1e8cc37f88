"""torchvision's architectures (support/torchvision_models.py) exported to ONNX with PyTorch's outputs.

    cached_export(name, exporter, size) -> (onnx path, npz path)

Random init (fixed seed), BatchNorm statistics and ConvNeXt layer scales randomized, batch 1, a
static size x size input (segmentation models too; a video model's is a clip of
torchvision_models.FRAMES frames), legacy (TorchScript, opset 17) or dynamo export. The .npz
holds "b1.in.input" and "b1.out.output" as support/model_export.py writes them.
The cache lives outside the checkout: $PYINFER_TEST_CACHE/torchvision, else
~/.cache/pyinfer/torchvision, keyed by these two modules and the torch version.
"""
from __future__ import annotations

import hashlib
import os

import numpy as np
import torch

from . import model_export, torch_models, torchvision_models, yolov8

EXPORTERS = ("legacy", "dynamo")


class _Spec:
    input_names, output_names, dynamic_axes = ["input"], ["output"], {}


def cache_root(base: str | None = None) -> str:
    base = base or os.environ.get("PYINFER_TEST_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "pyinfer")
    return os.path.join(base, "torchvision")


def _key(prefer_torchvision: bool) -> str:
    digest = hashlib.sha256(torch.__version__.encode() + (b"tv" if prefer_torchvision else b""))
    for source in (__file__, torchvision_models.__file__, torch_models.__file__, model_export.__file__,
                   yolov8.__file__):
        with open(os.path.abspath(source), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:12]


def export(name: str, exporter: str, size: int, out_dir: str, seed: int = 0,
           prefer_torchvision: bool = False) -> tuple[str, str]:
    if exporter not in EXPORTERS:
        raise ValueError(f"unknown exporter {exporter!r}; choose from {EXPORTERS}")
    os.makedirs(out_dir, exist_ok=True)
    model = torchvision_models.random_model(name, seed, prefer_torchvision)
    shape = torchvision_models.input_shape(name, size)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed + 7))
    stem = os.path.join(out_dir, f"{name}.s{size}.{exporter}")
    tmp = f"{stem}.{os.getpid()}.tmp.onnx"
    model_export._export_onnx(model, _Spec, (x,), tmp, exporter, model_export.LEGACY_OPSET)
    with torch.no_grad():
        y = model(x)
    np.savez(stem + ".npz", **{"b1.in.input": x.numpy(), "b1.out.output": y.numpy()})
    os.replace(tmp, stem + ".onnx")  # the .onnx appears last: its presence means the pair is complete
    return stem + ".onnx", stem + ".npz"


def cached_export(name: str, exporter: str, size: int = 224, base: str | None = None,
                  prefer_torchvision: bool = False) -> tuple[str, str]:
    out = os.path.join(cache_root(base), _key(prefer_torchvision))
    stem = os.path.join(out, f"{name}.s{size}.{exporter}")
    if not os.path.exists(stem + ".onnx"):
        return export(name, exporter, size, out, prefer_torchvision=prefer_torchvision)
    return stem + ".onnx", stem + ".npz"


def load(npz: str) -> tuple[dict, list]:
    """(feeds, reference outputs) of an export's .npz."""
    with np.load(npz) as z:
        return {"input": z["b1.in.input"]}, [z["b1.out.output"]]

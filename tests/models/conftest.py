"""Where the exported PyTorch models come from.

Small models exported with the legacy exporter are committed under fixtures/. Everything else is
exported on demand by tools/export_models.py into a cache directory ($PYINFER_TEST_CACHE, default
<repo>/cache/models, which git ignores), keyed by a hash of the export script and the torch
version so a changed script or torch never serves stale files. Without torch (or without onnxscript
for the dynamo exporter) those cases are skipped with the reason.
"""
from __future__ import annotations

import functools
import importlib.util
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(HERE, "fixtures")
EXPORT_SCRIPT = os.path.join(ROOT, "tools", "export_models.py")


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@functools.lru_cache(maxsize=None)
def _export_tool():
    spec = importlib.util.spec_from_file_location("export_models", EXPORT_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def model_files(name: str, exporter: str) -> tuple[str, str]:
    """(onnx path, npz path) for `name` exported by `exporter`; pytest.skip if it cannot be made."""
    base = f"{name}.{exporter}"
    committed = os.path.join(FIXTURES, base + ".onnx")
    if os.path.exists(committed):
        return committed, os.path.join(FIXTURES, base + ".npz")
    if not _have("torch"):
        pytest.skip(f"{base}: not committed and torch is not installed to export it")
    if exporter == "dynamo" and not _have("onnxscript"):
        pytest.skip(f"{base}: the dynamo exporter needs the onnxscript package")
    return _export_tool().cached_export(name, exporter)


def load_cases(npz_path: str) -> dict[str, tuple[dict, dict]]:
    """case -> (inputs by name, PyTorch's outputs by name), from keys "<case>.in|out.<name>"."""
    import numpy as np

    cases: dict[str, tuple[dict, dict]] = {}
    with np.load(npz_path) as data:
        for key in data.files:
            case, kind, name = key.split(".", 2)
            ins, outs = cases.setdefault(case, ({}, {}))
            (ins if kind == "in" else outs)[name] = data[key]
    return cases


@pytest.fixture(scope="session")
def exported():
    """exported(name, exporter) -> (onnx path, cases); skips when the model cannot be had."""
    def get(name: str, exporter: str):
        onnx_path, npz_path = model_files(name, exporter)
        return onnx_path, load_cases(npz_path)
    return get

"""Where the exported PyTorch models come from.

Small models exported with the legacy exporter are committed under fixtures/. Everything else is
exported on demand by support/model_export.py into a cache directory ($PYINFER_TEST_CACHE,
default <repo>/cache/models, which git ignores), keyed by a hash of the export code, the
architectures and the torch version so a change to any of them never serves stale files. Without
torch (or without onnxscript for the dynamo exporter) those cases are skipped with the reason.
"""
from __future__ import annotations

import importlib.util
import os

import pytest

from support.reference_cases import load_cases

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


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
    from support.model_export import cached_export  # imports torch

    return cached_export(name, exporter)


@pytest.fixture(scope="session")
def exported():
    """exported(name, exporter) -> (onnx path, cases); skips when the model cannot be had."""
    def get(name: str, exporter: str):
        onnx_path, npz_path = model_files(name, exporter)
        return onnx_path, load_cases(npz_path)
    return get

"""ONNX's own conformance suite (onnx.backend.test) driving pyinfer.backend.

Node cases are built in memory from onnx.backend.test.case.node (the wheel ships no node
data); the light_* models and the pytorch-converted, pytorch-operator and simple folders
come with the onnx package. Exclusions live in onnx_backend_exclusions.txt, one regex per
line with its reason; the minimum pass count in onnx_backend_min_pass.txt may only rise
(checked in conftest.py when the whole suite runs).
"""
import unittest

import onnx.backend.test

import pyinfer.backend
from support.onnx_backend import load_exclusions

runner = onnx.backend.test.BackendTest(pyinfer.backend.PyinferBackend, __name__)
for pattern, reason in load_exclusions():
    if not reason:
        raise ValueError(f"exclusion {pattern!r} has no reason")
    runner.exclude(pattern)

globals().update(runner.test_cases)

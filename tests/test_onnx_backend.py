"""ONNX's own conformance suite (onnx.backend.test) driving pyinfer.backend.

Node cases are built in memory from onnx.backend.test.case.node (the wheel ships no node
data); the light_* models and the pytorch-converted, pytorch-operator and simple folders
come with the onnx package. Exclusions live in onnx_backend_exclusions.txt, one regex per
line with its reason; the minimum pass count in onnx_backend_min_pass.txt may only rise
(checked in conftest.py when the whole suite runs).
"""
import os
import unittest

import onnx.backend.test

import pyinfer.backend

HERE = os.path.dirname(os.path.abspath(__file__))


def load_exclusions(path=os.path.join(HERE, "onnx_backend_exclusions.txt")):
    """[(pattern, reason)] from lines 'PATTERN  # reason'; '##' lines are group headers."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            pattern, _, reason = line.partition("#")
            out.append((pattern.strip(), reason.strip()))
    return out


runner = onnx.backend.test.BackendTest(pyinfer.backend.PyinferBackend, __name__)
for pattern, reason in load_exclusions():
    if not reason:
        raise ValueError(f"exclusion {pattern!r} has no reason")
    runner.exclude(pattern)

globals().update(runner.test_cases)

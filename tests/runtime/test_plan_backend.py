"""ONNX's backend suite again, through compiled plans.

Each case runs three times on one session: the first run takes the Python path (and records
shapes), the second compiles the plan, the third runs it. The runner checks the third run's
outputs against ONNX's expected outputs, and this backend checks them against the first run's.
Same exclusions as tests/test_onnx_backend.py.
"""
import unittest

import numpy as np
import onnx.backend.test

import pyinfer
import pyinfer.backend
from support.onnx_backend import load_exclusions


def _same(a, b):
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, a.shape, b.dtype, b.shape)
        if a.dtype.kind in "fc":
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)
        elif a.dtype.kind in "iubUSO":
            np.testing.assert_array_equal(a, b)
        else:  # float8 / bfloat16 & co. (ml_dtypes): the same bytes (NaN included)
            assert a.tobytes() == b.tobytes()
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)


class PlanRep(pyinfer.backend.PyinferRep):
    def run(self, inputs, **kwargs):
        first = super().run(inputs)
        super().run(inputs)
        third = super().run(inputs)
        assert len(first) == len(third)
        for a, b in zip(first, third):
            _same(a, b)
        return third


class PlanBackend(pyinfer.backend.PyinferBackend):
    @classmethod
    def prepare(cls, model, device="CPU", **kwargs):
        return PlanRep(pyinfer.InferenceSession(model, num_threads=kwargs.get("num_threads"), executor="plan"))

    @classmethod
    def run_node(cls, node, inputs, device="CPU", outputs_info=None, **kwargs):
        raise unittest.SkipTest("node-level runs are covered by test_onnx_backend.py")


runner = onnx.backend.test.BackendTest(PlanBackend, __name__)
for pattern, _reason in load_exclusions():
    runner.exclude(pattern)
runner.exclude("cuda")

globals().update(runner.test_cases)

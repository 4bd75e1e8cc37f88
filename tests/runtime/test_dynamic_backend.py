"""ONNX's backend suite again, through dynamic plans (dynamic_plan.py).

Each case runs on one session: the first run takes the Python path and records the shapes, then
the same inputs run on the shape class's dynamic plan built from that example. The runner checks
the dynamic plan's outputs against ONNX's expected outputs, and this backend checks them against
the Python path's. Cases whose graph no dynamic plan serves (sequences, optionals, subgraphs
reading the enclosing scope) keep the Python path's outputs. Same exclusions as
tests/test_onnx_backend.py.
"""
import onnx.backend.test

import pyinfer
import pyinfer.backend
from support.onnx_backend import load_exclusions
from test_plan_backend import PlanBackend, _same


class DynamicRep(pyinfer.backend.PyinferRep):
    def run(self, inputs, **kwargs):
        first = super().run(inputs)
        names = [a.name for a in self.session.get_inputs()]
        feeds = dict(inputs) if isinstance(inputs, dict) else dict(zip(names, inputs))
        values = self.session._executor.run_dynamic_plan(feeds)
        if values is None:
            return first
        out = tuple(values[o.name] for o in self.session.get_outputs())
        for a, b in zip(first, out):
            _same(a, b)
        return out


class DynamicBackend(PlanBackend):
    @classmethod
    def prepare(cls, model, device="CPU", **kwargs):
        return DynamicRep(pyinfer.InferenceSession(model, num_threads=kwargs.get("num_threads"), executor="plan"))


runner = onnx.backend.test.BackendTest(DynamicBackend, __name__)
for pattern, _reason in load_exclusions():
    runner.exclude(pattern)
runner.exclude("cuda")

globals().update(runner.test_cases)

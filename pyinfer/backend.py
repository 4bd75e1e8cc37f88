"""pyinfer as an ONNX backend (onnx.backend.base.Backend), so onnx's BackendTest runner drives it."""
from __future__ import annotations

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from .session import InferenceSession


class PyinferRep(BackendRep):
    def __init__(self, session: InferenceSession):
        self.session = session

    def run(self, inputs, **kwargs):
        if isinstance(inputs, dict):
            feeds = dict(inputs)
        else:
            if isinstance(inputs, np.ndarray):
                inputs = [inputs]
            names = [a.name for a in self.session.get_inputs()]
            feeds = dict(zip(names, inputs))
        return tuple(self.session.run(None, feeds))


class PyinferBackend(Backend):
    @classmethod
    def is_compatible(cls, model, device: str = "CPU", **kwargs) -> bool:
        return cls.supports_device(device)

    @classmethod
    def prepare(cls, model, device: str = "CPU", **kwargs) -> PyinferRep:
        if not cls.supports_device(device):
            raise ValueError(f"pyinfer runs on CPU only, not {device!r}")
        return PyinferRep(InferenceSession(model, num_threads=kwargs.get("num_threads")))

    @classmethod
    def run_model(cls, model, inputs, device: str = "CPU", **kwargs):
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs, device: str = "CPU", outputs_info=None, **kwargs):
        opset = kwargs.get("opset_version", onnx.defs.onnx_opset_version())
        arrays = [np.asarray(x) for x in inputs]
        graph_inputs = [
            onnx.helper.make_tensor_value_info(name, onnx.helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
            for name, a in zip(node.input, arrays) if name
        ]
        graph_outputs = [onnx.helper.make_empty_tensor_value_info(name) for name in node.output if name]
        graph = onnx.helper.make_graph([node], "run_node", graph_inputs, graph_outputs)
        model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid(node.domain, opset)])
        feeds = {name: a for name, a in zip(node.input, arrays) if name}
        return tuple(InferenceSession(model).run(None, feeds))

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device.upper().startswith("CPU")


prepare = PyinferBackend.prepare
run_model = PyinferBackend.run_model
run_node = PyinferBackend.run_node
supports_device = PyinferBackend.supports_device

"""The base class of every operator implementation.

An Op is created once per node when the session is built (parse and check attributes,
prepare constants) and then run() on every inference (lower() says how it runs natively
inside compiled plans instead):

    @register("LeakyRelu", 6, 16)
    class LeakyRelu(Op):
        def setup(self):
            self.alpha = self.attr("alpha", 0.01)

        def run(self, x):
            return (kernels.leaky_relu(x, self.alpha, num_threads=self.num_threads),)

run() receives one argument per node input (None for an omitted optional input) and
returns a tuple with one array per output (extra trailing outputs the node does not use
are ignored). Raise InvalidModelError from setup() for bad attributes, and
NodeExecutionError / KernelArgumentError from run() for inputs that cannot work.

An op with subgraphs builds their runners with self.ctx.subgraph(graph); if they read values
of the enclosing graph, it sets `uses_outer_scope` and overrides run_scoped().
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import InvalidModelError, NodeExecutionError

_REQUIRED = object()


@dataclass
class OpContext:
    """What an op may know about its surroundings when it is set up."""

    num_threads: int = 0  # 0 = kernel default
    opset: dict = field(default_factory=dict)  # domain -> opset version
    constants: dict = field(default_factory=dict)  # value name -> ndarray (initializers)
    # Largest single tensor an op may allocate from sizes found in the model or the feeds
    # (None = the default of pyinfer.limits). Turns allocation bombs into clear errors.
    max_memory_bytes: int | None = None
    # Builds the runner of a subgraph from (graph, this context). The executor puts its own
    # constructor here (as onnx.reference's evaluator hands its class to the ops), so that ops
    # run If / Loop / Scan bodies without importing the executor, which imports them.
    subgraph_factory: Callable | None = None

    def subgraph(self, graph: onnx.GraphProto):
        """A runner of `graph` with this context's opset, thread count and memory limit.

        It offers `output_names` and `run(feeds, outer_env=env) -> list of outputs`; the graph
        may read values of the enclosing graphs by name from `outer_env`.
        """
        if self.subgraph_factory is None:
            raise InvalidModelError("this context cannot run subgraphs (no subgraph_factory)")
        return self.subgraph_factory(graph, self)


def attribute_value(attr: onnx.AttributeProto):
    value = helper.get_attribute_value(attr)
    if attr.type == onnx.AttributeProto.STRING:
        return value.decode("utf-8")
    if attr.type == onnx.AttributeProto.STRINGS:
        return [v.decode("utf-8") for v in value]
    if attr.type == onnx.AttributeProto.TENSOR:
        return numpy_helper.to_array(value)
    if attr.type == onnx.AttributeProto.TENSORS:
        return [numpy_helper.to_array(v) for v in value]
    return value


class Op:
    uses_outer_scope = False  # control-flow ops whose subgraphs read the enclosing graph's values
    empty_inputs_ok = False  # lower() is asked even when an input is empty (Resize's roi = [])
    # lower() and its kernel take empty inputs and outputs (a detector's empty selections), so a
    # plan runs the node natively whatever is empty; each op that says so is checked against
    # onnxruntime on empty tensors in tests/runtime/test_plan_empty.py
    empty_tensors_ok = False

    def __init__(self, node: onnx.NodeProto, version: int, ctx: OpContext):
        self.node = node
        self.op_type = node.op_type
        self.name = node.name or f"<unnamed {node.op_type}>"
        self.version = version
        self.ctx = ctx
        self.num_threads = ctx.num_threads
        self.attrs = {a.name: attribute_value(a) for a in node.attribute}
        self.setup()

    # --- to override -------------------------------------------------------------------
    def setup(self) -> None:
        """Parse and check attributes; precompute what does not depend on the inputs."""

    def run(self, *inputs):
        raise NotImplementedError

    def lower(self, node):
        """How this op runs natively in a compiled plan, for the shapes and dtypes of one plan
        (`node`: a pyinfer.lowering.Lowering): a lowering.Native (a prepared kernel from
        pyinfer.kernels), Alias, Concat or Permute, or None to stay a Python step (the
        default). See pyinfer/lowering.py."""
        return None

    def run_scoped(self, env: dict, *inputs):
        """run() with the values visible where the node runs: what the executor calls instead
        of run() when the op sets `uses_outer_scope`.

        env maps value names to values (the enclosing graphs' included), for subgraphs that read
        outer-scope values by name (If / Loop / Scan bodies, FlexAttention's modifiers). The
        inputs and the returned tuple are those of run().
        """
        return self.run(*inputs)

    # --- a constant input packed at setup (Conv, Gemm, MatMul set _packed / _packed_source) ---
    def packed_constant(self):
        """The constant input array this op holds a packed copy of, or None. The executor
        replaces it by a zero-memory placeholder when nothing else reads it."""
        return getattr(self, "_packed_source", None) if getattr(self, "_packed", None) is not None else None

    def replace_packed_constant(self, placeholder) -> None:
        """The executor dropped the packed constant for `placeholder`: run() recognises its
        constant input by identity, so it must now look for the placeholder."""
        self._packed_source = placeholder

    # --- helpers -----------------------------------------------------------------------
    def attr(self, name: str, default=_REQUIRED):
        if name in self.attrs:
            return self.attrs[name]
        if default is _REQUIRED:
            raise self.model_error(f"required attribute {name!r} is missing")
        return default

    def const_input(self, index: int):
        """The value of input `index` if it is a constant initializer, else None."""
        if index >= len(self.node.input) or not self.node.input[index]:
            return None
        return self.ctx.constants.get(self.node.input[index])

    def model_error(self, message: str) -> InvalidModelError:
        return InvalidModelError(f"{self.op_type} node {self.name!r}: {message}")

    def run_error(self, message: str) -> NodeExecutionError:
        return NodeExecutionError(f"{self.op_type} node {self.name!r}: {message}")


def normalize_axis(axis: int, rank: int, op: Op) -> int:
    """Map a possibly negative axis into [0, rank); raise a clear error if out of range."""
    if not -rank <= axis < max(rank, 1):
        raise op.run_error(f"axis {axis} is out of range for a rank-{rank} input")
    return axis + rank if axis < 0 else axis


def is_float32(x) -> bool:
    return isinstance(x, np.ndarray) and x.dtype == np.float32

"""Runs a checked, topologically ordered graph: one Op per node, values freed after last use."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from . import ops as _ops  # noqa: F401  (registers every op implementation)
from .errors import Error, InvalidModelError, KernelArgumentError, NodeExecutionError
from .graph import node_reads, topological_order
from .ops.base import OpContext
from .registry import lookup


def opset_map(model_or_imports) -> dict[str, int]:
    imports = model_or_imports.opset_import if hasattr(model_or_imports, "opset_import") else model_or_imports
    out = {}
    for imp in imports:
        out["" if imp.domain == "ai.onnx" else imp.domain] = imp.version
    if "" not in out:
        out[""] = 1  # very old models without an explicit default-domain import
    return out


def initializer_arrays(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    consts = {}
    for t in graph.initializer:
        try:
            consts[t.name] = numpy_helper.to_array(t)
        except Exception as e:
            raise InvalidModelError(f"initializer {t.name!r} cannot be read: {e}") from e
    for st in graph.sparse_initializer:
        dense = numpy_helper.to_array(st.values)
        idx = numpy_helper.to_array(st.indices)
        full = np.zeros(tuple(st.dims), dtype=dense.dtype)
        if idx.ndim == 1:
            full.reshape(-1)[idx] = dense
        else:
            full[tuple(idx.T)] = dense
        consts[st.values.name] = full
    return consts


class GraphExecutor:
    """A graph prepared for repeated runs.

    outer_scope names values a subgraph (If/Loop/Scan body) may read from its parent.
    """

    def __init__(self, graph: onnx.GraphProto, opset: dict[str, int], num_threads: int = 0,
                 outer_scope: frozenset = frozenset(), max_memory_bytes: int | None = None):
        self.graph = graph
        self.constants = initializer_arrays(graph)
        nodes = topological_order(graph, set(outer_scope))
        ctx = OpContext(num_threads=num_threads, opset=opset, constants=self.constants,
                        max_memory_bytes=max_memory_bytes)
        self.steps = []
        self._reads = []  # per step: every name it reads, subgraph outer-scope reads included
        for node in nodes:
            domain = "" if node.domain == "ai.onnx" else node.domain
            if domain not in opset:
                raise InvalidModelError(
                    f"node {node.name or node.op_type!r} uses domain {domain!r}, which the model does not import"
                )
            cls, version = lookup(node.op_type, domain, opset[domain], node.name)
            op = cls(node, version, ctx)
            self.steps.append((op, list(node.input), list(node.output)))
            self._reads.append(node_reads(node))
        self.output_names = [o.name for o in graph.output]
        self._plan_lifetimes()

    def _plan_lifetimes(self):
        # After step i, drop the values whose last reader is step i (unless they are outputs).
        last_use = {}
        for i, reads in enumerate(self._reads):
            for name in reads:
                last_use[name] = i
        keep = set(self.output_names)
        self.release_after = [[] for _ in self.steps]
        for name, i in last_use.items():
            if name not in keep:
                self.release_after[i].append(name)

    def run(self, feeds: dict, outer_env: dict | None = None, output_names=None) -> list:
        env = dict(outer_env) if outer_env else {}
        env.update(self.constants)
        env.update(feeds)
        for (op, inputs, outputs), release in zip(self.steps, self.release_after):
            args = [env[n] if n else None for n in inputs]
            try:
                results = op.run_scoped(env, *args) if op.uses_outer_scope else op.run(*args)
            except KernelArgumentError as e:  # name the node the kernel was called for
                raise KernelArgumentError(f"{op.op_type} node {op.name!r}: {e}") from e
            except Error:
                raise
            except Exception as e:  # numpy / Python errors inside an op: name the node
                raise NodeExecutionError(f"{op.op_type} node {op.name!r} failed: {type(e).__name__}: {e}") from e
            if len(results) < len([o for o in outputs if o]):
                raise NodeExecutionError(
                    f"{op.op_type} node {op.name!r} produced {len(results)} outputs, the node declares {len(outputs)}"
                )
            for name, value in zip(outputs, results):
                if name:
                    env[name] = value if value is None or isinstance(value, (np.ndarray, list)) else np.asarray(value)
            for name in release:
                env.pop(name, None)
        names = output_names if output_names is not None else self.output_names
        return [env[n] for n in names]

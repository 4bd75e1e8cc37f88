"""Runs a checked, topologically ordered graph: one Op per node, values freed after last use.

Two ways to run (docs/RUNTIME.md):
  mode="python"  the reference loop below: op.run per node, intermediates in a dict.
  mode="plan"    compiled plans, of two kinds:
                 - static (plan.py): for one input-shape signature (every feed's shape and dtype):
                   native steps in a Cython loop, one arena planned ahead. Cached per signature
                   (LRU, PLAN_CACHE_SIZE).
                 - dynamic (dynamic_plan.py): for a shape class (every feed's rank and dtype):
                   shapes resolved as it runs, kernels reshaped, an arena that grows to fit.

  The first call of a shape class takes the Python path and records every value's shape. A
  second call with the same signature compiles a static plan for it (the common case of a
  model called with one shape: a static plan can also write a Concat's inputs in place); a
  call with another signature of the class compiles the class's dynamic plan from the recorded
  example, and every other signature of the class runs on it. So a class holds at most one
  static plan and one dynamic plan, and memory follows the largest call, not the number of
  shapes seen (dynamic plans are as fast as static ones elsewhere: tools/bench_dynamic.py).
  A static plan whose data-dependent shapes (NonZero, NonMaxSuppression) change hands its
  signature to the dynamic plan as well.
"""
from __future__ import annotations

import functools
import threading
from collections import OrderedDict

import numpy as np
import onnx

from . import ops as _ops  # noqa: F401  (registers every op implementation)
from .errors import Error, InvalidModelError, KernelArgumentError, NodeExecutionError, ResourceLimitError
from .graph import free_names, initializer_arrays, node_reads, topological_order
from .ops.base import OpContext
from .registry import lookup


PLAN_CACHE_SIZE = 8
MODES = ("plan", "python")


def call_op(op, args: list, n_outputs: int, env: dict | None = None):
    """op.run(*args) with errors naming the node; checks the number of outputs. env: the values
    a control-flow op's subgraphs may read (run_scoped)."""
    try:
        results = op.run_scoped(env, *args) if op.uses_outer_scope else op.run(*args)
    except KernelArgumentError as e:  # name the node the kernel was called for
        raise KernelArgumentError(f"{op.op_type} node {op.name!r}: {e}") from e
    except Error:
        raise
    except MemoryError as e:
        raise ResourceLimitError(f"{op.op_type} node {op.name!r}: out of memory ({e})") from e
    except Exception as e:  # numpy / Python errors inside an op: name the node
        raise NodeExecutionError(f"{op.op_type} node {op.name!r} failed: {type(e).__name__}: {e}") from e
    if len(results) < n_outputs:
        raise NodeExecutionError(
            f"{op.op_type} node {op.name!r} produced {len(results)} outputs, the node declares {n_outputs}"
        )
    return results


def _placeholder(a: np.ndarray) -> np.ndarray:
    """An array with a's shape and dtype that takes no memory (all elements alias one zero)."""
    ph = np.lib.stride_tricks.as_strided(np.zeros(1, dtype=a.dtype), shape=a.shape, strides=(0,) * a.ndim)
    ph.flags.writeable = False
    return ph


class GraphExecutor:
    """A graph prepared for repeated runs.

    outer_scope names values a subgraph (If/Loop/Scan body) may read from its parent.
    mode: "python" (op.run per node) or "plan" (compiled plans per input-shape signature).
    """

    def __init__(self, graph: onnx.GraphProto, opset: dict[str, int], num_threads: int = 0,
                 outer_scope: frozenset = frozenset(), max_memory_bytes: int | None = None,
                 mode: str = "python", weights: dict | None = None, outer_constants: dict | None = None):
        """weights: arrays of the initializers that graph holds as stubs; the executor takes the
        dict over (packed weights replace their entries in it). outer_constants: initializers of
        the enclosing graphs this subgraph reads, constants here too (its ops pack them at setup,
        its plans bind them once); the other outer-scope values come with each run."""
        if mode not in MODES:
            raise ValueError(f"executor mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.num_threads = num_threads
        self.max_memory_bytes = max_memory_bytes  # per tensor (limits.py); None: the default
        self.constants = initializer_arrays(graph, weights)
        for name, value in (outer_constants or {}).items():
            self.constants.setdefault(name, value)  # the subgraph's own initializer shadows it
        # outer-scope values each run passes in (a plan takes them as feeds)
        self.outer_names = sorted(set(outer_scope) - set(self.constants))
        nodes = topological_order(graph, set(outer_scope))
        ctx = OpContext(num_threads=num_threads, opset=opset, constants=self.constants,
                        max_memory_bytes=max_memory_bytes,
                        subgraph_factory=functools.partial(GraphExecutor.for_subgraph, mode=mode))
        self.steps = []
        # per step: every name it reads, subgraph outer-scope reads included
        self._reads = [node_reads(node) for node in nodes]
        self.output_names = [o.name for o in graph.output]
        readers = {}
        for reads in self._reads:
            for name in reads:
                readers[name] = readers.get(name, 0) + 1
        for node in nodes:
            domain = "" if node.domain == "ai.onnx" else node.domain
            if domain not in opset:
                raise InvalidModelError(
                    f"node {node.name or node.op_type!r} uses domain {domain!r}, which the model does not import"
                )
            cls, version = lookup(node.op_type, domain, opset[domain], node.name)
            try:
                op = cls(node, version, ctx)
            except Error:
                raise
            except Exception as e:  # an attribute value setup() could not digest: name the node
                raise InvalidModelError(f"{node.op_type} node {node.name!r}: {type(e).__name__}: {e}") from e
            self.steps.append((op, list(node.input), list(node.output)))
            self._drop_packed_constant(op, readers)  # before the next op packs: one copy at a time
        self._plan_lifetimes()
        # ids of the constants (final from here on): run() must not hand one out as an output
        self.constant_ids = frozenset(id(v) for v in self.constants.values())
        self._plans = OrderedDict()  # signature -> CompiledPlan, or None (Python path), or dict (shapes seen)
        self._plans_lock = threading.Lock()
        self._has_subgraphs = None  # computed on first need (_objects_at_the_end)
        self._if_nodes = None  # computed on first need (_has_if)
        # shape class -> DynamicPlan, or None (Python path), or dict (an example's shapes)
        self._dynamic = {}
        # (feeds as they came, signature, CompiledPlan) of the last static-plan call
        self._last_plan = (None, None, None)

    def scope_reads(self, i: int) -> list:
        """The values of this graph step i's subgraphs read (beyond its node inputs): what a plan
        hands a control-flow op as its environment. Constants are not among them: subgraphs
        hold the constants they read as their own (for_subgraph)."""
        op, inputs, _ = self.steps[i]
        if not op.uses_outer_scope:
            return []
        return sorted(set(self._reads[i]) - set(n for n in inputs if n) - set(self.constants))

    @classmethod
    def for_subgraph(cls, graph: onnx.GraphProto, ctx: OpContext, mode: str = "python") -> GraphExecutor:
        """The executor of a subgraph (an If / Loop / Scan body...) under its op's context: the
        same opset, threads, memory limit and mode (a planned graph plans its bodies too); it
        may read the enclosing graphs' values."""
        outer = frozenset(free_names(graph))
        return cls(graph, ctx.opset, ctx.num_threads, outer_scope=outer, max_memory_bytes=ctx.max_memory_bytes,
                   mode=mode, outer_constants={n: ctx.constants[n] for n in outer if n in ctx.constants})

    def _drop_packed_constant(self, op, readers: dict):
        """Keep each packed weight once: an op that packed a constant gets a zero-memory
        placeholder of the same shape and dtype instead, when nothing else reads it."""
        src = op.packed_constant()
        if src is None:
            return
        for name in op.node.input:
            if (name and self.constants.get(name) is src and readers.get(name) == 1
                    and name not in self.output_names):
                ph = _placeholder(src)
                self.constants[name] = ph
                op.replace_packed_constant(ph)
                return

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

    def run(self, feeds: dict, outer_env: dict | None = None, output_names=None, profiler=None) -> list:
        names = output_names if output_names is not None else self.output_names
        if self.mode == "plan":
            if self.outer_names:  # a subgraph's plans take the outer values it reads as feeds
                feeds = dict(feeds)
                for n in self.outer_names:
                    feeds[n] = outer_env[n]
            values = self._run_planned(feeds, profiler)
            return [values[n] for n in names]
        return self.run_python(feeds, outer_env, names, profiler=profiler)

    def bound_to(self, outer_env: dict | None):
        """run(feeds) -> outputs with the outer-scope values read from outer_env once: for a
        body run once per iteration (Loop, Scan). The function may add to the feeds dict."""
        names = self.output_names
        if self.mode != "plan":
            return lambda feeds: self.run_python(feeds, outer_env, names)
        outer = {n: outer_env[n] for n in self.outer_names}

        def run(feeds: dict) -> list:
            feeds.update(outer)
            values = self._run_planned(feeds, None)
            return [values[n] for n in names]
        return run

    def run_python(self, feeds: dict, outer_env: dict | None = None, output_names=None, record=None,
                   profiler=None) -> list:
        """The reference loop. record: a dict that receives every value's (shape, dtype) Meta,
        or None for a value that is not a tensor."""
        env = dict(outer_env) if outer_env else {}
        env.update(self.constants)
        env.update(feeds)
        if record is not None:
            for name, value in feeds.items():
                record[name] = _meta(value)
        for i, ((op, inputs, outputs), release) in enumerate(zip(self.steps, self.release_after)):
            args = [env[n] if n else None for n in inputs]
            t0 = profiler.now() if profiler is not None else 0
            results = call_op(op, args, len([o for o in outputs if o]), env)
            if profiler is not None:
                profiler.record(op, t0, profiler.now(), "python")
            for name, value in zip(outputs, results):
                if name:
                    value = value if value is None or isinstance(value, (np.ndarray, list)) else np.asarray(value)
                    env[name] = value
                    if record is not None:
                        record[name] = _meta(value)
            if record is not None:
                for name in inputs:
                    if name and name not in record:
                        record[name] = _meta(env[name])
            for name in release:
                env.pop(name, None)
        names = output_names if output_names is not None else self.output_names
        return [env[n] for n in names]

    # --- compiled plans -------------------------------------------------------------------
    def _run_planned(self, feeds: dict, profiler) -> dict:
        as_given = _feed_metas(feeds)
        last_given, last_key, last_plan = self._last_plan  # one read: the triple is replaced whole
        if as_given == last_given:  # the feeds of the last static-plan call, in the same order: no
            return self._run_static(last_plan, last_key, feeds, profiler)  # sorting, no cache bookkeeping
        key = tuple(sorted(as_given))  # = _signature(feeds) (names are unique)
        with self._plans_lock:
            entry = self._plans.get(key, _MISSING)
            if entry is not _MISSING:
                self._plans.move_to_end(key)
        if entry is _DYNAMIC:
            shape_class = _shape_class(key)
            return self._run_dynamic(shape_class, self._dynamic.get(shape_class), key, feeds, profiler)
        if entry is _MISSING or isinstance(entry, dict) and not entry:
            shape_class = _shape_class(key)
            example = self._dynamic.get(shape_class, _MISSING)
            if example is not _MISSING:
                return self._run_dynamic(shape_class, example, key, feeds, profiler)
            # First run of this shape class: the Python path, recording every value's shape.
            record = {}
            out = self.run_python(feeds, None, self.output_names, record=record, profiler=profiler)
            complete = record if all(m is not None for m in record.values()) else None
            # A static plan keeps values that are not tensors as objects of Python steps where
            # they only come last (ZipMap's dicts after a classifier): not fed, no control flow
            # carrying them; the dynamic plan takes tensors only.
            self._store_plan(key, complete if complete is not None or not self._objects_at_the_end(feeds) else record)
            self._dynamic[shape_class] = complete
            return dict(zip(self.output_names, out))
        if isinstance(entry, dict) and self._has_if():  # the dynamic plan inlines If branches
            shape_class = _shape_class(key)
            if self._dynamic_plan(shape_class, self._dynamic.get(shape_class), feeds) is not None:
                self._store_plan(key, _DYNAMIC)
                return self._run_dynamic(shape_class, self._dynamic.get(shape_class), key, feeds, profiler)
            # no dynamic plan for this graph: a static one, its Ifs calling their branches from Python
        if isinstance(entry, dict):  # second run: compile
            plan = _plan()
            try:
                entry = plan.CompiledPlan(self, entry, set(feeds), call_op)
            except plan.PlanUnsupported:
                entry = None
            self._store_plan(key, entry)
        if entry is None:
            return dict(zip(self.output_names, self.run_python(feeds, None, self.output_names, profiler=profiler)))
        self._last_plan = (as_given, key, entry)
        return self._run_static(entry, key, feeds, profiler)

    def _has_if(self) -> bool:
        """Whether an If node is in this graph: its calls take the dynamic plan from the second
        on (which inlines the branches; a static plan would call them from Python)."""
        if self._if_nodes is None:
            self._if_nodes = any(op.op_type == "If" and op.node.domain in ("", "ai.onnx") for op, _, _ in self.steps)
        return self._if_nodes

    def _objects_at_the_end(self, feeds: dict) -> bool:
        """Whether the values that are not tensors come from nodes only (no feed is one) in a
        graph without subgraphs: then a static plan may hold them as objects (a signature says
        nothing about a fed list, and a loop body carrying one is another story)."""
        if self._has_subgraphs is None:
            graphs = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
            self._has_subgraphs = bool(self.outer_names) or any(a.type in graphs for op, _, _ in self.steps
                                                                for a in op.node.attribute)
        return not self._has_subgraphs and all(isinstance(v, np.ndarray) for v in feeds.values())

    def _run_static(self, plan, key, feeds: dict, profiler) -> dict:
        try:
            return plan.run(feeds, profiler)
        except _plan().ShapeChanged:
            # Data-dependent shapes (NonZero, NonMaxSuppression...) differ from the plan's: this
            # signature takes the class's dynamic plan from now on, which resolves shapes as it runs.
            shape_class = _shape_class(key)
            example = self._dynamic.get(shape_class)
            self._store_plan(key, None if example is None else _DYNAMIC)
            if example is None:
                return dict(zip(self.output_names, self.run_python(feeds, None, self.output_names, profiler=profiler)))
            return self._run_dynamic(shape_class, example, key, feeds, profiler)

    def _dynamic_plan(self, shape_class, entry, feeds: dict):
        """The class's dynamic plan: entry itself, or compiled from entry (the recorded example)
        the first time; None where the graph allows none."""
        if getattr(entry, "stale", False):  # a branch first taken since: compiled again, inlined
            entry = entry.example
        if isinstance(entry, dict):
            from .dynamic_plan import DynamicPlan

            try:
                entry = DynamicPlan(self, entry, set(feeds), call_op)
            except _plan().PlanUnsupported:
                entry = None
            self._dynamic[shape_class] = entry
        return entry

    def _run_dynamic(self, shape_class, entry, key, feeds: dict, profiler) -> dict:
        """A new signature of a class seen before: the class's dynamic plan."""
        entry = self._dynamic_plan(shape_class, entry, feeds)
        if entry is None:
            return dict(zip(self.output_names, self.run_python(feeds, None, self.output_names, profiler=profiler)))
        try:
            return entry.run(feeds, profiler)
        except _plan().ShapeChanged:  # a Python step's dtype followed the data: this call on the Python path
            return dict(zip(self.output_names, self.run_python(feeds, None, self.output_names, profiler=profiler)))

    def run_dynamic_plan(self, feeds: dict) -> dict | None:
        """Run feeds on their shape class's dynamic plan, compiling it from the example the
        class recorded (a call must have run first); None when the class has none (Python
        path, or a plan the graph does not allow). For tests and tools: run() decides by itself."""
        shape_class = _shape_class(_signature(feeds))
        entry = self._dynamic_plan(shape_class, self._dynamic.get(shape_class), feeds)
        return None if entry is None else entry.run(feeds)

    def _store_plan(self, key, entry):
        with self._plans_lock:
            if self._last_plan[1] == key:
                self._last_plan = (None, None, None)
            self._plans[key] = entry
            self._plans.move_to_end(key)
            while len(self._plans) > PLAN_CACHE_SIZE:
                self._plans.popitem(last=False)

    def cached_plans(self) -> list:
        """The compiled plans in the cache, least recently used first (for tests and tools)."""
        from .plan import CompiledPlan

        with self._plans_lock:
            return [p for p in self._plans.values() if isinstance(p, CompiledPlan)]

    def dynamic_plans(self) -> list:
        """The dynamic plans compiled so far, one per shape class (for tests and tools)."""
        from .dynamic_plan import DynamicPlan

        return [p for p in self._dynamic.values() if isinstance(p, DynamicPlan)]


_MISSING = object()
_DYNAMIC = object()  # a signature whose static plan saw data-dependent shapes change: the class's dynamic plan


def _feed_metas(feeds: dict) -> tuple:
    """(name, shape, dtype) per feed, in the dict's order."""
    return tuple([(n, v.shape, v.dtype) if type(v) is np.ndarray else (n, None, type(v).__name__)
                  for n, v in feeds.items()])


def _signature(feeds: dict) -> tuple:
    """The plan-cache key: (name, shape, dtype) per feed, sorted by name."""
    return tuple(sorted(_feed_metas(feeds)))


def _shape_class(signature: tuple) -> tuple:
    """The dynamic-plan key: (name, rank, dtype) per feed (shapes dropped from a signature)."""
    return tuple((n, None if shape is None else len(shape), dtype) for n, shape, dtype in signature)


def _plan():
    """plan.py (imported on first use: it loads the Cython runtime, which imports this module)."""
    from . import plan

    return plan


def _meta(value):
    from .lowering import Meta

    return Meta(value.shape, value.dtype) if isinstance(value, np.ndarray) else None

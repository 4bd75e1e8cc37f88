"""A graph compiled for a shape class: every input shape of the same ranks and dtypes.

DynamicPlan(executor, metas, feed_names, call_op) lowers each op once (lowering.py, with
Lowering.dynamic set), taking the shapes of one run as the example, and builds the Cython
DynamicProgram (_dynamic.pyx), which resolves shapes as it runs. The executor runs a plan of
this kind for a new input-shape signature of a class it has seen (a new sequence length, a new
batch size) instead of the Python path: see executor.py for when.

  what the op answers          what the step does for other shapes
  Native, reshapable           the kernel reshaped for the new shapes (C++, no Python)
  Native, not reshapable       the op's lower() asked again (Python, once per new shape)
  Alias(rule)                  the rule gives the output dims; the bytes are shared
  Concat / Permute             byte copies
  None                         op.run (a Python step)

A step that cannot take a new shape (lower() declines it, a kernel refuses it, an empty tensor)
runs op.run for that shape. Python steps' outputs must keep their planned dtype; a different
one raises ShapeChanged and the executor reruns the call on the Python path.
"""
from __future__ import annotations

import numpy as np

from . import _dynamic
from .errors import KernelArgumentError
from .limits import effective_limit
from .lowering import MAX_STEP_INPUTS, Alias, Concat, Meta, Native, Permute, lower
from .plan import CompiledPlan, PlanUnsupported, ShapeChanged, shape_changed_or


class DynamicPlan:
    def __init__(self, executor, metas: dict, feed_names, call_op):
        self.executor = executor
        self._call_op = call_op
        consts = {n: v for n, v in executor.constants.items() if n not in feed_names}
        self.slot, dtypes = {}, []

        def slot_of(name, dtype):
            if name not in self.slot:
                self.slot[name] = len(dtypes)
                dtypes.append(dtype)
            return self.slot[name]

        for n in sorted(feed_names):
            slot_of(n, metas[n].dtype if metas.get(n) is not None else None)
        const_values, steps, names, self.step_ops = {}, [], [], []
        views = {}  # view output -> the value whose bytes it may share (its input)
        for step, (op, inputs, outputs) in enumerate(executor.steps):
            scope = executor.scope_reads(step)  # a control-flow op's environment: extra inputs
            if any(n and metas.get(n) is None for n in list(inputs) + list(outputs) + scope):
                raise PlanUnsupported(f"{op.op_type} node {op.name!r} handles a value that is not a tensor")
            for n in list(inputs) + scope:
                if n and n not in self.slot:
                    if n not in consts:
                        raise PlanUnsupported(f"value {n!r} has no producer")
                    const_values[slot_of(n, metas[n].dtype)] = consts[n]
            for n in outputs:
                if n in self.slot:
                    raise PlanUnsupported(f"value {n!r} is produced twice")
                if n:
                    slot_of(n, metas[n].dtype)
            node_in = [self.slot[n] if n else -1 for n in list(inputs) + scope]
            node_out = [self.slot[n] if n else -1 for n in outputs]
            ins = [metas[n] if n else None for n in inputs]
            outs = [metas[n] for n in outputs if n]
            how = lower(op, list(inputs), ins, outs, consts, dynamic=True) if not scope else None
            run_op = self._op_runner(op, len(outs), scope)
            names.append(f"{op.op_type} node {op.name!r}")
            self.step_ops.append(op)
            if isinstance(how, Native):
                CompiledPlan._check_kernel(op, how, inputs, outputs, metas)
                kernel_in = []
                for x in how.inputs:
                    if hasattr(x, "array"):  # an Extra: a constant of its own
                        s = slot_of(f"\0extra{len(dtypes)}", x.array.dtype)
                        const_values[s] = x.array
                        kernel_in.append(s)
                    else:
                        kernel_in.append(node_in[x] if x is not None and x < len(node_in) else -1)
                out_map = how.outputs if how.outputs is not None else range(len(how.kernel.outputs))
                kernel_out = [node_out[j] if j is not None and j < len(node_out) else -1 for j in out_map]
                relower = None if how.reshapable else self._relower(op, inputs, ins, outs, consts, how)
                steps.append(("native", how.kernel, kernel_in, kernel_out, run_op, node_in, node_out, relower))
            elif isinstance(how, Alias) and how.rule is not None and how.input == 0:
                r = how.rule
                steps.append(("view", r.kind, r.params, r.allowzero, node_in, node_out[0], run_op))
                views[outputs[0]] = inputs[0]
            elif isinstance(how, Concat) and len(node_in) <= MAX_STEP_INPUTS:
                steps.append(("concat", node_in, node_out[0], how.axis, run_op))
            elif isinstance(how, Permute):
                steps.append(("transpose", node_in[0], node_out[0], list(how.perm)))
            else:
                steps.append(("python", run_op, node_in, node_out))
        for n in executor.output_names:
            if n not in self.slot:
                if n not in consts:
                    raise PlanUnsupported(f"output {n!r} has no producer")
                const_values[slot_of(n, np.asarray(consts[n]).dtype)] = consts[n]
        self.const_values = const_values
        self.feed_slots = [(n, self.slot[n]) for n in sorted(feed_names)]
        self.output_slots = [(n, self.slot[n]) for n in executor.output_names]
        release = self._release_lists(views, const_values)
        graph_outputs = sorted({self.slot[n] for n in executor.output_names})
        self.program = _dynamic.DynamicProgram(steps, [np.dtype(d) if d is not None else None for d in dtypes],
                                               graph_outputs, sorted(const_values), release, names,
                                               int(executor.num_threads), ShapeChanged,
                                               effective_limit(executor.max_memory_bytes))
        self.native_steps = sum(1 for t in steps if t[0] != "python")
        self._frames = []

    def _release_lists(self, views, const_values) -> list:
        """After which step each value is freed: its last reader, or for a value whose bytes
        views share, the last reader of any of them. Constants and graph outputs stay."""
        last = {}
        for i, (op, inputs, outputs) in enumerate(self.executor.steps):
            for n in list(self.executor._reads[i]) + list(outputs):
                if n:
                    last[n] = i
        root = {}
        for n in self.slot:
            r = n
            while r in views:
                r = views[r]
            root[n] = r
        group_end = {}
        for n, r in root.items():
            if n in last:
                group_end[r] = max(group_end.get(r, -1), last[n])
        keep = set(self.executor.output_names)
        release = [[] for _ in self.executor.steps]
        for n, s in self.slot.items():
            if n in keep or s in const_values or n not in last:
                continue
            release[max(last[n], group_end.get(root[n], -1))].append(s)
        return release

    def _op_runner(self, op, n_outputs, scope=()):
        """op.run on a step's arguments; a control-flow op gets its scope values (the
        arguments after the node's inputs) as its environment."""
        call_op = self._call_op
        n_in = len(op.node.input)

        def run_op(args):
            if scope:
                return call_op(op, args[:n_in], n_outputs, dict(zip(scope, args[n_in:])))
            return call_op(op, args, n_outputs)
        return run_op

    @staticmethod
    def _relower(op, inputs, ins, outs, consts, how):
        """lower() asked again for new input shapes: the kernel, when the answer has the same
        form as the first one (the same inputs, outputs and extra arrays), else None (op.run).
        The output metas keep the example's shapes: lower() reads their dtypes and ranks."""
        def same(a, b):
            return a is b if hasattr(a, "array") else a == b

        def relower(shapes):
            metas = [Meta(tuple(s), m.dtype) if m is not None and s is not None else m for s, m in zip(shapes, ins)]
            again = lower(op, list(inputs), metas, outs, consts, dynamic=True)
            if not isinstance(again, Native) or again.outputs != how.outputs or len(again.inputs) != len(how.inputs):
                return None
            if not all(same(getattr(a, "array", a), getattr(b, "array", b)) for a, b in zip(again.inputs, how.inputs)):
                return None
            return again.kernel
        return relower

    # --- run ----------------------------------------------------------------------------
    def run(self, feeds: dict, profiler=None) -> dict:
        """Run the plan; returns {graph output name: value}."""
        try:
            frame = self._frames.pop()  # atomic under the GIL: concurrent calls never share a frame
        except IndexError:
            frame = self.program.new_frame(self.const_values)
        try:
            frame.begin()
            for name, s in self.feed_slots:
                v = feeds[name]
                frame.set(s, v if v.flags.c_contiguous else np.ascontiguousarray(v))
            try:
                if profiler is None:
                    self.program.execute(frame, 0, self.program.n_steps)
                else:
                    profiler.run_program(self, frame)
            except KernelArgumentError as e:
                raise shape_changed_or(e) from None
            return {n: frame.get(s) for n, s in self.output_slots}
        finally:
            frame.finish()
            self._frames.append(frame)

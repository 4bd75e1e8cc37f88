"""A graph compiled for one input-shape signature: flat steps over slots, one static arena.

compile_plan(executor, metas, feed_names) takes the shapes and dtypes of every value seen in one
run of the Python path with these feed shapes, lowers each op (lowering.py), assigns every
value a slot and a storage class, plans the arena (memory_plan.py) and builds the Cython
Program (_runtime.pyx). CompiledPlan.run(feeds) then executes it:

  storage class  what                                       memory
  FEED           a feed                                     the caller's array
  CONST          an initializer                             the executor's array (set once)
  ARENA          output of a native step, internal          offset in the frame's arena
  ALIAS          Reshape & co. of an ARENA value,           the same offset (plus the value's
                 or an input a Concat holds in place        place in the Concat's output)
  OUT            output of a native step, a graph output    a fresh array per call (the caller's)
  PY             output of a Python step                    whatever op.run returned

A Python step's output that a native step reads is checked against the compiled shape and
dtype; a difference (data-dependent shapes) raises ShapeChanged and the executor reruns the call
on the Python path. Frames (arena + slot table) are pooled: each concurrent call takes its own.
"""
from __future__ import annotations

import math

import numpy as np

from . import _runtime as rt
from .errors import KernelArgumentError
from .lowering import SHAPE_CHANGED, Alias, Concat, Extra, Meta, Native, Permute, lower
from .memory_plan import Buffer, aligned_empty, plan_offsets

FEED, CONST, ARENA, ALIAS, OUT, PY = "feed", "const", "arena", "alias", "out", "py"
IN_PLACE = "concat in place"  # a Concat whose inputs were written into its output: no step work


class PlanUnsupported(Exception):
    """This graph / signature runs on the Python path (subgraphs reading the scope)."""


class ShapeChanged(Exception):
    """A Python step produced a shape or dtype other than the compiled one."""


def shape_changed_or(e: KernelArgumentError) -> Exception:
    """A kernel's error as ShapeChanged when a control input or the data gave another output
    shape than the plan's (the call then re-runs on the Python path), else the error itself."""
    return ShapeChanged(str(e)) if SHAPE_CHANGED in str(e) else e


class CompiledPlan:
    def __init__(self, executor, metas: dict, feed_names, call_op):
        self.executor = executor
        self._call_op = call_op
        consts = {n: v for n, v in executor.constants.items() if n not in feed_names}
        self.slot = {}
        self.kind = {}
        self.meta = {}

        def slot_of(name, kind=None, meta=None):
            if name not in self.slot:
                self.slot[name] = len(self.slot)
                self.kind[name] = kind
                self.meta[name] = meta
            return self.slot[name]

        for n in feed_names:
            slot_of(n, FEED, metas.get(n))
        self.alias_base = {}    # ALIAS value -> the value whose bytes it lives in
        self.alias_offset = {}  # ... at this byte offset (in-place Concat inputs; else 0)
        graph_outputs = set(executor.output_names)
        lowered = []
        for step, (op, inputs, outputs) in enumerate(executor.steps):
            scope = executor.scope_reads(step)  # a control-flow op's environment: extra inputs
            for n in list(inputs) + scope:
                if n and n not in self.slot:
                    if n in consts:
                        slot_of(n, CONST, metas.get(n))
                    else:
                        raise PlanUnsupported(f"value {n!r} has no producer")
            ins = [metas.get(n) if n else None for n in inputs]
            outs = [metas.get(n) for n in outputs if n]
            # A node handling a value that is not a tensor (ZipMap's list of dicts, a sequence) is a
            # Python step; the value lives in its slot as an object only Python steps read.
            tensors_only = all(not n or metas.get(n) is not None for n in list(inputs) + list(outputs))
            how = lower(op, list(inputs), ins, outs, consts) if tensors_only and not scope else None
            if any(metas.get(n) is None for n in scope):
                raise PlanUnsupported(f"{op.op_type} node {op.name!r}: its subgraphs read a value that is not a tensor")
            inputs = list(inputs) + scope
            real_outputs = [n for n in outputs if n]
            if isinstance(how, Native):
                self._check_kernel(op, how, inputs, outputs, metas)
            if isinstance(how, Alias):
                src = inputs[how.input]
                if self.kind[src] in (ARENA, ALIAS) and real_outputs[0] not in graph_outputs:
                    slot_of(real_outputs[0], ALIAS, metas[real_outputs[0]])
                    self.alias_base[real_outputs[0]] = src
                    lowered.append((op, inputs, outputs, how))
                    continue
                # A view of a feed or a constant (bytes the frame holds at no fixed place) or one
                # that is a graph output (which owns its bytes): a copy; of a Python step's output:
                # a Python step too.
                how = "copy" if self.kind[src] != PY else None
            if isinstance(how, Concat) and self._concat_in_place(how, inputs, real_outputs, metas, graph_outputs):
                slot_of(real_outputs[0], ARENA, metas[real_outputs[0]])
                lowered.append((op, inputs, outputs, IN_PLACE))
                continue
            native = how is not None
            for n in real_outputs:
                if n in self.slot:
                    raise PlanUnsupported(f"value {n!r} is produced twice")
                kind = (OUT if n in graph_outputs else ARENA) if native else PY
                slot_of(n, kind, metas[n])
            lowered.append((op, inputs, outputs, how))
        for n in executor.output_names:
            if n not in self.slot:
                if n in consts:
                    slot_of(n, CONST, metas.get(n))
                else:
                    raise PlanUnsupported(f"output {n!r} has no producer")
        # Chains (a Reshape of an in-place Concat input, nested Concats) resolve to the
        # buffer at the end of the chain and the sum of the offsets.
        for n in list(self.alias_base):
            base, off = n, 0
            while base in self.alias_base:
                off += self.alias_offset.get(base, 0)
                base = self.alias_base[base]
            self.alias_base[n], self.alias_offset[n] = base, off
        self._build(lowered, consts)

    @staticmethod
    def _check_kernel(op, how, inputs, outputs, metas, scratch_outputs=False):
        """A kernel's inputs and outputs must be exactly the plan's values (shape and dtype):
        the C++ side trusts them. A mismatch is a bug in the op's lower(). scratch_outputs: a
        required kernel output that is no node output is allowed (a dynamic plan gives it a
        scratch block: a counted output's count)."""
        kernel = how.kernel
        out_map = how.outputs if how.outputs is not None else list(range(len(kernel.outputs)))
        wanted = [(how.inputs, kernel.inputs, inputs, "input"), (out_map, kernel.outputs, outputs, "output")]
        counted = kernel.counted_outputs if scratch_outputs else {}
        for refs, specs, names, what in wanted:
            if len(refs) != len(specs):
                raise RuntimeError(f"{op.op_type} node {op.name!r}: lowered to a kernel with {len(specs)} "
                                   f"{what}s, given {len(refs)}")
            for ref, (spec_name, shape, dtype, required) in zip(refs, specs):
                if isinstance(ref, Extra):
                    meta = Meta(ref.array.shape, ref.array.dtype)
                elif ref is None or ref >= len(names) or not names[ref]:
                    if required and not (scratch_outputs and what == "output"):
                        raise RuntimeError(f"{op.op_type} node {op.name!r}: kernel {what} {spec_name} is required")
                    continue
                else:
                    meta = metas[names[ref]]
                if what == "output" and spec_name in counted:  # the kernel's shape bounds the counted dim
                    d = counted[spec_name][0]
                    shape = tuple(shape[:d]) + (meta.shape[d] if meta.shape[d] <= shape[d] else -1,) + tuple(shape[d + 1:])
                if tuple(meta.shape) != tuple(shape) or meta.dtype != np.dtype(dtype):
                    raise RuntimeError(f"{op.op_type} node {op.name!r}: kernel {what} {spec_name} is {tuple(shape)} "
                                       f"{dtype}, the plan has {tuple(meta.shape)} {meta.dtype}")

    def _concat_in_place(self, how, inputs, outputs, metas, graph_outputs) -> bool:
        """Whether a Concat's inputs can be written straight into its output: along an axis with
        nothing outside it (batch 1 on channels: each input is one contiguous run of the output),
        every input an ARENA value of a native step, no input twice. Each input then becomes an
        ALIAS at its offset in the output and the Concat does nothing (DenseNet's growing feature
        maps, SqueezeNet's fire modules). Inputs stay readable where they are: a value is written
        once, and the output's buffer lives from its first input's step to its last reader."""
        out = outputs[0]
        if out in self.slot or out in graph_outputs or math.prod(metas[out].shape[:how.axis]) != 1:
            return False
        if len(set(inputs)) != len(inputs) or any(self.kind.get(n) != ARENA for n in inputs):
            return False
        off = 0
        for n in inputs:
            self.kind[n] = ALIAS
            self.alias_base[n], self.alias_offset[n] = out, off
            off += metas[n].nbytes
        return True

    # --- compile ------------------------------------------------------------------------
    def _build(self, lowered, consts):
        n_steps = len(lowered)
        native_reads, py_reads = set(), set()
        last_read = {}
        steps, names, extras = [], [], []
        for i, (op, inputs, outputs, how) in enumerate(lowered):
            names.append(f"{op.op_type} node {op.name!r}")
            for n in inputs:
                if n:
                    base = self.alias_base.get(n, n)
                    last_read[base] = i
                    last_read[n] = i
            if how is None:
                py_reads.update(self.slot[n] for n in inputs if n)
            elif isinstance(how, Native):
                for x in how.inputs:
                    if isinstance(x, int) and inputs[x]:
                        native_reads.add(self.slot[inputs[x]])
            elif not isinstance(how, Alias) and how is not IN_PLACE:  # copy / concat / permute
                native_reads.update(self.slot[n] for n in inputs if n)
        self.py_reads = py_reads
        # Python-step outputs a native step reads: checked and bound to a pointer.
        self.checked = {s for n, s in self.slot.items() if self.kind[n] == PY and s in native_reads}
        for i, (op, inputs, outputs, how) in enumerate(lowered):
            out_names = [n for n in outputs if n]
            if how is None:
                out_slots = [self.slot[n] if n else -1 for n in outputs]
                steps.append(("python", self._python_step(op, inputs, out_slots), None, None))
            elif isinstance(how, Alias) or how is IN_PLACE:
                steps.append(("concat", None, [], self.slot[out_names[0]], 0, []))  # no-op placeholder
            elif how == "copy":
                src = inputs[0]
                steps.append(("copy", None, [self.slot[src]], self.slot[out_names[0]], self.meta[src].nbytes))
            elif isinstance(how, Permute):
                x = self.meta[inputs[0]]
                steps.append(("permute", None, [self.slot[inputs[0]]], self.slot[out_names[0]], x.dtype.itemsize,
                              list(x.shape), list(how.perm)))
            elif isinstance(how, Concat):
                out = self.meta[out_names[0]]
                outer = math.prod(out.shape[:how.axis])
                chunks = [math.prod(self.meta[n].shape[how.axis:]) * self.meta[n].dtype.itemsize for n in inputs]
                steps.append(("concat", None, [self.slot[n] for n in inputs], self.slot[out_names[0]], outer, chunks))
            else:
                in_slots = []
                for x in how.inputs:
                    if isinstance(x, Extra):
                        s = len(self.slot) + len(extras)
                        extras.append((s, x.array))
                        in_slots.append(s)
                    else:
                        in_slots.append(self.slot[inputs[x]] if x is not None and inputs[x] else -1)
                out_map = how.outputs if how.outputs is not None else range(len(how.kernel.outputs))
                out_slots = [self.slot[outputs[j]] if j is not None and j < len(outputs) and outputs[j] else -1
                             for j in out_map]
                steps.append(("native", how.kernel, in_slots, out_slots))
        self.n_slots = len(self.slot) + len(extras)
        self.extras = extras
        self.consts = {self.slot[n]: consts[n] for n, k in self.kind.items() if k == CONST}
        # Values only Python code holds are dropped after their last reader.
        release = [[] for _ in range(n_steps)]
        for n, k in self.kind.items():
            if k == PY and n not in self.executor.output_names and n in last_read:
                release[last_read[n]].append(self.slot[n])
        self.program = rt.Program(steps, release, names, int(self.executor.num_threads))
        # Arena: ARENA values by liveness. An alias keeps its base alive, and a base lives from
        # the first step that writes into it (an in-place Concat's first input).
        first_write, last = {}, {}
        for i, (op, inputs, outputs, how) in enumerate(lowered):
            for n in outputs:
                if n and self.kind[n] in (ARENA, ALIAS):
                    base = self.alias_base.get(n, n)
                    first_write[base] = min(first_write.get(base, i), i)
                    last[base] = max(last.get(base, i), last_read.get(n, i), i)
        buffers = [Buffer(n, self.meta[n].nbytes, first_write[n], last[n])
                   for n in first_write if self.kind[n] == ARENA]
        self.memory = plan_offsets(buffers)
        self.feed_slots = [(n, self.slot[n], self.slot[n] in native_reads) for n, k in self.kind.items() if k == FEED]
        self.out_slots = [(self.slot[n], self.meta[n].shape, self.meta[n].dtype)
                          for n, k in self.kind.items() if k == OUT]
        self.dynamic = [s for n, s in self.slot.items() if self.kind[n] in (FEED, OUT, PY)]
        self.native_steps = sum(1 for t in steps if t[0] != "python")
        self.step_ops = [op for op, _, _, _ in lowered]
        self._frames = []

    def _python_step(self, op, inputs, out_slots):
        in_slots = [self.slot[n] if n else -1 for n in inputs]
        checked = {s: self.meta_by_slot(s) for s in out_slots if s in self.checked}
        objects = {s for s in out_slots if s >= 0 and self.meta_by_slot(s) is None}  # recorded as not tensors
        call_op = self._call_op
        n_in = len(op.node.input)
        scope = inputs[n_in:]  # a control-flow op's environment (executor.scope_reads)
        n_out = len([s for s in out_slots if s >= 0])

        def step(frame):
            objs = frame.objs
            args = [objs[s] if s >= 0 else None for s in in_slots]
            env = dict(zip(scope, args[n_in:])) if scope else None
            results = call_op(op, args[:n_in], n_out, env)
            arena = frame.arena
            for s, v in zip(out_slots, results):
                if s < 0:
                    continue
                if not isinstance(v, np.ndarray):
                    if s in objects:
                        frame.set_object(s, v)
                        continue
                    raise ShapeChanged(f"{op.op_type} node {op.name!r} returned a {type(v).__name__}")
                if arena is not None and np.may_share_memory(v, arena):
                    v = v.copy()  # the arena is reused: a view into it must not outlive its bytes
                m = checked.get(s)
                if m is None:
                    frame.set_object(s, v)
                    continue
                if v.shape != m.shape or v.dtype != m.dtype:
                    raise ShapeChanged(f"{op.op_type} node {op.name!r}: shape {v.shape} {v.dtype}, "
                                       f"compiled for {m.shape} {m.dtype}")
                frame.set(s, v if v.flags.c_contiguous else np.ascontiguousarray(v))
        return step

    def meta_by_slot(self, s):
        if not hasattr(self, "_slot_names"):
            self._slot_names = {slot: n for n, slot in self.slot.items()}
        return self.meta[self._slot_names[s]]

    # --- run ----------------------------------------------------------------------------
    def _new_frame(self):
        frame = rt.Frame(self.n_slots)
        arena = aligned_empty(self.memory.arena_bytes) if self.memory.arena_bytes else None
        frame.arena = arena
        for n, k in self.kind.items():
            s = self.slot[n]
            if k in (ARENA, ALIAS):
                m = self.meta[n]
                if m.nbytes == 0:  # an empty value (a plan whose values are all empty has no arena)
                    frame.set(s, np.empty(m.shape, m.dtype))
                    continue
                off = self.memory.offsets[self.alias_base.get(n, n)] + self.alias_offset.get(n, 0)
                frame.set(s, arena[off:off + m.nbytes].view(m.dtype).reshape(m.shape))
        for s, arr in self.consts.items():
            if s in self.program_native_reads():
                frame.set(s, arr)
            else:
                frame.set_object(s, arr)
        for s, arr in self.extras:
            frame.set(s, arr)
        return frame

    def program_native_reads(self):
        reads = getattr(self, "_native_reads_cache", None)
        if reads is None:
            reads = self._native_reads_cache = {s for s in self.consts
                                                if isinstance(self.consts[s], np.ndarray)
                                                and self.consts[s].flags.c_contiguous}
        return reads

    def run(self, feeds: dict, profiler=None) -> dict:
        """Run the plan; returns {graph output name: value}."""
        try:
            frame = self._frames.pop()  # atomic under the GIL: concurrent calls never share a frame
        except IndexError:
            frame = self._new_frame()
        try:
            for name, s, native in self.feed_slots:
                v = feeds[name]
                if native:
                    frame.set(s, v if v.flags.c_contiguous else np.ascontiguousarray(v))
                else:
                    frame.set_object(s, v)
            for s, shape, dtype in self.out_slots:
                frame.set(s, np.empty(shape, dtype))
            try:
                if profiler is None:
                    self.program.execute(frame, 0, self.program.num_steps)
                else:
                    profiler.run_program(self, frame)
            except KernelArgumentError as e:
                raise shape_changed_or(e) from None
            objs = frame.objs
            return {n: objs[self.slot[n]] for n in self.executor.output_names}
        finally:
            frame.clear(self.dynamic)
            self._frames.append(frame)

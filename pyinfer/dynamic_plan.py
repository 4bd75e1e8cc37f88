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

An If is inlined: a step reads the condition and jumps over the branch not taken; both
branches' steps are lowered from the shapes each recorded on its first call (a branch no call
has taken: one run of its Python path on zeros of the shapes it reads), so the ops of either
run natively and read the enclosing graph's values from their slots. A branch that cannot be
recorded so is one Python step (its own plans) until a call takes it and the executor
compiles the plan again.

A step that cannot take a new shape (lower() declines it, a kernel refuses it, an empty tensor)
runs op.run for that shape. Python steps' outputs must keep their planned dtype; a different
one raises ShapeChanged and the executor reruns the call on the Python path.
"""
from __future__ import annotations

import numpy as np

from . import _dynamic
from .errors import KernelArgumentError
from .limits import effective_limit
from .lowering import MAX_STEP_INPUTS, Alias, Concat, KeepPython, Meta, Native, Permute, explain, lower
from .plan import CompiledPlan, PlanUnsupported, ShapeChanged, shape_changed_or


class _Namespace:
    """The names of one graph while its steps are emitted: the top graph's, or an inlined If
    branch's. A branch's own values get a prefix (then and else may use the same names); the
    values it reads from outside are the enclosing graph's; its outputs that its own steps
    produce are written straight into the If's outputs (renamed)."""

    def __init__(self, executor, meta, consts: dict, prefix: str = "", outer=None, renamed=None):
        self.executor, self.meta, self.consts, self.prefix = executor, meta, consts, prefix
        self.outer = outer
        self.renamed = renamed or {}
        self.outer_names = set(executor.outer_names) if outer is not None else set()

    def key(self, name: str) -> str:
        """The plan's name for a value of this graph."""
        if name in self.renamed:
            return self.renamed[name]
        if name in self.outer_names:
            return self.outer.key(name)
        return self.prefix + name


class DynamicPlan:
    def __init__(self, executor, metas: dict, feed_names, call_op):
        self.executor = executor
        self.example, self.feed_names = metas, frozenset(feed_names)  # (a stale plan is compiled again)
        self.stale = False  # set when a branch runs that was compiled as one Python step (never taken before)
        self._call_op = call_op
        self.slot, self._dtypes, self._const_values = {}, [], {}
        self._steps, self._names, self.step_ops = [], [], []
        self._reads, self._writes = [], []  # per step: the plan names it reads and writes (liveness)
        self._regions = []  # (first, last) step of each inlined If
        self._views = []    # (view, source): the view shares its source's bytes
        self._shared = set()  # If outputs: written by a step of either branch
        self.python_reasons = {}  # Python step -> why (pyinfer inspect)
        for n in sorted(feed_names):
            self._slot_of(n, metas[n].dtype if metas.get(n) is not None else None)
        consts = {n: v for n, v in executor.constants.items() if n not in feed_names}
        self._emit_graph(_Namespace(executor, metas.get, consts))
        for n in executor.output_names:
            if n not in self.slot:
                if n not in consts:
                    raise PlanUnsupported(f"output {n!r} has no producer")
                self._const_values[self._slot_of(n, np.asarray(consts[n]).dtype)] = consts[n]
        self.const_values = self._const_values
        self.feed_slots = [(n, self.slot[n]) for n in sorted(feed_names)]
        self.output_slots = [(n, self.slot[n]) for n in executor.output_names]
        release = self._release_lists()
        graph_outputs = sorted({self.slot[n] for n in executor.output_names})
        self.program = _dynamic.DynamicProgram(self._steps, [np.dtype(d) if d is not None else None for d in self._dtypes],
                                               graph_outputs, sorted(self._const_values), release, self._names,
                                               int(executor.num_threads), ShapeChanged,
                                               effective_limit(executor.max_memory_bytes))
        self.native_steps = sum(1 for t in self._steps if t[0] != "python")
        self._frames = []

    def _slot_of(self, name, dtype):
        if name not in self.slot:
            self.slot[name] = len(self._dtypes)
            self._dtypes.append(dtype)
        return self.slot[name]

    def _add(self, step, op, reads, writes):
        self._steps.append(step)
        self._names.append(f"{op.op_type} node {op.name!r}")
        self.step_ops.append(op)
        self._reads.append([n for n in reads if n])
        self._writes.append([n for n in writes if n])
        return len(self._steps) - 1

    def _read_slot(self, ns, name):
        """The slot of a value a step reads: produced before, fed, or a constant (bound now)."""
        key = ns.key(name)
        if key not in self.slot:
            if name not in ns.consts:
                raise PlanUnsupported(f"value {name!r} has no producer")
            self._const_values[self._slot_of(key, np.asarray(ns.consts[name]).dtype)] = ns.consts[name]
        return self.slot[key]

    def _emit_graph(self, ns):
        for step in range(len(ns.executor.steps)):
            op = ns.executor.steps[step][0]
            if op.op_type == "If" and op.node.domain in ("", "ai.onnx"):
                self._emit_if(ns, step)
            else:
                self._emit_step(ns, step)

    def _emit_step(self, ns, step):
        op, inputs, outputs = ns.executor.steps[step]
        scope = ns.executor.scope_reads(step)  # a control-flow op's environment: extra inputs
        if any(n and ns.meta(n) is None for n in list(inputs) + list(outputs) + scope):
            raise PlanUnsupported(f"{op.op_type} node {op.name!r} handles a value that is not a tensor")
        node_in = [self._read_slot(ns, n) if n else -1 for n in list(inputs) + scope]
        node_out = []
        for n in outputs:
            key = ns.key(n) if n else None
            if key in self.slot and key not in self._shared:
                raise PlanUnsupported(f"value {n!r} is produced twice")
            node_out.append(self._slot_of(key, ns.meta(n).dtype) if n else -1)
        ins = [ns.meta(n) if n else None for n in inputs]
        outs = [ns.meta(n) for n in outputs if n]
        reads = [ns.key(n) for n in list(inputs) + scope if n]
        writes = [ns.key(n) for n in outputs if n]
        how = (explain(op, list(inputs), ins, outs, ns.consts, dynamic=True) if not scope
               else KeepPython("a control-flow body reading the enclosing graph (runs on its own plans)"))
        run_op = self._op_runner(op, len(outs), scope)
        if isinstance(how, Native):
            metas = {n: ns.meta(n) for n in list(inputs) + list(outputs) if n}
            CompiledPlan._check_kernel(op, how, inputs, outputs, metas, scratch_outputs=True)
            kernel_in = []
            for x in how.inputs:
                if hasattr(x, "array"):  # an Extra: a constant of its own
                    s = self._slot_of(f"\0extra{len(self._dtypes)}", x.array.dtype)
                    self._const_values[s] = x.array
                    kernel_in.append(s)
                else:
                    kernel_in.append(node_in[x] if x is not None and x < len(node_in) else -1)
            out_map = how.outputs if how.outputs is not None else range(len(how.kernel.outputs))
            kernel_out = [node_out[j] if j is not None and j < len(node_out) else -1 for j in out_map]
            relower = None if how.reshapable else self._relower(op, inputs, ins, outs, ns.consts, how)
            value_slots = [node_in[x] for x in how.value_inputs]
            step_t = ("native", how.kernel, kernel_in, kernel_out, run_op, node_in, node_out, relower, value_slots)
        elif isinstance(how, Alias) and how.rule is not None and how.input == 0:
            r = how.rule
            step_t = ("view", r.kind, r.params, r.allowzero, node_in, node_out[0], run_op)
            self._views.append((writes[0], reads[0]))
        elif isinstance(how, Concat) and len(node_in) <= MAX_STEP_INPUTS:
            step_t = ("concat", node_in, node_out[0], how.axis, run_op)
        elif isinstance(how, Permute):
            step_t = ("transpose", node_in[0], node_out[0], list(how.perm))
        else:
            step_t = ("python", run_op, node_in, node_out)
            self.python_reasons[len(self._steps)] = how.reason if isinstance(how, KeepPython) else \
                "lowered to a form a dynamic plan does not take"
        self._add(step_t, op, reads, writes)

    # --- If: both branches inlined, the condition read as the plan runs ---------------------
    def _emit_if(self, ns, step):
        """  if cond else-> E | then-branch steps | jump -> END | E: else-branch steps | END
        A branch with no recorded shapes (no call took it, and its run on zeros failed) is one
        Python step that runs it on its own plans and, once it has recorded them, marks this
        plan stale: the executor compiles it again, inlined."""
        op, inputs, outputs = ns.executor.steps[step]
        cond = ns.meta(inputs[0]) if inputs and inputs[0] else None
        if cond is None or cond.dtype != np.bool_:
            raise PlanUnsupported(f"If node {op.name!r}: the condition is not a bool tensor")
        if any(n and ns.meta(n) is None for n in outputs):
            raise PlanUnsupported(f"If node {op.name!r} has outputs that are not tensors")
        out_keys = [ns.key(n) if n else None for n in outputs]
        for n, key in zip(outputs, out_keys):
            if n:
                if key in self.slot and key not in self._shared:
                    raise PlanUnsupported(f"value {n!r} is produced twice")
                self._slot_of(key, ns.meta(n).dtype)
                self._shared.add(key)
        at = self._add(("if", self._read_slot(ns, inputs[0]), -1), op, [ns.key(inputs[0])], [])
        jump = None
        for k, branch in enumerate((op.then_branch, op.else_branch)):
            if k == 1:
                self._steps[at] = ("if", self._steps[at][1], len(self._steps))
            if len(branch.output_names) != len(outputs):
                raise PlanUnsupported(f"If node {op.name!r}: a branch has {len(branch.output_names)} outputs, "
                                      f"the node {len(outputs)}")
            shape_class = self._branch_class(branch, ns)
            record = self._branch_record(branch, shape_class) or self._dry_record(branch, shape_class, ns)
            if record is None:
                self._emit_branch_once(ns, op, branch, out_keys, shape_class)
            else:
                self._emit_branch(ns, op, branch, record, out_keys, f"{ns.prefix}#{at}/{('then', 'else')[k]}/")
            if k == 0:
                jump = self._add(("jump", -1), op, [], [])
        end = self._add(("jump", len(self._steps) + 1), op, [], [])  # both paths meet here: releases
        self._steps[jump] = ("jump", end)
        self._regions.append((at, end))

    @staticmethod
    def _branch_class(branch, ns):
        """The shape class of the values a branch reads here (the key of its own plans), or
        None when one of them is not a tensor."""
        metas = [(n, ns.meta(n)) for n in branch.outer_names]
        if any(m is None for _, m in metas):
            return None
        return tuple(sorted((n, len(m.shape), m.dtype) for n, m in metas))

    @staticmethod
    def _branch_record(branch, shape_class):
        """The value shapes a branch recorded on its first call of that class (None: no call
        has taken it with such values)."""
        entry = branch._dynamic.get(shape_class)
        record = entry if isinstance(entry, dict) else getattr(entry, "example", None)
        return record or None

    @staticmethod
    def _dry_record(branch, shape_class, ns):
        """The value shapes of a branch no call has taken, from one run of its Python path on
        zeros of the shapes it reads here (ranks and dtypes are what the plan needs; the data
        decides only the example's sizes). None when that run fails: the branch then stays one
        Python step until a call takes it."""
        if shape_class is None:
            return None
        feeds = {n: np.zeros(ns.meta(n).shape, ns.meta(n).dtype) for n in branch.outer_names}
        record = {}
        try:
            with np.errstate(all="ignore"):
                branch.run_python({}, feeds, branch.output_names, record=record)
        except Exception:  # noqa: BLE001  any failure on made-up data: no record, no harm
            return None
        for n in branch.outer_names:
            record[n] = ns.meta(n)
        if any(m is None for m in record.values()):
            return None
        branch._dynamic.setdefault(shape_class, record)
        return record

    def _emit_branch(self, ns, op, branch, record, out_keys, prefix):
        produced = {n for _, _, outs in branch.steps for n in outs if n}
        renamed = {}
        for j, n in enumerate(branch.output_names):
            if out_keys[j] is None or record.get(n) is None:
                continue
            if record[n].dtype != self._dtypes[self.slot[out_keys[j]]]:
                raise PlanUnsupported(f"If node {op.name!r}: branch output {n!r} is {record[n].dtype}, "
                                      f"the node's output {self._dtypes[self.slot[out_keys[j]]]}")
            if n in produced and branch.output_names.count(n) == 1:
                renamed[n] = out_keys[j]
        inner = _Namespace(branch, record.get, branch.constants, prefix, outer=ns, renamed=renamed)
        self._emit_graph(inner)
        for j, n in enumerate(branch.output_names):  # outputs read from outside or given twice: bound
            if out_keys[j] is not None and n not in renamed:
                src = self._read_slot(inner, n)
                self._add(("bind", src, self.slot[out_keys[j]]), op, [inner.key(n)], [out_keys[j]])
                self._views.append((out_keys[j], inner.key(n)))

    def _emit_branch_once(self, ns, op, branch, out_keys, shape_class):
        names = list(branch.outer_names)
        plan = self

        def run_branch(args):
            outs = tuple(branch.run({}, outer_env=dict(zip(names, args))))
            if shape_class is not None and plan._branch_record(branch, shape_class) is not None:
                plan.stale = True  # it recorded its shapes: the executor compiles the plan again, inlined
            return outs

        node_in = [self._read_slot(ns, n) for n in names]
        self.python_reasons[len(self._steps)] = "a branch no call has taken yet (inlined once it has run)"
        self._add(("python", run_branch, node_in, [self.slot[k] if k else -1 for k in out_keys]), op,
                  [ns.key(n) for n in names], [k for k in out_keys if k])

    def _release_lists(self) -> list:
        """After which step each value is freed: its last reader; a value an If branch reads
        from outside lives to the If's end (the reader may be in the branch not taken); a
        value whose bytes views share lives as long as any of them. Constants and graph
        outputs stay."""
        last = {}
        for i, (reads, writes) in enumerate(zip(self._reads, self._writes)):
            for n in reads + writes:
                last[n] = i
        for first, end in self._regions:
            inside = set()
            for i in range(first, end + 1):
                inside.update(self._writes[i])
            for i in range(first, end + 1):
                for n in self._reads[i]:
                    if n not in inside:
                        last[n] = max(last[n], end)
        parent = {n: n for n in self.slot}

        def root(n):
            while parent[n] != n:
                parent[n] = parent[parent[n]]
                n = parent[n]
            return n
        for a, b in self._views:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[ra] = rb
        group_end = {}
        for n in self.slot:
            if n in last:
                group_end[root(n)] = max(group_end.get(root(n), -1), last[n])
        keep = set(self.executor.output_names)
        release = [[] for _ in self._steps]
        for n, s in self.slot.items():
            if n in keep or s in self._const_values or n not in last:
                continue
            release[group_end[root(n)]].append(s)
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
        """lower() asked again for new input shapes (and the values of its value_inputs, as the
        plan read them): the kernel, when the answer has the same form as the first one (the
        same inputs, outputs and extra arrays), else None (op.run). The output metas keep the
        example's shapes: lower() reads their dtypes and ranks."""
        def same(a, b):
            return a is b if hasattr(a, "array") else a == b

        def relower(shapes, values=()):
            metas = [Meta(tuple(s), m.dtype) if m is not None and s is not None else m for s, m in zip(shapes, ins)]
            known = {x: _decode_values(v, ins[x].dtype).reshape(shapes[x]) for x, v in zip(how.value_inputs, values)}
            again = lower(op, list(inputs), metas, outs, consts, dynamic=True, values=known)
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


def _decode_values(values, dtype) -> np.ndarray:
    """A value input's elements as the plan read them (int64 each: integers by value, float32
    and float64 by their bits; _dynamic._read_control) back in the input's dtype."""
    dtype = np.dtype(dtype)
    raw = np.array(values, np.int64)
    if dtype.kind in "iu":
        return raw.astype(dtype)
    if dtype.itemsize == 4:
        return raw.astype(np.int32).view(dtype)
    return raw.view(dtype)

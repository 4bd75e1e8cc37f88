"""Control flow (If, Loop, Scan), sequences and optionals.

Subgraph bodies run on runners built by the op context (OpContext.subgraph: a child executor).
They may read values of the enclosing graph by name (outer scope): such ops set
`uses_outer_scope`, and the executor passes them its environment through run_scoped().
"""
from __future__ import annotations

import numpy as np

from ..registry import register
from .base import Op, normalize_axis

_CONTROL_FLOW_VERSIONS = (1, 11, 13, 16, 19, 21, 23, 24, 25)


def _body(op: Op, name: str):
    return op.ctx.subgraph(op.attr(name))


class _Scoped(Op):
    uses_outer_scope = True

    def run(self, *inputs):
        raise self.run_error("needs the enclosing graph's values (run_scoped)")


@register("If", *_CONTROL_FLOW_VERSIONS)
class If(_Scoped):
    def setup(self):
        self.then_branch = _body(self, "then_branch")
        self.else_branch = _body(self, "else_branch")

    def run_scoped(self, env, cond):
        if cond is None or np.size(cond) != 1:
            raise self.run_error(f"the condition must hold exactly one element, got shape {np.shape(cond)}")
        branch = self.then_branch if bool(np.asarray(cond).reshape(-1)[0]) else self.else_branch
        return tuple(branch.run({}, outer_env=env))


@register("Loop", *_CONTROL_FLOW_VERSIONS)
class Loop(_Scoped):
    def setup(self):
        self.body = _body(self, "body")
        self.body_inputs = [i.name for i in self.attr("body").input]

    def run_scoped(self, env, max_trips=None, cond=None, *carried):
        carried = list(carried)
        n_carried = len(carried)
        trips = None if max_trips is None else int(np.asarray(max_trips).reshape(-1)[0])
        keep_going = True if cond is None else bool(np.asarray(cond).reshape(-1)[0])
        scans = None
        i = 0
        run_body = self.body.bound_to(env)
        while keep_going and (trips is None or i < trips):
            outs = run_body(dict(zip(self.body_inputs, [np.array(i, np.int64), np.array(keep_going)] + carried)))
            keep_going = bool(np.asarray(outs[0]).reshape(-1)[0]) if cond is not None else True
            carried = list(outs[1:1 + n_carried])
            step_scans = outs[1 + n_carried:]
            if scans is None:
                scans = [[] for _ in step_scans]
            for acc, value in zip(scans, step_scans):
                acc.append(value)
            i += 1
            if trips is None and cond is None:
                raise self.run_error("a Loop with neither a trip count nor a condition never ends")
        n_scan = len(self.body.output_names) - 1 - n_carried
        stacked = []
        for k in range(n_scan):
            if scans and scans[k]:
                first = scans[k][0]
                stacked.append(list(scans[k]) if isinstance(first, list) else np.stack(scans[k]))
            else:
                stacked.append(np.zeros((0,), np.float32))
        return tuple(carried) + tuple(stacked)


@register("Scan", 9, 11, 16, 19, 21, 23, 24, 25)
class Scan(_Scoped):
    def setup(self):
        self.body = _body(self, "body")
        self.body_inputs = [i.name for i in self.attr("body").input]
        self.num_scan_inputs = self.attr("num_scan_inputs")
        n_state = len(self.node.input) - self.num_scan_inputs
        if n_state < 0:
            raise self.model_error("num_scan_inputs exceeds the number of inputs")
        self.n_state = n_state
        self.in_dirs = self.attr("scan_input_directions", [0] * self.num_scan_inputs)
        self.in_axes = self.attr("scan_input_axes", [0] * self.num_scan_inputs)
        n_out = len(self.node.output) - n_state
        self.out_dirs = self.attr("scan_output_directions", [0] * n_out)
        self.out_axes = self.attr("scan_output_axes", [0] * n_out)

    def run_scoped(self, env, *inputs):
        state = list(inputs[: self.n_state])
        scan_in = []
        for x, direction, axis in zip(inputs[self.n_state:], self.in_dirs, self.in_axes):
            x = np.moveaxis(x, normalize_axis(axis, x.ndim, self), 0)
            scan_in.append(x[::-1] if direction else x)
        length = scan_in[0].shape[0] if scan_in else 0
        if any(s.shape[0] != length for s in scan_in):
            raise self.run_error("scan inputs differ in length along their scan axes")
        collected = None
        run_body = self.body.bound_to(env)
        for t in range(length):
            outs = run_body(dict(zip(self.body_inputs, state + [s[t] for s in scan_in])))
            state = list(outs[: self.n_state])
            if collected is None:
                collected = [[] for _ in outs[self.n_state:]]
            for acc, v in zip(collected, outs[self.n_state:]):
                acc.append(v)
        results = []
        for k, (direction, axis) in enumerate(zip(self.out_dirs, self.out_axes)):
            stacked = np.stack(collected[k][::-1] if direction else collected[k]) if collected else np.zeros((0,))
            results.append(np.moveaxis(stacked, 0, normalize_axis(axis, stacked.ndim, self)))
        return tuple(state) + tuple(results)


@register("Scan", 8)
class Scan8(_Scoped):
    """Scan-8: every input carries a leading batch axis; optional per-batch sequence_lens.

    Each batch item runs the Scan-9 semantics on its slice (scan axis 1 of the batched tensors);
    scan outputs past a sequence's length are zero-filled.
    """

    def setup(self):
        self.body = _body(self, "body")
        self.body_inputs = [i.name for i in self.attr("body").input]
        self.num_scan_inputs = self.attr("num_scan_inputs")
        self.n_state = len(self.node.input) - 1 - self.num_scan_inputs
        if self.n_state < 0:
            raise self.model_error("num_scan_inputs exceeds the number of inputs")
        self.directions = self.attr("directions", [0] * self.num_scan_inputs)

    def run_scoped(self, env, sequence_lens, *inputs):
        states, scans = list(inputs[: self.n_state]), list(inputs[self.n_state:])
        batch = (states + scans)[0].shape[0]
        max_len = scans[0].shape[1] if scans else 0
        lens = np.full(batch, max_len, np.int64) if sequence_lens is None else np.asarray(sequence_lens, np.int64)
        if lens.shape != (batch,) or (lens < 0).any() or (lens > max_len).any():
            raise self.run_error(f"sequence_lens {lens.tolist()} must hold {batch} lengths in [0, {max_len}]")
        final_states, scan_outputs = [], []
        for b in range(batch):
            state = [s[b] for s in states]
            steps = []
            for t in range(int(lens[b])):
                feeds = state + [x[b, (lens[b] - 1 - t) if d else t] for x, d in zip(scans, self.directions)]
                outs = self.body.run(dict(zip(self.body_inputs, feeds)), outer_env=env)
                state = list(outs[: self.n_state])
                steps.append(outs[self.n_state:])
            final_states.append(state)
            scan_outputs.append(steps)
        results = [np.stack([fs[k] for fs in final_states]) for k in range(self.n_state)]
        n_out = len(self.body.output_names) - self.n_state
        for k in range(n_out):
            example = next((steps[0][k] for steps in scan_outputs if steps), None)
            if example is None:
                raise self.run_error("every sequence is empty: the scan outputs' shapes are unknown")
            out = np.zeros((batch, max_len) + example.shape, example.dtype)
            for b, steps in enumerate(scan_outputs):
                for t, step in enumerate(steps):
                    out[b, t] = step[k]
            results.append(out)
        return tuple(results)


# --- sequences: a Python list of arrays ---------------------------------------------------

def _position(op: Op, seq: list, pos, inserting: bool) -> int:
    n = len(seq)
    p = int(np.asarray(pos).reshape(-1)[0])
    hi = n if inserting else n - 1
    if not -n <= p <= hi:
        raise op.run_error(f"position {p} is out of range for a sequence of length {n}")
    return p + n if p < 0 else p


@register("SequenceEmpty", 11)
class SequenceEmpty(Op):
    def run(self):
        return ([],)


@register("SequenceConstruct", 11)
class SequenceConstruct(Op):
    def run(self, *tensors):
        return (list(tensors),)


@register("SequenceInsert", 11)
class SequenceInsert(Op):
    def run(self, seq, tensor, position=None):
        out = list(seq)
        out.insert(len(out) if position is None else _position(self, out, position, True), tensor)
        return (out,)


@register("SequenceAt", 11)
class SequenceAt(Op):
    def run(self, seq, position):
        return (seq[_position(self, seq, position, False)],)


@register("SequenceErase", 11)
class SequenceErase(Op):
    def run(self, seq, position=None):
        out = list(seq)
        del out[len(out) - 1 if position is None else _position(self, out, position, False)]
        return (out,)


@register("SequenceLength", 11)
class SequenceLength(Op):
    def run(self, seq):
        return (np.array(len(seq), np.int64),)


@register("SplitToSequence", 11, 24)
class SplitToSequence(Op):
    def setup(self):
        self.axis = self.attr("axis", 0)
        self.keepdims = self.attr("keepdims", 1)

    def run(self, x, split=None):
        axis = normalize_axis(self.axis, x.ndim, self)
        if split is None:
            parts = np.split(x, x.shape[axis], axis=axis)
            return ([p if self.keepdims else np.squeeze(p, axis) for p in parts],)
        split = np.asarray(split)
        if split.ndim == 0:
            size = int(split)
            if size <= 0:
                raise self.run_error(f"split size must be positive, got {size}")
            bounds = list(range(size, x.shape[axis], size))
        else:
            if split.sum() != x.shape[axis] or (split < 0).any():
                raise self.run_error(f"split sizes {split.tolist()} do not add up to {x.shape[axis]}")
            bounds = np.cumsum(split)[:-1].tolist()
        return (np.split(x, bounds, axis=axis),)


@register("ConcatFromSequence", 11)
class ConcatFromSequence(Op):
    def setup(self):
        self.axis = self.attr("axis")
        self.new_axis = self.attr("new_axis", 0)

    def run(self, seq):
        if not seq:
            raise self.run_error("cannot concatenate an empty sequence")
        rank = seq[0].ndim + (1 if self.new_axis else 0)
        axis = normalize_axis(self.axis, rank, self)
        return (np.stack(seq, axis=axis) if self.new_axis else np.concatenate(seq, axis=axis),)


@register("SequenceMap", 17)
class SequenceMap(_Scoped):
    def setup(self):
        self.body = _body(self, "body")
        self.body_inputs = [i.name for i in self.attr("body").input]

    def run_scoped(self, env, seq, *extra):
        n = len(seq)
        outs_per_item = []
        for i in range(n):
            args = [seq[i]] + [e[i] if isinstance(e, list) else e for e in extra]
            outs_per_item.append(self.body.run(dict(zip(self.body_inputs, args)), outer_env=env))
        n_out = len(self.body.output_names)
        return tuple([item[k] for item in outs_per_item] for k in range(n_out))


# --- optionals: None is the empty optional, anything else is the held value --------------

@register("Optional", 15, 28)
class Optional(Op):
    def run(self, value=None):
        return (value,)


@register("OptionalHasElement", 15, 18, 28)
class OptionalHasElement(Op):
    def run(self, value=None):
        return (np.array(value is not None),)


@register("OptionalGetElement", 15, 18, 28)
class OptionalGetElement(Op):
    def run(self, value=None):
        if value is None:
            raise self.run_error("the optional input is empty")
        return (value,)

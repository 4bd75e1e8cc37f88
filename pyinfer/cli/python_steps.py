"""Which nodes of a model still run as Python steps in a compiled plan, and why.

Compiles a plan the way a session does (one run records the shapes, the next compiles) on
random feeds of the declared input shapes (symbolic dimensions from `dims`, else 1), then asks
every node that the plan keeps in Python why its lower() declined (lowering.explain).

    report = python_steps("model.onnx", dims={"batch": 1})
    report["python"]   # [{"op": "NonZero", "name": "...", "reason": "no native kernel"}, ...]
"""
from __future__ import annotations

from collections import Counter

from ..errors import Error
from ..lowering import Alias, KeepPython, explain
from ..session import InferenceSession
from .bench import random_feeds


def python_steps(model, dims: dict | None = None, num_threads: int = 1, feeds: dict | None = None) -> dict:
    """{"compiled": bool, "reason": why not (when not), "nodes": n, "native": n, "python": [step...]}.
    feeds: the inputs to compile the plan for (default: random ones of the declared shapes). A graph
    without a plan (subgraphs reading the enclosing scope) lists what each node's lower() would
    answer in one."""
    from ..plan import CompiledPlan, PlanUnsupported
    from ..executor import call_op

    sess = InferenceSession(model, num_threads=num_threads, executor="plan")
    executor = sess._executor
    try:
        feeds = feeds if feeds is not None else random_feeds(sess.get_inputs(), dims or {},
                                                             int_high=_index_bounds(executor, sess.get_inputs()))
        sess.run(None, feeds)  # records every value's shape and dtype
    except (Error, ValueError) as e:
        return {"compiled": False, "reason": f"cannot run on random inputs: {e}", "nodes": len(executor.steps),
                "native": 0, "python": []}
    record = next((e for e in executor._plans.values() if isinstance(e, dict)), None)
    if not record:
        return {"compiled": False, "reason": "a value is not a tensor (sequences, optionals)",
                "nodes": len(executor.steps), "native": 0, "python": []}
    consts = {n: v for n, v in executor.constants.items() if n not in feeds}
    if executor._has_if():  # such graphs run on the dynamic plan, which inlines the branches
        info = _dynamic_plan_steps(executor, record, feeds, call_op)
        if info is not None:
            return info
    try:
        plan = CompiledPlan(executor, record, set(feeds), call_op)
    except PlanUnsupported as e:
        # No plan for this graph: what each node's lower() would answer in one.
        steps = [{"op": op.op_type, "name": op.name, "reason": how.reason} for op, how in
                 ((op, explain(op, list(inputs), [record.get(n) if n else None for n in inputs],
                               [record[n] for n in outputs if n], consts)) for op, inputs, outputs in executor.steps)
                 if isinstance(how, KeepPython)]
        return {"compiled": False, "reason": str(e), "nodes": len(executor.steps),
                "native": len(executor.steps) - len(steps), "python": steps}
    steps = []
    for op, inputs, outputs in executor.steps:
        outs = [n for n in outputs if n]
        if not outs or plan.kind.get(outs[0]) != "py":
            continue
        how = explain(op, list(inputs), [plan.meta.get(n) if n else None for n in inputs],
                      [plan.meta[n] for n in outs], consts)
        if isinstance(how, KeepPython):
            reason = how.reason
        elif isinstance(how, Alias):
            source = plan.kind.get(inputs[how.input])
            reason = "a view of a Python step's output" if source == "py" else f"a view of a {source} value"
        else:
            reason = "lowered, but its input comes from Python"
        steps.append({"op": op.op_type, "name": op.name, "reason": reason})
    return {"compiled": True, "nodes": len(executor.steps), "native": len(executor.steps) - len(steps),
            "python": steps}


def _index_bounds(executor, feed_args) -> dict:
    """{integer input: how many rows it may index} for inputs that a Gather reads as indices
    into a constant (token ids into an embedding table): random feeds stay within the table."""
    bounds = {}
    feeds = {a.name for a in feed_args}
    for op, inputs, _ in executor.steps:
        if op.op_type != "Gather" or len(inputs) < 2 or inputs[1] not in feeds or inputs[0] not in executor.constants:
            continue
        data = executor.constants[inputs[0]]
        axis = op.attr("axis", 0)
        if -data.ndim <= axis < data.ndim:
            bounds[inputs[1]] = min(bounds.get(inputs[1], data.shape[axis]), data.shape[axis])
    return bounds


def _dynamic_plan_steps(executor, record, feeds, call_op) -> dict:
    """python_steps() for a graph with an If: the dynamic plan's steps (both branches inlined,
    unless one cannot be recorded before a call takes it); None when the graph has no dynamic
    plan (it then runs a static one)."""
    from ..dynamic_plan import DynamicPlan
    from ..plan import PlanUnsupported

    try:
        plan = DynamicPlan(executor, record, set(feeds), call_op)
    except PlanUnsupported:
        return None
    prog = plan.program
    steps = [{"op": plan.step_ops[i].op_type, "name": plan.step_ops[i].name, "reason": plan.python_reasons.get(i, "")}
             for i in range(prog.n_steps) if not prog.is_native(i)]
    nodes = len({id(op) for op in plan.step_ops})
    return {"compiled": True, "nodes": nodes, "native": nodes - len(steps), "python": steps}


def format_python_steps(info: dict) -> list[str]:
    """Report lines: the count, then one line per (op, reason) with how many nodes."""
    if info["compiled"]:
        lines = [f"compiled plan: {info['native']} of {info['nodes']} nodes native, {len(info['python'])} Python steps"]
    else:
        lines = [f"compiled plan: none ({info['reason']})"]
        if info["nodes"] and info["native"] + len(info["python"]) == info["nodes"]:
            lines.append(f"  in a plan: {info['native']} of {info['nodes']} nodes would lower, "
                         f"{len(info['python'])} would stay Python steps")
    for (op, reason), n in Counter((s["op"], s["reason"]) for s in info["python"]).most_common():
        lines.append(f"  {op:<24} {n:>4}  {reason}")
    return lines

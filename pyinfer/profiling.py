"""Per-node timings as a Chrome trace (chrome://tracing, Perfetto), like onnxruntime's profiler.

A session with enable_profiling records one complete event ("ph": "X") per node run and one
per sess.run(); sess.end_profiling() writes them as a JSON array to
"<profile_file_prefix>_<date>_<time>.json" and returns the path. Event fields follow
onnxruntime's: name (node name), cat ("Node" / "Session"), ts and dur in microseconds, pid, tid,
args.op_name (op type) and args.provider ("native": a compiled-plan step; "python": op.run).
"""
from __future__ import annotations

import datetime
import json
import os
import threading
import time

DEFAULT_PREFIX = "pyinfer_profile"


class Profiler:
    now = staticmethod(time.perf_counter_ns)

    def __init__(self, prefix: str = DEFAULT_PREFIX):
        self.prefix = prefix or DEFAULT_PREFIX
        self.events = []
        self._start = self.now()
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def _event(self, name, cat, t0, t1, args):
        ev = {"name": name, "cat": cat, "ph": "X", "ts": (t0 - self._start) / 1000.0,
              "dur": (t1 - t0) / 1000.0, "pid": self._pid, "tid": threading.get_ident() % (1 << 31),
              "args": args}
        with self._lock:
            self.events.append(ev)

    def record(self, op, t0: int, t1: int, provider: str) -> None:
        self._event(op.name, "Node", t0, t1, {"op_name": op.op_type, "provider": provider})

    def record_run(self, t0: int, t1: int) -> None:
        self._event("model_run", "Session", t0, t1, {})

    def run_program(self, plan, frame) -> None:
        """Execute a compiled plan one step at a time, timing each (an If's condition and jumps
        pick the next step; they are not recorded)."""
        prog = plan.program
        control = getattr(prog, "is_control", None)
        i, n = 0, len(plan.step_ops)
        while i < n:
            t0 = self.now()
            nxt = prog.execute(frame, i, i + 1)
            if control is None or not control(i):
                self.record(plan.step_ops[i], t0, self.now(), "native" if prog.is_native(i) else "python")
            i = nxt

    def write(self) -> str:
        stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
        path = f"{self.prefix}_{stamp}.json"
        with self._lock:
            events = list(self.events)
        with open(path, "w") as f:
            json.dump(events, f)
        return path


def op_type_table(events: list) -> list[dict]:
    """Per op type: nodes run (count), total milliseconds, share of all node time; largest first."""
    totals = {}
    for ev in events:
        if ev.get("cat") != "Node":
            continue
        t = ev["args"]["op_name"]
        count, us = totals.get(t, (0, 0.0))
        totals[t] = (count + 1, us + ev["dur"])
    grand = sum(us for _, us in totals.values()) or 1.0
    rows = [{"op_type": t, "count": c, "total_ms": us / 1000.0, "share": us / grand} for t, (c, us) in totals.items()]
    return sorted(rows, key=lambda r: -r["total_ms"])


def format_table(rows: list[dict]) -> str:
    lines = [f"{'op type':<24} {'count':>7} {'total ms':>10} {'share':>7}"]
    for r in rows:
        lines.append(f"{r['op_type']:<24} {r['count']:>7} {r['total_ms']:>10.3f} {r['share'] * 100:>6.1f}%")
    return "\n".join(lines)


def save_bar_chart(rows: list[dict], path: str) -> bool:
    """A horizontal bar chart of total ms per op type; False (nothing written) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = rows[:30]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.5))
    ax.barh([r["op_type"] for r in rows][::-1], [r["total_ms"] for r in rows][::-1])
    ax.set_xlabel("total time (ms)")
    ax.set_title("pyinfer: time per op type")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True

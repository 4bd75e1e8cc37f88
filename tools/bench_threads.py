#!/usr/bin/env python
"""What threading costs per inference, counted rather than timed.

    python tools/bench_threads.py MODEL [MODEL ...] [--threads 2] [--runs 50] [--gap ort|none|SECONDS]
    python tools/bench_threads.py --wakeup [--threads 2]
    python tools/bench_threads.py MODEL --per-node [--threads 2]

MODEL: as tools/bench.py (suite, all, seq, cifar10, light:resnet50, a path...). For each model it
runs a pyinfer session at --threads, resets pyinfer.kernels.thread_stats() and reports per run:
parallel regions, parallel loops run inline (one thread decided), regions run serially because
another was active, worker wake-ups (a worker had fallen asleep), regions whose caller had to wake
a sleeping worker (futex: a system call on the caller's path), caller sleeps,
the share of chunks the workers ran, and the caller's wait for workers. Between runs (--gap):
an onnxruntime run of the same model, as tools/bench.py interleaves them (default), nothing, or a
sleep of SECONDS. --wakeup measures the pool's hand-off latency (pyinfer.kernels.measure_wakeup)
with workers spinning and asleep. --per-node runs each plan step alone (the profiler's loop) and
prints the regions and inline loops of every node, with its median time.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import bench  # noqa: E402  (puts the checkout and tests/support on sys.path)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="*")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--gap", default="ort", help="between runs: ort (an onnxruntime run), none, or seconds to sleep")
    p.add_argument("--wakeup", action="store_true", help="measure the pool's wake-up latency")
    p.add_argument("--repeats", type=int, default=200, help="--wakeup: samples per case")
    p.add_argument("--per-node", action="store_true", help="regions and inline loops of each node")
    args = p.parse_args(argv)
    if not args.models and not args.wakeup:
        p.error("give models, --wakeup, or both")
    return args


def count_model(t, args) -> dict:
    import pyinfer
    from pyinfer.cli.bench import have_onnxruntime, ort_session, parse_dims, random_feeds

    sess = pyinfer.InferenceSession(t.path, num_threads=args.threads)
    feeds = t.feeds or random_feeds(sess.get_inputs(), parse_dims([]), int_high=100)
    gap = lambda: None  # noqa: E731
    if args.gap == "ort" and have_onnxruntime():
        ort = ort_session(t.path, args.threads, spinning=False)
        gap = lambda: ort.run(None, feeds)  # noqa: E731
    elif args.gap not in ("ort", "none"):
        seconds = float(args.gap)
        gap = lambda: time.sleep(seconds)  # noqa: E731
    for _ in range(3):
        sess.run(None, feeds)
        gap()
    pyinfer.kernels.thread_stats(reset=True)
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        sess.run(None, feeds)
        times.append(time.perf_counter() - start)
        # Counted around pyinfer's runs only: onnxruntime does not touch pyinfer's pool.
        gap()
    s = pyinfer.kernels.thread_stats(reset=True)
    per = {k: v / args.runs for k, v in s.items()}
    chunks = s["caller_chunks"] + s["worker_chunks"]
    per["worker_share"] = s["worker_chunks"] / chunks if chunks else 0.0
    per["median_ms"] = statistics.median(times) * 1e3
    return per


def per_node(t, args, out=sys.stdout) -> None:
    """Each compiled-plan step run alone (as the profiler runs them), with its thread events."""
    import collections

    import pyinfer
    from pyinfer import profiling
    from pyinfer.cli.bench import parse_dims, random_feeds

    stats = collections.defaultdict(lambda: collections.Counter())
    times = collections.defaultdict(list)
    order = []

    def run_program(self, plan, frame):
        prog = plan.program
        for i, op in enumerate(plan.step_ops):
            pyinfer.kernels.thread_stats(reset=True)
            t0 = self.now()
            prog.execute(frame, i, i + 1)
            t1 = self.now()
            s = pyinfer.kernels.thread_stats(reset=True)
            key = (op.name, op.op_type)
            if key not in stats:
                order.append(key)
            stats[key].update(s)
            stats[key]["runs"] += 1
            times[key].append((t1 - t0) / 1e3)

    saved = profiling.Profiler.run_program
    profiling.Profiler.run_program = run_program
    try:
        sess = pyinfer.InferenceSession(t.path, num_threads=args.threads, enable_profiling=True)
        feeds = t.feeds or random_feeds(sess.get_inputs(), parse_dims([]), int_high=100)
        for _ in range(3):
            sess.run(None, feeds)
        stats.clear(), times.clear(), order.clear()
        for _ in range(args.runs):
            sess.run(None, feeds)
    finally:
        profiling.Profiler.run_program = saved
    print(f"\n{t.label}: per node at {args.threads} threads, per run (median us; regions; inline loops; "
          "worker share of chunks)", file=out)
    for key in order:
        s, n = stats[key], stats[key]["runs"]
        chunks = s["caller_chunks"] + s["worker_chunks"]
        share = s["worker_chunks"] / chunks if chunks else 0.0
        print(f"  {key[0][:40]:<40} {key[1]:<18} {statistics.median(times[key]):8.1f} us  regions {s['regions'] / n:4.1f}"
              f"  inline {s['inline_calls'] / n:4.1f}  w.share {share:.2f}", file=out)


def print_counts(rows, threads, gap, out=sys.stdout):
    print(f"\nper run at {threads} threads (gap between runs: {gap}); worker share = chunks the workers ran / "
          "all chunks in regions", file=out)
    head = (f"{'model':<22}{'ms':>8}{'regions':>9}{'inline':>8}{'busy':>6}{'wakeups':>9}{'futex':>7}"
            f"{'c.sleeps':>9}{'w.share':>8}{'wait us':>9}")
    print(head, file=out)
    print("-" * len(head), file=out)
    for label, r in rows:
        print(f"{label:<22}{r['median_ms']:>8.2f}{r['regions']:>9.1f}{r['inline_calls']:>8.1f}"
              f"{r['busy_serial']:>6.1f}{r['worker_wakeups']:>9.2f}{r.get('futex_wakes', 0):>7.2f}"
              f"{r['caller_sleeps']:>9.2f}"
              f"{r['worker_share']:>8.2f}{r['wait_ns'] / 1e3:>9.1f}", file=out)


def print_wakeup(threads, repeats, out=sys.stdout):
    import pyinfer

    if not hasattr(pyinfer.kernels, "measure_wakeup"):
        print("this build has no pyinfer.kernels.measure_wakeup", file=out)
        return
    print(f"\nhand-off latency at {threads} threads, {repeats} samples: publish -> a worker starts its chunk "
          "(median / 90th percentile, microseconds)", file=out)
    for label, gap_us in (("workers spinning (back to back)", 0), ("workers asleep (2 ms apart)", 2000)):
        r = pyinfer.kernels.measure_wakeup(threads, repeats, gap_us)
        print(f"  {label:<34} median {r['median_ns'] / 1e3:7.2f}   p90 {r['p90_ns'] / 1e3:7.2f}   "
              f"region {r['region_median_ns'] / 1e3:7.2f}   worker on the caller's CPU {r.get('same_cpu', 0):.0%}",
              file=out)


def print_cost_model(out=sys.stdout) -> None:
    """The cost model's measured numbers (pyinfer.kernels.cost_model()) after the runs above."""
    import pyinfer

    m = pyinfer.kernels.cost_model()
    region = f"{m['region_ns'] / 1e3:.2f} us" if m["region_ns"] > 0 else "not measured"
    print(f"\ncost model: {m['flops_per_ns']:.1f} flops/ns, {m['bytes_per_ns']:.1f} bytes/ns (one core), "
          f"region {region}, least work per thread {m['min_thread_work_ns'] / 1e3:.2f} us", file=out)


def main(argv=None) -> int:
    args = parse_args(argv)
    bench.limit_library_threads(args.threads)
    import pyinfer

    info = pyinfer.cpu_info()
    model_name = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                      bench.platform.processor()) if os.path.exists("/proc/cpuinfo") else bench.platform.processor()
    print(f"pyinfer {os.path.dirname(pyinfer.__file__)}\ncpu: {model_name}, {os.cpu_count()} logical; {info}")
    if args.wakeup:
        print_wakeup(args.threads, args.repeats)
        if not args.models:
            print_cost_model()
    if args.models:
        ns = argparse.Namespace(models=args.models, exporter="legacy", cases="first", dim=[], int_high=100)
        if args.per_node:
            for t in bench.targets(ns):
                per_node(t, args)
            print_cost_model()
            return 0
        rows = [(t.label, count_model(t, args)) for t in bench.targets(ns)]
        print_counts(rows, args.threads, args.gap)
    print_cost_model()
    return 0


if __name__ == "__main__":
    sys.exit(main())

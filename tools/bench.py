#!/usr/bin/env python
"""Time pyinfer against onnxruntime, OpenVINO and PyTorch on the same models, inputs and threads.

    python tools/bench.py MODEL [MODEL ...] [--threads 1|1,2|1,all] [--peers ort,openvino,torch]
                          [--repeats 20] [--warmup 3] [--time-budget SECONDS]
                          [--exporter legacy|dynamo|legacy_bn[,...]] [--cases first|all|CASE[,...]]
                          [--dim NAME=N] [--json FILE] [--png FILE]

MODEL is
  - a path to an .onnx file (random inputs; --dim sets symbolic dimensions);
  - a model name from tests/support/model_export.py (CNNs: cifar10, resnet18, mobilenetv2,
    squeezenet11, textcnn; sequence models: bilstm, gru, rnn_tanh, rnn_relu, crnn and the others in
    its SPECS),
    exported into the cache on first use (needs torch), fed its recorded inputs and checked against
    PyTorch's outputs. NAME@bN tiles the first case's inputs to batch N (cifar10@b32). A named model
    is timed on its first recorded case unless --cases picks others; such rows read MODEL:CASE;
  - tv:NAME[@sSIZE], one of torchvision's architectures (tests/support/torchvision_models.py), random
    init, batch 1, SIZE x SIZE (224), one row per --exporter (tools/bench_torchvision.py runs them all);
  - light:NAME, one of onnx's light_*.onnx CNNs with random weights (tests/support/light_models.py:
    alexnet, densenet121, inception_v1, inception_v2, resnet50, shufflenet, squeezenet, vgg19,
    zfnet512);
  - a group: "all" (the model_export CNNs), "seq" (its sequence models), "lights" (the nine
    light models), "suite" (all + cifar10@b32 + lights).

Peers (--peers, those installed): onnxruntime (one inter-op thread, sequential; idle threads do not
spin, see --ort-spinning), OpenVINO (CPU plugin forced to float32, one stream) and, for models from
model_export.py, PyTorch eager (the torch module itself under torch.inference_mode(), after
torch.set_num_threads). Every runtime gets the same feeds and thread count and, before numpy loads,
the same OMP/OpenBLAS/MKL thread limits; each thread count runs in its own subprocess. After
warm-up the runs are interleaved; the table shows medians and ratio = pyinfer / the fastest peer
(below 1: pyinfer is the fastest). docs/BENCHMARKS.md explains every column.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from _checkout import use_checkout_if_built, use_test_support  # noqa: E402

use_checkout_if_built()
use_test_support()  # support.model_export / support.light_models: the named models
MODEL_NAMES = ("cifar10", "resnet18", "mobilenetv2", "squeezenet11", "textcnn")
SEQ_MODEL_NAMES = ("bilstm", "gru", "rnn_tanh", "rnn_relu", "crnn")
# Further names model_export.py knows (test sizes, the padded and streaming LSTMs); listed here so
# that telling a name from a path does not need torch imported.
OTHER_NAMES = ("bilstm_small", "gru_small", "rnn_tanh_small", "rnn_relu_small", "lstm_varlen", "lstm_stream")
LIGHT_NAMES = ("alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet",
               "squeezenet", "vgg19", "zfnet512")  # support/light_models.py LIGHT_MODELS
LIGHTS = tuple(f"light:{n}" for n in LIGHT_NAMES)
GROUPS = {"all": MODEL_NAMES, "seq": SEQ_MODEL_NAMES, "lights": LIGHTS,
          "suite": MODEL_NAMES[:1] + ("cifar10@b32",) + MODEL_NAMES[1:] + LIGHTS}
PEERS = {"ort": "onnxruntime", "openvino": "openvino", "torch": "torch"}  # --peers key -> record key
RUNTIMES = ("pyinfer", "onnxruntime", "openvino", "torch")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+",
                   help="ONNX paths, model_export.py names (NAME@bN for batch N), light:NAME, or a group: "
                        + ", ".join(GROUPS))
    p.add_argument("--cases", default="first",
                   help="recorded cases of named models to time: first (default), all, or names, comma-separated")
    p.add_argument("--threads", default="1",
                   help="thread counts, comma-separated; 'all' = one per physical core (e.g. 1,all)")
    p.add_argument("--peers", default="ort,openvino,torch",
                   help="runtimes to compare with, comma-separated, of ort, openvino, torch; missing ones are skipped")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="cap the repeats of each model so that its timed rounds take about this long (at least 3)")
    p.add_argument("--exporter", default="legacy", help="exporter(s) for named models, comma-separated")
    p.add_argument("--dim", action="append", default=[], metavar="NAME=N", help="symbolic dimension for path models")
    p.add_argument("--int-high", type=int, default=100, help="integer inputs of path models come from [0, INT_HIGH)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON here")
    p.add_argument("--png", metavar="FILE", help="draw a bar chart of the results here (needs matplotlib)")
    p.add_argument("--no-ort", action="store_true", help="leave onnxruntime out (same as --peers without ort)")
    p.add_argument("--ort-spinning", action="store_true",
                   help="leave onnxruntime's idle threads busy-waiting (its default; off here because the spinning "
                        "takes the cores from pyinfer's interleaved runs)")
    p.add_argument("--omp-spinning", action="store_true",
                   help="leave OMP_WAIT_POLICY alone (PyTorch's OpenMP threads spin; off here for the same reason)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one thread count, JSON only
    args = p.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        p.error("--repeats must be at least 1, --warmup at least 0")
    args.peers = [x.strip() for x in args.peers.split(",") if x.strip()]
    unknown = [x for x in args.peers if x not in PEERS]
    if unknown:
        p.error(f"unknown peer(s) {unknown}; choose from {', '.join(PEERS)}")
    if args.no_ort and "ort" in args.peers:
        args.peers.remove("ort")
    try:
        args.thread_list = [t if t == "all" else int(t) for t in (x.strip() for x in args.threads.split(",")) if t]
    except ValueError:
        p.error(f"--threads expects integers or 'all', comma-separated; got {args.threads!r}")
    if not args.thread_list or any(t != "all" and t < 1 for t in args.thread_list):
        p.error("--threads must be at least 1")
    return args


def limit_library_threads(n: int, omp_spinning: bool = False) -> None:
    """Cap the BLAS/OpenMP pools numpy (and anything else) may use; only works before they load.

    OMP_WAIT_POLICY=PASSIVE (unless omp_spinning): PyTorch's OpenMP threads otherwise spin at each
    barrier, and on a loaded 2-core machine a spinning thread waits a whole time slice for a
    descheduled partner: CIFAR-10 at batch 32 took 250 ms at 2 threads against 28 ms at 1 (37 ms
    passive). The same reason onnxruntime's threads do not spin here.
    """
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(n))
    if not omp_spinning:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


# --- what to time ------------------------------------------------------------------------------


class Target:
    """One row: a label, the .onnx path, feeds and reference outputs (None: random / unknown)."""

    def __init__(self, label, path, exporter=None, feeds=None, reference=None, torch_name=None):
        self.label, self.path, self.exporter = label, path, exporter
        self.feeds, self.reference, self.torch_name = feeds, reference, torch_name


def expand(models) -> list[str]:
    names = []
    for m in models:
        names += list(GROUPS.get(m, [m]))
    return names


def targets(args) -> list[Target]:
    known = MODEL_NAMES + SEQ_MODEL_NAMES + OTHER_NAMES
    out = []
    for m in expand(args.models):
        base, _, batch = m.partition("@")
        if base in known and (not batch or (batch[:1] == "b" and batch[1:].isdigit() and int(batch[1:]) > 0)):
            out += named_targets(base, int(batch[1:]) if batch else None, args)
        elif m.startswith("light:") and m[6:] in LIGHT_NAMES:
            from support import light_models

            out.append(Target(m, light_models.cached_light(m[6:])))
        elif m.startswith("tv:"):
            out += torchvision_targets(m[3:], args)
        elif os.path.exists(m):
            out.append(Target(os.path.basename(m), m))
        else:
            raise SystemExit(f"bench: {m!r} is neither a file, NAME[@bN] with NAME one of {', '.join(known)}, "
                             f"light:NAME with NAME one of {', '.join(LIGHT_NAMES)}, nor a group ({', '.join(GROUPS)})")
    return out


def named_targets(name: str, batch: int | None, args) -> list[Target]:
    from pyinfer.cli.bench import tile_batch
    from support import model_export

    out = []
    for exporter in (e.strip() for e in args.exporter.split(",")):
        path, npz = model_export.cached_export(name, exporter)
        for case, (inputs, outputs) in pick_cases(model_export.load_cases(npz), args.cases, name):
            label = name if args.cases == "first" else f"{name}:{case}"
            reference = list(outputs.values())
            if batch is not None:
                # Rows repeated to the batch: the references hold for batch-independent CNNs only, so
                # the check falls back to PyTorch's own outputs for the tiled batch (torch peer).
                inputs, reference, label = {k: tile_batch(v, batch) for k, v in inputs.items()}, None, f"{label}@b{batch}"
            out.append(Target(label, path, exporter, inputs, reference, torch_name=name))
    return out


def torchvision_targets(name: str, args) -> list[Target]:
    """tv:NAME[@sSIZE]: torchvision's architecture NAME (support/torchvision_models.py), random init,
    batch 1, SIZE x SIZE (default 224), one row per --exporter (legacy, dynamo), checked against
    PyTorch's outputs (tools/bench_torchvision.py runs the whole list)."""
    from support import torchvision_export, torchvision_models

    base, _, size = name.partition("@s")
    if base not in torchvision_models.BUILDERS or (size and not size.isdigit()):
        raise SystemExit(f"bench: tv:{name!r}: NAME[@sSIZE] with NAME one of {', '.join(torchvision_models.BUILDERS)}")
    out = []
    for exporter in (e.strip() for e in args.exporter.split(",")):
        path, npz = torchvision_export.cached_export(base, exporter, int(size or 224))
        feeds, reference = torchvision_export.load(npz)
        out.append(Target(f"{base}.{exporter[:3]}", path, exporter, feeds, reference))
    return out


def pick_cases(cases: dict, which: str, model: str) -> list:
    """[(case, (inputs, outputs))] of a named model's recorded cases that --cases selects.

    Only cases whose inputs are the model's own feeds count (lstm_stream's "sequence" is not).
    """
    feeds = [(c, v) for c, v in cases.items() if c != "sequence"]
    if which == "first":
        return feeds[:1]
    if which == "all":
        return feeds
    wanted = [c.strip() for c in which.split(",") if c.strip()]
    missing = [c for c in wanted if c not in dict(feeds)]
    if missing:
        raise SystemExit(f"bench: {model} has no case {missing}; it has {[c for c, _ in feeds]}")
    return [(c, dict(feeds)[c]) for c in wanted]


# --- runners -----------------------------------------------------------------------------------


def torch_runner(name: str, feeds: dict, threads: int):
    """PyTorch eager on the module model_export exported (same seed, so the same weights)."""
    import torch
    from support import model_export

    torch.set_num_threads(threads)
    model = model_export.build_model(name)
    inputs = [torch.from_numpy(feeds[n]) for n in model_export.SPECS[name].input_names]

    def run():
        with torch.inference_mode():
            out = model(*inputs)
        return list(out) if isinstance(out, (tuple, list)) else [out]

    return run


def make_runners(t: Target, args, threads: int, rec: dict) -> tuple[dict, dict]:
    """{runtime: callable} and the feeds; a runtime that fails to load is noted in rec["errors"]."""
    import pyinfer
    from pyinfer.cli.bench import (have_onnxruntime, have_openvino, openvino_runner, ort_session, parse_dims,
                               random_feeds)

    runners, feeds = {}, t.feeds
    output_names = None
    try:
        sess = pyinfer.InferenceSession(t.path, num_threads=threads)
        if feeds is None:
            feeds = random_feeds(sess.get_inputs(), parse_dims(args.dim), int_high=args.int_high)
        output_names = [o.name for o in sess.get_outputs()]
        runners["pyinfer"] = lambda: sess.run(None, feeds)
    except Exception as e:  # a failing model is a result: note it and still time the peers
        rec["errors"]["pyinfer"] = f"{type(e).__name__}: {e}"
    if "ort" in args.peers and have_onnxruntime():
        try:
            ort = ort_session(t.path, threads, spinning=args.ort_spinning)
            if feeds is None:
                feeds = random_feeds(ort.get_inputs(), parse_dims(args.dim), int_high=args.int_high)
            output_names = output_names or [o.name for o in ort.get_outputs()]
            runners["onnxruntime"] = lambda: ort.run(None, feeds)
        except Exception as e:
            rec["errors"]["onnxruntime"] = f"{type(e).__name__}: {e}"
    if "openvino" in args.peers and have_openvino() and feeds is not None and output_names:
        try:
            runners["openvino"] = openvino_runner(t.path, threads, feeds, output_names)
        except Exception as e:
            rec["errors"]["openvino"] = f"{type(e).__name__}: {e}"
    if "torch" in args.peers and t.torch_name is not None:
        try:
            runners["torch"] = torch_runner(t.torch_name, feeds, threads)
        except ImportError:
            pass
        except Exception as e:
            rec["errors"]["torch"] = f"{type(e).__name__}: {e}"
    return runners, feeds or {}


def as_numpy(outputs) -> list:
    import numpy as np

    return [o.numpy() if hasattr(o, "numpy") and not isinstance(o, np.ndarray) else np.asarray(o) for o in outputs]


def bench_one(t: Target, args, threads: int) -> dict:
    from pyinfer.cli.bench import max_abs_diff, outputs_close, summarize, time_interleaved

    rec = {"model": t.label, "exporter": t.exporter, "path": t.path, "threads": threads, "errors": {}}
    runners, feeds = make_runners(t, args, threads, rec)
    rec["inputs"] = {k: list(v.shape) for k, v in feeds.items()}

    # One call each: the outputs to compare, and the first warm-up / an estimate of a round's time.
    outputs, round_s = {}, 0.0
    for name, run in list(runners.items()):
        try:
            start = time.perf_counter()
            outputs[name] = as_numpy(run())
            round_s += time.perf_counter() - start
        except Exception as e:
            rec["errors"][name] = f"{type(e).__name__}: {e}"
            del runners[name]
    if "pyinfer" in outputs:
        mine = outputs["pyinfer"]
        rec["max_abs_diff_vs"] = {n: max_abs_diff(mine, o) for n, o in outputs.items() if n != "pyinfer"}
        rec["close_to_pyinfer"] = {n: outputs_close(o, mine) for n, o in outputs.items() if n != "pyinfer"}
        if "onnxruntime" in rec["max_abs_diff_vs"]:
            rec["max_abs_diff_vs_ort"] = rec["max_abs_diff_vs"]["onnxruntime"]
    # Against what PyTorch computed: the recorded references, else the torch peer's outputs.
    reference = t.reference if t.reference is not None else outputs.get("torch")
    if reference is not None:
        for name, got in outputs.items():
            if name != "torch" or t.reference is not None:
                rec[f"{name}_matches_pytorch"] = outputs_close(got, reference)

    if runners:
        repeats = args.repeats
        if args.time_budget is not None and round_s > 0:
            repeats = max(3, min(repeats, int(args.time_budget / round_s)))
        times = time_interleaved(runners, repeats, max(args.warmup - 1, 0))
        for name, ts in times.items():
            rec[name] = summarize(ts)
    if "pyinfer" in rec:
        macs = model_macs(t.path, feeds)
        if macs:
            rec["macs"] = macs
            rec["pyinfer_gflops"] = 2e-6 * macs / rec["pyinfer"]["median_ms"]
            rec["numpy_gemm_gflops"] = numpy_gemm_ceiling()
            rec["of_numpy_ceiling"] = rec["pyinfer_gflops"] / rec["numpy_gemm_gflops"]
    peers = {n: rec[n]["median_ms"] for n in RUNTIMES[1:] if n in rec}
    if "pyinfer" in rec and peers:
        rec["ratios"] = {n: rec["pyinfer"]["median_ms"] / ms for n, ms in peers.items()}
        rec["best_peer"] = min(peers, key=peers.get)
        rec["ratio"] = rec["ratios"][rec["best_peer"]]
    rec["error"] = "; ".join(f"{k}: {v}" for k, v in rec["errors"].items()) or None
    return rec


# --- efficiency -----------------------------------------------------------------------------------

_MACS: dict = {}
_CEILING: list = []


def model_macs(path: str, feeds: dict) -> int | None:
    """Multiply-accumulates of one run (pyinfer inspect's count over the graph as given; symbolic
    dimensions take the feeds' sizes), or None when some node's count is unknown."""
    import onnx

    dims = {}
    for vi in onnx.load(path, load_external_data=False).graph.input:
        if vi.name in feeds and vi.type.HasField("tensor_type"):
            for axis, d in enumerate(vi.type.tensor_type.shape.dim):
                if d.dim_param and axis < feeds[vi.name].ndim:
                    dims[d.dim_param] = int(feeds[vi.name].shape[axis])
    key = (path, tuple(sorted(dims.items())))  # one model at two batch sizes: two counts
    if key not in _MACS:
        from pyinfer.cli.inspect_model import inspect_model

        try:
            info = inspect_model(path, dims=dims)
            known = not info["macs_unknown_nodes"]["before"]
            _MACS[key] = sum(info["macs_before"].values()) if known else None
        except Exception:  # the count is a help; the timing stands without it
            _MACS[key] = None
    return _MACS[key]


def numpy_gemm_ceiling(n: int = 1024, repeats: int = 7) -> float:
    """numpy's (BLAS's) float32 matmul GFLOP/s on n x n, best of `repeats`, with this process's
    thread limits (set per thread count before numpy loaded): the "ceiling" the issue measures
    model efficiency against."""
    if not _CEILING:
        import numpy as np

        a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
        np.matmul(a, a)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            np.matmul(a, a)
            best = min(best, time.perf_counter() - start)
        _CEILING.append(2.0 * n ** 3 / best / 1e9)
    return _CEILING[0]


# --- output ------------------------------------------------------------------------------------


def _ms(rec, name):
    return f"{rec[name]['median_ms']:.2f}" if name in rec else "-"


def print_table(results, out=sys.stdout):
    w = max([14] + [len(r["model"]) for r in results])
    head = (f"{'model':<{w}} {'thr':>3} {'pyinfer':>9} {'ort':>9} {'openvino':>9} {'torch':>9}  {'best peer':<11}"
            f" {'ratio':>6}  {'|d| ort':>8} {'|d| ov':>8}  {'=torch':>6}  note")
    print("\nmedian ms per run; ratio = pyinfer / best peer (below 1: pyinfer fastest); |d| = max |difference| of "
          "the outputs vs pyinfer's (* = outside rtol 1e-3, atol 1e-4 x max(1, max|out|)); =torch: pyinfer matches "
          "PyTorch's outputs", file=out)
    print(head, file=out)
    print("-" * len(head), file=out)
    for r in results:
        diffs = r.get("max_abs_diff_vs", {})
        close = r.get("close_to_pyinfer", {})
        d = {n: (f"{diffs[n]:.1e}" + ("" if close.get(n, True) else "*")) if n in diffs else "-"
             for n in ("onnxruntime", "openvino")}
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else "-"
        torch_ok = {True: "yes", False: "NO", None: "-"}[r.get("pyinfer_matches_pytorch")]
        note = (r["error"] or "")[:60]
        print(f"{r['model']:<{w}} {r['threads']:>3} {_ms(r, 'pyinfer'):>9} {_ms(r, 'onnxruntime'):>9} "
              f"{_ms(r, 'openvino'):>9} {_ms(r, 'torch'):>9}  {r.get('best_peer', '-'):<11} {ratio:>6}  "
              f"{d['onnxruntime']:>8} {d['openvino']:>8}  {torch_ok:>6}  {note}", file=out)
    eff = [r for r in results if "pyinfer_gflops" in r]
    if eff:
        print("\nefficiency: GFLOP/s = 2 x MACs (pyinfer inspect, the graph as exported) / pyinfer's median time; "
              "ceiling = numpy float32 matmul 1024 x 1024 at the same thread count, best of 7", file=out)
        print(f"{'model':<{w}} {'thr':>3} {'GMACs':>7} {'GFLOP/s':>8} {'ceiling':>8} {'of ceiling':>10}", file=out)
        for r in eff:
            print(f"{r['model']:<{w}} {r['threads']:>3} {r['macs'] / 1e9:>7.2f} {r['pyinfer_gflops']:>8.1f} "
                  f"{r['numpy_gemm_gflops']:>8.1f} {100 * r['of_numpy_ceiling']:>9.0f}%", file=out)


def draw_png(results, path: str) -> None:
    """Per thread count, each model's runtimes as bars of time relative to pyinfer (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    colors = {"pyinfer": "#d62728", "onnxruntime": "#1f77b4", "openvino": "#7f7f7f", "torch": "#ff7f0e"}
    thread_counts = sorted({r["threads"] for r in results})
    fig, axes = plt.subplots(len(thread_counts), 1, squeeze=False,
                             figsize=(max(8, 0.9 * len(results) / len(thread_counts) + 3), 4.2 * len(thread_counts)))
    for ax, n in zip(axes[:, 0], thread_counts):
        rows = [r for r in results if r["threads"] == n and "pyinfer" in r]
        width = 0.8 / len(RUNTIMES)
        for k, name in enumerate(RUNTIMES):
            xs = [i for i, r in enumerate(rows) if name in r]
            ys = [r[name]["median_ms"] / r["pyinfer"]["median_ms"] for r in rows if name in r]
            if xs:
                ax.bar([x + (k - (len(RUNTIMES) - 1) / 2) * width for x in xs], ys, width, label=name,
                       color=colors[name])
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(matplotlib.ticker.FixedLocator([0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5,
                                                                   10, 20, 50, 100]))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.axhline(1.0, color="black", linewidth=0.6)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([f"{r['model']}\n{r['pyinfer']['median_ms']:.3g} ms" for r in rows], rotation=45,
                           ha="right", fontsize=8)
        ax.set_ylabel("time / pyinfer's time")
        ax.set_title(f"{n} thread{'s' if n > 1 else ''}: median latency relative to pyinfer "
                     "(above 1: slower than pyinfer)", fontsize=10)
        ax.legend(fontsize=8, ncol=len(RUNTIMES))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def meta_info(args, thread_list) -> dict:
    import pyinfer

    meta = {"threads": thread_list, "repeats": args.repeats, "warmup": args.warmup,
            "ort_spinning": args.ort_spinning, 
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY") or (None if args.omp_spinning else "PASSIVE"),
            "time_budget_s": args.time_budget, "platform": platform.platform(), "processor": platform.processor(),
            "cpu_count": os.cpu_count(), "pyinfer": pyinfer.__version__, "cpu_info": pyinfer.cpu_info()}
    for module in ("onnxruntime", "openvino", "torch", "numpy"):
        try:
            meta[module] = __import__(module).__version__
        except ImportError:
            pass
    return meta


# --- driver ------------------------------------------------------------------------------------


def run_here(args, threads: int) -> list:
    """Time every target at `threads` in this process (the thread limits must not be set yet)."""
    limit_library_threads(threads, args.omp_spinning)
    import numpy as np  # noqa: F401  (after the thread limits)

    results = []
    for t in targets(args):
        print(f"timing {t.label} {t.exporter or ''} threads={threads} ...", file=sys.stderr, flush=True)
        results.append(bench_one(t, args, threads))
    return results


def run_children(args, argv, thread_list) -> list:
    """One subprocess per thread count: numpy's and torch's pools are sized when they load."""
    results = []
    # the same command line, less the options the parent handles
    cleaned, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--threads", "--json", "--png"):
            skip = True
            continue
        if a.startswith(("--threads=", "--json=", "--png=")):
            continue
        cleaned.append(a)
    for n in thread_list:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "part.json")
            cmd = [sys.executable, os.path.abspath(__file__), *cleaned, "--threads", str(n), "--json", out, "--child"]
            proc = subprocess.run(cmd)
            if proc.returncode not in (0, 1) or not os.path.exists(out):
                raise SystemExit(f"bench: the run at {n} threads failed (exit {proc.returncode})")
            with open(out) as f:
                results += json.load(f)["results"]
    return results


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if len(args.thread_list) == 1 and args.thread_list[0] != "all":
        thread_list = args.thread_list
        results = run_here(args, thread_list[0])
    else:
        import pyinfer

        cores = pyinfer.cpu_info()["physical_cores"] or os.cpu_count() or 1
        thread_list = list(dict.fromkeys(cores if t == "all" else t for t in args.thread_list))
        results = run_children(args, argv, thread_list)
        # rows of one model next to each other
        order = {m: i for i, m in enumerate(dict.fromkeys(r["model"] for r in results))}
        results.sort(key=lambda r: (order[r["model"]], r["threads"]))
    if not args.child:
        print_table(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta_info(args, thread_list), "results": results}, f, indent=2)
        if not args.child:
            print(f"wrote {args.json}", file=sys.stderr)
    if args.png:
        draw_png(results, args.png)
        print(f"wrote {args.png}", file=sys.stderr)
    return 1 if any(r["error"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Time pyinfer and onnxruntime side by side on the same models, inputs and thread count.

    python tools/bench.py MODEL [MODEL ...] [--threads 1] [--repeats 20] [--warmup 3]
                          [--exporter legacy|dynamo|legacy_bn[,...]] [--json FILE] [--dim NAME=N]
                          [--cases first|all|CASE[,...]]

MODEL is a path to an .onnx file (random inputs; --dim sets symbolic dimensions), a model name
from tools/export_models.py (CNNs: cifar10, resnet18, mobilenetv2, squeezenet11, textcnn;
sequence models: bilstm, gru, rnn_tanh, rnn_relu, crnn, and the other names in its SPECS;
exported into the cache on first use, needs torch; fed its recorded inputs and checked against
PyTorch's outputs), "all" for every CNN or "seq" for every sequence model. A named model is timed
on its first recorded case unless --cases picks others (gru: b16_t64, b1_t64); such rows read
MODEL:CASE. Both runtimes get the same feeds, `--threads` intra-op threads (onnxruntime: one
inter-op thread, sequential execution) and, before numpy loads, the same OMP/OpenBLAS/MKL thread
limits. onnxruntime's idle threads do not spin (see --ort-spinning). After warm-up the runs are
interleaved; the table shows medians and the ratio pyinfer/onnxruntime (below 1: pyinfer is faster).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Use the checkout's pyinfer when it holds a dev build (tools/dev_build.sh), else the installed one.
if glob.glob(os.path.join(ROOT, "pyinfer", "_kernels*")):
    sys.path.insert(0, ROOT)
MODEL_NAMES = ("cifar10", "resnet18", "mobilenetv2", "squeezenet11", "textcnn")
SEQ_MODEL_NAMES = ("bilstm", "gru", "rnn_tanh", "rnn_relu", "crnn")
# Further names export_models.py knows (test sizes, the padded and streaming LSTMs); listed here so
# that telling a name from a path does not need torch imported.
OTHER_NAMES = ("bilstm_small", "gru_small", "rnn_tanh_small", "rnn_relu_small", "lstm_varlen", "lstm_stream")
GROUPS = {"all": MODEL_NAMES, "seq": SEQ_MODEL_NAMES}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", help="ONNX paths, model names from export_models.py, 'all' or 'seq'")
    p.add_argument("--cases", default="first",
                   help="recorded cases of named models to time: first (default), all, or names, comma-separated")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--exporter", default="legacy", help="exporter(s) for named models, comma-separated")
    p.add_argument("--dim", action="append", default=[], metavar="NAME=N", help="symbolic dimension for path models")
    p.add_argument("--int-high", type=int, default=100, help="integer inputs of path models come from [0, INT_HIGH)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON here")
    p.add_argument("--no-ort", action="store_true", help="time pyinfer alone")
    p.add_argument("--ort-spinning", action="store_true",
                   help="leave onnxruntime's idle threads busy-waiting (its default; off here because the spinning "
                        "takes the cores from pyinfer's interleaved runs)")
    args = p.parse_args(argv)
    if args.threads < 1 or args.repeats < 1 or args.warmup < 0:
        p.error("--threads and --repeats must be at least 1, --warmup at least 0")
    return args


def limit_library_threads(n: int) -> None:
    """Cap the BLAS/OpenMP pools numpy (and anything else) may use; only works before they load."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(n))


def targets(args):
    """(label, exporter or None, onnx path, feeds or None, reference outputs or None) per model."""
    names = []
    for m in args.models:
        names += list(GROUPS.get(m, [m]))
    known = MODEL_NAMES + SEQ_MODEL_NAMES + OTHER_NAMES
    out = []
    for m in names:
        if m in known:
            sys.path.insert(0, os.path.join(ROOT, "tools"))
            import export_models

            for exporter in args.exporter.split(","):
                path, npz = export_models.cached_export(m, exporter.strip())
                for case, (inputs, outputs) in pick_cases(export_models.load_cases(npz), args.cases, m):
                    label = m if args.cases == "first" else f"{m}:{case}"
                    out.append((label, exporter.strip(), path, inputs, list(outputs.values())))
        elif os.path.exists(m):
            out.append((os.path.basename(m), None, m, None, None))
        else:
            raise SystemExit(f"bench: {m!r} is neither a file nor one of {', '.join(known)}, {', '.join(GROUPS)}")
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


def bench_one(label, exporter, path, feeds, reference, args):
    import pyinfer
    from pyinfer.bench import (have_onnxruntime, max_abs_diff, ort_session, parse_dims, random_feeds,
                               summarize, time_interleaved)

    rec = {"model": label, "exporter": exporter, "path": path, "error": None}
    runners = {}
    try:
        sess = pyinfer.InferenceSession(path, num_threads=args.threads)
        if feeds is None:
            feeds = random_feeds(sess.get_inputs(), parse_dims(args.dim), int_high=args.int_high)
        runners["pyinfer"] = lambda: sess.run(None, feeds)
    except Exception as e:  # a failing model is a result: note it and still time onnxruntime
        rec["error"] = f"{type(e).__name__}: {e}"
    if not args.no_ort and have_onnxruntime():
        ort = ort_session(path, args.threads, spinning=args.ort_spinning)
        if feeds is None:
            feeds = random_feeds(ort.get_inputs(), parse_dims(args.dim), int_high=args.int_high)
        runners["onnxruntime"] = lambda: ort.run(None, feeds)
    rec["inputs"] = {k: list(v.shape) for k, v in (feeds or {}).items()}

    outputs = {}
    for name, run in list(runners.items()):
        try:
            outputs[name] = run()
        except Exception as e:
            rec["error"] = f"{name}: {type(e).__name__}: {e}"
            del runners[name]
    if "pyinfer" in outputs and "onnxruntime" in outputs:
        rec["max_abs_diff_vs_ort"] = max_abs_diff(outputs["pyinfer"], outputs["onnxruntime"])
    if reference is not None:
        import numpy as np

        for name, got in outputs.items():
            rec[f"{name}_matches_pytorch"] = all(
                np.allclose(g, r, rtol=1e-3, atol=1e-4) for g, r in zip(got, reference))
    if runners:
        times = time_interleaved(runners, args.repeats, args.warmup)
        for name, t in times.items():
            rec[name] = summarize(t)
    if "pyinfer" in rec and "onnxruntime" in rec:
        rec["ratio"] = rec["pyinfer"]["median_ms"] / rec["onnxruntime"]["median_ms"]
    return rec


def print_table(results, threads):
    w = max([14] + [len(r["model"]) for r in results])
    head = f"{'model':<{w}} {'exporter':<10} {'pyinfer ms':>11} {'ort ms':>9} {'ratio':>7}  {'max|diff|':>9}  {'=torch':>6}  note"
    print(f"\nthreads={threads}; medians; ratio = pyinfer/onnxruntime (lower is better for pyinfer); "
          "max|diff| = pyinfer vs onnxruntime; =torch: pyinfer within rtol 1e-3/atol 1e-4 of PyTorch")
    print(head)
    print("-" * len(head))
    for r in results:
        pi = f"{r['pyinfer']['median_ms']:.3f}" if "pyinfer" in r else "-"
        ort = f"{r['onnxruntime']['median_ms']:.3f}" if "onnxruntime" in r else "-"
        ratio = f"{r['ratio']:.2f}x" if "ratio" in r else "-"
        diff = f"{r['max_abs_diff_vs_ort']:.2g}" if "max_abs_diff_vs_ort" in r else "-"
        note = r["error"] or ""
        torch_ok = {True: "yes", False: "NO", None: "-"}[r.get("pyinfer_matches_pytorch")]
        print(f"{r['model']:<{w}} {r['exporter'] or '':<10} {pi:>11} {ort:>9} {ratio:>7}  {diff:>9}  {torch_ok:>6}  {note[:70]}")


def main(argv=None) -> int:
    args = parse_args(argv)
    limit_library_threads(args.threads)
    import numpy as np  # noqa: F401  (after the thread limits)

    import pyinfer
    from pyinfer.bench import have_onnxruntime

    results = []
    for label, exporter, path, feeds, reference in targets(args):
        print(f"timing {label} {exporter or ''} ...", file=sys.stderr, flush=True)
        results.append(bench_one(label, exporter, path, feeds, reference, args))
    print_table(results, args.threads)
    if args.json:
        meta = {"threads": args.threads, "repeats": args.repeats, "warmup": args.warmup,
                "platform": platform.platform(), "processor": platform.processor(),
                "pyinfer": pyinfer.__version__, "cpu_info": pyinfer.cpu_info()}
        if have_onnxruntime():
            import onnxruntime

            meta["onnxruntime"] = onnxruntime.__version__
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)
        print(f"wrote {args.json}", file=sys.stderr)
    return 1 if any(r["error"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

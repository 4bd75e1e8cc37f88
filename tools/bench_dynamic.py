"""Dynamic shapes and control flow: pyinfer vs onnxruntime, same thread count, one process each.

  varlen    BERT-shaped encoders (random weights, Hugging Face BertModel exported by torch's
            legacy exporter, dynamic batch and sequence axes), batch 1: the same sequence of
            `--calls` random lengths in [8, 256] for both engines, interleaved call by call
            (after one warm-up call each at another length); ms per call and the ratio. Then a
            fixed length (128): medians of interleaved calls.
  rss       pyinfer alone in a subprocess: VmRSS after the first 10 and after 1,000 random-length
            calls (the arena must follow the largest call, not grow with the calls).
  control   an If-wrapped conv + LSTM detector and a Loop-over-time GRU (tests/support/
            control_flow_models.py), and Keras recurrent models converted by tf2onnx
            (tests/support/keras_export.py: a bidirectional GRU tagger, two stacked LSTMs; skipped
            without tensorflow, tf_keras and tf2onnx): medians of interleaved calls.

    python tools/bench_dynamic.py [--threads 1] [--calls 80] [--only varlen,rss,control]

Quote the ratios with the CPU (lscpu's model name, printed first); pin other load away.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from _machine import cpu_name  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]
CACHE = os.environ.get("PYINFER_BENCH_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "pyinfer", "bench"))
BERTS = {"bert-4x256": (4, 256, 4), "bert-6x384": (6, 384, 12)}  # layers, hidden, heads




def bert_model(name: str) -> str:
    """The encoder's ONNX file, exported once into the cache (needs torch and transformers)."""
    path = os.path.join(CACHE, f"{name}.onnx")
    if os.path.exists(path):
        return path
    import torch
    from transformers import BertConfig, BertModel

    layers, hidden, heads = BERTS[name]
    torch.manual_seed(0)
    cfg = BertConfig(num_hidden_layers=layers, hidden_size=hidden, num_attention_heads=heads,
                     intermediate_size=4 * hidden, vocab_size=30522, max_position_embeddings=512)
    bert = BertModel(cfg).eval()

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, ids, mask):
            out = self.bert(input_ids=ids, attention_mask=mask)
            return out.last_hidden_state, out.pooler_output

    os.makedirs(CACHE, exist_ok=True)
    ids, mask = torch.randint(0, 30000, (1, 64)), torch.ones(1, 64, dtype=torch.int64)
    tmp = path + ".tmp"
    torch.onnx.export(Encoder(), (ids, mask), tmp, input_names=["input_ids", "attention_mask"],
                      output_names=["last_hidden_state", "pooler"], opset_version=17, dynamo=False,
                      dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}})
    os.replace(tmp, path)
    return path


def bert_feeds(rng, length: int) -> dict:
    return {"input_ids": rng.integers(0, 30000, (1, length)), "attention_mask": np.ones((1, length), np.int64)}


def sessions(path: str, threads: int):
    import onnxruntime as ort

    import pyinfer

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return (pyinfer.InferenceSession(path, num_threads=threads),
            ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]))


def interleaved_medians(p, o, feeds, repeats=30) -> tuple[float, float]:
    for _ in range(3):
        p.run(None, feeds)
        o.run(None, feeds)
    tp, to = [], []
    for r in range(repeats):
        for name in ("p", "o") if r % 2 == 0 else ("o", "p"):
            sess, acc = (p, tp) if name == "p" else (o, to)
            start = time.perf_counter()
            sess.run(None, feeds)
            acc.append(time.perf_counter() - start)
    return statistics.median(tp) * 1e3, statistics.median(to) * 1e3


def bench_varlen(name: str, threads: int, calls: int) -> None:
    path = bert_model(name)
    p, o = sessions(path, threads)
    rng = np.random.default_rng(0)
    warm = bert_feeds(rng, 32)
    start = time.perf_counter()
    p.run(None, warm)  # the shape class's first call: the Python path, recording the example
    first = time.perf_counter() - start
    o.run(None, warm)
    lengths = rng.integers(8, 257, size=calls)
    tp = to = 0.0
    worst = 0.0
    for i, n in enumerate(lengths):
        feeds = bert_feeds(rng, int(n))
        for name_ in ("p", "o") if i % 2 == 0 else ("o", "p"):
            start = time.perf_counter()
            (p if name_ == "p" else o).run(None, feeds)
            t = time.perf_counter() - start
            if name_ == "p":
                tp += t
                worst = max(worst, t)
            else:
                to += t
    print(f"{name} varying lengths ({calls} calls, 8-256): pyinfer {tp / calls * 1e3:.2f} ms/call, "
          f"onnxruntime {to / calls * 1e3:.2f} ms/call, ratio {tp / to:.2f}  "
          f"(pyinfer's first call, on the Python path: {first * 1e3:.0f} ms)")
    mp, mo = interleaved_medians(p, o, bert_feeds(rng, 128))
    print(f"{name} fixed length 128: pyinfer {mp:.2f} ms, onnxruntime {mo:.2f} ms, ratio {mp / mo:.2f}")


def rss_child(name: str, threads: int) -> None:
    import pyinfer

    def rss() -> int:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) * 1024

    sess = pyinfer.InferenceSession(bert_model(name), num_threads=threads)
    rng = np.random.default_rng(1)
    after = {}
    for i in range(1, 1001):
        sess.run(None, bert_feeds(rng, int(rng.integers(8, 257))))
        if i in (10, 100, 1000):
            after[i] = rss()
    print(f"{name} RSS after 10 / 100 / 1000 random-length calls: "
          + " / ".join(f"{after[i] / 2**20:.0f} MiB" for i in (10, 100, 1000))
          + f"  (1000 vs 10: {after[1000] / after[10] - 1:+.1%})")


def bench_control(threads: int) -> None:
    from support.control_flow_models import if_conv_lstm_model, loop_gru_model

    rng = np.random.default_rng(0)
    cases = [
        ("If(conv + LSTM), T=32", if_conv_lstm_model(rng),
         {"x": rng.standard_normal((1, 8, 32)).astype(np.float32), "sr": np.array([16000], np.int64),
          "h0": np.zeros((1, 1, 32), np.float32), "c0": np.zeros((1, 1, 32), np.float32)}),
        ("Loop(GRU step), T=32", loop_gru_model(rng),
         {"x": rng.standard_normal((32, 1, 16)).astype(np.float32), "h0": np.zeros((1, 32), np.float32)}),
    ]
    cases = [(label, model.SerializeToString(), feeds) for label, model, feeds in cases] + keras_cases()
    for label, model, feeds in cases:
        p, o = sessions(model, threads)
        mp, mo = interleaved_medians(p, o, feeds, repeats=200)
        print(f"{label}: pyinfer {mp:.3f} ms, onnxruntime {mo:.3f} ms, ratio {mp / mo:.2f}")


def keras_cases() -> list:
    """(label, model path, feeds) of the tf2onnx-converted Keras models, exported once into the
    cache (tensorflow runs in a child Python); [] when tf2onnx cannot be used here."""
    import importlib.util

    if any(importlib.util.find_spec(m) is None for m in ("tensorflow", "tf_keras", "tf2onnx")):
        print("Keras models skipped: tensorflow, tf_keras and tf2onnx are needed to convert them")
        return []
    script = os.path.join(ROOT, "tests", "support", "keras_export.py")
    cases = []
    for kind, label in (("bigru-tagger", "tf2onnx Keras Bidirectional(GRU(64)), T=100"),
                        ("lstm-stack", "tf2onnx Keras LSTM(128) x 2, T=50")):
        path = os.path.join(CACHE, f"keras-{kind}.onnx")
        if not os.path.exists(path + ".keras.npz"):
            os.makedirs(CACHE, exist_ok=True)
            subprocess.run([sys.executable, script, kind, path, path + ".keras.npz"], check=True, cwd="/",
                           capture_output=True)
        with np.load(path + ".keras.npz") as saved:
            cases.append((label, path, {"x": saved["x"]}))
    return cases


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--calls", type=int, default=80)
    ap.add_argument("--models", default=",".join(BERTS))
    ap.add_argument("--only", default="varlen,rss,control")
    ap.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.threads)
        return 0
    only = set(args.only.split(","))
    print(f"CPU: {cpu_name()}, {args.threads} thread(s)")
    for name in args.models.split(","):
        if "varlen" in only:
            bench_varlen(name, args.threads, args.calls)
        if "rss" in only:
            bert_model(name)
            subprocess.run([sys.executable, __file__, "--rss-child", name, "--threads", str(args.threads)], check=True)
    if "control" in only:
        bench_control(args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())

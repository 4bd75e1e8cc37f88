"""Classic ML models: pyinfer vs onnxruntime, one thread, batch 1 and batch 1000.

Six models on make_classification data (fixed seeds), converted the way serving code converts them
(skl2onnx / onnxmltools, probabilities as a tensor: zipmap=False):

  RandomForest        sklearn RandomForestClassifier, 100 trees, max_depth 10, 3 classes
  GradientBoosting    sklearn GradientBoostingClassifier, 300 trees, binary
  LightGBM            LGBMClassifier, 500 trees (31 leaves), binary
  XGBoost             XGBClassifier, 300 trees (max_depth 6), 3 classes (900 trees in the file)
  Scaler+LogReg       StandardScaler + LogisticRegression pipeline, 3 classes
  SVC                 sklearn SVC (RBF, probability=True), 3 classes

Each model is trained once and cached (with its test rows and the estimator's predict /
predict_proba) under --cache. Timing: both sessions warmed up, then interleaved rounds (the
order alternating), each timing `--inner` calls; the median per call is reported. Outputs are
checked against the estimator: labels exactly, probabilities as max |difference| (the target:
within rtol 1e-5).

    python tools/bench_ml.py [--models RandomForest,SVC] [--rounds 15] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np

from _machine import cpu_name  # noqa: E402
from _checkout import use_checkout_if_built  # noqa: E402

use_checkout_if_built()
import pyinfer  # noqa: E402

N_FEATURES = 30
BATCHES = (1, 1000)


def _data(n_classes: int, n: int = 6000, seed: int = 0):
    from sklearn.datasets import make_classification

    x, y = make_classification(n, N_FEATURES, n_informative=15, n_redundant=5, n_classes=n_classes,
                               random_state=seed)
    x = x.astype(np.float32)
    return x[:-1000], y[:-1000], x[-1000:]


def _skl2onnx(est, x):
    from skl2onnx import to_onnx

    return to_onnx(est, x[:1], options={id(est): {"zipmap": False}},
                   target_opset={"": 17, "ai.onnx.ml": 3}).SerializeToString()


def _float_input(x):
    from onnxmltools.convert.common.data_types import FloatTensorType

    return [("X", FloatTensorType([None, x.shape[1]]))]


def random_forest():
    from sklearn.ensemble import RandomForestClassifier

    x, y, test = _data(3)
    est = RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0, n_jobs=1).fit(x, y)
    return est, _skl2onnx(est, x), test


def gradient_boosting():
    from sklearn.ensemble import GradientBoostingClassifier

    x, y, test = _data(2)
    est = GradientBoostingClassifier(n_estimators=300, random_state=0).fit(x, y)
    return est, _skl2onnx(est, x), test


def lightgbm():
    import lightgbm as lgb
    from onnxmltools import convert_lightgbm

    x, y, test = _data(2)
    est = lgb.LGBMClassifier(n_estimators=500, random_state=0, verbose=-1, n_jobs=1).fit(x, y)
    onx = convert_lightgbm(est, initial_types=_float_input(x), target_opset=15, zipmap=False)
    return est, onx.SerializeToString(), test


def xgboost():
    import xgboost as xgb
    from onnxmltools import convert_xgboost

    x, y, test = _data(3)
    est = xgb.XGBClassifier(n_estimators=300, max_depth=6, random_state=0, n_jobs=1).fit(x, y)
    onx = convert_xgboost(est, initial_types=_float_input(x), target_opset=15)
    return est, onx.SerializeToString(), test


def scaler_logreg():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y, test = _data(3)
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    return est, _skl2onnx(est, x), test


def svc():
    from sklearn.svm import SVC

    x, y, test = _data(3, n=3000)
    est = SVC(probability=True, random_state=0).fit(x, y)
    return est, _skl2onnx(est, x), test


MODELS = {"RandomForest": random_forest, "GradientBoosting": gradient_boosting, "LightGBM": lightgbm,
          "XGBoost": xgboost, "Scaler+LogReg": scaler_logreg, "SVC": svc}


def load_model(name: str, cache: str):
    """(onnx bytes, test rows [1000, F], labels, probabilities) of a model, trained once and cached."""
    path = os.path.join(cache, f"ml_{name.replace('+', '_')}.pkl")
    if os.path.exists(path):
        with open(path, "rb") as f:
            return pickle.load(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est, onx, test = MODELS[name]()
        entry = (onx, test, np.asarray(est.predict(test)), np.asarray(est.predict_proba(test), np.float64))
    with open(path, "wb") as f:
        pickle.dump(entry, f)
    return entry


def ort_session(onx: bytes):
    import onnxruntime as ort

    ort.set_default_logger_severity(3)  # onnxmltools declares LightGBM's label as [1]: a warning per run
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(onx, so, providers=["CPUExecutionProvider"])


def check(outputs: list, labels: np.ndarray, proba: np.ndarray) -> tuple[bool, float]:
    """(labels equal the estimator's, max |probability difference|)."""
    got_labels, got_proba = np.asarray(outputs[0]).reshape(-1), np.asarray(outputs[1], np.float64)
    return bool(np.array_equal(got_labels, labels.reshape(-1))), float(np.max(np.abs(got_proba - proba)))


def time_pair(runs: dict, rounds: int, inner: int) -> dict:
    """Median seconds per call of each runner: interleaved rounds of `inner` calls, order alternating."""
    for run in runs.values():
        for _ in range(3):
            run()
    times = {name: [] for name in runs}
    names = list(runs)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            run = runs[name]
            t0 = time.perf_counter()
            for _ in range(inner):
                run()
            times[name].append((time.perf_counter() - t0) / inner)
    return {name: statistics.median(t) for name, t in times.items()}




def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ", ".join(MODELS))
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds per model and batch")
    ap.add_argument("--target-ms", type=float, default=20.0, help="time per round per runtime (sets inner)")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "pyinfer_bench"))
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    os.makedirs(args.cache, exist_ok=True)
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        ap.error(f"unknown models {unknown}; choose from {', '.join(MODELS)}")
    print(f"{cpu_name()}, 1 thread, load average {os.getloadavg()[0]:.2f} at start; "
          f"median of {args.rounds} interleaved rounds")
    print(f"{'model':<18}{'batch':>6}{'pyinfer ms':>12}{'ORT ms':>10}{'ratio':>8}  labels exact  max prob diff")
    rows = []
    for name in names:
        onx, test, labels, proba = load_model(name, args.cache)
        sess = pyinfer.InferenceSession(onx, num_threads=1)
        ref = ort_session(onx)
        in_name = sess.get_inputs()[0].name
        for batch in BATCHES:
            feeds = {in_name: np.ascontiguousarray(test[:batch])}
            ok, diff = check(sess.run(None, feeds), labels[:batch], proba[:batch])
            ok_all, diff_all = check(sess.run(None, {in_name: test}), labels, proba)  # every test row
            runs = {"pyinfer": lambda: sess.run(None, feeds), "onnxruntime": lambda: ref.run(None, feeds)}
            t0 = time.perf_counter()
            runs["onnxruntime"]()
            once = time.perf_counter() - t0
            inner = max(1, int(args.target_ms / 1e3 / max(once, 1e-6)))
            t = time_pair(runs, args.rounds, inner)
            row = {"model": name, "batch": batch, "pyinfer_ms": t["pyinfer"] * 1e3, "ort_ms": t["onnxruntime"] * 1e3,
                   "labels_exact": ok and ok_all, "max_prob_diff": max(diff, diff_all)}
            row["ratio"] = row["pyinfer_ms"] / row["ort_ms"]
            rows.append(row)
            print(f"{name:<18}{batch:>6}{row['pyinfer_ms']:>12.4f}{row['ort_ms']:>10.4f}{row['ratio']:>8.2f}  "
                  f"{'yes' if row['labels_exact'] else 'NO':<12}  {row['max_prob_diff']:.1e}", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_name(), "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

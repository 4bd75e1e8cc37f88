"""The bundled demo: the course's CIFAR-10 CNN classifying a few small images.

The network has the CIFAR-10 architecture but was trained (tools/make_demo.py) on synthetic images
of ten simple classes -- shapes and stripe patterns -- because no real data set is available where
it was built. It recognises those classes; it has never seen a photograph.
"""
from __future__ import annotations

import os
import time

import numpy as np

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
MODEL_PATH = os.path.join(DATA_DIR, "cifar10_cnn.onnx")
IMAGES_PATH = os.path.join(DATA_DIR, "demo_images.npz")


def load_images(path: str = IMAGES_PATH) -> dict:
    """images (N, 32, 32, 3) uint8, labels (N,), classes, mean, std."""
    with np.load(path) as data:
        return {
            "images": data["images"], "labels": data["labels"],
            "classes": [str(c) for c in data["classes"]],
            "mean": float(data["mean"]), "std": float(data["std"]),
        }


def preprocess(images: np.ndarray, mean: float, std: float) -> np.ndarray:
    """(N, 32, 32, 3) uint8 -> (N, 3, 32, 32) float32, normalised as in training."""
    x = images.astype(np.float32).transpose(0, 3, 1, 2) / np.float32(255.0)
    return np.ascontiguousarray((x - np.float32(mean)) / np.float32(std), dtype=np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def run_demo(num_threads: int | None = None, repeats: int = 50, out=print) -> dict:
    """Classify the bundled images, print prediction vs truth and the latency; return the results."""
    from ..session import InferenceSession
    from .bench import summarize, time_interleaved

    data = load_images()
    x = preprocess(data["images"], data["mean"], data["std"])
    sess = InferenceSession(MODEL_PATH, num_threads=num_threads)
    input_name = sess.get_inputs()[0].name

    start = time.perf_counter()
    logits = sess.run(None, {input_name: x})[0]
    first_ms = (time.perf_counter() - start) * 1e3
    probs = softmax(logits)
    pred = probs.argmax(axis=1)
    classes, labels = data["classes"], data["labels"]

    out(f"pyinfer demo: CIFAR-10 CNN ({os.path.basename(MODEL_PATH)}) on {len(labels)} bundled 32x32 images")
    out("(trained on synthetic shapes/stripes, not real CIFAR-10 photos)\n")
    out(f"{'#':>3}  {'truth':<13} {'prediction':<13} {'confidence':>10}")
    for i, (t, p) in enumerate(zip(labels, pred)):
        mark = "" if t == p else "   <-- wrong"
        out(f"{i:>3}  {classes[t]:<13} {classes[p]:<13} {probs[i, p]:>10.1%}{mark}")
    correct = int((pred == labels).sum())
    out(f"\naccuracy: {correct}/{len(labels)}")

    one = {input_name: x[:1]}
    times = time_interleaved({"single": lambda: sess.run(None, one),
                              "batch": lambda: sess.run(None, {input_name: x})}, repeats=repeats, warmup=3)
    single, batch = summarize(times["single"]), summarize(times["batch"])
    threads = "default" if num_threads is None else num_threads
    out(f"latency (median of {repeats}, threads={threads}): "
        f"{single['median_ms']:.3f} ms for 1 image, {batch['median_ms']:.3f} ms for a batch of {len(labels)} "
        f"(first call {first_ms:.1f} ms)")
    return {"predictions": pred, "labels": labels, "correct": correct, "latency_single": single,
            "latency_batch": batch}

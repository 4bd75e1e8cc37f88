#!/usr/bin/env python
"""Build the bundled demo: the course's CIFAR-10 CNN trained on synthetic 32x32 images.

There is no CIFAR-10 data set on this machine (and no network), so the demo's CNN is trained for
about a minute on procedurally drawn images of ten simple classes (shapes and stripe patterns in
random colours, positions and sizes, with noise). Its predictions on fresh images of those classes
are meaningful; it knows nothing about real photographs.

Writes pyinfer/cli/data/cifar10_cnn.onnx (legacy exporter, opset 17, dynamic batch) and
pyinfer/cli/data/demo_images.npz: uint8 images (N, 32, 32, 3), int64 labels, the class names and the
normalisation (mean, std) the model expects: x = (image / 255 - mean) / std, laid out NCHW.

Usage: python tools/make_demo.py [--steps 1200] [--out pyinfer/cli/data] [--seed 0]
(The bundled files were made with the defaults; training takes minutes on a busy 2-core machine.)
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

CLASSES = ("circle", "square", "triangle", "ring", "plus", "x-cross",
           "h-stripes", "v-stripes", "diag-stripes", "checkerboard")
MEAN, STD = 0.5, 0.25
SIZE = 32


def _colours(rng):
    """A foreground and a background colour that differ clearly in brightness."""
    while True:
        fg, bg = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
        if abs(fg.mean() - bg.mean()) > 0.3:
            return fg, bg


def draw(label: int, rng: np.random.Generator) -> np.ndarray:
    """One 32x32 RGB uint8 image of class `label`."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5
    cy, cx = rng.uniform(11, 21, 2)
    r = rng.uniform(6, 11)
    dy, dx = yy - cy, xx - cx
    name = CLASSES[label]
    if name == "circle":
        mask = dy ** 2 + dx ** 2 <= r ** 2
    elif name == "square":
        a = rng.uniform(-0.3, 0.3)  # slight rotation
        u, v = dx * np.cos(a) + dy * np.sin(a), -dx * np.sin(a) + dy * np.cos(a)
        mask = (np.abs(u) <= r * 0.85) & (np.abs(v) <= r * 0.85)
    elif name == "triangle":  # upright isosceles: apex at the top
        top, bottom = cy - r, cy + r * 0.8
        half_width = (yy - top) / (bottom - top) * r
        mask = (yy >= top) & (yy <= bottom) & (np.abs(dx) <= half_width)
    elif name == "ring":
        d = np.sqrt(dy ** 2 + dx ** 2)
        mask = (d <= r) & (d >= r * 0.55)
    elif name == "plus":
        w = r * 0.3
        mask = ((np.abs(dx) <= w) & (np.abs(dy) <= r)) | ((np.abs(dy) <= w) & (np.abs(dx) <= r))
    elif name == "x-cross":
        w = r * 0.3
        u, v = (dx + dy) / np.sqrt(2), (dx - dy) / np.sqrt(2)
        mask = ((np.abs(u) <= w) & (np.abs(v) <= r)) | ((np.abs(v) <= w) & (np.abs(u) <= r))
    else:  # whole-image patterns
        period = rng.uniform(4, 9)
        phase = rng.uniform(0, period)
        if name == "h-stripes":
            mask = ((yy + phase) % period) < period / 2
        elif name == "v-stripes":
            mask = ((xx + phase) % period) < period / 2
        elif name == "diag-stripes":
            sign = rng.choice((-1, 1))
            mask = ((xx + sign * yy + phase) % (period * 1.4)) < period * 0.7
        else:  # checkerboard
            mask = ((((yy + phase) // period) + ((xx + phase) // period)) % 2) == 0
    fg, bg = _colours(rng)
    img = np.where(mask[..., None], fg, bg)
    img = img + rng.normal(0, 0.06, img.shape)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def make_set(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(n) % len(CLASSES)
    rng.shuffle(labels)
    return np.stack([draw(int(lbl), rng) for lbl in labels]), labels.astype(np.int64)


def to_input(images_uint8: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) uint8 -> the model's (N, 3, 32, 32) float32 input."""
    x = images_uint8.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    return ((x - MEAN) / STD).astype(np.float32)


def train(steps: int, seed: int):
    import torch

    from _checkout import use_test_support

    use_test_support()
    from support.torch_models import CifarCNN

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = CifarCNN(num_classes=len(CLASSES))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    # A fixed pool of images, redrawn in part every epoch, keeps drawing cheap next to training.
    pool_x, pool_y = make_set(6000, rng)
    start = time.time()
    for step in range(steps):
        idx = rng.integers(0, len(pool_y), 64)
        x, y = torch.from_numpy(to_input(pool_x[idx])), torch.from_numpy(pool_y[idx])
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 200 == 0:
            print(f"step {step:5d} loss {loss.item():.3f} ({time.time() - start:.0f}s)")
            fresh_x, fresh_y = make_set(1000, rng)
            replace = rng.choice(len(pool_y), 1000, replace=False)
            pool_x[replace], pool_y[replace] = fresh_x, fresh_y
    return model.eval()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "pyinfer", "cli", "data"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-class", type=int, default=2, help="bundled demo images per class")
    args = parser.parse_args(argv)

    import torch

    model = train(args.steps, args.seed)
    test_x, test_y = make_set(2000, np.random.default_rng(args.seed + 100))
    with torch.no_grad():
        pred = model(torch.from_numpy(to_input(test_x))).argmax(1).numpy()
    print(f"accuracy on 2000 fresh synthetic images: {(pred == test_y).mean():.3f}")

    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, "cifar10_cnn.onnx")
    torch.onnx.export(model, (torch.zeros(1, 3, SIZE, SIZE),), onnx_path, dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    # Demo images: fresh draws (never seen in training), per_class of each class in class order.
    rng = np.random.default_rng(args.seed + 200)
    labels = np.repeat(np.arange(len(CLASSES)), args.per_class)
    images = np.stack([draw(int(lbl), rng) for lbl in labels])
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(to_input(images))).numpy()
    np.savez_compressed(os.path.join(args.out, "demo_images.npz"), images=images, labels=labels.astype(np.int64),
                        classes=np.array(CLASSES), mean=np.float32(MEAN), std=np.float32(STD),
                        torch_logits=torch_logits)
    print(f"wrote {onnx_path} ({os.path.getsize(onnx_path) / 1e6:.2f} MB) and demo_images.npz "
          f"(PyTorch gets {(torch_logits.argmax(1) == labels).sum()}/{len(labels)} demo images right)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

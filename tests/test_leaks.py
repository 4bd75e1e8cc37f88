"""Creating, running and dropping sessions over and over does not grow the process's memory."""
import gc
import os

import numpy as np
import pytest

import pyinfer

CIFAR = os.path.join(os.path.dirname(__file__), "models", "fixtures", "cifar10.legacy.onnx")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_create_run_destroy_does_not_grow_rss():
    with open(CIFAR, "rb") as f:
        model = f.read()  # 2 MB of weights: a leaked session would show quickly
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)

    def cycle(n):
        for _ in range(n):
            sess = pyinfer.InferenceSession(model, num_threads=2)
            sess.run(None, {"input": x})
            try:
                sess.run(None, {"input": x[:, :2]})  # the error path too
            except pyinfer.InputShapeError:
                pass
            del sess
        gc.collect()

    cycle(15)  # warm up: allocator pools, lazy imports, the kernels' thread pool
    before = rss_bytes()
    cycle(200)
    grown = rss_bytes() - before
    # 200 leaked sessions would hold > 400 MB of weights; allow allocator noise only
    assert grown < 24 << 20, f"RSS grew by {grown / 2**20:.1f} MiB over 200 sessions"

"""The thread cost model (csrc/common/cost_model.cpp): measured rates, thread counts by work,
and kernels that give the same bits whether the model splits them or not."""
import numpy as np
import pytest

import pyinfer
from pyinfer import kernels

_k = pyinfer._kernels


@pytest.fixture
def min_work():
    """Set the least work per thread for a test (0: split as far as the units allow), then restore."""
    saved = []

    def set_(ns):
        saved.append(_k._set_min_thread_work_ns(ns))

    yield set_
    if saved:
        _k._set_min_thread_work_ns(saved[0])


def _measured_model():
    a = np.ones((256, 256), np.float32)
    kernels.gemm(a, a, num_threads=2)  # the first call that could use 2 threads measures the region cost
    return kernels.cost_model()


def test_rates_are_measured_and_plausible():
    m = _measured_model()
    assert m["rates_measured"]
    # Any x86-64 core from scalar code up: between 0.5 and 2000 flops and bytes per ns.
    assert 0.5 < m["flops_per_ns"] < 2000
    assert 0.5 < m["bytes_per_ns"] < 2000
    assert _k._flops_ns(1e6) == pytest.approx(1e6 / m["flops_per_ns"])
    assert _k._bytes_ns(1e6) == pytest.approx(1e6 / m["bytes_per_ns"])


def test_min_work_is_four_measured_regions():
    m = _measured_model()
    assert 2500 <= m["region_ns"] <= 10000  # the documented bounds on a measurement
    assert m["min_thread_work_ns"] == pytest.approx(4 * m["region_ns"])
    assert _k._set_min_thread_work_ns(-1) < 0  # no override was left set


def test_tiny_work_runs_inline_large_work_splits(min_work):
    min_work(10000.0)  # pinned: the measured value is re-measured as the machine's load changes
    assert _k._threads_for_work(100.0, 1 << 20, 2) == 1
    assert _k._threads_for_work(5000.0, 1 << 20, 8) == 1
    assert _k._threads_for_work(20000.0, 1 << 20, 8) == 2
    assert _k._threads_for_work(35000.0, 1 << 20, 8) == 3
    assert _k._threads_for_work(1e12, 1 << 20, 2) == 2
    assert _k._threads_for_work(1e12, 1 << 20, 8) == 8


def test_measured_threshold_separates_tiny_from_large():
    _measured_model()
    assert _k._threads_for_work(100.0, 1 << 20, 2) == 1  # below any measurable region cost
    assert _k._threads_for_work(1e9, 1 << 20, 2) == 2  # a second of work: always worth a thread


def test_thread_count_never_exceeds_units_or_request():
    assert _k._threads_for_work(1e12, 1, 8) == 1
    assert _k._threads_for_work(1e12, 3, 8) == 3
    assert _k._threads_for_work(1e12, 1 << 20, 1) == 1
    assert _k._threads_for_work(0.0, 1 << 20, 8) == 1


def test_override_zero_splits_everything(min_work):
    min_work(0)
    assert _k._threads_for_work(1.0, 5, 4) == 4
    assert _k._threads_for_work(1.0, 1 << 20, 3) == 3
    assert _k._set_min_thread_work_ns(-1) == 0  # back to the measured value
    min_work(-1)
    assert kernels.cost_model()["min_thread_work_ns"] > 0


def _small_model_kernels(rng):
    """A CIFAR-sized network's kernels at batch 1: each small enough to run inline by default."""
    x = rng.standard_normal((1, 16, 16, 16)).astype(np.float32)
    w = rng.standard_normal((24, 16, 3, 3)).astype(np.float32)
    dw = rng.standard_normal((16, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(24).astype(np.float32)
    bn = [rng.random(16).astype(np.float32) + 0.5 for _ in range(4)]
    seq = rng.standard_normal((5, 2, 8)).astype(np.float32)
    gw = rng.standard_normal((1, 3 * 16, 8)).astype(np.float32)
    gr = rng.standard_normal((1, 3 * 16, 16)).astype(np.float32)
    fc_a = rng.standard_normal((1, 1024)).astype(np.float32)
    fc_b = rng.standard_normal((1024, 10)).astype(np.float32)
    return {
        "conv": lambda t: kernels.conv(x, w, b, pads=1, num_threads=t),
        "conv_stride2": lambda t: kernels.conv(x, w, b, pads=1, strides=2, num_threads=t),
        "depthwise": lambda t: kernels.conv(x, dw, pads=1, group=16, num_threads=t),
        "conv_transpose": lambda t: kernels.conv_transpose(x, w.transpose(1, 0, 2, 3).copy(), num_threads=t),
        "max_pool": lambda t: kernels.max_pool(x, [3, 3], strides=[2, 2], num_threads=t),
        "avg_pool": lambda t: kernels.avg_pool(x, [2, 2], strides=[2, 2], num_threads=t),
        "global_avg_pool": lambda t: kernels.global_avg_pool(x, num_threads=t),
        "batch_norm": lambda t: kernels.batch_norm(x, *bn, num_threads=t),
        "relu": lambda t: kernels.relu(x, num_threads=t),
        "sigmoid": lambda t: kernels.sigmoid(x, num_threads=t),
        "softmax": lambda t: kernels.softmax(x, axis=1, num_threads=t),
        "add": lambda t: kernels.add(x, x[:, :1], num_threads=t),
        "exp": lambda t: kernels.exp(x, num_threads=t),
        "reduce": lambda t: kernels.reduce(x, [2, 3], "sum", num_threads=t),
        "lrn": lambda t: kernels.lrn(x, 5, num_threads=t),
        "gemm_fc": lambda t: kernels.gemm(fc_a, fc_b, num_threads=t),
        "gemm": lambda t: kernels.gemm(fc_b[:300], fc_b[:10].T.copy(), num_threads=t),
        "gru": lambda t: kernels.gru(seq, gw, gr, num_threads=t)[0],
    }


@pytest.mark.parametrize("algorithm", ["auto", "direct_positions", "direct_channels", "im2col", "winograd"])
def test_small_kernels_identical_split_or_inline(min_work, rng, algorithm):
    """Bit-identical results whether the model runs a kernel inline (its default at this size)
    or splits it over as many threads as it has units (override 0)."""
    _k._set_conv_algorithm(algorithm)
    try:
        ops = _small_model_kernels(rng)
        inline = {name: np.asarray(op(1)) for name, op in ops.items()}
        min_work(0)
        for threads in (2, 3, 7):
            kernels.thread_stats(reset=True)
            for name, op in ops.items():
                np.testing.assert_array_equal(np.asarray(op(threads)), inline[name], err_msg=f"{name} at {threads}")
            assert kernels.thread_stats()["regions"] > 0  # the override did split
    finally:
        _k._set_conv_algorithm("auto")


def test_small_conv_runs_inline_at_two_threads(rng):
    """A CIFAR-sized 3x3 convolution at batch 1 (~0.15 MFLOP) is below one thread's worth of work
    on any machine the model has measured: 2 threads must not start a region."""
    _measured_model()
    x = rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    least = kernels.cost_model()["min_thread_work_ns"]
    flops = 2 * 8 * 32 * 32 * 27
    if _k._flops_ns(flops) >= 2 * least:
        pytest.skip("this machine measured a region cheap enough to split even this convolution")
    kernels.thread_stats(reset=True)
    kernels.conv(x, w, pads=1, num_threads=2)
    assert kernels.thread_stats()["regions"] == 0

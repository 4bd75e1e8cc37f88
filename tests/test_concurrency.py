"""One session run from many Python threads at once gives bit-identical results to serial runs."""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import pyinfer

CIFAR = os.path.join(os.path.dirname(__file__), "models", "fixtures", "cifar10.legacy.onnx")
N_THREADS = 6
RUNS_PER_THREAD = 4


@pytest.fixture(scope="module")
def batches():
    rng = np.random.default_rng(7)
    return [rng.standard_normal((2, 3, 32, 32)).astype(np.float32) for _ in range(N_THREADS)]


@pytest.mark.parametrize("num_threads", [1, 2])
def test_threads_share_one_session(batches, num_threads):
    sess = pyinfer.InferenceSession(CIFAR, num_threads=num_threads)
    serial = [sess.run(None, {"input": x})[0] for x in batches]
    barrier = threading.Barrier(N_THREADS)

    def worker(i):
        barrier.wait()  # all threads hit run() together
        return [sess.run(None, {"input": batches[i]})[0] for _ in range(RUNS_PER_THREAD)]

    with ThreadPoolExecutor(N_THREADS) as pool:
        results = list(pool.map(worker, range(N_THREADS)))
    for i, outs in enumerate(results):
        for out in outs:
            np.testing.assert_array_equal(out, serial[i])  # bit-identical


def test_sessions_created_and_destroyed_in_threads(batches):
    want = pyinfer.InferenceSession(CIFAR).run(None, {"input": batches[0]})[0]
    errors = []

    def worker(_):
        try:
            for _ in range(3):
                sess = pyinfer.InferenceSession(CIFAR, num_threads=2)
                out = sess.run(None, {"input": batches[0]})[0]
                del sess
                np.testing.assert_array_equal(out, want)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors[0]


def test_errors_in_one_thread_do_not_disturb_others(batches):
    sess = pyinfer.InferenceSession(CIFAR)
    want = sess.run(None, {"input": batches[1]})[0]

    def good(_):
        return sess.run(None, {"input": batches[1]})[0]

    def bad(_):
        with pytest.raises(pyinfer.InputShapeError):
            sess.run(None, {"input": np.ones((1, 3, 31, 32), np.float32)})

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(good if i % 2 else bad, i) for i in range(12)]
        outs = [f.result() for f in futures]
    for i, out in enumerate(outs):
        if i % 2:
            np.testing.assert_array_equal(out, want)

"""os.fork() after a session exists (and after multi-threaded kernels ran): the child works.

After fork only the forking thread survives; the C++ pool's workers are gone, and a pool that
still believed in them would wait forever. csrc/common/thread_pool.cpp rebuilds the pool in the
child (pthread_atfork). Each child runs under a deadline: a deadlock fails the test.
"""
import os
import signal
import time

import numpy as np
import pytest

import pyinfer

CIFAR = os.path.join(os.path.dirname(__file__), "models", "fixtures", "cifar10.legacy.onnx")
DEADLINE_S = 60

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def run_in_child(fn) -> int:
    """Fork, run fn() in the child (exit 0 if it returns True), and return the child's status."""
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            code = 0 if fn() else 2
        except BaseException:  # noqa: BLE001
            import traceback

            traceback.print_exc()
        os._exit(code)
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"the forked child did not finish within {DEADLINE_S} s (deadlock?)")


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(3).standard_normal((2, 3, 32, 32)).astype(np.float32)


def test_child_uses_the_parents_session_and_makes_new_ones(x):
    sess = pyinfer.InferenceSession(CIFAR, num_threads=2)
    want = sess.run(None, {"input": x})[0]  # the pool's workers exist now

    def child():
        same = np.array_equal(sess.run(None, {"input": x})[0], want)
        fresh = pyinfer.InferenceSession(CIFAR, num_threads=2).run(None, {"input": x})[0]
        return same and np.array_equal(fresh, want)

    assert run_in_child(child) == 0
    np.testing.assert_array_equal(sess.run(None, {"input": x})[0], want)  # the parent still works


def test_fork_after_a_multithreaded_python_run(x):
    from concurrent.futures import ThreadPoolExecutor

    sess = pyinfer.InferenceSession(CIFAR, num_threads=2)
    want = sess.run(None, {"input": x})[0]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: sess.run(None, {"input": x}), range(8)))

    def child():
        outs = [pyinfer.InferenceSession(CIFAR, num_threads=2).run(None, {"input": x})[0] for _ in range(2)]
        return all(np.array_equal(o, want) for o in outs)

    assert run_in_child(child) == 0


def test_fork_in_a_child_again(x):
    sess = pyinfer.InferenceSession(CIFAR, num_threads=2)
    want = sess.run(None, {"input": x})[0]

    def child():
        sess.run(None, {"input": x})
        return run_in_child(lambda: np.array_equal(sess.run(None, {"input": x})[0], want)) == 0

    assert run_in_child(child) == 0

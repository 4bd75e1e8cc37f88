"""The process-wide thread pool: idle workers sleep, num_threads is honored, regions nest safely."""
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import pyinfer
from pyinfer import kernels


def _busy_gemm(num_threads):
    a = np.ones((256, 256), np.float32)
    for _ in range(5):
        kernels.gemm(a, a, num_threads=num_threads)


def test_idle_workers_do_not_spin():
    _busy_gemm(num_threads=2)  # workers now exist
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    time.sleep(0.5)
    used = time.process_time() - start_cpu
    elapsed = time.perf_counter() - start_wall
    assert used < 0.05 * elapsed, f"an idle process used {used:.3f}s of CPU in {elapsed:.3f}s"


def _thread_ids_seen(num_threads):
    """Threads that ran parts of a parallel kernel (via the per-thread OS id in /proc)."""
    before = {int(t) for t in os.listdir(f"/proc/{os.getpid()}/task")}
    _busy_gemm(num_threads)
    after = {int(t) for t in os.listdir(f"/proc/{os.getpid()}/task")}
    return before, after


def test_one_thread_starts_no_worker():
    # num_threads=1 must run on the calling thread only: no new OS thread appears.
    before, after = _thread_ids_seen(1)
    assert after - before == set()


def test_results_identical_for_any_thread_count():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 257)).astype(np.float32)
    b = rng.standard_normal((257, 190)).astype(np.float32)
    ref = kernels.gemm(a, b, num_threads=1)
    for n in (2, 3, 8):
        np.testing.assert_array_equal(kernels.gemm(a, b, num_threads=n), ref)


def test_concurrent_callers_get_correct_results():
    rng = np.random.default_rng(1)
    mats = [rng.standard_normal((200, 200)).astype(np.float32) for _ in range(4)]
    expected = [m @ m for m in mats]
    errors = []

    def work(i):
        for _ in range(10):
            got = kernels.gemm(mats[i], mats[i], num_threads=2)
            if not np.allclose(got, expected[i], rtol=1e-4, atol=1e-3):
                errors.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@pytest.mark.skipif("PYINFER_NUM_THREADS" in os.environ, reason="PYINFER_NUM_THREADS overrides the default")
def test_default_thread_count_is_the_physical_core_count():
    info = pyinfer.cpu_info()
    assert info["default_num_threads"] == max(1, info["physical_cores"])


@pytest.mark.parametrize("value, expected", [("3", 3), ("16", 16), ("0", None), ("two", None), ("", None)])
def test_pyinfer_num_threads_sets_the_default(value, expected):
    code = "import pyinfer; i = pyinfer.cpu_info(); print(i['default_num_threads'], i['physical_cores'])"
    env = dict(os.environ, PYINFER_NUM_THREADS=value)
    # run where the pyinfer under test lives (the checkout's dev build or the installed package)
    here = os.path.dirname(os.path.dirname(os.path.abspath(pyinfer.__file__)))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=here,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    default, cores = map(int, out.stdout.split())
    assert default == (expected if expected is not None else max(1, cores))  # invalid values are ignored

"""A pickled InferenceSession rebuilds itself from the model bytes and options: bit-identical outputs,
in this process and in spawned ones (multiprocessing, concurrent.futures)."""
import multiprocessing
import os
import pickle
import shutil
from concurrent.futures import ProcessPoolExecutor
from operator import methodcaller

import numpy as np
import onnx
import pytest

import pyinfer

CIFAR = os.path.join(os.path.dirname(__file__), "models", "fixtures", "cifar10.legacy.onnx")
SPAWN_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(5).standard_normal((3, 3, 32, 32)).astype(np.float32)


@pytest.fixture(scope="module")
def want(x):
    return pyinfer.InferenceSession(CIFAR, num_threads=1).run(None, {"input": x})[0]


def _sources():
    with open(CIFAR, "rb") as f:
        data = f.read()
    return {"path": CIFAR, "bytes": data, "bytearray": bytearray(data), "memoryview": memoryview(data),
            "proto": onnx.load(CIFAR)}


@pytest.mark.parametrize("kind", ["path", "bytes", "bytearray", "memoryview", "proto"])
def test_round_trip_gives_bit_identical_outputs(kind, x, want):
    sess = pyinfer.InferenceSession(_sources()[kind], num_threads=1)
    copy = pickle.loads(pickle.dumps(sess))
    assert copy is not sess
    np.testing.assert_array_equal(copy.run(None, {"input": x})[0], want)
    assert [a.name for a in copy.get_inputs()] == ["input"]
    again = pickle.loads(pickle.dumps(copy))  # a session built from a pickle pickles too
    np.testing.assert_array_equal(again.run(None, {"input": x})[0], want)


def test_options_and_executor_travel_but_not_the_optimized_model_path(tmp_path, x, want):
    opt_path = tmp_path / "opt.onnx"
    sess = pyinfer.InferenceSession(
        CIFAR, num_threads=2, executor="python", max_memory_bytes=1 << 30,
        graph_optimization_level=pyinfer.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        optimized_model_filepath=str(opt_path))
    opt_path.unlink()
    copy = pickle.loads(pickle.dumps(sess))
    assert copy.num_threads == 2
    assert copy.options.max_memory_bytes == 1 << 30
    assert copy.options.graph_optimization_level == pyinfer.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert copy._executor_mode == "python"
    assert copy.options.optimized_model_filepath == ""
    assert not opt_path.exists()  # the copy did not write the optimized model again
    assert sess.options.optimized_model_filepath == str(opt_path)  # the original is untouched
    np.testing.assert_allclose(copy.run(None, {"input": x})[0], want, rtol=1e-4, atol=1e-5)


def test_a_model_file_changed_since_loading_is_refused(tmp_path):
    path = tmp_path / "m.onnx"
    shutil.copy(CIFAR, path)
    sess = pyinfer.InferenceSession(str(path), num_threads=1)
    with open(path, "ab") as f:
        f.write(b"\0")
    with pytest.raises(pyinfer.SessionPicklingError, match="changed since the session was created") as e:
        pickle.dumps(sess)
    assert isinstance(e.value, pickle.PicklingError)
    path.unlink()
    with pytest.raises(pyinfer.SessionPicklingError, match="changed since"):
        pickle.dumps(sess)


def test_a_model_with_external_data_is_refused_with_a_way_out(tmp_path, x, want):
    model = onnx.load(CIFAR)
    onnx.save(model, tmp_path / "ext.onnx", save_as_external_data=True, location="weights.bin", size_threshold=1024)
    sess = pyinfer.InferenceSession(str(tmp_path / "ext.onnx"), num_threads=1)
    np.testing.assert_array_equal(sess.run(None, {"input": x})[0], want)
    with pytest.raises(pyinfer.SessionPicklingError, match="external data file.*create the session in each process"):
        pickle.dumps(sess)


def _spawn_context():
    return multiprocessing.get_context("spawn")


def test_multiprocessing_spawn_pool_runs_a_pickled_session(x, want):
    sess = pyinfer.InferenceSession(CIFAR, num_threads=1)
    with _spawn_context().Pool(1) as pool:
        got = pool.apply_async(methodcaller("run", None, {"input": x}), (sess,)).get(SPAWN_TIMEOUT_S)[0]
    np.testing.assert_array_equal(got, want)


def test_process_pool_executor_runs_a_pickled_session(x, want):
    sess = pyinfer.InferenceSession(CIFAR, num_threads=1)
    with ProcessPoolExecutor(1, mp_context=_spawn_context()) as pool:
        got = pool.submit(methodcaller("run", None, {"input": x}), sess).result(SPAWN_TIMEOUT_S)[0]
    np.testing.assert_array_equal(got, want)

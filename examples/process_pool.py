"""A pickled session fanned out to worker processes (docs/SERVING.md, "Multiprocessing").

The session pickles as its model bytes and options, so each worker receives it once (through the
pool's initializer) and builds its own copy; every task then reuses that copy. "spawn" works
everywhere (and is what macOS and Windows use); fork works too.

    python process_pool.py
"""
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np

import pyinfer

DEFAULT_MODEL = os.path.join(os.path.dirname(pyinfer.__file__), "cli", "data", "cifar10_cnn.onnx")

_session = None  # this worker's copy


def _receive(session: pyinfer.InferenceSession) -> None:
    global _session
    _session = session


def _run(batch: np.ndarray) -> np.ndarray:
    (out,) = _session.run(None, {_session.get_inputs()[0].name: batch})
    return out


def run_in_processes(session: pyinfer.InferenceSession, batches: list, workers: int = 2) -> list:
    """session.run on each batch, in `workers` processes; the outputs in order."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_receive, initargs=(session,)) as pool:
        return list(pool.map(_run, batches))


if __name__ == "__main__":
    session = pyinfer.InferenceSession(DEFAULT_MODEL, num_threads=1)
    batches = [np.random.default_rng(i).standard_normal((8, 3, 32, 32)).astype(np.float32) for i in range(4)]
    outputs = run_in_processes(session, batches)
    same = all(np.array_equal(out, session.run(None, {"input": b})[0]) for out, b in zip(outputs, batches))
    print(f"{len(batches)} batches in 2 processes; identical to this process: {same}")

"""The recipes in examples/ that need no cluster: a session in a FastAPI service, and a process pool."""
import os
import sys

import numpy as np
import pytest

from support.serve_util import CIFAR, ROOT

import pyinfer



def test_fastapi_service_example_serves_the_sessions_outputs():
    pytest.importorskip("fastapi")
    from starlette.testclient import TestClient

    import fastapi_service

    x = np.random.default_rng(3).standard_normal((2, 3, 32, 32)).astype(np.float32)
    want = pyinfer.InferenceSession(CIFAR, num_threads=1).run(None, {"input": x})[0]
    with TestClient(fastapi_service.create_app(CIFAR)) as client:
        r = client.post("/classify", json={"images": x.tolist()})
        bad = client.post("/classify", json={"images": x[:, :, :16].tolist()})
        ragged = client.post("/classify", json={"images": [[1.0], [1.0, 2.0]]})
    assert r.status_code == 200
    np.testing.assert_array_equal(np.float32(r.json()["logits"]), want)  # float32 -> JSON -> float32 is exact
    assert r.json()["labels"] == want.argmax(1).tolist()
    assert bad.status_code == 400 and "dimension 2 must be 32" in bad.json()["detail"]
    assert ragged.status_code == 400


def test_process_pool_example_matches_this_process():
    import process_pool

    session = pyinfer.InferenceSession(CIFAR, num_threads=1)
    batches = [np.random.default_rng(i).standard_normal((4, 3, 32, 32)).astype(np.float32) for i in range(3)]
    outputs = process_pool.run_in_processes(session, batches, workers=2)
    for out, batch in zip(outputs, batches):
        np.testing.assert_array_equal(out, session.run(None, {"input": batch})[0])

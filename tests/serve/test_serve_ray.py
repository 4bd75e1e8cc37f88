"""The Ray recipes (examples/ray_data_batch.py, examples/ray_serve_deployment.py) and sessions sent to Ray
tasks and actors, on one local cluster (ray.init(num_cpus=2)) started once for the module."""
import asyncio
import os
import sys
import warnings

import numpy as np
import pytest

from support.serve_util import CIFAR, ROOT, free_port

import pyinfer

try:
    with warnings.catch_warnings():  # ray's own deprecation warnings, at import
        warnings.simplefilter("ignore")
        import ray
        import ray.data  # noqa: F401
        from ray import serve
except ImportError as e:  # ray has no wheel for every Python / platform
    pytest.skip(f"ray[data,serve] cannot be imported here ({e}); pip install 'pyinfer[ray]'", allow_module_level=True)

EXAMPLES = os.path.join(ROOT, "examples")

import ray_data_batch  # noqa: E402
import ray_serve_deployment  # noqa: E402

pytestmark = [pytest.mark.timeout(300), pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def cluster():
    # The workers import pyinfer and the examples from this checkout, like the test process.
    pythonpath = os.pathsep.join([os.path.dirname(os.path.dirname(pyinfer.__file__)), EXAMPLES])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": pythonpath}})
    yield
    try:
        serve.shutdown()
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def session():
    return pyinfer.InferenceSession(CIFAR, num_threads=1)


def _images(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 3, 32, 32)).astype(np.float32)


def test_a_session_sent_to_ray_tasks_and_actors_gives_bit_identical_outputs(cluster, session):
    x = _images(3)
    want = session.run(None, {"input": x})[0]

    @ray.remote(num_cpus=1)
    def run(s, batch):
        return s.run(None, {"input": batch})[0]

    @ray.remote(num_cpus=1)
    class Holder:
        def __init__(self, s):
            self.session = s

        def run(self, batch):
            return self.session.run(None, {"input": batch})[0]

    np.testing.assert_array_equal(ray.get(run.remote(session, x), timeout=120), want)
    holder = Holder.remote(ray.put(session))
    np.testing.assert_array_equal(ray.get(holder.run.remote(x), timeout=120), want)
    ray.kill(holder)


def test_ray_data_recipe_matches_local_results(cluster, session):
    images = _images(512, seed=1)
    labels, logits = ray_data_batch.classify_images(images, session, concurrency=2, batch_size=64)
    want = session.run(None, {"input": images})[0]
    # Ray cuts other batches than one of 512 rows, and a row's float sums can round differently in a
    # batch of another size: the last bits may differ, the labels may not.
    np.testing.assert_allclose(logits, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(labels, want.argmax(1))


def test_ray_serve_recipe_batches_calls_and_answers_http(cluster, session):
    import httpx

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    handle = serve.run(ray_serve_deployment.deployment(session), name="classifier", route_prefix="/classify")
    images = _images(6, seed=2)
    want = session.run(None, {"input": images})[0]
    responses = [handle.predict.remote(image) for image in images]  # concurrent calls: batched by @serve.batch
    got = np.stack([r.result(timeout_s=120) for r in responses])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)  # batches of other sizes: not bit-for-bit
    r = httpx.post(f"http://127.0.0.1:{port}/classify", json={"image": images[0].tolist()}, timeout=60)
    assert r.status_code == 200
    assert r.json()["label"] == int(want[0].argmax())
    np.testing.assert_allclose(r.json()["logits"], want[0], rtol=1e-5, atol=1e-5)
    serve.delete("classifier")

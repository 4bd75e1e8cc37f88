"""The server app in process (httpx over ASGI): endpoints, codecs, dynamic batching, queue limits,
timeouts, metrics and readiness, with outputs checked against a local session."""
import asyncio
import threading

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("prometheus_client")

from support.serve_util import (CIFAR, binary_request, gather_model, json_input, linear_model, read_binary_response,  # noqa: E402
                        relu_model, run)

import pyinfer  # noqa: E402
from pyinfer.serve import ModelConfig, ServerSettings, create_app  # noqa: E402
from pyinfer.serve.model import ServedModel  # noqa: E402

X = np.array([[1, 2, 3, 4], [-5, 6, -7, 8]], np.float32)


@pytest.fixture(scope="module")
def linear(tmp_path_factory):
    return linear_model(tmp_path_factory.mktemp("m") / "linear.onnx")


def _app(*configs, **settings):
    return create_app(list(configs), ServerSettings(**settings))


def test_health_and_metadata(linear):
    async def calls(client):
        return {path: (r.status_code, r.json()) for path in (
            "/v2/health/live", "/v2/health/ready", "/v2", "/v2/models/lin", "/v2/models/lin/versions/3",
            "/v2/models/lin/ready", "/v2/models/lin/versions/3/ready", "/v2/models/lin/versions/1")
            for r in [await client.get(path)]}

    got = run(calls, _app(ModelConfig("lin", linear, version="3", threads=1)))
    assert got["/v2/health/live"] == (200, {"live": True})
    assert got["/v2/health/ready"] == (200, {"ready": True})
    assert got["/v2"] == (200, {"name": "pyinfer", "version": pyinfer.__version__,
                                "extensions": ["binary_tensor_data"]})
    meta = {"name": "lin", "versions": ["3"], "platform": "onnx",
            "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
            "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 3]},
                        {"name": "z", "datatype": "FP32", "shape": [-1, 3]}]}
    assert got["/v2/models/lin"] == (200, meta)
    assert got["/v2/models/lin/versions/3"] == (200, meta)
    assert got["/v2/models/lin/ready"] == (200, {"name": "lin", "ready": True})
    assert got["/v2/models/lin/versions/3/ready"] == (200, {"name": "lin", "ready": True})
    assert got["/v2/models/lin/versions/1"][0] == 404


def test_json_and_binary_infer_match_a_local_session(linear):
    want_y, want_z = pyinfer.InferenceSession(linear, num_threads=1).run(None, {"x": X})

    async def calls(client):
        as_json = await client.post("/v2/models/lin/infer", json={"id": "r1", "inputs": [json_input("x", X)]})
        body, headers = binary_request([("x", X, "FP32")], outputs=[{"name": "z", "parameters": {"binary_data": True}}])
        binary = await client.post("/v2/models/lin/infer", content=body, headers=headers)
        body, headers = binary_request([("x", X, "FP32")], parameters={"binary_data_output": True})
        all_binary = await client.post("/v2/models/lin/infer", content=body, headers=headers)
        return as_json, binary, all_binary

    as_json, binary, all_binary = run(calls, _app(ModelConfig("lin", linear, threads=1)))
    assert as_json.status_code == 200 and as_json.headers["content-type"] == "application/json"
    header = as_json.json()
    assert (header["id"], header["model_name"], header["model_version"]) == ("r1", "lin", "1")
    assert [(o["name"], o["datatype"], o["shape"]) for o in header["outputs"]] == [("y", "FP32", [2, 3]),
                                                                                  ("z", "FP32", [2, 3])]
    np.testing.assert_array_equal(np.float32(header["outputs"][0]["data"]).reshape(2, 3), want_y)
    header, arrays = read_binary_response(binary)
    assert binary.headers["content-type"] == "application/octet-stream"
    assert [o["name"] for o in header["outputs"]] == ["z"]
    assert header["outputs"][0]["parameters"] == {"binary_data_size": want_z.nbytes}
    np.testing.assert_array_equal(arrays["z"], want_z)
    _, arrays = read_binary_response(all_binary)
    np.testing.assert_array_equal(arrays["y"], want_y)
    np.testing.assert_array_equal(arrays["z"], want_z)


def test_dynamic_batching_runs_compatible_requests_once_and_splits_exactly(tmp_path):
    path = relu_model(tmp_path / "relu.onnx")
    rng = np.random.default_rng(0)
    rows = [rng.standard_normal((n, 5)).astype(np.float32) for n in (1, 1, 2, 1, 3)]
    other = rng.standard_normal((1, 7)).astype(np.float32)  # n = 7: a batch of its own

    async def calls(client):
        posts = [client.post("/v2/models/relu/infer", json={"inputs": [json_input("x", x)]}) for x in rows + [other]]
        answers = await asyncio.gather(*posts)
        return answers, (await client.get("/metrics")).text

    app = _app(ModelConfig("relu", path, threads=1, max_batch_size=8, max_queue_delay_ms=1000))
    answers, metrics = run(calls, app)
    for x, r in zip(rows + [other], answers):
        out = r.json()["outputs"][0]
        assert out["shape"] == list(x.shape)
        np.testing.assert_array_equal(np.float32(out["data"]).reshape(x.shape), np.maximum(x, 0))
    assert 'pyinfer_batch_size_count{model="relu"} 2.0' in metrics  # two runs: 8 rows, then 1
    assert 'pyinfer_batch_size_sum{model="relu"} 9.0' in metrics


def test_batched_outputs_are_the_rows_of_one_batched_run():
    rng = np.random.default_rng(1)
    images = [rng.standard_normal((1, 3, 32, 32)).astype(np.float32) for _ in range(3)]
    want = pyinfer.InferenceSession(CIFAR, num_threads=1).run(None, {"input": np.concatenate(images)})[0]

    async def calls(client):
        posts = []
        for x in images:
            body, headers = binary_request([("input", x, "FP32")], parameters={"binary_data_output": True})
            posts.append(client.post("/v2/models/cifar/infer", content=body, headers=headers))
        return await asyncio.gather(*posts), (await client.get("/metrics")).text

    answers, metrics = run(calls, _app(ModelConfig("cifar", CIFAR, threads=1, max_batch_size=16,
                                                   max_queue_delay_ms=1000)))
    got = np.concatenate([read_binary_response(r)[1]["logits"] for r in answers])
    np.testing.assert_array_equal(got, want)  # bit-identical: the same batch, split back in order
    assert 'pyinfer_batch_size_sum{model="cifar"} 3.0' in metrics


def test_a_request_that_breaks_the_model_fails_alone_within_its_batch(tmp_path):
    path = gather_model(tmp_path / "gather.onnx")
    x = np.arange(4, dtype=np.float32).reshape(1, 4)

    def post(client, index):
        return client.post("/v2/models/g/infer", json={"inputs": [
            json_input("x", x), json_input("i", np.array([index], np.int64), "INT64")]})

    async def calls(client):
        return await asyncio.gather(post(client, [0, 1]), post(client, [3, 9]), post(client, [2, 2]))

    ok1, bad, ok2 = run(calls, _app(ModelConfig("g", path, threads=1, max_batch_size=4, max_queue_delay_ms=300)))
    assert ok1.json()["outputs"][0]["data"] == [0.0, 1.0]
    assert ok2.json()["outputs"][0]["data"] == [2.0, 2.0]
    assert bad.status_code == 500
    assert "gather_elements: index 9 is out of range for an axis of 4" in bad.json()["error"]


def test_a_full_queue_answers_503_with_retry_after(tmp_path):
    path = relu_model(tmp_path / "relu.onnx")

    async def calls(client):
        def post(n):
            return client.post("/v2/models/relu/infer", json={"inputs": [json_input("x", np.ones((1, n), np.float32))]})
        first = asyncio.ensure_future(post(2))  # the instance gathers a batch for n = 2 for 0.5 s
        await asyncio.sleep(0.1)
        waiting = asyncio.ensure_future(post(3))  # n = 3 cannot join it: it waits in the queue (size 1)
        await asyncio.sleep(0.05)
        refused = await post(3)
        return refused, await first, await waiting

    app = _app(ModelConfig("relu", path, threads=1, max_batch_size=4, max_queue_delay_ms=500, max_queue_size=1))
    refused, first, waiting = run(calls, app)
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert "queue is full (1 requests waiting)" in refused.json()["error"]
    assert (first.status_code, waiting.status_code) == (200, 200)


def test_requests_time_out_with_504_server_side_and_by_the_clients_timeout_parameter(linear):
    async def calls(client):
        slow = await client.post("/v2/models/lin/infer", json={"inputs": [json_input("x", X)]})
        own = await client.post("/v2/models/lin2/infer", json={"inputs": [json_input("x", X)],
                                                               "parameters": {"timeout": 50_000}})
        fine = await client.post("/v2/models/lin2/infer", json={"inputs": [json_input("x", X)]})
        return slow, own, fine

    # A long queue delay holds each request longer than its timeout.
    app = _app(ModelConfig("lin", linear, threads=1, max_batch_size=8, max_queue_delay_ms=1000, timeout_s=0.1),
               ModelConfig("lin2", linear, threads=1, max_batch_size=8, max_queue_delay_ms=300))
    slow, own, fine = run(calls, app)
    assert slow.status_code == 504 and "no answer within 0.1 s" in slow.json()["error"]
    assert own.status_code == 504 and "no answer within 0.05 s" in own.json()["error"]
    assert fine.status_code == 200


def test_metrics_count_requests_failures_and_times(linear):
    async def calls(client):
        for _ in range(3):
            await client.post("/v2/models/lin/infer", json={"inputs": [json_input("x", X)]})
        await client.post("/v2/models/lin/infer", json={"inputs": [json_input("x", X, "FP64")]})
        await client.post("/v2/models/other/infer", json={})
        r = await client.get("/metrics")
        return r.headers["content-type"], r.text

    content_type, text = run(calls, _app(ModelConfig("lin", linear, threads=1)))
    assert content_type.startswith("text/plain")
    for line in ('pyinfer_requests_total{model="lin"} 4.0',
                 'pyinfer_request_failures_total{model="lin",status="400"} 1.0',
                 'pyinfer_request_failures_total{model="",status="404"} 1.0',
                 'pyinfer_queue_seconds_count{model="lin"} 3.0',
                 'pyinfer_compute_seconds_count{model="lin"} 3.0',
                 'pyinfer_batch_size_bucket{le="2.0",model="lin"} 3.0',
                 'pyinfer_request_seconds_count{model="lin"} 4.0',
                 'pyinfer_queue_depth{model="lin"} 0.0'):
        assert line in text, line


def test_not_ready_while_loading_and_after_a_failed_load(tmp_path, linear, monkeypatch):
    release = threading.Event()
    real_load = ServedModel.load

    def slow_load(self):
        assert release.wait(30)
        real_load(self)

    monkeypatch.setattr(ServedModel, "load", slow_load)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    failures = []
    app = create_app([ModelConfig("lin", linear, threads=1), ModelConfig("broken", str(broken))],
                     on_load_error=lambda name, error: failures.append((name, type(error).__name__)))

    async def scenario():
        import httpx

        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                during = [(await client.get(p)).status_code for p in
                          ("/v2/health/live", "/v2/health/ready", "/v2/models/lin/ready", "/v2/models/lin")]
                loading_infer = await client.post("/v2/models/lin/infer", json={"inputs": [json_input("x", X)]})
                release.set()
                while not failures:
                    await asyncio.sleep(0.01)
                after = [(await client.get(p)).status_code for p in
                         ("/v2/health/ready", "/v2/models/lin/ready", "/v2/models/broken/ready")]
                broken_infer = await client.post("/v2/models/broken/infer", json={"inputs": []})
                return during, loading_infer, after, broken_infer

    during, loading_infer, after, broken_infer = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert during == [200, 503, 503, 503]
    assert loading_infer.status_code == 503 and "is not ready (loading)" in loading_infer.json()["error"]
    assert after == [503, 200, 503]
    assert failures == [("broken", "ModelLoadError")]
    assert broken_infer.status_code == 503 and "not an ONNX model" in broken_infer.json()["error"]


def test_datatypes_round_trip_in_json_and_binary(tmp_path):
    from onnx import TensorProto

    from support.serve_util import typed_identity_model

    cases = {"INT8": (TensorProto.INT8, np.int8), "UINT16": (TensorProto.UINT16, np.uint16),
             "INT64": (TensorProto.INT64, np.int64), "FP16": (TensorProto.FLOAT16, np.float16),
             "FP64": (TensorProto.DOUBLE, np.float64), "BOOL": (TensorProto.BOOL, np.bool_)}
    configs = [ModelConfig(dt.lower(), typed_identity_model(tmp_path / f"{dt}.onnx", elem), threads=1)
               for dt, (elem, _) in cases.items()]
    values = {dt: np.array([[1, 0, 1], [0, 1, 1]]).astype(np_type) for dt, (_, np_type) in cases.items()}
    values["INT8"][0, 0] = -128
    values["FP16"][1, 2] = 0.5

    async def calls(client):
        got = {}
        for dt, x in values.items():
            url = f"/v2/models/{dt.lower()}/infer"
            as_json = await client.post(url, json={"inputs": [json_input("x", x, dt)]})
            body, headers = binary_request([("x", x, dt)], parameters={"binary_data_output": True})
            got[dt] = (as_json, await client.post(url, content=body, headers=headers))
        return got

    for dt, (as_json, binary) in run(calls, create_app(configs)).items():
        x = values[dt]
        out = as_json.json()["outputs"][0]
        assert out["datatype"] == dt
        np.testing.assert_array_equal(np.array(out["data"], dtype=x.dtype).reshape(x.shape), x)
        np.testing.assert_array_equal(read_binary_response(binary)[1]["y"], x)


def test_batching_is_off_for_a_model_without_a_shared_batch_dimension(tmp_path, caplog):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["m", 4])])
    path = tmp_path / "fixed.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    model = ServedModel(ModelConfig("fixed", str(path), threads=1, max_batch_size=8), metrics=None)
    model.load()
    assert model.max_rows == 1
    assert "do not share a symbolic first dimension; dynamic batching is off" in caplog.text


def test_stopping_lets_a_batch_that_is_still_gathering_run(linear):
    app = _app(ModelConfig("lin", linear, threads=1, max_batch_size=8, max_queue_delay_ms=500), stop_timeout_s=30)

    async def calls(client):
        post = asyncio.ensure_future(client.post("/v2/models/lin/infer", json={"inputs": [json_input("x", X)]}))
        await asyncio.sleep(0.1)  # the request is in a batch waiting for more
        await app.state.server.stop()
        return await post, (await client.get("/v2/health/ready")).status_code

    answer, ready = run(calls, app)
    assert answer.status_code == 200 and answer.json()["outputs"][0]["shape"] == [2, 3]
    assert ready == 503

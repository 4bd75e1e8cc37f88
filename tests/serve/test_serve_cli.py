"""`pyinfer serve` as a real process: Triton's HTTP client against it, and SIGTERM draining in-flight requests.

Every wait is bounded, and the server process is killed if a test fails, so a hung server cannot
hang the suite."""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")

from support.child_python import NEUTRAL_CWD, child_env  # noqa: E402
from support.serve_util import CIFAR, ROOT, free_port, relu_model, wait_until_ready  # noqa: E402

import pyinfer  # noqa: E402
from pyinfer.cli import main as cli_main  # noqa: E402

START_TIMEOUT_S = 60


def _start(args) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pyinfer", "serve", *args, "--port", str(port)], cwd=NEUTRAL_CWD,
                            env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, f"127.0.0.1:{port}"


def _wait_ready(proc, url) -> None:
    try:
        wait_until_ready(url, proc, START_TIMEOUT_S)
    except (RuntimeError, TimeoutError) as e:
        proc.kill()
        pytest.fail(f"{e}:\n{proc.communicate()[0]}")


@pytest.fixture
def server(tmp_path):
    """A repository server: "cifar" (no batching) and "slow" (a request waits 1.5 s to be batched)."""
    (tmp_path / "cifar").mkdir()
    shutil.copy(CIFAR, tmp_path / "cifar" / "model.onnx")
    (tmp_path / "slow").mkdir()
    relu_model(tmp_path / "slow" / "model.onnx")
    (tmp_path / "slow" / "config.json").write_text(json.dumps({"max_batch_size": 4, "max_queue_delay_ms": 1500}))
    proc, url = _start(["--model-repository", str(tmp_path), "--threads", "1", "--drain-s", "1"])
    try:
        _wait_ready(proc, url)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_tritons_http_client_gets_metadata_and_the_local_sessions_outputs(server):
    tritonclient = pytest.importorskip("tritonclient.http")
    _, url = server
    client = tritonclient.InferenceServerClient(url, network_timeout=30)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("cifar")
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    assert client.get_model_metadata("cifar") == {
        "name": "cifar", "versions": ["1"], "platform": "onnx",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 3, 32, 32]}],
        "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}]}
    x = np.random.default_rng(2).standard_normal((3, 3, 32, 32)).astype(np.float32)
    want = pyinfer.InferenceSession(CIFAR, num_threads=1).run(None, {"input": x})[0]
    for binary in (True, False):
        inp = tritonclient.InferInput("input", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=binary)
        out = tritonclient.InferRequestedOutput("logits", binary_data=binary)
        result = client.infer("cifar", [inp], outputs=[out], request_id="q", request_compression_algorithm="gzip")
        np.testing.assert_array_equal(result.as_numpy("logits"), want)
        assert result.get_response()["id"] == "q"
    with pytest.raises(tritonclient.InferenceServerException, match="unknown input name 'pixels'"):
        inp = tritonclient.InferInput("pixels", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        client.infer("cifar", [inp])
    client.close()


def test_sigterm_turns_not_ready_finishes_in_flight_requests_and_exits(server):
    proc, url = server
    x = np.array([[-1.0, 2.0, -3.0]], np.float32)
    answer = {}

    def in_flight():  # held 1.5 s by the queue delay: still running when SIGTERM arrives
        answer["r"] = httpx.post(f"http://{url}/v2/models/slow/infer", timeout=30, json={
            "inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": x.ravel().tolist()}]})

    thread = threading.Thread(target=in_flight)
    thread.start()
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    draining_ready = httpx.get(f"http://{url}/v2/health/ready", timeout=5)
    draining_live = httpx.get(f"http://{url}/v2/health/live", timeout=5)
    thread.join(30)
    assert proc.wait(30) in (0, -signal.SIGTERM)
    log = proc.stdout.read()
    assert (draining_ready.status_code, draining_ready.json()) == (503, {"ready": False})
    assert draining_live.status_code == 200  # still serving during --drain-s
    r = answer["r"]
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == [0.0, 2.0, 0.0]
    assert "draining" in log and "Application shutdown complete" in log


def test_a_model_that_fails_to_load_stops_the_server_with_an_error(tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"garbage")
    proc, _ = _start([str(broken)])
    try:
        out, _ = proc.communicate(timeout=START_TIMEOUT_S)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert "model 'broken' failed to load" in out and "not an ONNX model" in out


def test_command_line_mistakes_exit_2_with_a_message(tmp_path, capsys):
    assert cli_main(["serve"]) == 2
    assert "give either a model file or --model-repository DIR" in capsys.readouterr().err
    assert cli_main(["serve", CIFAR, "--model-repository", str(tmp_path)]) == 2
    assert cli_main(["serve", str(tmp_path / "missing.onnx")]) == 2
    assert "model file not found" in capsys.readouterr().err
    assert cli_main(["serve", CIFAR, "--name", "bad name"]) == 2
    assert "must be letters, digits" in capsys.readouterr().err


def test_the_library_and_the_cli_parser_do_not_import_the_server_stack():
    code = ("import sys, pyinfer, pyinfer.cli, pyinfer.serve.cli; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'starlette', 'uvicorn', 'prometheus_client', "
            "'fastapi'}), 'pyinfer.serve.app' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=NEUTRAL_CWD, capture_output=True, text=True, timeout=60,
                         env=child_env())
    assert out.stdout.split() == ["[]", "False"], out.stderr

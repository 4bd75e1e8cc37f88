"""Every bad request gets its 4xx (500 for a failure inside the model) and a JSON error naming the problem,
and the server answers a good request right after each."""
import pytest

pytest.importorskip("starlette")
pytest.importorskip("prometheus_client")

from support.bad_requests import CASES, GOOD, MAX_BODY_BYTES  # noqa: E402
from support.serve_util import CIFAR, gather_model, run  # noqa: E402

from pyinfer.serve import ModelConfig, ServerSettings, create_app  # noqa: E402


def test_bad_requests_are_refused_and_the_server_keeps_serving(tmp_path):
    app = create_app([ModelConfig("cifar", CIFAR, threads=1, max_batch_size=4),
                      ModelConfig("gather", gather_model(tmp_path / "gather.onnx"), threads=1)],
                     ServerSettings(max_body_bytes=MAX_BODY_BYTES))

    async def exercise(client):
        answers = []
        for case in CASES:
            r = await client.request(case.method, case.path, **case.kwargs)
            good = await client.request(GOOD.method, GOOD.path, **GOOD.kwargs)
            answers.append((case, r.status_code, r.json().get("error", ""), good.status_code))
        return answers

    answers = run(exercise, app)
    for case, status, message, good_status in answers:
        assert (status, good_status) == (case.status, 200), (case.what, message)
        assert case.message in message, (case.what, message)

#!/usr/bin/env python
"""Send the bad-input table (tests/support/bad_requests.py) to a real `pyinfer serve` and print it.

Starts the server on loopback with the bundled CIFAR-10 CNN ("cifar") and a GatherElements model
("gather"), sends each bad request followed by a good one, and prints a Markdown table: request,
status, the error message, and the good request's status. Exits 1 if any answer differs from the
table's expectation.

    python tools/serve_bad_inputs.py
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

from support.bad_requests import CASES, GOOD, MAX_BODY_BYTES  # noqa: E402
from support.serve_util import CIFAR, free_port, gather_model, wait_until_ready  # noqa: E402


def main() -> int:
    repo = tempfile.mkdtemp(prefix="pyinfer_bad_inputs_")
    port = free_port()
    try:
        os.makedirs(os.path.join(repo, "cifar"))
        shutil.copy(CIFAR, os.path.join(repo, "cifar", "model.onnx"))
        os.makedirs(os.path.join(repo, "gather"))
        gather_model(os.path.join(repo, "gather", "model.onnx"))
        env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
        server = subprocess.Popen([sys.executable, "-m", "pyinfer", "serve", "--model-repository", repo,
                                   "--port", str(port), "--threads", "1", "--max-batch-size", "4",
                                   "--max-body-mb", str(MAX_BODY_BYTES / 2**20), "--log-level", "warning"],
                                  cwd=ROOT, env=env)
        try:
            return _exercise(f"127.0.0.1:{port}", server)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    finally:
        shutil.rmtree(repo, ignore_errors=True)


def _exercise(url: str, server: subprocess.Popen) -> int:
    with httpx.Client(base_url=f"http://{url}", timeout=30) as client:
        try:
            wait_until_ready(url, server, 60)
        except (RuntimeError, TimeoutError) as e:
            print(e, file=sys.stderr)
            return 1
        failures = 0
        print("| request | status | message | good request after |")
        print("| --- | --- | --- | --- |")
        for case in CASES:
            r = client.request(case.method, case.path, **case.kwargs)
            good = client.request(GOOD.method, GOOD.path, **GOOD.kwargs)
            message = r.json().get("error", "") if r.headers.get("content-type", "").startswith("application/json") else r.text
            ok = r.status_code == case.status and case.message in message and good.status_code == 200
            failures += not ok
            extra = f" (Retry-After {r.headers['retry-after']})" if "retry-after" in r.headers else ""
            print(f"| {case.what} | {r.status_code}{extra} | {message.replace('|', '/')} | {good.status_code}"
                  f"{'' if ok else ' **UNEXPECTED**'} |")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

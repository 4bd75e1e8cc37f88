"""Tiny models and an in-process harness for the server tests."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time

import httpx
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CIFAR = os.path.join(ROOT, "tests", "models", "fixtures", "cifar10.legacy.onnx")
W = np.arange(12, dtype=np.float32).reshape(4, 3) / 7


def _save(nodes, inputs, outputs, inits, path) -> str:
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return str(path)


def linear_model(path) -> str:
    """y = x @ W (x: [batch, 4] float), z = relu(y): two outputs sharing the batch dimension."""
    return _save([helper.make_node("MatMul", ["x", "W"], ["y"]), helper.make_node("Relu", ["y"], ["z"])],
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
                  helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 3])],
                 [numpy_helper.from_array(W, "W")], path)


def relu_model(path) -> str:
    """y = relu(x) with x: [batch, n]: requests with different n cannot share a batch."""
    return _save([helper.make_node("Relu", ["x"], ["y"])],
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "n"])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "n"])], [], path)


def gather_model(path) -> str:
    """y = GatherElements(x, i, axis=1): an index out of range fails inside the model, for its request only."""
    return _save([helper.make_node("GatherElements", ["x", "i"], ["y"], axis=1)],
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4]),
                  helper.make_tensor_value_info("i", TensorProto.INT64, ["batch", 2])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])], [], path)


def typed_identity_model(path, elem_type: int) -> str:
    """y = x for a [batch, 3] tensor of elem_type (datatype round trips)."""
    return _save([helper.make_node("Identity", ["x"], ["y"])],
                 [helper.make_tensor_value_info("x", elem_type, ["batch", 3])],
                 [helper.make_tensor_value_info("y", elem_type, ["batch", 3])], [], path)


def json_input(name: str, array: np.ndarray, datatype: str = "FP32") -> dict:
    return {"name": name, "shape": list(array.shape), "datatype": datatype, "data": array.ravel().tolist()}


def binary_request(inputs: list[tuple[str, np.ndarray, str]], outputs=None, **extra) -> tuple[bytes, dict]:
    """(body, headers) of a binary-extension request: inputs as (name, array, datatype)."""
    header = {"inputs": [{"name": n, "shape": list(a.shape), "datatype": d,
                          "parameters": {"binary_data_size": a.nbytes}} for n, a, d in inputs], **extra}
    if outputs is not None:
        header["outputs"] = outputs
    text = json.dumps(header).encode()
    body = text + b"".join(np.ascontiguousarray(a).tobytes() for _, a, _ in inputs)
    return body, {"Inference-Header-Content-Length": str(len(text)), "Content-Type": "application/octet-stream"}


def read_binary_response(response: httpx.Response) -> tuple[dict, dict]:
    """(JSON header, arrays by output name) of a response that may carry binary outputs."""
    length = response.headers.get("Inference-Header-Content-Length")
    content = response.content
    split = int(length) if length is not None else len(content)
    header = json.loads(content[:split])
    arrays, pos = {}, split
    dtypes = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32, "BOOL": np.bool_,
              "UINT8": np.uint8, "INT8": np.int8, "FP16": np.float16, "UINT16": np.uint16, "INT16": np.int16,
              "UINT32": np.uint32, "UINT64": np.uint64}
    for out in header["outputs"]:
        if "data" in out:
            arrays[out["name"]] = np.array(out["data"], dtype=dtypes.get(out["datatype"], object)).reshape(out["shape"])
        else:
            size = out["parameters"]["binary_data_size"]
            arrays[out["name"]] = np.frombuffer(content[pos:pos + size], dtypes[out["datatype"]]).reshape(out["shape"])
            pos += size
    return header, arrays


@contextlib.asynccontextmanager
async def running(app, timeout_s: float = 30):
    """An httpx client talking to app in this event loop, after its models are ready."""
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                     timeout=timeout_s) as client:
            await wait_ready(client, timeout_s)
            yield client


async def wait_ready(client, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (await client.get("/v2/health/ready")).status_code != 200:
        if loop.time() > deadline:
            raise TimeoutError("the server did not become ready")
        await asyncio.sleep(0.01)


def run(coro_fn, app, timeout_s: float = 60):
    """asyncio.run(coro_fn(client)) against a running app, bounded by timeout_s."""
    async def main():
        async with running(app) as client:
            return await coro_fn(client)
    return asyncio.run(asyncio.wait_for(main(), timeout_s))


def wait_until_ready(url: str, proc, timeout_s: float) -> None:
    """Poll http://url/v2/health/ready until 200; RuntimeError if proc (a Popen) exits, TimeoutError after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode} before it was ready")
        try:
            if httpx.get(f"http://{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the server at {url} was not ready within {timeout_s} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

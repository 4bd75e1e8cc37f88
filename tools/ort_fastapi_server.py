#!/usr/bin/env python
"""The baseline for tools/bench_serve.py: a plain onnxruntime + FastAPI service, as a user would write it.

One onnxruntime session; each request's inference runs in FastAPI's thread pool (onnxruntime
releases the GIL). It accepts the same requests as `pyinfer serve` (the Open Inference Protocol's
binary form: a JSON header, then the raw input tensor) and answers the first output in binary, so
one load generator drives both. No batching, no queue limit: that is what the comparison is about.

    python tools/ort_fastapi_server.py MODEL.onnx --port 8001 --threads 2
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import onnxruntime as ort
import uvicorn
from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

_DTYPES = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32}


def create_app(model_path: str, threads: int) -> FastAPI:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
    output = session.get_outputs()[0].name
    app = FastAPI()

    @app.get("/v2/health/ready")
    async def ready():
        return {"ready": True}

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request) -> Response:
        body = await request.body()
        split = int(request.headers["Inference-Header-Content-Length"])
        spec = json.loads(body[:split])["inputs"][0]
        x = np.frombuffer(body[split:], dtype=_DTYPES[spec["datatype"]]).reshape(spec["shape"])
        (y,) = await run_in_threadpool(session.run, [output], {spec["name"]: x})
        header = json.dumps({"model_name": name, "outputs": [
            {"name": output, "datatype": "FP32", "shape": list(y.shape),
             "parameters": {"binary_data_size": y.nbytes}}]}).encode()
        return Response(header + y.astype(np.float32).tobytes(), media_type="application/octet-stream",
                        headers={"Inference-Header-Content-Length": str(len(header))})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    args = parser.parse_args()
    uvicorn.run(create_app(args.model, args.threads), host=args.host, port=args.port, log_level="warning",
                access_log=False)


if __name__ == "__main__":
    main()

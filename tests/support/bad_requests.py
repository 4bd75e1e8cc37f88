"""The bad-input table: requests a server must refuse with a 4xx (or 500 for a failure inside the model)
and a JSON error naming the problem, each followed by a good request that must still succeed.

Used by tests/serve/test_serve_bad_inputs.py (in process) and tools/serve_bad_inputs.py (against a
running `pyinfer serve`, printing the table). The server serves "cifar" (the bundled CIFAR-10 CNN,
input [-1, 3, 32, 32] FP32) and "gather" (support.serve_util.gather_model) with a 1 MiB body limit.
"""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field

import numpy as np

MAX_BODY_BYTES = 1 << 20
CIFAR_SHAPE = [1, 3, 32, 32]


@dataclass
class Case:
    what: str
    method: str
    path: str
    status: int
    message: str  # a part of the JSON error message
    kwargs: dict = field(default_factory=dict)  # httpx request arguments: json, content, headers


def _cifar(shape=CIFAR_SHAPE, datatype="FP32", name="input", data=None) -> dict:
    count = int(np.prod(shape)) if shape and all(isinstance(d, int) and d >= 0 for d in shape) else 1
    return {"inputs": [{"name": name, "shape": shape, "datatype": datatype,
                        "data": [0.5] * count if data is None else data}]}


def _binary(declared_size: int, actual: bytes, header_length=None) -> dict:
    text = json.dumps({"inputs": [{"name": "input", "shape": CIFAR_SHAPE, "datatype": "FP32",
                                   "parameters": {"binary_data_size": declared_size}}]}).encode()
    return {"content": text + actual,
            "headers": {"Inference-Header-Content-Length": str(header_length or len(text))}}


INFER = "/v2/models/cifar/infer"
GATHER = "/v2/models/gather/infer"
FULL_TENSOR = bytes(4 * 3 * 32 * 32)

CASES = [
    Case("unknown model", "POST", "/v2/models/nope/infer", 404, "unknown model 'nope'", {"json": _cifar()}),
    Case("unknown version", "POST", "/v2/models/cifar/versions/7/infer", 404, "has no version '7'",
         {"json": _cifar()}),
    Case("metadata of an unknown model", "GET", "/v2/models/nope", 404, "unknown model 'nope'"),
    Case("malformed JSON", "POST", INFER, 400, "malformed JSON", {"content": b'{"inputs": [{"name": '}),
    Case("JSON that is not an object", "POST", INFER, 400, "must be a JSON object", {"json": [1, 2, 3]}),
    Case("no inputs", "POST", INFER, 400, "non-empty 'inputs' list", {"json": {"inputs": []}}),
    Case("wrong input name", "POST", INFER, 400, "unknown input name 'image'", {"json": _cifar(name="image")}),
    Case("missing input", "POST", GATHER, 400, "missing input(s) ['i']",
         {"json": {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}}),
    Case("wrong datatype", "POST", INFER, 400, "expects datatype FP32, got FP64", {"json": _cifar(datatype="FP64")}),
    Case("unknown datatype", "POST", INFER, 400, "unknown datatype 'FLOAT'", {"json": _cifar(datatype="FLOAT")}),
    Case("wrong shape", "POST", INFER, 400, "dimension 2 must be 32", {"json": _cifar(shape=[1, 3, 16, 16])}),
    Case("wrong rank", "POST", INFER, 400, "expected rank 4", {"json": _cifar(shape=[3, 32, 32])}),
    Case("negative dimension", "POST", INFER, 400, "'shape' must be a list", {"json": _cifar(shape=[1, -3, 32, 32])}),
    Case("data shorter than the shape", "POST", INFER, 400, "has 3072 elements, 'data' has 10",
         {"json": _cifar(data=[0.5] * 10)}),
    Case("data that are not numbers", "POST", INFER, 400, "FP32 data must be numbers",
         {"json": _cifar(data=["a"] * 3072)}),
    Case("ragged nested data", "POST", INFER, 400, "ragged", {"json": _cifar(data=[[1.0, 2.0], [3.0]])}),
    Case("fractional INT64 data", "POST", GATHER, 400, "INT64 data must be integers in range",
         {"json": {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]},
                              {"name": "i", "shape": [1, 2], "datatype": "INT64", "data": [0.5, 1]}]}}),
    Case("binary data shorter than the shape", "POST", INFER, 400, "needs 12288 bytes, binary_data_size gives 100",
         _binary(100, bytes(100))),
    Case("binary_data_size past the body's end", "POST", INFER, 400, "runs past the end of the body",
         _binary(len(FULL_TENSOR), bytes(100))),
    Case("bytes after the tensors", "POST", INFER, 400, "that no input's binary_data_size claims",
         _binary(len(FULL_TENSOR), FULL_TENSOR + b"extra")),
    Case("header length past the body", "POST", INFER, 400, "Inference-Header-Content-Length is 99999999",
         _binary(len(FULL_TENSOR), FULL_TENSOR, header_length=99999999)),
    Case("unknown output requested", "POST", INFER, 400, "has no output 'probs'",
         {"json": {**_cifar(), "outputs": [{"name": "probs"}]}}),
    Case("body over the size limit", "POST", INFER, 413, f"limit of {MAX_BODY_BYTES} bytes",
         {"content": b" " * (MAX_BODY_BYTES + 1)}),
    Case("gzip bomb", "POST", INFER, 413, "body, decompressed, is larger",
         {"content": gzip.compress(b" " * (20 * MAX_BODY_BYTES)), "headers": {"Content-Encoding": "gzip"}}),
    Case("corrupt gzip", "POST", INFER, 400, "not valid gzip data",
         {"content": b"\x1f\x8b garbage", "headers": {"Content-Encoding": "gzip"}}),
    Case("unsupported Content-Encoding", "POST", INFER, 415, "Content-Encoding 'br'",
         {"json": _cifar(), "headers": {"Content-Encoding": "br"}}),
    Case("GET on the infer endpoint", "GET", INFER, 405, "Method Not Allowed"),
    Case("unknown path", "GET", "/v3/models", 404, "Not Found"),
    Case("error inside the model (index out of range)", "POST", GATHER, 500, "GatherElements",
         {"json": {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]},
                              {"name": "i", "shape": [1, 2], "datatype": "INT64", "data": [0, 9]}]}}),
]

GOOD = Case("good request", "POST", INFER, 200, "", {"json": _cifar()})

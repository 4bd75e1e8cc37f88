"""The KServe v2 codec on its own: JSON and binary tensors in, responses out, malformed input refused."""
import json
import re

import numpy as np
import pytest

from pyinfer.serve.errors import BadRequestError
from pyinfer.serve.protocol import encode_infer_response, parse_infer_request, tensor_metadata


def _json(*inputs, **extra) -> bytes:
    return json.dumps({"inputs": list(inputs), **extra}).encode()


def _tensor(name, shape, datatype, data):
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def test_json_tensors_nested_or_flat_and_scalars():
    req = parse_infer_request(_json(_tensor("a", [2, 2], "INT32", [[1, 2], [3, 4]]),
                                    _tensor("b", [], "FP64", 2.5), _tensor("c", [3], "BOOL", [True, False, True]),
                                    _tensor("d", [2], "BYTES", ["hé", ""]), id="7"), None)
    assert req.id == "7" and req.outputs is None and req.binary_outputs is False
    np.testing.assert_array_equal(req.inputs["a"], np.array([[1, 2], [3, 4]], np.int32))
    assert req.inputs["a"].dtype == np.int32
    assert req.inputs["b"].shape == () and req.inputs["b"] == 2.5
    assert req.inputs["c"].tolist() == [True, False, True]
    assert req.inputs["d"].dtype == object and req.inputs["d"].tolist() == ["hé", ""]
    assert req.datatypes == {"a": "INT32", "b": "FP64", "c": "BOOL", "d": "BYTES"}


def test_binary_tensors_including_bytes_elements():
    x = np.arange(6, dtype=np.float16).reshape(2, 3)
    strings = b"".join(len(s).to_bytes(4, "little") + s for s in (b"ab", b"", b"xyz"))
    header = _json({"name": "x", "shape": [2, 3], "datatype": "FP16", "parameters": {"binary_data_size": x.nbytes}},
                   {"name": "s", "shape": [3], "datatype": "BYTES", "parameters": {"binary_data_size": len(strings)}},
                   outputs=[{"name": "y", "parameters": {"binary_data": True}}, {"name": "z"}],
                   parameters={"timeout": 250_000})
    req = parse_infer_request(header + x.tobytes() + strings, str(len(header)))
    np.testing.assert_array_equal(req.inputs["x"], x)
    assert req.inputs["s"].tolist() == [b"ab", b"", b"xyz"]
    assert [(o.name, o.binary) for o in req.outputs] == [("y", True), ("z", False)]
    assert req.timeout_s == 0.25


@pytest.mark.parametrize("tensor, message", [
    (_tensor("a", [2], "INT8", [1, 300]), "INT8 data must be integers in range"),
    (_tensor("a", [2], "UINT8", [1, -1]), "UINT8 data must be integers in range"),
    (_tensor("a", [2], "INT64", [1, 2 ** 70]), "INT64 data must be integers in range"),
    (_tensor("a", [2], "BOOL", [1, 0]), "BOOL data must be true/false"),
    (_tensor("a", [2], "FP32", [True, False]), "FP32 data must be numbers"),
    (_tensor("a", [2], "FP32", [1.0, None]), "FP32 data must be numbers"),
    (_tensor("a", [1], "BYTES", [3]), "BYTES data must be strings"),
    (_tensor("a", [2, 2], "FP32", [1.0, 2.0, 3.0]), "shape [2, 2] has 4 elements, 'data' has 3"),
    (_tensor("a", [True], "FP32", [1.0]), "'shape' must be a list"),
    (_tensor("", [1], "FP32", [1.0]), "'name' must be a non-empty string"),
    ({"name": "a", "shape": [1], "datatype": "FP32"}, "neither 'data' nor a 'binary_data_size'"),
    ({"name": "a", "shape": [1], "datatype": "FP32", "data": [1.0], "parameters": {"binary_data_size": 4}},
     "both 'data' and a 'binary_data_size'"),
    ("not an object", "must be a JSON object"),
])
def test_malformed_tensors_are_refused(tensor, message):
    with pytest.raises(BadRequestError, match=re.escape(message)):
        parse_infer_request(_json(tensor), None)


def test_request_level_mistakes_are_refused():
    cases = [
        (_json(_tensor("a", [1], "FP32", [1]), _tensor("a", [1], "FP32", [1])), None, "input 'a' is given twice"),
        (_json(_tensor("a", [1], "FP32", [1]), id=5), None, "'id' must be a string"),
        (_json(_tensor("a", [1], "FP32", [1]), parameters={"timeout": -1}), None, "'timeout'"),
        (_json(_tensor("a", [1], "FP32", [1]), parameters={"binary_data_output": "yes"}), None, "true or false"),
        (_json(_tensor("a", [1], "FP32", [1]), outputs={"name": "y"}), None, "'outputs' must be a list"),
        (_json(_tensor("a", [1], "FP32", [1]), outputs=[{"name": "y", "parameters": {"classification": 2}}]), None,
         "classification extension is not supported"),
        (b'{"inputs": [' * 5000, None, "malformed JSON"),
        (b"\xff\xfe", None, "malformed JSON"),
        (_json(_tensor("a", [1], "FP32", [1])), "abc", "must be an integer"),
        (_json(_tensor("a", [1], "FP32", [1])), "0", "Inference-Header-Content-Length is 0"),
    ]
    for body, header_length, message in cases:
        with pytest.raises(BadRequestError, match=message):
            parse_infer_request(body, header_length)


def test_binary_bool_and_bytes_framing_are_checked():
    header = _json({"name": "b", "shape": [2], "datatype": "BOOL", "parameters": {"binary_data_size": 2}})
    with pytest.raises(BadRequestError, match="BOOL bytes must be 0 or 1"):
        parse_infer_request(header + b"\x01\x02", str(len(header)))
    header = _json({"name": "s", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": 9}})
    with pytest.raises(BadRequestError, match="BYTES element 1 runs past binary_data_size"):
        parse_infer_request(header + (1).to_bytes(4, "little") + b"a" + (9).to_bytes(4, "little"), str(len(header)))


def test_responses_json_binary_and_bytes():
    y = np.array([[1.5, -2.0]], np.float32)
    s = np.array(["a", "bc"], dtype=object)
    body, headers = encode_infer_response("m", "2", "id1", [("y", y, False), ("s", s, False)])
    assert headers == {"Content-Type": "application/json"}
    assert json.loads(body) == {"model_name": "m", "model_version": "2", "id": "id1", "outputs": [
        {"name": "y", "datatype": "FP32", "shape": [1, 2], "data": [1.5, -2.0]},
        {"name": "s", "datatype": "BYTES", "shape": [2], "data": ["a", "bc"]}]}
    body, headers = encode_infer_response("m", "1", None, [("y", y, True), ("s", s, True)])
    n = int(headers["Inference-Header-Content-Length"])
    header = json.loads(body[:n])
    assert "id" not in header
    assert [o["parameters"]["binary_data_size"] for o in header["outputs"]] == [8, 4 + 1 + 4 + 2]
    assert body[n:n + 8] == y.tobytes()
    assert body[n + 8:] == b"\x01\x00\x00\x00a\x02\x00\x00\x00bc"


def test_metadata_marks_unknown_dimensions():
    assert tensor_metadata("x", "FP32", ["batch", 3, None]) == {"name": "x", "datatype": "FP32", "shape": [-1, 3, -1]}
    assert tensor_metadata("x", "FP32", None)["shape"] == [-1]

"""The Open Inference Protocol (KServe v2) REST codec, with Triton's binary tensor data extension.

An inference request is JSON, optionally followed by raw tensor bytes: the header
`Inference-Header-Content-Length` gives the JSON's length, and every input whose parameters hold
`binary_data_size` takes that many bytes, in input order, from what follows (little-endian
values; BYTES elements as a 4-byte little-endian length and the bytes). Responses put an output in
the binary part when the request asks for it (`binary_data` on the output, or
`binary_data_output` on the request). This module knows no HTTP framework and no model: it turns
bytes into arrays and back, and raises BadRequestError for anything malformed.
"""
from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field

import numpy as np
from onnx import TensorProto

from .errors import BadRequestError

HEADER_LENGTH = "Inference-Header-Content-Length"

DTYPES = {
    "BOOL": np.dtype(np.bool_), "UINT8": np.dtype(np.uint8), "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32), "UINT64": np.dtype(np.uint64), "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16), "INT32": np.dtype(np.int32), "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16), "FP32": np.dtype(np.float32), "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}

_ONNX_DATATYPES = {
    TensorProto.BOOL: "BOOL", TensorProto.UINT8: "UINT8", TensorProto.UINT16: "UINT16",
    TensorProto.UINT32: "UINT32", TensorProto.UINT64: "UINT64", TensorProto.INT8: "INT8",
    TensorProto.INT16: "INT16", TensorProto.INT32: "INT32", TensorProto.INT64: "INT64",
    TensorProto.FLOAT16: "FP16", TensorProto.FLOAT: "FP32", TensorProto.DOUBLE: "FP64",
    TensorProto.STRING: "BYTES",
}

MAX_RANK = 64


def datatype_of_onnx(elem_type: int) -> str | None:
    """The protocol's name for an ONNX tensor element type; None if the protocol cannot carry it."""
    return _ONNX_DATATYPES.get(elem_type)


def datatype_of_array(array: np.ndarray) -> str:
    if array.dtype.kind in "OUS":
        return "BYTES"
    for name, dtype in DTYPES.items():
        if dtype == array.dtype:
            return name
    raise BadRequestError(f"an output of dtype {array.dtype} cannot be sent: the protocol has no such datatype")


@dataclass
class RequestedOutput:
    name: str
    binary: bool


@dataclass
class InferRequest:
    """A decoded inference request: arrays by input name, and what to send back."""

    id: str | None
    inputs: dict[str, np.ndarray]
    datatypes: dict[str, str]
    outputs: list[RequestedOutput] | None  # None: every output of the model
    binary_outputs: bool  # the default for outputs that do not say (binary_data_output)
    timeout_s: float | None = None  # the client's own timeout (Triton's "timeout" parameter, in µs)
    parameters: dict = field(default_factory=dict)


# --- requests ------------------------------------------------------------------------------------

def parse_infer_request(body: bytes, header_length: str | None) -> InferRequest:
    """Decode a request body; header_length is the Inference-Header-Content-Length header, if any."""
    json_end = _json_length(header_length, len(body))
    header = _load_json(body[:json_end])
    if not isinstance(header, dict):
        raise BadRequestError("the request must be a JSON object with an 'inputs' list")
    params = _dict_field(header, "parameters", "the request")
    inputs = header.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise BadRequestError("the request must have a non-empty 'inputs' list")
    binary = memoryview(body)[json_end:]
    offset = 0
    arrays, datatypes = {}, {}
    for i, spec in enumerate(inputs):
        name, datatype, shape = _tensor_header(spec, f"inputs[{i}]")
        if name in arrays:
            raise BadRequestError(f"input {name!r} is given twice")
        in_params = _dict_field(spec, "parameters", f"input {name!r}")
        size = in_params.get("binary_data_size")
        if size is not None:
            if "data" in spec:
                raise BadRequestError(f"input {name!r} has both 'data' and a 'binary_data_size' parameter")
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise BadRequestError(f"input {name!r}: binary_data_size must be a non-negative integer, got {size!r}")
            if offset + size > len(binary):
                raise BadRequestError(
                    f"input {name!r}: binary_data_size {size} runs past the end of the body "
                    f"({len(binary) - offset} binary bytes left)")
            arrays[name] = _binary_tensor(name, datatype, shape, binary[offset:offset + size])
            offset += size
        elif "data" in spec:
            arrays[name] = _json_tensor(name, datatype, shape, spec["data"])
        else:
            raise BadRequestError(f"input {name!r} has neither 'data' nor a 'binary_data_size' parameter")
        datatypes[name] = datatype
    if offset != len(binary):
        raise BadRequestError(
            f"the body has {len(binary) - offset} bytes after the JSON header that no input's binary_data_size claims")
    return InferRequest(
        id=_request_id(header.get("id")), inputs=arrays, datatypes=datatypes,
        outputs=_requested_outputs(header.get("outputs")),
        binary_outputs=_flag(params, "binary_data_output", "the request"),
        timeout_s=_client_timeout(params.get("timeout")), parameters=params)


def _json_length(header_length: str | None, body_length: int) -> int:
    if header_length is None:
        return body_length
    try:
        n = int(header_length)
    except ValueError:
        raise BadRequestError(f"{HEADER_LENGTH} must be an integer, got {header_length!r}") from None
    if not 0 < n <= body_length:
        raise BadRequestError(f"{HEADER_LENGTH} is {n}, but the body has {body_length} bytes")
    return n


def _load_json(data) -> object:
    try:
        return json.loads(bytes(data))
    except (UnicodeDecodeError, ValueError) as e:  # json.JSONDecodeError is a ValueError
        raise BadRequestError(f"malformed JSON in the request: {e}") from None
    except RecursionError:
        raise BadRequestError("malformed JSON in the request: nested too deeply") from None


def _dict_field(obj: dict, key: str, where: str) -> dict:
    value = obj.get(key, {})
    if not isinstance(value, dict):
        raise BadRequestError(f"{where}: '{key}' must be a JSON object")
    return value


def _flag(params: dict, key: str, where: str) -> bool:
    value = params.get(key, False)
    if not isinstance(value, bool):
        raise BadRequestError(f"{where}: parameter '{key}' must be true or false, got {value!r}")
    return value


def _request_id(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise BadRequestError(f"the request 'id' must be a string, got {value!r}")


def _client_timeout(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise BadRequestError(f"parameter 'timeout' (microseconds) must be a positive number, got {value!r}")
    return value / 1e6


def _tensor_header(spec, where: str) -> tuple[str, str, tuple[int, ...]]:
    if not isinstance(spec, dict):
        raise BadRequestError(f"{where} must be a JSON object with name, shape, datatype and data")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequestError(f"{where}: 'name' must be a non-empty string")
    datatype = spec.get("datatype")
    if datatype not in DTYPES:
        raise BadRequestError(f"input {name!r}: unknown datatype {datatype!r}; expected one of {', '.join(DTYPES)}")
    shape = spec.get("shape")
    if (not isinstance(shape, list) or len(shape) > MAX_RANK
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise BadRequestError(f"input {name!r}: 'shape' must be a list of at most {MAX_RANK} non-negative "
                              f"integers, got {shape!r}")
    return name, datatype, tuple(shape)


def _requested_outputs(outputs) -> list[RequestedOutput] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list):
        raise BadRequestError("'outputs' must be a list of {\"name\": ...} objects")
    wanted = []
    for i, spec in enumerate(outputs):
        name = spec.get("name") if isinstance(spec, dict) else None
        if not isinstance(name, str):
            raise BadRequestError(f"outputs[{i}] must be an object with a string 'name'")
        params = _dict_field(spec, "parameters", f"output {name!r}")
        if "classification" in params:
            raise BadRequestError(f"output {name!r}: the classification extension is not supported")
        wanted.append(RequestedOutput(name, _flag(params, "binary_data", f"output {name!r}")))
    return wanted


def _binary_tensor(name: str, datatype: str, shape: tuple, data: memoryview) -> np.ndarray:
    count = math.prod(shape)
    if datatype == "BYTES":
        return _unpack_bytes(name, shape, count, data)
    dtype = DTYPES[datatype].newbyteorder("<")
    if len(data) != count * dtype.itemsize:
        raise BadRequestError(
            f"input {name!r}: shape {list(shape)} of {datatype} needs {count * dtype.itemsize} bytes, "
            f"binary_data_size gives {len(data)}")
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    if datatype == "BOOL" and array.view(np.uint8).max(initial=0) > 1:
        raise BadRequestError(f"input {name!r}: BOOL bytes must be 0 or 1")
    return array


def _unpack_bytes(name: str, shape: tuple, count: int, data: memoryview) -> np.ndarray:
    items, pos = [], 0
    for _ in range(count):
        if pos + 4 > len(data):
            raise BadRequestError(f"input {name!r}: BYTES data ends after {len(items)} of {count} elements")
        (n,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if pos + n > len(data):
            raise BadRequestError(f"input {name!r}: BYTES element {len(items)} runs past binary_data_size")
        items.append(bytes(data[pos:pos + n]))
        pos += n
    if pos != len(data):
        raise BadRequestError(f"input {name!r}: {len(data) - pos} bytes left after the {count} BYTES elements")
    return _object_array(items, shape)


def _object_array(items: list, shape: tuple) -> np.ndarray:
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array.reshape(shape)


def _json_tensor(name: str, datatype: str, shape: tuple, data) -> np.ndarray:
    count = math.prod(shape)
    if not isinstance(data, list):
        data = [data]  # a scalar stands for a one-element tensor
    if datatype == "BYTES":
        flat = _flatten(name, data)
        if not all(isinstance(s, str) for s in flat):
            raise BadRequestError(f"input {name!r}: BYTES data must be strings")
        _check_count(name, shape, count, len(flat))
        return _object_array(flat, shape)
    try:
        values = np.asarray(data)
    except (ValueError, OverflowError):
        raise BadRequestError(f"input {name!r}: 'data' is ragged or not numbers") from None
    _check_count(name, shape, count, values.size)
    return _json_values_as(name, datatype, values).reshape(shape)


def _flatten(name: str, data: list) -> list:
    flat, stack = [], [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                if len(stack) > MAX_RANK:
                    raise BadRequestError(f"input {name!r}: 'data' nests deeper than {MAX_RANK} levels")
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def _check_count(name: str, shape: tuple, want: int, got: int) -> None:
    if want != got:
        raise BadRequestError(f"input {name!r}: shape {list(shape)} has {want} elements, 'data' has {got}")


def _json_values_as(name: str, datatype: str, values: np.ndarray) -> np.ndarray:
    """values (as NumPy read the JSON) in the datatype, refusing what would change a value."""
    dtype = DTYPES[datatype]
    kind = values.dtype.kind
    if values.size == 0:
        return values.astype(dtype)
    if datatype == "BOOL":
        ok = kind == "b"
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        ok = kind in "iu" and int(values.min()) >= info.min and int(values.max()) <= info.max
    else:
        ok = kind in "iuf"
    if not ok:
        what = {"b": "true/false", "iu": "integers in range", "f": "numbers"}
        want = what["b"] if datatype == "BOOL" else what["iu"] if dtype.kind in "iu" else what["f"]
        raise BadRequestError(f"input {name!r}: {datatype} data must be {want}")
    return values.astype(dtype)


# --- responses ------------------------------------------------------------------------------------

def encode_infer_response(model_name: str, model_version: str, request_id: str | None,
                          outputs: list[tuple[str, np.ndarray, bool]]) -> tuple[bytes, dict]:
    """(body, headers) for outputs given as (name, array, binary)."""
    tensors, chunks = [], []
    for name, array, binary in outputs:
        array = np.asarray(array)
        datatype = datatype_of_array(array)
        tensor = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if binary:
            raw = _pack_bytes(array) if datatype == "BYTES" else _little_endian(array).tobytes()
            tensor["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            tensor["data"] = _json_values(array, datatype)
        tensors.append(tensor)
    header = {"model_name": model_name, "model_version": model_version, "outputs": tensors}
    if request_id is not None:
        header["id"] = request_id
    body = json.dumps(header, separators=(",", ":")).encode()
    if not chunks:
        return body, {"Content-Type": "application/json"}
    return b"".join([body, *chunks]), {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(body))}


def _little_endian(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))


def _text(item) -> bytes:
    return item if isinstance(item, bytes) else str(item).encode()


def _pack_bytes(array: np.ndarray) -> bytes:
    parts = []
    for item in array.ravel():
        data = _text(item)
        parts += [struct.pack("<I", len(data)), data]
    return b"".join(parts)


def _json_values(array: np.ndarray, datatype: str) -> list:
    if datatype == "BYTES":
        return [_text(item).decode(errors="replace") for item in array.ravel()]
    return array.ravel().tolist()


# --- metadata -------------------------------------------------------------------------------------

def tensor_metadata(name: str, datatype: str, shape) -> dict:
    """A model metadata entry; unknown or symbolic dimensions are -1 (an unknown rank: [-1])."""
    dims = [-1] if shape is None else [d if isinstance(d, int) and d >= 0 else -1 for d in shape]
    return {"name": name, "datatype": datatype, "shape": dims}

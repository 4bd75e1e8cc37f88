"""Reading a model: path, bytes or onnx.ModelProto in, a ModelProto out, or a clear error."""
from __future__ import annotations

import os

import onnx
from google.protobuf.message import DecodeError

from .errors import ModelLoadError


def load_model(model) -> onnx.ModelProto:
    """Accept a path (str / os.PathLike), the serialized bytes, or a ModelProto."""
    if isinstance(model, onnx.ModelProto):
        proto, where, base_dir = model, "the given ModelProto", None
    elif isinstance(model, (bytes, bytearray, memoryview)):
        proto, where, base_dir = _parse(bytes(model), "the given bytes"), "the given bytes", None
    elif isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise ModelLoadError(f"model file not found: {path!r}")
        with open(path, "rb") as f:
            data = f.read()
        proto, where, base_dir = _parse(data, repr(path)), repr(path), os.path.dirname(os.path.abspath(path))
    else:
        raise ModelLoadError(
            f"cannot load a model from {type(model).__name__}: pass a file path, bytes or an onnx.ModelProto"
        )
    _check_looks_like_onnx(proto, where)
    if base_dir is not None and _has_external_data(proto):
        try:
            onnx.external_data_helper.load_external_data_for_model(proto, base_dir)
        except Exception as e:  # onnx raises several types here
            raise ModelLoadError(f"{where}: cannot load external tensor data: {e}") from e
    return proto


def _parse(data: bytes, where: str) -> onnx.ModelProto:
    if not data:
        raise ModelLoadError(f"{where}: empty input, not an ONNX model")
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise ModelLoadError(f"{where}: not an ONNX model, or a truncated/corrupt one ({e})") from e
    return proto


def _check_looks_like_onnx(proto: onnx.ModelProto, where: str) -> None:
    # Random or truncated bytes can decode as a protobuf with unknown fields; a real model
    # always has an IR version and a graph.
    if proto.ir_version <= 0 or not proto.HasField("graph"):
        raise ModelLoadError(f"{where}: not an ONNX model (no ir_version or no graph; is the file truncated?)")
    if not proto.opset_import and proto.ir_version >= 3:
        raise ModelLoadError(f"{where}: ONNX model without opset_import (truncated or corrupt?)")


def _has_external_data(proto: onnx.ModelProto) -> bool:
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)

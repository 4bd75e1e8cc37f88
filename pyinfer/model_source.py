"""What a session was created from, kept so that the session can be pickled.

A pickled InferenceSession carries the model's serialized bytes and its options; unpickling
builds a new session from them (weights loaded, optimized and packed again in the receiving
process). Where the model came from a path or a ModelProto, the bytes are produced when the
session is pickled, so such a session holds no second copy of its model:

- bytes: a reference to the immutable object the caller passed, kept alive with the session (a
  bytearray or memoryview, which the caller could change afterwards, is copied at creation);
- a path: the file is read again when pickling, and must be unchanged (size and modification
  time); a model that keeps weights in external data files is refused, since those files would
  not travel with the bytes;
- an onnx.ModelProto: serialized when pickling (the session reads the same object, so changing it
  after creation is not supported either way).
"""
from __future__ import annotations

import os

import onnx
from google.protobuf.message import DecodeError

from . import model_file
from .errors import SessionPicklingError
from .loader import external_tensor_label


class ModelSource:
    """The model a session came from; serialized() returns its ONNX bytes."""

    def __init__(self, model):
        self._bytes = None
        self._proto = None
        self._path = None
        self._stat = None
        if isinstance(model, bytes):
            self._bytes = model
        elif isinstance(model, (bytearray, memoryview)):
            self._bytes = bytes(model)
        elif isinstance(model, onnx.ModelProto):
            self._proto = model
        elif isinstance(model, (str, os.PathLike)):
            self._path = os.path.abspath(os.fsdecode(os.fspath(model)))
            self._stat = _fingerprint(self._path)

    def serialized(self) -> bytes:
        if self._bytes is not None:
            return self._bytes
        if self._proto is not None:
            try:
                return self._proto.SerializeToString()
            except ValueError as e:  # protobuf refuses messages over 2 GiB
                raise SessionPicklingError(f"cannot pickle the session: its ModelProto does not serialize ({e})") from e
        if self._path is not None:
            return self._read_unchanged_file()
        raise SessionPicklingError("cannot pickle the session: it was not created from a path, bytes or a ModelProto")

    def _read_unchanged_file(self) -> bytes:
        path = self._path
        try:
            if _fingerprint(path) != self._stat:
                raise SessionPicklingError(
                    f"cannot pickle the session: its model file {path!r} changed since the session was created"
                )
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise SessionPicklingError(f"cannot pickle the session: cannot read its model file {path!r}: {e}") from e
        label = external_tensor_label(_structure(data))
        if label is not None:
            raise SessionPicklingError(
                f"cannot pickle the session: {path!r} keeps {label} in an external data file, which would not "
                f"travel with the pickle; create the session in each process from the path instead (see "
                f"docs/SERVING.md), or save the model with its weights inside the file"
            )
        return data


def _fingerprint(path: str):
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # missing, or not a valid path (NUL byte): the loader reports it
        return None
    return st.st_size, st.st_mtime_ns


def _structure(data: bytes) -> onnx.ModelProto:
    """The model's graph structure; large weights are skipped rather than parsed when the layout allows."""
    try:
        data = model_file.bytes_split(data).lean
    except model_file.Unsplittable:
        pass
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:  # the session loaded it: the file must have changed
        raise SessionPicklingError(f"cannot pickle the session: its model file no longer parses ({e})") from e
    return proto

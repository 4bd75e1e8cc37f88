"""Reading a serialized ONNX model without holding its weights twice.

Parsing a model with protobuf keeps every initializer's raw bytes inside the message; turning
them into NumPy arrays then copies them again, so a 100 MB model briefly needs 300 MB (file
bytes + message + arrays). `split_weights` walks the protobuf wire format of the ModelProto and
its main GraphProto instead: large float/int initializers' raw_data is copied straight from the
file into NumPy arrays, and protobuf parses what is left (the graph structure and stub tensors
that keep name, dims and data type). The file is memory-mapped and each tensor's pages are
released after its copy, so resident memory grows by the weights alone.

Only the layout onnx itself writes is taken apart (fields it does not recognise are passed to
protobuf untouched); anything unexpected (truncation, a length running past its message, the
deprecated group wire types) raises `Unsplittable`, and the caller falls back to parsing the
whole file, which reports the error in protobuf's terms.
"""
from __future__ import annotations

import mmap
import os
import sys

import numpy as np
from onnx import TensorProto

from . import _kernels
from .weight_memory import weight_array

# Initializers below this many bytes stay inside the message: splitting them gains nothing.
MIN_SPLIT_BYTES = 4096

# Data types whose raw_data is exactly the NumPy array's little-endian bytes.
_PLAIN_DTYPES = {
    TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64, TensorProto.FLOAT16: np.float16,
    TensorProto.INT8: np.int8, TensorProto.INT16: np.int16, TensorProto.INT32: np.int32,
    TensorProto.INT64: np.int64, TensorProto.UINT8: np.uint8, TensorProto.UINT16: np.uint16,
    TensorProto.UINT32: np.uint32, TensorProto.UINT64: np.uint64, TensorProto.BOOL: np.bool_,
}

_LEN = 2  # wire type of length-delimited fields (bytes, strings, messages, packed repeats)
_MODEL_GRAPH, _GRAPH_INITIALIZER = 7, 5  # ModelProto.graph, GraphProto.initializer
_TENSOR_RAW_DATA = 9  # TensorProto.raw_data


class Unsplittable(Exception):
    """The bytes are not laid out the way this reader takes apart; parse them whole instead."""


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= end or shift > 63:
            raise Unsplittable("bad varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _fields(buf, pos: int, end: int):
    """(field number, wire type, field start, payload start, payload end) of each field."""
    while pos < end:
        start = pos
        tag, pos = _varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise Unsplittable("field number 0")
        if wire == 0:
            _, pos = _varint(buf, pos, end)
            yield number, wire, start, pos, pos
            continue
        if wire == 1:
            size = 8
        elif wire == 5:
            size = 4
        elif wire == _LEN:
            size, pos = _varint(buf, pos, end)
        else:  # groups (3, 4) and invalid wire types
            raise Unsplittable(f"wire type {wire}")
        if pos + size > end:
            raise Unsplittable("field runs past its message")
        yield number, wire, start, pos, pos + size
        pos += size


def _len_field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | _LEN) + _encode_varint(len(payload)) + payload


class _Source:
    """A buffer to walk and copy from. For a file (fd given), the walk reads the map but a tensor's
    bytes are read from the file straight into its array: touching the map's pages would fault
    every one of them in (~2 us per 4 KiB page on a VM), the read does not map them at all. Those
    reads are only noted here (`deferred`): read_split starts them on a thread of their own."""

    def __init__(self, buf, mm: mmap.mmap | None, fd: int | None = None):
        self.buf, self.mm, self.fd = buf, mm, fd
        self.deferred = []  # (array, file offset) to read from fd

    def copy(self, begin: int, end: int) -> np.ndarray:
        arr = weight_array((end - begin,), np.uint8)
        if self.fd is not None:
            self.deferred.append((arr, begin))
            return arr
        self.copy_from_buffer(arr, begin)
        return arr

    def copy_from_buffer(self, arr: np.ndarray, begin: int) -> None:
        end = begin + arr.size
        arr[:] = np.frombuffer(self.buf, dtype=np.uint8, count=arr.size, offset=begin)
        if self.mm is not None and hasattr(self.mm, "madvise"):
            page = mmap.PAGESIZE
            lo = begin // page * page
            try:
                self.mm.madvise(mmap.MADV_DONTNEED, lo, end - lo)
            except (OSError, ValueError, AttributeError):
                pass  # only a memory saving

    def start_reads(self):
        """Start the deferred reads (a handle to wait() on before the arrays are read), or
        copy them from the map now where the platform cannot read in the background (None)."""
        arrays = [a for a, _ in self.deferred]
        pending = None
        if arrays and self.fd is not None and hasattr(_kernels, "_read_file_async"):
            pending = _kernels._read_file_async(self.fd, arrays, [o for _, o in self.deferred])
        if pending is None:
            for arr, begin in self.deferred:
                self.copy_from_buffer(arr, begin)
        self.deferred = []
        return pending


def _split_tensor(src: _Source, begin: int, end: int, raw: list) -> bytes:
    """The TensorProto's bytes without a large raw_data field (appended to `raw`)."""
    buf = src.buf
    kept, cursor, taken = [], begin, None
    for number, wire, start, p0, p1 in _fields(buf, begin, end):
        if number == _TENSOR_RAW_DATA and wire == _LEN and p1 - p0 >= MIN_SPLIT_BYTES and taken is None:
            kept.append(bytes(buf[cursor:start]))
            cursor = p1
            taken = (p0, p1)
    if taken is None:
        raw.append(None)
        return bytes(buf[begin:end])
    kept.append(bytes(buf[cursor:end]))
    raw.append(src.copy(*taken))
    return b"".join(kept)


def _split_graph(src: _Source, begin: int, end: int, raw: list) -> bytes:
    buf = src.buf
    parts, cursor = [], begin
    for number, wire, start, p0, p1 in _fields(buf, begin, end):
        if number == _GRAPH_INITIALIZER and wire == _LEN:
            parts.append(bytes(buf[cursor:start]))
            parts.append(_len_field(number, _split_tensor(src, p0, p1, raw)))
            cursor = p1
    parts.append(bytes(buf[cursor:end]))
    return b"".join(parts)


def _split_model(src: _Source, size: int) -> tuple[bytes, list]:
    buf = src.buf
    parts, raw, cursor = [], [], 0
    for number, wire, start, p0, p1 in _fields(buf, 0, size):
        if number == _MODEL_GRAPH and wire == _LEN:
            parts.append(bytes(buf[cursor:start]))
            parts.append(_len_field(number, _split_graph(src, p0, p1, raw)))
            cursor = p1
    parts.append(bytes(buf[cursor:size]))
    return b"".join(parts), raw


class Loaded:
    """What read_split / bytes_split give: the lean model bytes, one raw array per top-level
    initializer (None where the data stayed in the message), and the reads still filling those
    arrays. wait() before anything reads an array's contents."""

    def __init__(self, lean: bytes, raw: list, pending=None):
        self.lean, self.raw, self._pending = lean, raw, pending

    def wait(self, quiet: bool = False) -> None:
        """Block until the arrays hold the file's bytes; OSError when a read failed (unless quiet)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        try:
            pending.wait()
        except OSError:
            if not quiet:
                raise


def read_split(path: str) -> Loaded:
    """The model file split (Loaded); the weights' bytes may still be arriving."""
    with open(path, "rb") as f:
        try:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (ValueError, OSError) as e:  # empty file, or not mappable
            raise Unsplittable(str(e)) from None
        try:
            with memoryview(mm) as view:
                src = _Source(view, mm, f.fileno())
                lean, raw = _split_model(src, len(mm))
                return Loaded(lean, raw, src.start_reads())
        finally:
            try:
                mm.close()
            except BufferError:  # an exported view still alive: it goes with the garbage collector
                pass


def attach_weights(proto, loaded: Loaded) -> dict[str, np.ndarray]:
    """Pair the parsed stub initializers with their raw bytes: name -> array of dims and type.

    `loaded.raw` has one entry per top-level initializer (None where the data stayed in the
    message); their bytes may still be arriving. Tensors of other types, or whose bytes do not fit
    their dims, get the bytes back into the message (after waiting for them), where check_model
    judges them as written."""
    inits, raw = proto.graph.initializer, loaded.raw
    if len(inits) != len(raw):
        raise Unsplittable("initializer count changed")
    weights = {}
    for t, data in zip(inits, raw):
        if data is None:
            continue
        dtype = _PLAIN_DTYPES.get(t.data_type)
        if dtype is None or t.name in weights or any(d < 0 for d in t.dims):
            loaded.wait()
            t.raw_data = data.tobytes()  # exotic or malformed: the checks see it as written
            continue
        dt = np.dtype(dtype) if sys.byteorder == "little" else np.dtype(dtype).newbyteorder("<")
        count = int(np.prod(t.dims, dtype=np.int64)) if len(t.dims) else 1
        if data.size != count * dt.itemsize:
            loaded.wait()
            t.raw_data = data.tobytes()  # wrong length: check_model names the tensor
            continue
        arr = data.view(dt)
        if sys.byteorder != "little":
            loaded.wait()
            arr = arr.astype(dt.newbyteorder("="))
        weights[t.name] = arr.reshape(tuple(t.dims))
    return weights


def bytes_split(data) -> Loaded:
    with memoryview(data) as view:
        if view.ndim != 1 or view.itemsize != 1:
            view = view.cast("B")
        return Loaded(*_split_model(_Source(view, None), len(view)))

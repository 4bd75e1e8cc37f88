"""Reading a model: path, bytes or onnx.ModelProto in, a checked ModelProto out, or a clear error.

Model files are untrusted. External tensor data is read here, not by onnx's helper: a tensor's
`location` must name a regular file inside the model's directory (no absolute path, no '..', no
symlink leading out: CVE-2024-27318, CVE-2025-51480, CVE-2026-27489), and its offset / length
must agree with the file and with the tensor's dims and data type before anything is read.
"""
from __future__ import annotations

import os
import stat

import onnx
from google.protobuf.message import DecodeError

from . import model_file
from .errors import InvalidModelError, ModelLoadError
from .limits import check_size
from .static_checks import check_static_faults
from .validate import check_model, looks_absolute, tensor_nbytes


def load_model(model, max_memory_bytes: int | None = None) -> onnx.ModelProto:
    """Accept a path (str / os.PathLike), the serialized bytes, or a ModelProto; check it."""
    proto, weights = load_model_parts(model, max_memory_bytes, split=False)
    return proto


def load_model_parts(model, max_memory_bytes: int | None = None,
                     split: bool = True) -> tuple[onnx.ModelProto, dict]:
    """(checked ModelProto, weights). With split, large top-level initializers of a path or
    bytes come out as arrays in `weights` (name -> np.ndarray) and stay in the proto as stubs
    (name, dims, data type, no data): the weights are held once (model_file.py)."""
    weights, loaded = {}, None
    if isinstance(model, onnx.ModelProto):
        proto, where, base_dir = model, "the given ModelProto", None
    elif isinstance(model, (bytes, bytearray, memoryview)):
        where, base_dir = "the given bytes", None
        proto, weights, loaded = _parse_split(lambda: model_file.bytes_split(model), lambda: bytes(model), where,
                                              split and len(model) > 0)
    elif isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if "\0" in path:
            raise ModelLoadError(f"model path {path!r} contains a NUL byte")
        if not os.path.isfile(path):
            raise ModelLoadError(f"model file not found (or not a regular file): {path!r}")
        check_size(f"model file {path!r}", [os.path.getsize(path)], "uint8", max_memory_bytes)
        where, base_dir = repr(path), os.path.dirname(os.path.abspath(path))
        proto, weights, loaded = _parse_split(lambda: model_file.read_split(path), lambda: _read(path), where,
                                              split)
    else:
        raise ModelLoadError(
            f"cannot load a model from {type(model).__name__}: pass a file path, bytes or an onnx.ModelProto"
        )
    # The weights' bytes are read from the file while the graph is checked.
    try:
        proto = _check(model, proto, where, base_dir, weights, max_memory_bytes)
    except BaseException:
        if loaded is not None:
            loaded.wait(quiet=True)  # the model's own fault is the story
        raise
    if loaded is not None:
        try:
            loaded.wait()
        except OSError as e:
            raise ModelLoadError(f"cannot read model file {where}: {e}") from e
    return proto, weights


def _check(model, proto: onnx.ModelProto, where: str, base_dir, weights: dict, max_memory_bytes):
    """The checks of a parsed model (which do not read the split weights' bytes); the proto to
    use (a copy where the caller's had to change)."""
    _check_looks_like_onnx(proto, where)
    external = list(_external_tensors(proto))
    if external:
        if base_dir is None:
            t, label = external[0]
            raise ModelLoadError(
                f"{where}: {label} keeps its data in an external file ({_location(t)!r}); external data can "
                f"only be read when the model is loaded from a file path (so its directory is known)"
            )
        if isinstance(model, onnx.ModelProto):
            proto = _copy(model)  # never modify the caller's proto
        for t, label in _external_tensors(proto):
            _load_external(t, label, base_dir, where, max_memory_bytes)
    check_model(proto, max_memory_bytes, detached=frozenset(weights))
    if _needs_normalizing(proto):
        if proto is model:
            proto = _copy(model)  # never modify the caller's proto
        normalize_declarations(proto)
    check_static_faults(proto)
    return proto


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    proto = onnx.ModelProto()
    proto.CopyFrom(model)
    return proto


# --- declarations that converters spell differently -------------------------------------------

def _graphs(graph: onnx.GraphProto):
    yield graph
    for node in graph.node:
        for a in node.attribute:
            if a.HasField("g"):
                yield from _graphs(a.g)
            for g in a.graphs:
                yield from _graphs(g)


def _declared_dims(proto: onnx.ModelProto):
    for g in _graphs(proto.graph):
        for vi in (*g.input, *g.output, *g.value_info):
            if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
                yield from vi.type.tensor_type.shape.dim


def _initializers_as_inputs(proto: onnx.ModelProto) -> bool:
    """IR 3 and older list every initializer as a graph input too; onnxruntime reads them as
    constants there (an initializer is an overridable default only from IR 4 on, the version that
    stopped requiring the listing), so their folding and packing do not depend on the IR version."""
    if proto.ir_version >= 4 or not proto.graph.initializer:
        return False
    inits = {t.name for t in proto.graph.initializer}
    return any(vi.name in inits for vi in proto.graph.input)


def _needs_normalizing(proto: onnx.ModelProto) -> bool:
    domains = ["" if i.domain == "ai.onnx" else i.domain for i in proto.opset_import]
    return len(set(domains)) != len(domains) or _initializers_as_inputs(proto) or any(
        d.HasField("dim_value") and d.dim_value == -1 for d in _declared_dims(proto))


def normalize_declarations(proto: onnx.ModelProto) -> None:
    """In place: a dim declared -1 (paddle2onnx) becomes an unnamed symbolic dim, as onnxruntime
    reads it (get_inputs() shows None, any size is fed); an opset import repeated with the same
    version (skl2onnx; validate refused different versions) is dropped; an IR < 4 model's
    initializers leave the top-level graph inputs (constants, as onnxruntime reads them: feeding
    one is an unknown input) and the model reads as IR 4, the first version where that is what
    such a graph means (so onnx's checker takes it, and a saved optimized model, as it is)."""
    if _initializers_as_inputs(proto):
        inits = {t.name for t in proto.graph.initializer}
        keep = [vi for vi in proto.graph.input if vi.name not in inits]
        del proto.graph.input[:]
        proto.graph.input.extend(keep)
        proto.ir_version = 4
    for d in _declared_dims(proto):
        if d.HasField("dim_value") and d.dim_value == -1:
            d.ClearField("dim_value")
    seen, keep = set(), []
    for imp in proto.opset_import:
        domain = "" if imp.domain == "ai.onnx" else imp.domain
        if domain not in seen:
            seen.add(domain)
            keep.append(onnx.OperatorSetIdProto(domain=imp.domain, version=imp.version))
    if len(keep) != len(proto.opset_import):
        del proto.opset_import[:]
        proto.opset_import.extend(keep)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ModelLoadError(f"cannot read model file {path!r}: {e}") from e


def _parse_split(split_fn, read_fn, where: str, split: bool):
    """(proto, weights, model_file.Loaded or None): parsed with the weights split out when the
    bytes allow it (their bytes may still be arriving: wait() on the Loaded), else whole (whose
    errors are the ones users see for a corrupt file)."""
    if split:
        try:
            loaded = split_fn()
            proto = onnx.ModelProto()
            proto.ParseFromString(loaded.lean)
            return proto, model_file.attach_weights(proto, loaded), loaded
        except (model_file.Unsplittable, DecodeError, RuntimeError, ValueError, RecursionError):
            pass
        except OSError as e:
            raise ModelLoadError(f"cannot read model file {where}: {e}") from e
    return _parse(read_fn(), where), {}, None


def _parse(data: bytes, where: str) -> onnx.ModelProto:
    if not data:
        raise ModelLoadError(f"{where}: empty input, not an ONNX model")
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError, RecursionError) as e:
        raise ModelLoadError(f"{where}: not an ONNX model, or a truncated/corrupt one ({e})") from e
    return proto


def _check_looks_like_onnx(proto: onnx.ModelProto, where: str) -> None:
    # Random or truncated bytes can decode as a protobuf with unknown fields; a real model
    # always has an IR version and a graph.
    if proto.ir_version <= 0 or not proto.HasField("graph"):
        raise ModelLoadError(f"{where}: not an ONNX model (no ir_version or no graph; is the file truncated?)")
    if not proto.opset_import and proto.ir_version >= 3:
        raise ModelLoadError(f"{where}: ONNX model without opset_import (truncated or corrupt?)")


# --- external data ----------------------------------------------------------------------------

def _external_tensors(proto: onnx.ModelProto):
    """(tensor, label) for every tensor stored externally: initializers, attributes, subgraphs."""
    for t, label in _all_tensors(proto.graph, 0):
        if t.data_location == onnx.TensorProto.EXTERNAL:
            yield t, label


def external_tensor_label(proto: onnx.ModelProto) -> str | None:
    """Which tensor keeps its data in an external file (the first found), or None."""
    return next((label for _, label in _external_tensors(proto)), None)


def _all_tensors(graph: onnx.GraphProto, depth: int):
    if depth > 64:
        raise InvalidModelError("subgraphs nest deeper than 64 levels")
    for t in graph.initializer:
        yield t, f"initializer {t.name!r}"
    for st in graph.sparse_initializer:
        yield st.values, f"sparse initializer {st.values.name!r}"
        yield st.indices, f"indices of sparse initializer {st.values.name!r}"
    for node in graph.node:
        for a in node.attribute:
            label = f"attribute {a.name!r} of node {node.name or node.op_type!r}"
            if a.HasField("t"):
                yield a.t, label
            for t in a.tensors:
                yield t, label
            if a.HasField("sparse_tensor"):
                yield a.sparse_tensor.values, label
                yield a.sparse_tensor.indices, label
            for st in a.sparse_tensors:
                yield st.values, label
                yield st.indices, label
            if a.HasField("g"):
                yield from _all_tensors(a.g, depth + 1)
            for g in a.graphs:
                yield from _all_tensors(g, depth + 1)


def _location(t: onnx.TensorProto) -> str:
    return {kv.key: kv.value for kv in t.external_data}.get("location", "")


def resolve_external_path(location: str, base_dir: str, what: str) -> str:
    """The real path of an external data file, which must lie inside base_dir; else ModelLoadError."""
    if not location:
        raise ModelLoadError(f"{what}: external data without a 'location'")
    if "\0" in location:
        raise ModelLoadError(f"{what}: external data location {location!r} contains a NUL byte")
    if looks_absolute(location) or os.path.isabs(location):
        raise ModelLoadError(
            f"{what}: external data location {location!r} is an absolute path; only paths relative to "
            f"the model's directory are allowed"
        )
    if ".." in location.replace("\\", "/").split("/"):
        raise ModelLoadError(
            f"{what}: external data location {location!r} contains '..'; only files inside the model's "
            f"directory are allowed"
        )
    base_real = os.path.realpath(base_dir)
    real = os.path.realpath(os.path.join(base_real, location))
    if os.path.commonpath([real, base_real]) != base_real:
        raise ModelLoadError(
            f"{what}: external data location {location!r} resolves to {real!r}, outside the model's "
            f"directory {base_real!r} (a symlink leading out?)"
        )
    return real


def _nonneg_int(info: dict, key: str, what: str) -> int | None:
    if key not in info:
        return None
    try:
        v = int(info[key])
    except ValueError:
        raise ModelLoadError(f"{what}: external data {key} {info[key]!r} is not an integer") from None
    if v < 0:
        raise ModelLoadError(f"{what}: external data {key} {v} is negative")
    return v


def _load_external(t: onnx.TensorProto, label: str, base_dir: str, where: str, limit) -> None:
    what = f"{where}: {label}"
    info = {kv.key: kv.value for kv in t.external_data}
    location = info.get("location", "")
    path = resolve_external_path(location, base_dir, what)
    offset = _nonneg_int(info, "offset", what) or 0
    length = _nonneg_int(info, "length", what)
    if t.data_type == onnx.TensorProto.STRING:
        raise ModelLoadError(f"{what}: string tensors cannot be stored as external data")
    need = tensor_nbytes(t, what)  # known type, dims >= 0
    check_size(what, [need], "uint8", limit)
    if length is not None and length != need:
        raise ModelLoadError(
            f"{what}: external data length {length} disagrees with dims {list(t.dims)}, which need {need} bytes"
        )
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise ModelLoadError(f"{what}: cannot open external data file {location!r}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ModelLoadError(f"{what}: external data location {location!r} is not a regular file")
        if offset + need > st.st_size:
            raise ModelLoadError(
                f"{what}: external data {location!r} at offset {offset} needs {need} bytes, but the file "
                f"has only {st.st_size} bytes"
            )
        data = os.pread(fd, need, offset) if need else b""
    finally:
        os.close(fd)
    if len(data) != need:
        raise ModelLoadError(f"{what}: short read from external data file {location!r}")
    t.raw_data = data
    del t.external_data[:]
    t.data_location = onnx.TensorProto.DEFAULT

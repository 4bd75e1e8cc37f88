"""Structural checks on a parsed model, before any op is built or any tensor decoded.

A model file may come from anyone. Everything here only reads the protobuf; it rejects what
would otherwise surface later as a NumPy/Python exception, a huge allocation or a wrong answer:

- opset imports: known domains' versions must exist in onnx.defs;
- tensors (initializers, Constant/attribute tensors, sparse initializers, in every subgraph):
  a known data type, non-negative dims, a size within the memory limit, and exactly as much data
  as the dims and data type need;
- nodes: the domain is imported; for domains with ONNX schemas, the input / output counts, the
  required inputs and attributes, and each attribute's type agree with the schema; static
  attribute values of common ops (strides, pads, kernel_shape, perm, group...) are sane;
- graphs: no duplicate inputs, outputs or initializers; no negative declared dims other than -1
  (a dynamic dim, as paddle2onnx writes it); subgraph nesting bounded;
- the IR version is one the installed onnx knows; a domain imported twice has one version.

Cycles, undefined values and outputs nobody produces are graph.py's (it orders the nodes).
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

import onnx
import onnx.defs
from onnx import AttributeProto, TensorProto, helper

from .errors import InvalidModelError, ModelLoadError
from .limits import check_size

MAX_GRAPH_DEPTH = 64  # nested If/Loop/Scan bodies; deeper is hostile, not useful

# Data types whose elements are packed below one byte in raw_data: bits per element.
_PACKED_BITS = {
    TensorProto.INT4: 4, TensorProto.UINT4: 4, TensorProto.FLOAT4E2M1: 4,
}
for _name, _bits in (("INT2", 2), ("UINT2", 2), ("FLOAT6E2M3", 6), ("FLOAT6E3M2", 6)):
    if hasattr(TensorProto, _name):
        _PACKED_BITS[getattr(TensorProto, _name)] = _bits
_KNOWN_DTYPES = {v for v in TensorProto.DataType.values() if v != TensorProto.UNDEFINED}
# Domains onnx.defs has schemas for (the registry checks versions exactly for these).
_SCHEMA_DOMAINS = ("", "ai.onnx.ml", "ai.onnx.preview.training", "ai.onnx.preview")


@dataclass(frozen=True)
class _Schema:
    """What the node checks read of an onnx OpSchema, taken from it once per (op, opset, domain):
    reading an OpSchema's fields builds new Python objects every time."""

    since_version: int
    min_input: int
    max_input: int
    min_output: int
    max_output: int
    single_inputs: tuple  # (index, name) of the inputs that must not be empty
    attributes: tuple     # (name, required, AttributeProto type)


@functools.lru_cache(maxsize=None)
def _schema(op_type: str, version: int, domain: str) -> _Schema | None:
    try:
        schema = onnx.defs.get_schema(op_type, version, domain)
    except onnx.defs.SchemaError:
        return None  # the registry reports unknown / unsupported ops with its own message
    single = onnx.defs.OpSchema.FormalParameterOption.Single
    return _Schema(schema.since_version, schema.min_input, schema.max_input, schema.min_output, schema.max_output,
                   tuple((i, f.name) for i, f in enumerate(schema.inputs) if f.option == single),
                   tuple((name, spec.required, int(spec.type)) for name, spec in schema.attributes.items()))


# onnx builds its schema registry on first use (~15 ms): every session needs it, for the checks
# here and for static_checks' shape inference, so it is built when pyinfer is imported.
_schema("Identity", 1, "")


def check_model(model: onnx.ModelProto, max_memory_bytes: int | None = None,
                detached: frozenset = frozenset()) -> None:
    """Raise InvalidModelError / ResourceLimitError / ModelLoadError for a malformed model.

    detached: names of top-level initializers whose data the loader holds outside the message
    (model_file.py, already checked against their dims and type): only their metadata is checked."""
    _check_ir_version(model)
    opset = _check_opsets(model)
    try:
        _check_graph(model.graph, opset, "the main graph", 0, max_memory_bytes, detached)
    except RecursionError:
        raise InvalidModelError("the model nests subgraphs too deeply") from None


# --- opsets -----------------------------------------------------------------------------------

def _known_max_opset(domain: str) -> int | None:
    if domain == "":
        return onnx.defs.onnx_opset_version()
    column = {"ai.onnx.ml": 3, "ai.onnx.preview.training": 4}.get(domain)
    if column is not None:
        return max(row[column] for row in helper.VERSION_TABLE if len(row) > column)
    return None


def _check_ir_version(model: onnx.ModelProto) -> None:
    # A newer IR may change what fields mean; onnxruntime refuses such files at load too.
    if model.ir_version > onnx.IR_VERSION:
        raise InvalidModelError(
            f"the model's ir_version {model.ir_version} is newer than the newest this onnx "
            f"(version {onnx.__version__}) knows ({onnx.IR_VERSION})"
        )


def _check_opsets(model: onnx.ModelProto) -> dict[str, int]:
    opset: dict[str, int] = {}
    for imp in model.opset_import:
        domain = "" if imp.domain == "ai.onnx" else _text(imp.domain, "opset_import domain")
        if domain in opset:
            # skl2onnx lists ('', N) twice; onnx.checker and onnxruntime accept a repeat of the
            # same version (the loader drops it). Two versions leave the ops' meaning open.
            if opset[domain] != imp.version:
                raise InvalidModelError(
                    f"opset_import lists domain {imp.domain or 'ai.onnx'!r} twice with different versions "
                    f"({opset[domain]} and {imp.version}); which one the model's nodes use is ambiguous"
                )
            continue
        if imp.version < 1:
            raise InvalidModelError(f"opset_import of domain {imp.domain!r} has invalid version {imp.version}")
        known = _known_max_opset(domain)
        if known is not None and imp.version > known:
            raise InvalidModelError(
                f"the model imports opset {imp.version} of domain {imp.domain or 'ai.onnx'!r}, newer than the "
                f"newest this onnx (version {onnx.__version__}) knows ({known})"
            )
        opset[domain] = imp.version
    opset.setdefault("", 1)
    return opset


# --- tensors ----------------------------------------------------------------------------------

def tensor_nbytes(t: TensorProto, where: str) -> int:
    """Bytes the tensor's data occupies in raw (little-endian, packed) form, from dims and type."""
    if t.data_type not in _KNOWN_DTYPES:
        raise InvalidModelError(f"{where} has an unknown data type {t.data_type}")
    for d in t.dims:
        if d < 0:
            raise InvalidModelError(f"{where} has a negative dimension in dims {list(t.dims)}")
    n = math.prod(t.dims)
    bits = _PACKED_BITS.get(t.data_type)
    if bits:
        return (n * bits + 7) // 8
    return n * helper.tensor_dtype_to_np_dtype(t.data_type).itemsize


def check_tensor(t: TensorProto, where: str, max_memory_bytes: int | None, has_data: bool = True) -> None:
    """dims, data type, size and data length of one TensorProto (data already loaded; with
    has_data False the data lives elsewhere and only the metadata is checked)."""
    need = tensor_nbytes(t, where)
    if t.data_type in _PACKED_BITS:
        check_size(where, [need], "uint8", max_memory_bytes)
    else:  # report the tensor's own dims and type
        check_size(where, t.dims, helper.tensor_dtype_to_np_dtype(t.data_type), max_memory_bytes)
    if t.HasField("segment"):
        raise InvalidModelError(f"{where} is a segment of a larger tensor, which pyinfer does not support")
    if t.data_location == TensorProto.EXTERNAL:
        raise ModelLoadError(f"{where} keeps its data in an external file that was not loaded")
    if not has_data:
        return
    n = math.prod(t.dims)
    if t.HasField("raw_data"):
        if t.data_type == TensorProto.STRING:
            raise InvalidModelError(f"{where}: string tensors cannot use raw_data")
        if len(t.raw_data) != need:
            raise InvalidModelError(
                f"{where}: dims {list(t.dims)} of {_type_name(t)} need {need} bytes of raw_data, found {len(t.raw_data)}"
            )
        return
    if t.data_type in _PACKED_BITS:
        return  # typed-field packing of sub-byte types varies by type; decoding checks it (executor)
    field = helper.tensor_dtype_to_field(t.data_type)
    have = len(getattr(t, field))
    want = 2 * n if t.data_type in (TensorProto.COMPLEX64, TensorProto.COMPLEX128) else n
    if have != want:
        raise InvalidModelError(
            f"{where}: dims {list(t.dims)} of {_type_name(t)} need {want} values in {field}, found {have}"
        )


def _type_name(t: TensorProto) -> str:
    return TensorProto.DataType.Name(t.data_type).lower()


def _check_sparse(st: onnx.SparseTensorProto, where: str, max_memory_bytes: int | None) -> None:
    for d in st.dims:
        if d < 0:
            raise InvalidModelError(f"{where} has a negative dimension in dims {list(st.dims)}")
    if st.values.data_type not in _KNOWN_DTYPES:
        raise InvalidModelError(f"{where} has an unknown data type {st.values.data_type}")
    check_size(where, st.dims, helper.tensor_dtype_to_np_dtype(st.values.data_type), max_memory_bytes)
    check_tensor(st.values, f"{where} (values)", max_memory_bytes)
    check_tensor(st.indices, f"{where} (indices)", max_memory_bytes)
    if st.indices.data_type != TensorProto.INT64:
        raise InvalidModelError(f"{where}: indices must be int64")
    nnz = math.prod(st.values.dims)
    if len(st.values.dims) != 1:
        raise InvalidModelError(f"{where}: values must be 1-D, got dims {list(st.values.dims)}")
    idims = list(st.indices.dims)
    rank = len(st.dims)
    if not (idims == [nnz] or idims == [nnz, rank]):
        raise InvalidModelError(f"{where}: indices dims {idims} must be [{nnz}] or [{nnz}, {rank}]")
    idx = onnx.numpy_helper.to_array(st.indices)
    if idx.size:
        bound = math.prod(st.dims) if idx.ndim == 1 else None
        if idx.min() < 0 or (bound is not None and idx.max() >= bound) or (
                bound is None and (idx >= [int(d) for d in st.dims]).any()):
            raise InvalidModelError(f"{where}: an index lies outside dims {list(st.dims)}")


# --- graphs and nodes -------------------------------------------------------------------------

def _text(value, what: str) -> str:
    # protobuf hands back bytes for a string field that is not valid UTF-8
    if not isinstance(value, str):
        raise InvalidModelError(f"{what} {value!r} is not valid UTF-8 text")
    return value


def _check_value_info(vi: onnx.ValueInfoProto, where: str) -> None:
    _text(vi.name, f"{where} name")
    t = vi.type
    if t.HasField("tensor_type"):
        elem = t.tensor_type.elem_type
        if elem != TensorProto.UNDEFINED and elem not in _KNOWN_DTYPES:
            raise InvalidModelError(f"{where} {vi.name!r} has an unknown element type {elem}")
    if t.HasField("tensor_type") and t.tensor_type.HasField("shape"):
        for d in t.tensor_type.shape.dim:
            # -1 is paddle2onnx's (and onnxruntime's) spelling of a dynamic dimension: the loader
            # turns it into an unnamed symbolic one (symbolic_dims). Other negatives mean nothing.
            if d.HasField("dim_value") and d.dim_value < -1:
                raise InvalidModelError(f"{where} {vi.name!r} declares a negative dimension {d.dim_value}")


def _check_graph(graph: onnx.GraphProto, opset: dict, where: str, depth: int, limit,
                 detached: frozenset = frozenset()) -> None:
    if depth > MAX_GRAPH_DEPTH:
        raise InvalidModelError(f"subgraphs nest deeper than {MAX_GRAPH_DEPTH} levels")
    seen = set()
    for vi in graph.input:
        if vi.name in seen:
            raise InvalidModelError(f"{where}: graph input {vi.name!r} is listed twice")
        seen.add(vi.name)
        _check_value_info(vi, f"{where}: graph input")
    outs = set()
    for vi in graph.output:
        if not vi.name:
            raise InvalidModelError(f"{where}: a graph output has no name")
        if vi.name in outs:
            raise InvalidModelError(f"{where}: graph output {vi.name!r} is listed twice")
        outs.add(vi.name)
        _check_value_info(vi, f"{where}: graph output")
    inits = set()
    for t in graph.initializer:
        _text(t.name, f"{where}: initializer name")
        if not t.name:
            raise InvalidModelError(f"{where}: an initializer has no name")
        if t.name in inits:
            raise InvalidModelError(f"{where}: initializer {t.name!r} is defined twice")
        inits.add(t.name)
        check_tensor(t, f"initializer {t.name!r}", limit, has_data=t.name not in detached)
    for st in graph.sparse_initializer:
        name = st.values.name
        if name in inits:
            raise InvalidModelError(f"{where}: initializer {name!r} is defined twice")
        inits.add(name)
        _check_sparse(st, f"sparse initializer {name!r}", limit)
    for node in graph.node:
        _check_node(node, opset, depth, limit)


def node_label(node: onnx.NodeProto) -> str:
    return f"{node.op_type} node {node.name!r}" if node.name else f"unnamed {node.op_type} node"


def _check_node(node: onnx.NodeProto, opset: dict, depth: int, limit) -> None:
    for value, what in ((node.op_type, "an op_type"), (node.name, "a node name"), (node.domain, "a node domain")):
        _text(value, what)
    label = node_label(node)
    for name in list(node.input) + list(node.output):
        _text(name, f"{label}: value name")
    domain = "" if node.domain == "ai.onnx" else node.domain
    if domain not in opset:
        raise InvalidModelError(f"{label} uses domain {node.domain!r}, which the model does not import")
    names = set()
    for a in node.attribute:
        _text(a.name, f"{label}: attribute name")
        if a.name in names:
            raise InvalidModelError(f"{label}: attribute {a.name!r} is given twice")
        names.add(a.name)
        _check_attribute(a, label, opset, depth, limit)
    schema = _schema(node.op_type, opset[domain], domain) if domain in _SCHEMA_DOMAINS else None
    if schema is not None:
        _check_against_schema(node, schema, label)
    _check_common_attributes(node, label)


_ATTRIBUTE_TYPES = frozenset(AttributeProto.AttributeType.values())


def _check_attribute(a: AttributeProto, label: str, opset: dict, depth: int, limit) -> None:
    where = f"{label}: attribute {a.name!r}"
    if a.ref_attr_name:
        raise InvalidModelError(f"{where} refers to a function attribute outside a function")
    if a.type == AttributeProto.UNDEFINED or a.type not in _ATTRIBUTE_TYPES:
        raise InvalidModelError(f"{where} has no valid type")
    if a.type == AttributeProto.TENSOR:
        check_tensor(a.t, where, limit)
    elif a.type == AttributeProto.TENSORS:
        for t in a.tensors:
            check_tensor(t, where, limit)
    elif a.type == AttributeProto.SPARSE_TENSOR:
        _check_sparse(a.sparse_tensor, where, limit)
    elif a.type == AttributeProto.SPARSE_TENSORS:
        for st in a.sparse_tensors:
            _check_sparse(st, where, limit)
    elif a.type == AttributeProto.GRAPH:
        _check_graph(a.g, opset, f"subgraph {a.name!r} of {label}", depth + 1, limit)
    elif a.type == AttributeProto.GRAPHS:
        for g in a.graphs:
            _check_graph(g, opset, f"subgraph {a.name!r} of {label}", depth + 1, limit)
    elif a.type in (AttributeProto.STRING, AttributeProto.STRINGS):
        for s in ([a.s] if a.type == AttributeProto.STRING else a.strings):
            try:
                s.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidModelError(f"{where} is not valid UTF-8") from None


def _check_against_schema(node: onnx.NodeProto, schema: _Schema, label: str) -> None:
    n_in, n_out = len(node.input), len(node.output)
    if not schema.min_input <= n_in <= schema.max_input:
        raise InvalidModelError(
            f"{label} has {n_in} inputs; {node.op_type}-{schema.since_version} takes "
            f"{_count_range(schema.min_input, schema.max_input)}"
        )
    if not schema.min_output <= n_out <= schema.max_output:
        raise InvalidModelError(
            f"{label} has {n_out} outputs; {node.op_type}-{schema.since_version} has "
            f"{_count_range(schema.min_output, schema.max_output)}"
        )
    for i, name in schema.single_inputs:
        if i < n_in and not node.input[i]:
            raise InvalidModelError(f"{label}: required input {i} ({name}) is empty")
    given = {a.name: a for a in node.attribute}
    for name, required, want in schema.attributes:
        a = given.get(name)
        if a is None:
            if required:
                raise InvalidModelError(f"{label}: required attribute {name!r} is missing")
            continue
        if want != AttributeProto.UNDEFINED and a.type != want:
            raise InvalidModelError(
                f"{label}: attribute {name!r} must be of type "
                f"{AttributeProto.AttributeType.Name(want)}, got {AttributeProto.AttributeType.Name(a.type)}"
            )


def _count_range(lo: int, hi: int) -> str:
    if hi >= 2**31 - 1:
        return f"at least {lo}"
    return f"{lo}" if lo == hi else f"{lo} to {hi}"


# Attribute values that are wrong whatever the inputs are (the rank-dependent checks happen in
# the ops, where the input is known).
_WINDOW_OPS = {"Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "MaxPool", "AveragePool", "LpPool",
               "MaxUnpool", "DeformConv", "MaxRoiPool", "Col2Im"}


def _check_common_attributes(node: onnx.NodeProto, label: str) -> None:
    attrs = {a.name: a for a in node.attribute}

    def ints(name):
        a = attrs.get(name)
        return list(a.ints) if a is not None and a.type == AttributeProto.INTS else None

    def scalar(name):
        a = attrs.get(name)
        return a.i if a is not None and a.type == AttributeProto.INT else None

    if node.op_type in _WINDOW_OPS and node.domain in ("", "ai.onnx"):
        kernel, strides, dil, pads = ints("kernel_shape"), ints("strides"), ints("dilations"), ints("pads")
        for name, vals in (("kernel_shape", kernel), ("strides", strides), ("dilations", dil)):
            if vals is not None and any(v <= 0 for v in vals):
                raise InvalidModelError(f"{label}: {name} {vals} must be positive")
        if pads is not None and any(v < 0 for v in pads):
            raise InvalidModelError(f"{label}: pads {pads} must not be negative")
        if pads is not None and len(pads) % 2:
            raise InvalidModelError(f"{label}: pads {pads} must hold a begin and an end per spatial axis")
        spatial = [len(v) for v in (kernel, strides, dil) if v is not None]
        if pads is not None:
            spatial.append(len(pads) // 2)
        if len(set(spatial)) > 1:
            raise InvalidModelError(
                f"{label}: kernel_shape {kernel}, strides {strides}, dilations {dil} and pads {pads} "
                f"disagree on the number of spatial axes"
            )
        group = scalar("group")
        if group is not None and group <= 0:
            raise InvalidModelError(f"{label}: group {group} must be positive")
        auto_pad = attrs.get("auto_pad")
        if auto_pad is not None and auto_pad.s not in (b"NOTSET", b"SAME_UPPER", b"SAME_LOWER", b"VALID"):
            raise InvalidModelError(f"{label}: auto_pad {auto_pad.s!r} is not NOTSET, SAME_UPPER, SAME_LOWER or VALID")
    if node.op_type == "Transpose":
        perm = ints("perm")
        if perm is not None and sorted(perm) != list(range(len(perm))):
            raise InvalidModelError(f"{label}: perm {perm} is not a permutation of 0..{len(perm) - 1}")
    if node.op_type == "Reshape":
        shape = ints("shape")  # Reshape-1's attribute form
        if shape is not None and shape.count(-1) > 1:
            raise InvalidModelError(f"{label}: shape {shape} has more than one -1")


_ABS_WINDOWS = re.compile(r"^[A-Za-z]:|^[\\/]")


def looks_absolute(location: str) -> bool:
    """Absolute on POSIX or Windows (drive letters, UNC and rooted paths)."""
    return bool(_ABS_WINDOWS.match(location))

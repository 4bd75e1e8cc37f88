"""Faults the model file alone proves, refused when the session is created instead of at the first run.

Two layers, both over the declared graph-input shapes (symbolic dims stay symbolic):

1. onnx's own type and shape rules (onnx.shape_inference, strict, with type checks), as
   onnxruntime runs them at load: an axis out of range, a Conv weight of the wrong rank, Gemm /
   MatMul inner dimensions that differ, an input whose type contradicts the op's type
   constraints, a declared output type the op cannot produce... Declared *shapes* of outputs and
   intermediate values are not held against the model (onnxruntime merges them leniently and runs
   such files); declared types are.
2. pyinfer's rules where onnx's inference is silent (RULES below): Conv channels against the
   weight and group, recurrent weights against hidden_size, a pooling window larger than its
   padded input.

Nodes of domains without onnx schemas (com.microsoft, pyinfer) pass through layer 1 untouched;
faults that depend on feed values stay run-time errors.
"""
from __future__ import annotations

import re

import onnx
import onnx.defs
from onnx import helper

from .errors import InvalidModelError
from .graph import topological_order

# Initializers larger than this go to shape inference as typed graph inputs: their values are not
# needed to infer shapes (shape-carrying inputs such as Reshape's are small) and copying them
# would cost time and memory on big models.
_SMALL_INITIALIZER_BYTES = 4096

_VARIADIC = onnx.defs.OpSchema.FormalParameterOption.Variadic
_NODE_ERROR = re.compile(r"\(op_type:([^,)]*)(?:, node name: ([^)]*))?\):\s*(.*)")


def check_static_faults(model: onnx.ModelProto) -> dict:
    """Raise InvalidModelError for a fault the file proves; else return what inference learned:
    value name -> (elem_type, dims or None), dims holding ints, dim names or None."""
    try:
        lean = _lean_model(model)
        inferred = onnx.shape_inference.infer_shapes(lean, check_type=True, strict_mode=True)
    except onnx.shape_inference.InferenceError as e:
        topological_order(model.graph)  # a broken structure (cycle, undefined value) is the real story
        message = _describe(e, model, lean)
        if message is None:
            return {}
        raise InvalidModelError(message) from None
    except Exception:  # noqa: BLE001  an onnx-internal failure is no proof against the model
        return {}
    types = _types(inferred)
    for node in model.graph.node:
        rule = RULES.get(node.op_type) if node.domain in ("", "ai.onnx") else None
        if rule is None:
            continue
        try:
            rule(node, types)
        except InvalidModelError:
            raise
        except Exception:  # noqa: BLE001  odd attribute values: the op's setup() names them
            pass
    return types


# --- running onnx's inference ------------------------------------------------------------------

def _lean_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model without large initializer data and without the declared shapes of outputs and
    intermediate values (their element types stay)."""
    lean = onnx.ModelProto(ir_version=model.ir_version)
    lean.opset_import.extend(model.opset_import)
    lean.functions.extend(model.functions)
    src, g = model.graph, lean.graph
    g.node.extend(src.node)
    g.input.extend(src.input)
    declared = {vi.name for vi in src.input}
    for t in src.initializer:
        if _data_bytes(t) <= _SMALL_INITIALIZER_BYTES:
            g.initializer.append(t)
        elif t.name not in declared:
            g.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    for st in src.sparse_initializer:  # run as dense tensors (onnxruntime densifies them too)
        if st.values.name not in declared:
            g.input.append(helper.make_tensor_value_info(st.values.name, st.values.data_type, list(st.dims)))
    for vi in src.output:
        g.output.append(_type_only(vi))
    for vi in src.value_info:
        g.value_info.append(_type_only(vi))
    return lean


def _data_bytes(t: onnx.TensorProto) -> int:
    # A stub (loader: data held as an array outside the proto) has no data fields but counts as large.
    if t.HasField("raw_data"):
        return len(t.raw_data)
    n = 1
    for d in t.dims:
        n *= d
    return n * 8


def _type_only(vi: onnx.ValueInfoProto) -> onnx.ValueInfoProto:
    out = onnx.ValueInfoProto()
    out.CopyFrom(vi)
    if out.type.HasField("tensor_type"):
        out.type.tensor_type.ClearField("shape")
    return out


def _types(model: onnx.ModelProto) -> dict:
    types = {}
    g = model.graph
    for t in g.initializer:
        types[t.name] = (t.data_type, list(t.dims))
    for vi in (*g.input, *g.value_info, *g.output):
        if vi.type.HasField("tensor_type"):
            tt = vi.type.tensor_type
            dims = None
            if tt.HasField("shape"):
                dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]
            types[vi.name] = (tt.elem_type, dims)
    return types


# --- describing onnx's error -------------------------------------------------------------------

def _describe(error: Exception, model: onnx.ModelProto, lean: onnx.ModelProto) -> str | None:
    """onnx's message as pyinfer's: the node and op first, then onnx's reason, then the node's
    inputs with the shapes and types inference knew there (the reason often only says "4 vs 3").
    None when the error arose inside the expansion of an op's function body: onnx's own rules
    tripping over themselves (MeanVarianceNormalization's), no proof against the model."""
    text = str(error)
    for line in text.splitlines():
        m = _NODE_ERROR.search(line)
        if not m:
            continue
        op_type, name, reason = m.group(1), m.group(2) or "", _strip_tags(m.group(3))
        node = _find_node(model.graph, op_type, name)
        label = f"{op_type} node {name!r}" if name else f"unnamed {op_type} node"
        inner = _NODE_ERROR.search(reason)
        if inner:
            if node is None or not any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                                       for a in node.attribute):
                return None
            inner_label = (f"{inner.group(1)} node {inner.group(2)!r}" if inner.group(2)
                           else f"unnamed {inner.group(1)} node")
            reason = f"in its subgraph, {inner_label}: {_strip_tags(inner.group(3))}"
        values = _value_summary(node, model, lean) if node is not None else ""
        return f"{label}: {reason} (ONNX's type and shape rules over the declared input shapes){values}"
    return f"the model contradicts ONNX's type and shape rules: {_strip_tags(text)}"


def _strip_tags(text: str) -> str:
    text = re.sub(r"\[(ShapeInferenceError|TypeInferenceError)\]\s*", "", text)
    # "elem type: (1) vs (7)": onnx's type codes, by name
    text = re.sub(r"elem type: \((\d+)\) vs \((\d+)\)",
                  lambda m: f"elem type: {_elem_name(int(m.group(1)))} (inferred) vs {_elem_name(int(m.group(2)))} "
                            f"(declared)", text)
    return text.replace("Inference error(s): ", "").strip().rstrip(".")


def _elem_name(code: int) -> str:
    try:
        return onnx.TensorProto.DataType.Name(code).lower()
    except ValueError:
        return str(code)


def _find_node(graph: onnx.GraphProto, op_type: str, name: str):
    for node in graph.node:
        if node.op_type == op_type and node.name == name:
            return node
    return None


def _value_summary(node: onnx.NodeProto, model: onnx.ModelProto, lean: onnx.ModelProto) -> str:
    """'; inputs: A = 'a' float[2, 3], ...; outputs: Y = 'y' declared int64[2]'."""
    try:  # lenient inference: the shapes reaching the failing node
        types = _types(onnx.shape_inference.infer_shapes(lean, strict_mode=False))
    except Exception:  # noqa: BLE001
        types = _types(lean)
    declared = _types(model)  # outputs with the shapes the file declares
    schema = _schema(node, model)
    text = ""
    for kind, names, formals, known in (("inputs", node.input, schema and schema.inputs, types),
                                        ("outputs", node.output, schema and schema.outputs, declared)):
        parts = []
        for i, name in enumerate(names):
            if name:
                formal = _formal_name(formals or [], i)
                label = f"{formal} = {name!r}" if formal and formal != name else repr(name)
                entry = known.get(name)
                if kind == "outputs":
                    if entry is None or entry == (0, None):
                        continue
                    label += " declared"
                parts.append(f"{label} {_type_text(entry)}")
        if parts:
            text += f"; {kind}: {', '.join(parts)}"
    return text


def _schema(node: onnx.NodeProto, model: onnx.ModelProto):
    domain = "" if node.domain == "ai.onnx" else node.domain
    version = {("" if i.domain == "ai.onnx" else i.domain): i.version for i in model.opset_import}.get(domain)
    try:
        return onnx.defs.get_schema(node.op_type, version, domain) if version else None
    except onnx.defs.SchemaError:
        return None


def _formal_name(formals, i: int) -> str:
    if i < len(formals) - 1 or (i == len(formals) - 1 and formals[i].option != _VARIADIC):
        return formals[i].name
    if formals and formals[-1].option == _VARIADIC:
        return f"{formals[-1].name}[{i - len(formals) + 1}]"
    return ""


def _type_text(entry) -> str:
    if entry is None:
        return "(type unknown)"
    elem, dims = entry
    name = onnx.TensorProto.DataType.Name(elem).lower() if elem else "?"
    return f"{name}{_dims_text(dims)}"


def _dims_text(dims) -> str:
    if dims is None:
        return ""  # rank unknown
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


# --- pyinfer's own rules (onnx's inference does not check these) ------------------------------

def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _dims(types: dict, node: onnx.NodeProto, index: int):
    if index >= len(node.input) or not node.input[index]:
        return None
    entry = types.get(node.input[index])
    return entry[1] if entry is not None else None


def _label(node: onnx.NodeProto) -> str:
    return f"{node.op_type} node {node.name!r}" if node.name else f"unnamed {node.op_type} node"


def _known(d) -> bool:
    return isinstance(d, int) and d > 0


def _check_conv_channels(node: onnx.NodeProto, types: dict) -> None:
    x, w = _dims(types, node, 0), _dims(types, node, 1)
    if not x or not w or len(x) < 2 or len(w) < 2:
        return
    group = _attrs(node).get("group", 1)
    transpose = node.op_type == "ConvTranspose"
    if _known(x[1]) and group > 0 and x[1] % group:
        raise InvalidModelError(
            f"{_label(node)}: input X {node.input[0]!r} has {x[1]} channels, not divisible by group "
            f"(attribute group={group})"
        )
    # Conv: W is [M, C / group, k...]; ConvTranspose: W is [C, M / group, k...]
    w_in = w[0] if transpose else w[1] * group if _known(w[1]) else None
    if _known(x[1]) and w_in is not None and _known(w_in) and x[1] != w_in:
        expect = (f"W's dim 0 ({w[0]})" if transpose
                  else f"W's dim 1 ({w[1]}) times group ({group}) = {w_in}")
        raise InvalidModelError(
            f"{_label(node)}: input X {node.input[0]!r} has {x[1]} channels, but the weight W "
            f"{node.input[1]!r} {_dims_text(w)} with attribute group={group} expects {expect}"
        )
    if not transpose and _known(w[0]) and w[0] % group:
        raise InvalidModelError(
            f"{_label(node)}: the weight W {node.input[1]!r} {_dims_text(w)} has {w[0]} output channels, "
            f"not divisible by attribute group={group}"
        )
    if transpose and _known(w[0]) and w[0] % group:
        raise InvalidModelError(
            f"{_label(node)}: the weight W {node.input[1]!r} {_dims_text(w)} has {w[0]} input channels, "
            f"not divisible by attribute group={group}"
        )


_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _check_recurrent_weights(node: onnx.NodeProto, types: dict) -> None:
    attrs = _attrs(node)
    hidden = attrs.get("hidden_size")
    if hidden is None:
        return  # the op's setup() says it is required
    if hidden <= 0:
        raise InvalidModelError(f"{_label(node)}: attribute hidden_size must be positive, got {hidden}")
    gates = _GATES[node.op_type]
    direction = attrs.get("direction", b"forward")
    directions = 2 if direction in (b"bidirectional", "bidirectional") else 1
    x, w, r = _dims(types, node, 0), _dims(types, node, 1), _dims(types, node, 2)
    layout = attrs.get("layout", 0)
    input_size = x[2] if x and len(x) == 3 else None
    want = {
        "W": (w, node.input[1], [directions, gates * hidden, input_size]),
        "R": (r, node.input[2], [directions, gates * hidden, hidden]),
    }
    b = _dims(types, node, 3)
    if b is not None:
        want["B"] = (b, node.input[3], [directions, 2 * gates * hidden])
    for formal, (dims, name, expect) in want.items():
        if dims is None:
            continue
        if len(dims) != len(expect) or any(_known(d) and _known(e) and d != e for d, e in zip(dims, expect)):
            raise InvalidModelError(
                f"{_label(node)}: input {formal} {name!r} has shape {_dims_text(dims)}, but attribute "
                f"hidden_size={hidden}, direction={_text(direction)} and the input size "
                f"{'?' if input_size is None else input_size} (X's last dim, layout={layout}) call for "
                f"{_dims_text(expect)}"
            )


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _check_pool_window(node: onnx.NodeProto, types: dict) -> None:
    attrs = _attrs(node)
    kernel = attrs.get("kernel_shape")
    x = _dims(types, node, 0)
    if not kernel or not x or len(x) != len(kernel) + 2:
        return
    if _text(attrs.get("auto_pad", "NOTSET")) in ("SAME_UPPER", "SAME_LOWER"):
        return  # padded to fit by definition
    nd = len(kernel)
    pads = list(attrs.get("pads", [0] * (2 * nd)))
    if _text(attrs.get("auto_pad", "NOTSET")) == "VALID":
        pads = [0] * (2 * nd)
    dilations = list(attrs.get("dilations", [1] * nd))
    for axis in range(nd):
        size = x[axis + 2]
        if not _known(size) or len(pads) != 2 * nd or len(dilations) != nd:
            continue
        window = (kernel[axis] - 1) * dilations[axis] + 1
        padded = size + pads[axis] + pads[axis + nd]
        if window > padded:
            raise InvalidModelError(
                f"{_label(node)}: attribute kernel_shape {list(kernel)} (dilations {dilations}) spans {window} "
                f"on spatial axis {axis}, larger than the padded input: {size} + pads {pads[axis]} + "
                f"{pads[axis + nd]} = {padded} (input X {node.input[0]!r} {_dims_text(x)})"
            )


RULES = {
    "Conv": _check_conv_channels,
    "ConvTranspose": _check_conv_channels,
    "LSTM": _check_recurrent_weights,
    "GRU": _check_recurrent_weights,
    "RNN": _check_recurrent_weights,
    "MaxPool": _check_pool_window,
    "AveragePool": _check_pool_window,
    "LpPool": _check_pool_window,
}

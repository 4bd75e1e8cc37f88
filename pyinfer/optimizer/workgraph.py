"""A mutable view of a model's top-level graph that the optimizer passes rewrite.

Invariants the passes rely on:
- `nodes` is in topological order. A rewrite that replaces several nodes by one puts the new
  node where the *last* replaced node was, which keeps the order valid (all its inputs were
  available there).
- `constants` holds only initializers that cannot be overridden by a feed (an initializer also
  listed as a graph input is a default value, not a constant).
- Value names read by a subgraph (If / Loop / Scan bodies) or listed as graph outputs are
  "pinned": passes never rename them away.
"""
from __future__ import annotations

import copy
import itertools

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..graph import initializer_arrays, node_reads, opset_map, topological_order

FUSED_DOMAIN = "pyinfer"
FUSED_DOMAIN_VERSION = 1


def attrs_of(node: onnx.NodeProto) -> dict:
    from ..ops.base import attribute_value

    return {a.name: attribute_value(a) for a in node.attribute}


def has_subgraph(node: onnx.NodeProto) -> bool:
    return any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)


def copy_node(node: onnx.NodeProto, op_type: str | None = None, domain: str | None = None) -> onnx.NodeProto:
    """A new node with node's inputs, outputs, name and attributes (op_type / domain replaceable)."""
    new = helper.make_node(op_type or node.op_type, list(node.input), list(node.output), name=node.name,
                           domain=node.domain if domain is None else domain)
    new.attribute.extend(node.attribute)
    return new


def set_attr(node: onnx.NodeProto, name: str, value) -> None:
    for i, attr in enumerate(node.attribute):
        if attr.name == name:
            del node.attribute[i]
            break
    node.attribute.append(helper.make_attribute(name, value))


_SIZE_AMPLIFYING_OPS = frozenset({"Range", "ConstantOfShape", "Expand", "Tile", "Resize", "Upsample", "Pad", "OneHot"})


class WorkGraph:
    def __init__(self, model: onnx.ModelProto, num_threads: int = 0, max_memory_bytes: int | None = None,
                 weights: dict | None = None, borrowed: dict | None = None, reserved: set | None = None):
        """weights: arrays of the initializers the model holds as stubs (loader.load_model_parts).
        The graph takes the dict over as its `constants`: passes delete what they replace from
        it, so an old weight is freed as soon as its folded copy exists.

        For a subgraph (subgraphs.py): borrowed, the enclosing graphs' constants it reads
        (constants here too, never written into this graph); reserved, names the enclosing
        graphs use (fresh names avoid them)."""
        self.model = model
        graph = model.graph
        self.opset = opset_map(model)
        self.num_threads = num_threads
        self.max_memory_bytes = max_memory_bytes
        self.nodes: list[onnx.NodeProto] = [copy.deepcopy(n) for n in topological_order(graph, set(borrowed or ()))]
        self.input_names = [vi.name for vi in graph.input]
        self.output_names = [vi.name for vi in graph.output]
        stubs = set(weights or ())
        arrays = initializer_arrays(graph, weights)
        overridable = set(self.input_names)
        # Initializers also listed as graph inputs are default values a feed may replace.
        self.defaults = {k: arrays.pop(k) for k in [k for k in arrays if k in overridable]}
        self.constants: dict[str, np.ndarray] = arrays
        self.borrowed = dict(borrowed or {})
        for name, value in self.borrowed.items():
            self.constants.setdefault(name, value)  # the body's own initializer shadows it
        self.reserved = set(reserved or ())
        # Untouched initializers are written back as they came (no re-encoding of exotic dtypes).
        self._protos = {t.name: t for t in graph.initializer if t.name not in stubs}
        self._sparse = {t.values.name: t for t in graph.sparse_initializer}
        # Shapes: name -> (elem_type, dims) with dims a list of int | str (symbolic) | None, or None.
        self.types: dict[str, tuple[int, list | None]] = {}
        for vi in itertools.chain(graph.input, graph.value_info, graph.output):
            self._record_type(vi)
        for name, arr in self.constants.items():
            if isinstance(arr, np.ndarray):
                self.types[name] = (_elem_type(arr.dtype), list(arr.shape))
        self.folded_growth = 0  # bytes constant folding grew the constants by (its budget)
        self._names = None
        self._index = None
        self._counter = itertools.count()
        # Edits so far, and how many there were when shapes were last inferred: a pass asking for
        # shapes of a graph nobody changed since gets them as they are (inference costs ~8 ms on a
        # MobileNetV2). Rewrites preserve what a value is, so known shapes never go stale.
        self._edits = 0
        self._inferred_at = -1

    def visible_constants(self) -> dict:
        """The constants a subgraph of this graph may read: this graph's and those it borrowed."""
        return {**self.borrowed, **self.constants}

    def taken_names(self) -> set:
        """Every name this graph and the graphs around it use."""
        return set(self._taken())

    # --- lookups ---------------------------------------------------------------------
    def _build_index(self):
        producer, consumers, subgraph_reads = {}, {}, set()
        for node in self.nodes:
            for out in node.output:
                if out:
                    producer[out] = node
            direct = [n for n in node.input if n]
            for name in direct:
                consumers.setdefault(name, []).append(node)
            for name in node_reads(node)[len(direct):]:
                subgraph_reads.add(name)
                consumers.setdefault(name, []).append(node)
        self._index = (producer, consumers, subgraph_reads)

    def _idx(self):
        if self._index is None:
            self._build_index()
        return self._index

    def changed(self):
        """Call after any mutation of `nodes` (lookups are cached; the set of names taken only
        grows, so it stays valid)."""
        self._index = None
        self._edits += 1

    def producer(self, name: str):
        return self._idx()[0].get(name)

    def consumers(self, name: str) -> list:
        return self._idx()[1].get(name, [])

    def is_pinned(self, name: str) -> bool:
        return name in self.output_names or name in self._idx()[2]

    def single_use(self, name: str) -> bool:
        """Read by exactly one node, once, and neither a graph output nor read by a subgraph."""
        users = self.consumers(name)
        return len(users) == 1 and not self.is_pinned(name) and list(users[0].input).count(name) == 1

    def const(self, name: str):
        return self.constants.get(name) if name else None

    def is_const(self, name: str) -> bool:
        return name in self.constants

    def shape(self, name: str):
        """dims (int | str | None each) or None if unknown."""
        t = self.types.get(name)
        return None if t is None else t[1]

    def static_shape(self, name: str):
        """A tuple of ints if every dimension is known, else None."""
        dims = self.shape(name)
        if dims is None or not all(isinstance(d, int) for d in dims):
            return None
        return tuple(dims)

    def elem_type(self, name: str) -> int:
        t = self.types.get(name)
        return 0 if t is None else t[0]

    def is_float32(self, name: str) -> bool:
        return self.elem_type(name) == onnx.TensorProto.FLOAT

    # --- edits -----------------------------------------------------------------------
    def _taken(self) -> set:
        if self._names is None:
            self._names = set(self.constants) | set(self.input_names) | set(self.output_names)
            self._names |= set(self._protos) | set(self._sparse) | set(self.defaults) | self.reserved
            for node in self.nodes:
                self._names.update(node.output)
                self._names.update(node.input)
        return self._names

    def fresh_name(self, base: str) -> str:
        self._taken()
        while True:
            name = f"{base}_opt{next(self._counter)}"
            if name not in self._names:
                self._names.add(name)
                return name

    def add_constant(self, base: str, value: np.ndarray) -> str:
        name = self.fresh_name(base)
        self.set_constant(name, value)
        return name

    def set_float_shape(self, name: str, dims) -> None:
        """Record that `name` is float32 of shape `dims` (a fused node's output: onnx's inference
        does not know the fused ops), unless nothing of the shape is known."""
        if dims is not None:
            self.types[name] = (onnx.TensorProto.FLOAT, list(dims))

    def set_shape(self, name: str, elem_type: int, dims) -> None:
        """Record `name`'s element type (TensorProto) and dims, for a value a pass creates."""
        self.types[name] = (elem_type, list(dims))

    def set_constant(self, name: str, value: np.ndarray):
        self._edits += 1
        self.constants[name] = value
        self._protos.pop(name, None)
        self._sparse.pop(name, None)
        self.types[name] = (_elem_type(value.dtype), list(value.shape))

    def replace(self, old_nodes: list, new_nodes: list):
        """Remove old_nodes; insert new_nodes where the last of old_nodes was. Constants that
        only the old nodes read are dropped at once (a folded weight frees its original)."""
        self._edits += 1
        ids = {id(n) for n in old_nodes}
        kept, pos = [], 0
        for n in self.nodes:  # one pass: the kept nodes, and where the last replaced one was
            if id(n) in ids:
                pos = len(kept)
            else:
                kept.append(n)
        kept[pos:pos] = new_nodes
        self.nodes = kept
        if self._index is None or any(has_subgraph(n) for n in itertools.chain(old_nodes, new_nodes)):
            self.changed()
            return
        # Update the lookups in place: rebuilding them after every rewrite is quadratic.
        producer, consumers, _ = self._index
        read_before = set()
        for node in old_nodes:
            for out in node.output:
                if out and producer.get(out) is node:
                    del producer[out]
            for name in node.input:
                if name:
                    users = consumers.get(name, [])
                    users[:] = [u for u in users if u is not node]
                    read_before.add(name)
        for node in new_nodes:
            for out in node.output:
                if out:
                    producer[out] = node
            for name in node.input:
                if name:
                    consumers.setdefault(name, []).append(node)
        for name in read_before:
            if name in self.constants and not consumers.get(name) and not self.is_pinned(name):
                del self.constants[name]

    def remove(self, nodes: list):
        ids = {id(n) for n in nodes}
        self.nodes = [n for n in self.nodes if id(n) not in ids]
        self.changed()

    def bypass(self, node: onnx.NodeProto, out_name: str, in_name: str) -> bool:
        """Remove `node` (whose output out_name equals its input in_name) by rewiring.

        Readers of out_name read in_name instead. If out_name is pinned, the producer of
        in_name is renamed to produce out_name instead, when that is safe. Returns False
        (and changes nothing) when neither works.
        """
        if not self.is_pinned(out_name):
            for user in self.consumers(out_name):
                for i, n in enumerate(user.input):
                    if n == out_name:
                        user.input[i] = in_name
            self.remove([node])
            return True
        prod = self.producer(in_name)
        others = [u for u in self.consumers(in_name) if u is not node]
        if (prod is None or others or self.is_pinned(in_name) or out_name in self._idx()[2]):
            return False
        for i, n in enumerate(prod.output):
            if n == in_name:
                prod.output[i] = out_name
        if in_name in self.types and out_name not in self.types:
            self.types[out_name] = self.types[in_name]
        self.remove([node])
        return True

    # --- shapes ----------------------------------------------------------------------
    def _record_type(self, vi: onnx.ValueInfoProto):
        if not vi.type.HasField("tensor_type"):
            return
        tt = vi.type.tensor_type
        dims = None
        if tt.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]
        old = self.types.get(vi.name)
        if old is not None:
            # Keep whichever knows more; never lose a known dimension.
            if dims is None or (old[1] is not None and _known(old[1]) > _known(dims)):
                dims = old[1]
        self.types[vi.name] = (tt.elem_type or (old[0] if old else 0), dims)

    def infer_shapes(self, small_constant_limit: int = 1024):
        """Run onnx shape inference on the current graph and merge what it finds (nothing to do
        when the graph is unchanged since the last time).

        Large constants go in as typed graph inputs (their values are not needed to infer
        shapes, and copying them would be slow); small ones keep their values because
        shape-carrying inputs (Reshape's shape, Slice's starts...) need them.
        """
        if self._inferred_at == self._edits:
            return
        self._inferred_at = self._edits
        graph_inputs = list(self.model.graph.input)
        inits, extra_inputs = [], []
        declared = {vi.name for vi in graph_inputs}
        used = set()
        for node in self.nodes:
            used.update(node_reads(node))
        for name, arr in self.constants.items():
            if name not in used or not isinstance(arr, np.ndarray) or name in declared:
                continue
            if arr.size <= small_constant_limit:
                try:
                    inits.append(numpy_helper.from_array(arr, name))
                    continue
                except Exception:
                    pass
            extra_inputs.append(helper.make_tensor_value_info(name, _elem_type(arr.dtype), list(arr.shape)))
        for t in self._protos.values():  # overridable initializers (listed as inputs)
            if t.name in declared:
                inits.append(t)
        graph = helper.make_graph(self.nodes, "shape_inference", graph_inputs + extra_inputs,
                                  list(self.model.graph.output), initializer=inits,
                                  value_info=self._fused_output_types())
        model = helper.make_model(graph, opset_imports=self._opset_imports(), ir_version=self.model.ir_version)
        model.functions.extend(self.model.functions)
        # onnx's data propagation materializes the values it propagates: a Range(0, 2**31, 1)
        # of small constants would take seconds and gigabytes inside onnx, outside our memory
        # limits. Propagate data only through graphs without such size-amplifying ops.
        data_prop = not any(n.op_type in _SIZE_AMPLIFYING_OPS for n in self.nodes)
        try:
            inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=data_prop)
        except Exception:
            return  # shape inference is a help, never a requirement
        for vi in itertools.chain(inferred.graph.value_info, inferred.graph.output):
            self._record_type(vi)

    def _fused_output_types(self) -> list:
        """What is known of the outputs of nodes outside the default domain (the fused ops onnx has
        no schema for), so inference carries on past them instead of losing every shape downstream."""
        infos = []
        for node in self.nodes:
            if node.domain in ("", "ai.onnx"):
                continue
            for name in node.output:
                t = self.types.get(name)
                if name and t is not None and t[0] and t[1] is not None:
                    dims = [d if isinstance(d, (int, str)) else None for d in t[1]]
                    infos.append(helper.make_tensor_value_info(name, t[0], dims))
        return infos

    # --- output ----------------------------------------------------------------------
    def _opset_imports(self):
        imports = [copy.deepcopy(i) for i in self.model.opset_import]
        domains = {("" if i.domain == "ai.onnx" else i.domain) for i in imports}
        if FUSED_DOMAIN not in domains and _uses_domain(self.nodes, FUSED_DOMAIN):
            imports.append(helper.make_opsetid(FUSED_DOMAIN, FUSED_DOMAIN_VERSION))
        return imports

    def to_model(self) -> onnx.ModelProto:
        """The optimized model with every constant inside it."""
        return self._build(lambda name, arr: numpy_helper.from_array(np.asarray(arr), name))

    def to_model_and_weights(self) -> tuple[onnx.ModelProto, dict]:
        """The optimized model with stubs (name, dims, type) for the constants held as arrays, and
        those arrays (name -> array): no constant is copied."""
        weights = {}

        def stub(name, arr):
            weights[name] = arr
            return stub_tensor(name, arr)

        return self._build(stub), weights

    def _build(self, tensor_of) -> onnx.ModelProto:
        src = self.model
        model = onnx.ModelProto()
        for field in ("ir_version", "producer_name", "producer_version", "domain", "model_version", "doc_string"):
            _copy_text(model, src, field)
        model.metadata_props.extend(src.metadata_props)
        model.functions.extend(src.functions)
        model.opset_import.extend(self._opset_imports())
        g = model.graph
        _copy_text(g, src.graph, "name")
        _copy_text(g, src.graph, "doc_string")
        g.node.extend(self.nodes)
        g.input.extend(src.graph.input)
        g.output.extend(src.graph.output)
        used = set(self.output_names)
        for node in self.nodes:
            used.update(node.output)
            used.update(node_reads(node))
        g.value_info.extend(vi for vi in src.graph.value_info if vi.name in used)
        for name in self.input_names:
            if name in self._protos:
                g.initializer.append(self._protos[name])
            elif name in self.defaults:
                g.initializer.append(tensor_of(name, self.defaults[name]))
        for name, arr in self.constants.items():
            if name in self.borrowed and self.borrowed[name] is arr:
                continue  # an enclosing graph's constant: read from there
            if name in self._protos:
                g.initializer.append(self._protos[name])
            elif name in self._sparse:
                g.sparse_initializer.append(self._sparse[name])
            else:
                g.initializer.append(tensor_of(name, arr))
        return model


def _uses_domain(nodes, domain: str) -> bool:
    """Whether a node of `nodes` or of their subgraphs (optimized too) is of `domain`."""
    for n in nodes:
        if n.domain == domain:
            return True
        for a in n.attribute:
            graphs = [a.g] if a.type == onnx.AttributeProto.GRAPH else a.graphs
            if any(_uses_domain(g.node, domain) for g in graphs):
                return True
    return False


def _copy_text(dst, src, field: str) -> None:
    """dst.field = src.field, except a string that is not valid UTF-8 (protobuf hands it back as
    bytes, and will not take it back): metadata nobody runs, left empty rather than failing."""
    value = getattr(src, field)
    if not isinstance(value, bytes):
        setattr(dst, field, value)


def stub_tensor(name: str, arr: np.ndarray) -> onnx.TensorProto:
    """A TensorProto with arr's name, dims and data type and no data (its data is held as arr)."""
    t = onnx.TensorProto()
    t.name = name
    t.dims.extend(arr.shape)
    t.data_type = _elem_type(arr.dtype)
    return t


def _known(dims) -> int:
    return sum(1 for d in dims if isinstance(d, int))


def _elem_type(dtype) -> int:
    try:
        return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    except Exception:
        return 0

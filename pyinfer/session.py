"""The public InferenceSession, shaped like onnxruntime's."""
from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from .errors import Error, InputShapeError, InputTypeError, MissingInputError, UnknownInputError
from .executor import MODES, GraphExecutor
from .graph import opset_map
from .loader import load_model_parts
from .model_source import ModelSource
from .optimizer import optimize_parts
from .options import GraphOptimizationLevel, SessionOptions, SessionOptionsError
from .profiling import Profiler

# Settings accepted as InferenceSession keywords as well as through SessionOptions.
_OPTION_KEYWORDS = ("graph_optimization_level", "optimized_model_filepath", "intra_op_num_threads",
                    "enable_profiling", "profile_file_prefix", "max_memory_bytes")

_ORT_TYPE_NAMES = {
    onnx.TensorProto.FLOAT: "float", onnx.TensorProto.DOUBLE: "double",
    onnx.TensorProto.FLOAT16: "float16", onnx.TensorProto.BFLOAT16: "bfloat16",
    onnx.TensorProto.INT8: "int8", onnx.TensorProto.INT16: "int16",
    onnx.TensorProto.INT32: "int32", onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.UINT8: "uint8", onnx.TensorProto.UINT16: "uint16",
    onnx.TensorProto.UINT32: "uint32", onnx.TensorProto.UINT64: "uint64",
    onnx.TensorProto.BOOL: "bool", onnx.TensorProto.STRING: "string",
    onnx.TensorProto.COMPLEX64: "complex64", onnx.TensorProto.COMPLEX128: "complex128",
}


@dataclass(frozen=True)
class NodeArg:
    """A graph input or output: name, shape (ints, strings for symbolic dims, None if unknown), type."""

    name: str
    shape: list | None
    type: str
    elem_type: int = 0

    def __repr__(self):
        return f"NodeArg(name={self.name!r}, type={self.type!r}, shape={self.shape!r})"

    @classmethod
    def from_value_info(cls, vi: onnx.ValueInfoProto) -> NodeArg:
        """The NodeArg of a graph input or output declaration (types named as onnxruntime does)."""
        t = vi.type
        if t.HasField("tensor_type"):
            tt = t.tensor_type
            shape = None
            if tt.HasField("shape"):
                shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]
            return cls(vi.name, shape, f"tensor({_ORT_TYPE_NAMES.get(tt.elem_type, 'unknown')})", tt.elem_type)
        return cls(vi.name, [], _type_text(t), 0)  # sequences, maps, optionals: onnxruntime's shape []


def _type_text(t: onnx.TypeProto) -> str:
    """onnxruntime's spelling: tensor(float), seq(map(int64,tensor(float))), map(string,tensor(float))..."""
    kind = t.WhichOneof("value")
    if kind == "tensor_type":
        return f"tensor({_ORT_TYPE_NAMES.get(t.tensor_type.elem_type, 'unknown')})"
    if kind == "sequence_type":
        return f"seq({_type_text(t.sequence_type.elem_type)})"
    if kind == "map_type":
        return f"map({_ORT_TYPE_NAMES.get(t.map_type.key_type, 'unknown')},{_type_text(t.map_type.value_type)})"
    if kind == "optional_type":
        return f"optional({_type_text(t.optional_type.elem_type)})"
    return (kind or "unknown").replace("_type", "")


class InferenceSession:
    """Load an ONNX model, optimize its graph and run it.

    model: a path, the serialized bytes, or an onnx.ModelProto.
    sess_options: a pyinfer.SessionOptions (or an onnxruntime one: the settings pyinfer knows
        are read from it).
    num_threads: threads for the kernels (None: one per physical core; 1: the calling thread only).
    Keywords graph_optimization_level, optimized_model_filepath, intra_op_num_threads,
    enable_profiling, profile_file_prefix and max_memory_bytes override the same settings of sess_options.
    providers is accepted for onnxruntime compatibility.
    executor: "plan" (default: compiled plans per input-shape signature, docs/RUNTIME.md) or
        "python" (op.run per node, the reference path); the PYINFER_EXECUTOR environment variable
        sets the default.

    A session pickles (for multiprocessing, Ray, Dask): the pickle holds the model's bytes and the
    options, and unpickling builds a new session from them (see model_source.py for what is kept).
    """

    def __init__(self, model, sess_options=None, providers=None, num_threads: int | None = None,
                 executor: str | None = None, **kwargs):
        opts = SessionOptions.from_any(sess_options)
        for name in _OPTION_KEYWORDS:
            if kwargs.get(name) is not None:
                setattr(opts, name, kwargs.pop(name))
        if num_threads is not None:
            opts.intra_op_num_threads = num_threads
        self.options = opts
        self.num_threads = opts.intra_op_num_threads
        self._source = ModelSource(model)  # before loading: a file's fingerprint is the one loaded
        # Large initializers come as arrays beside a proto of stubs: the weights are held once
        # from here on (loaded, folded, packed: each step frees what it replaces).
        self._model, weights = load_model_parts(model, max_memory_bytes=opts.max_memory_bytes)
        graph = self._model.graph
        init_names = {t.name for t in graph.initializer}
        self._inputs = [NodeArg.from_value_info(vi) for vi in graph.input if vi.name not in init_names]
        # Initializers also listed as inputs (IR < 4 style) may be overridden by a feed.
        self._overridable = {vi.name: NodeArg.from_value_info(vi) for vi in graph.input if vi.name in init_names}
        self._outputs = [NodeArg.from_value_info(vi) for vi in graph.output]
        self._declared = {a.name: a for a in self._inputs}  # the feeds run() requires
        self._output_names = frozenset(o.name for o in self._outputs)
        mode = executor or os.environ.get("PYINFER_EXECUTOR") or "plan"
        if mode not in MODES:
            raise SessionOptionsError(f"executor must be one of {MODES}, got {mode!r}")
        self._executor_mode = mode
        self._optimized_model, weights, self.optimization_report = _optimize(model, self._model, weights, opts)
        if opts.optimized_model_filepath:
            _save_model(_with_weights(self._optimized_model, weights), opts.optimized_model_filepath)
        self._executor = GraphExecutor(self._optimized_model.graph, opset_map(self._optimized_model),
                                       self.num_threads, max_memory_bytes=opts.max_memory_bytes, mode=mode,
                                       weights=weights)
        self._profiler = Profiler(opts.profile_file_prefix) if opts.enable_profiling else None

    def __reduce__(self):
        # The optimized model was saved by this session already: copies must not race to rewrite it.
        opts = SessionOptions.from_any(self.options)
        opts.optimized_model_filepath = ""
        return _unpickle_session, (self._source.serialized(), opts, self._executor_mode)

    def end_profiling(self) -> str:
        """Write the profile (Chrome trace JSON) and return its path; "" when profiling is off.
        Profiling then starts afresh, like onnxruntime."""
        if self._profiler is None:
            return ""
        path = self._profiler.write()
        self._profiler = Profiler(self._profiler.prefix)
        return path

    def get_inputs(self) -> list[NodeArg]:
        return list(self._inputs)

    def get_outputs(self) -> list[NodeArg]:
        return list(self._outputs)

    def get_providers(self) -> list[str]:
        return ["CPUExecutionProvider"]

    def run(self, output_names, input_feed: dict, run_options=None) -> list[np.ndarray]:
        if output_names:
            for name in output_names:
                if name not in self._output_names:
                    raise UnknownInputError(
                        f"unknown output name {name!r}; the model's outputs are {sorted(self._output_names)}"
                    )
        feeds = self._check_feeds(input_feed)
        prof = self._profiler
        t0 = prof.now() if prof is not None else 0
        results = self._executor.run(feeds, output_names=list(output_names) if output_names else None,
                                     profiler=prof)
        if prof is not None:
            prof.record_run(t0, prof.now())
        # Returned arrays belong to the caller: never hand out a feed or an initializer.
        out = []
        for r in results:
            if isinstance(r, np.ndarray) and (not r.flags.owndata or any(r is f for f in feeds.values())
                                               or id(r) in self._executor.constant_ids):
                r = r.copy()
            out.append(r)
        return out

    def check_feeds(self, input_feed: dict) -> None:
        """Raise the InvalidFeedError that run() would raise for these feeds (names, dtypes, ranks,
        fixed dimensions), without running the model."""
        self._check_feeds(input_feed)

    def _check_feeds(self, input_feed: dict) -> dict:
        if not isinstance(input_feed, dict):
            raise InputTypeError(f"feeds must be a dict of name -> numpy array, got {type(input_feed).__name__}")
        declared = self._declared
        feeds = {}
        found = 0
        for name, value in input_feed.items():
            arg = declared.get(name)
            if arg is not None:
                found += 1
            else:
                arg = self._overridable.get(name)
                if arg is None:
                    raise UnknownInputError(
                        f"unknown input name {name!r}; the model's inputs are {sorted(declared)}"
                    )
            feeds[name] = _check_feed(arg, value)
        if found < len(declared):
            missing = [n for n in declared if n not in feeds]
            raise MissingInputError(f"missing input(s) {missing}; the model's inputs are {sorted(declared)}")
        return feeds


def _unpickle_session(model: bytes, options: SessionOptions, executor: str) -> InferenceSession:
    return InferenceSession(model, sess_options=options, executor=executor)


@functools.lru_cache(maxsize=None)
def _np_dtype(elem_type: int) -> np.dtype:
    return helper.tensor_dtype_to_np_dtype(elem_type)


def _check_feed(arg: NodeArg, value):
    if not arg.type.startswith("tensor("):
        return value  # sequence / optional / map inputs: checked by the ops that read them
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        raise InputTypeError(f"input {arg.name!r}: expected a numpy.ndarray, got {type(value).__name__}")
    if arg.elem_type:
        if arg.elem_type == onnx.TensorProto.STRING:
            ok = value.dtype.kind in ("U", "S", "O")
        else:
            ok = value.dtype == _np_dtype(arg.elem_type)
        if not ok:
            raise InputTypeError(
                f"input {arg.name!r}: expected {arg.type}, got an array of dtype {value.dtype} "
                f"(pyinfer does not cast feeds; convert with .astype())"
            )
    if arg.shape is not None:
        if value.ndim != len(arg.shape):
            raise InputShapeError(
                f"input {arg.name!r}: expected rank {len(arg.shape)} (shape {arg.shape}), got shape {list(value.shape)}"
            )
        for axis, (want, got) in enumerate(zip(arg.shape, value.shape)):
            if isinstance(want, int) and want > 0 and want != got:
                raise InputShapeError(
                    f"input {arg.name!r}: dimension {axis} must be {want} (shape {arg.shape}), got shape {list(value.shape)}"
                )
    return value


class OptimizerWarning(UserWarning):
    """The graph optimizer failed unexpectedly; the model runs unoptimized."""


def _optimize(source, model: onnx.ModelProto, weights: dict, opts: SessionOptions):
    """(optimized model, its weights, report). source: what the user passed (reloaded when a
    pass fails, since the passes change the weights dict in place)."""
    try:
        return optimize_parts(model, weights, opts.graph_optimization_level, num_threads=opts.intra_op_num_threads,
                              max_memory_bytes=opts.max_memory_bytes)
    except Error:
        raise  # the model itself is at fault: the same error would come from the executor
    except Exception as e:  # a bug in a pass must not stop a model that runs fine without it
        warnings.warn(f"graph optimization failed ({type(e).__name__}: {e}); running the model unoptimized",
                      OptimizerWarning, stacklevel=3)
        weights.clear()
        model, weights = load_model_parts(source, max_memory_bytes=opts.max_memory_bytes)
        return optimize_parts(model, weights, GraphOptimizationLevel.ORT_DISABLE_ALL)


def _with_weights(model: onnx.ModelProto, weights: dict) -> onnx.ModelProto:
    """A copy of model whose stub initializers hold their data again (for saving)."""
    if not weights:
        return model
    from onnx import numpy_helper

    full = onnx.ModelProto()
    full.CopyFrom(model)
    for t in full.graph.initializer:
        if t.name in weights:
            t.CopyFrom(numpy_helper.from_array(np.asarray(weights[t.name]), t.name))
    return full


def _save_model(model: onnx.ModelProto, path: str) -> None:
    try:
        onnx.save(model, path)
    except (OSError, ValueError) as e:
        raise SessionOptionsError(f"cannot save the optimized model to {path!r}: {e}") from e

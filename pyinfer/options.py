"""Session options, shaped like onnxruntime's SessionOptions.

    opts = pyinfer.SessionOptions()
    opts.graph_optimization_level = pyinfer.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = "model.opt.onnx"
    sess = pyinfer.InferenceSession("model.onnx", sess_options=opts)

The same settings may be passed as keywords to InferenceSession (keywords win over sess_options).
Attributes onnxruntime has and pyinfer does not use (inter_op_num_threads, execution_mode,
log_severity_level, ...) can be set and are ignored, so code written for onnxruntime keeps working.
"""
from __future__ import annotations

import enum

from .errors import Error
from .profiling import DEFAULT_PREFIX


class SessionOptionsError(Error, ValueError):
    """A session option has a value pyinfer cannot use."""


class GraphOptimizationLevel(enum.IntEnum):
    """How much the graph is rewritten before it runs (onnxruntime's names and values).

    ORT_DISABLE_ALL: run the graph as given.
    ORT_ENABLE_BASIC: remove dead nodes / unused initializers, Identity and inference Dropout;
        fold constants (including Shape of statically known shapes).
    ORT_ENABLE_EXTENDED: also fold BatchNormalization and per-channel Mul/Add into Conv/Gemm,
        MatMul + Add -> Gemm, cancel inverse Transpose pairs, AveragePool * window -> SumPool.
    ORT_ENABLE_ALL: also fuse activations and residual Adds into Conv / Gemm / MatMul.
    """

    ORT_DISABLE_ALL = 0
    ORT_ENABLE_BASIC = 1
    ORT_ENABLE_EXTENDED = 2
    ORT_ENABLE_ALL = 99


def to_optimization_level(value) -> GraphOptimizationLevel:
    """Accept our enum, onnxruntime's enum (by name), its int value or its name as a string."""
    if isinstance(value, GraphOptimizationLevel):
        return value
    if isinstance(value, str):
        name = value
    elif isinstance(value, int) and not isinstance(value, bool):
        try:
            return GraphOptimizationLevel(value)
        except ValueError:
            name = None
    else:
        name = getattr(value, "name", None)  # onnxruntime.GraphOptimizationLevel
    if isinstance(name, str) and name in GraphOptimizationLevel.__members__:
        return GraphOptimizationLevel[name]
    choices = ", ".join(f"{m.name} ({m.value})" for m in GraphOptimizationLevel)
    raise SessionOptionsError(f"graph_optimization_level must be one of {choices}; got {value!r}")


def _check_threads(value):
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SessionOptionsError(f"num_threads must be a positive int or None, got {value!r}")
    return value


class SessionOptions:
    """Settings for an InferenceSession.

    graph_optimization_level: a GraphOptimizationLevel (default ORT_ENABLE_ALL).
    optimized_model_filepath: if set, the optimized graph is saved there as an ONNX model
        (fused nodes are in the "pyinfer" domain, see docs/OPTIMIZER.md).
    intra_op_num_threads: threads for the kernels (0 = one per physical core).
    enable_profiling: record per-node timings; InferenceSession.end_profiling() writes them as
        Chrome-trace JSON (open in Perfetto or chrome://tracing) and returns the file's path.
    profile_file_prefix: the profile file's name prefix (default "pyinfer_profile").
    max_memory_bytes: the largest single tensor an op may allocate from sizes read in the model
        or the feeds (None: pyinfer's default); passed to the ops, constant folding included.
    """

    def __init__(self):
        self.graph_optimization_level = GraphOptimizationLevel.ORT_ENABLE_ALL
        self.optimized_model_filepath = ""
        self.intra_op_num_threads = 0
        self.enable_profiling = False
        self.profile_file_prefix = DEFAULT_PREFIX
        self.max_memory_bytes = None

    def __setattr__(self, name, value):
        # Check values when they are set, so the error points at the line that set them.
        if name == "graph_optimization_level":
            value = to_optimization_level(value)
        elif name == "intra_op_num_threads":
            value = _check_threads(value)
        elif name == "optimized_model_filepath":
            import os

            if value is None:
                value = ""
            elif not isinstance(value, (str, os.PathLike)):
                raise SessionOptionsError(f"optimized_model_filepath must be a path, got {value!r}")
            value = os.fspath(value)
        elif name == "enable_profiling":
            value = bool(value)
        elif name == "profile_file_prefix":
            if not isinstance(value, str) or not value:
                raise SessionOptionsError(f"profile_file_prefix must be a non-empty string, got {value!r}")
        elif name == "max_memory_bytes":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise SessionOptionsError(f"max_memory_bytes must be a positive int or None, got {value!r}")
        object.__setattr__(self, name, value)

    @classmethod
    def from_any(cls, other) -> "SessionOptions":
        """A copy of a pyinfer or onnxruntime SessionOptions (None: the defaults)."""
        opts = cls()
        if other is None:
            return opts
        for name in ("graph_optimization_level", "optimized_model_filepath", "intra_op_num_threads",
                     "enable_profiling", "profile_file_prefix", "max_memory_bytes"):
            if hasattr(other, name):
                setattr(opts, name, getattr(other, name))
        return opts

    def __repr__(self):
        return (f"SessionOptions(graph_optimization_level={self.graph_optimization_level.name}, "
                f"optimized_model_filepath={self.optimized_model_filepath!r}, "
                f"intra_op_num_threads={self.intra_op_num_threads}, enable_profiling={self.enable_profiling}, "
                f"max_memory_bytes={self.max_memory_bytes})")

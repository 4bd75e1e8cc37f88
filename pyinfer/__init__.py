"""pyinfer: a CPU inference engine for ONNX models.

    import pyinfer
    sess = pyinfer.InferenceSession("model.onnx")
    outputs = sess.run(None, {"input": x})
"""
from .errors import (  # noqa: F401  (errors first: the extension imports them)
    Error,
    InputShapeError,
    InputTypeError,
    InvalidFeedError,
    InvalidModelError,
    KernelArgumentError,
    MissingInputError,
    ModelLoadError,
    NodeExecutionError,
    ResourceLimitError,
    SessionPicklingError,
    UnknownInputError,
    UnsupportedOpError,
)
from . import _kernels
from . import kernels  # noqa: F401
from .options import GraphOptimizationLevel, SessionOptions, SessionOptionsError  # noqa: F401
from .session import InferenceSession, NodeArg  # noqa: F401

__version__ = "0.1.0"


def cpu_info() -> dict:
    """The SIMD tier in use, what this machine supports, and its caches as the kernels see them.

    ``PYINFER_ISA=scalar|avx2|avx512`` in the environment forces a lower tier at import.
    ``cache``: sizes in bytes of one L1d / L2 / L3 instance and the logical CPUs sharing each,
    their ``source`` (sysfs, cpuid, default; ``PYINFER_CACHE_SIZES=l1d,l2,l3`` overrides), the
    per-core budgets the kernels block for and the GEMM blocks derived from them
    (docs/ARCHITECTURE.md, "Blocking from the caches").
    """
    cache = _kernels.cache_info()
    return {
        "isa": _kernels.active_isa(),
        "best_isa": _kernels.best_isa(),
        "supported_isas": list(_kernels.supported_isas()),
        "physical_cores": _kernels.physical_cores(),
        "logical_cpus": cache.pop("logical_cpus"),
        "threads_per_core": cache.pop("threads_per_core"),
        "default_num_threads": _kernels.default_num_threads(),
        "cache": cache,
    }


def __getattr__(name):  # lazy: importing onnx.backend is slow and optional
    if name == "backend":
        import importlib

        return importlib.import_module(".backend", __name__)
    raise AttributeError(f"module 'pyinfer' has no attribute {name!r}")

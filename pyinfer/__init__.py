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
    """The SIMD tier in use and what this machine supports.

    ``PYINFER_ISA=scalar|avx2|avx512`` in the environment forces a lower tier at import.
    """
    return {
        "isa": _kernels.active_isa(),
        "best_isa": _kernels.best_isa(),
        "supported_isas": list(_kernels.supported_isas()),
        "physical_cores": _kernels.physical_cores(),
        "default_num_threads": _kernels.default_num_threads(),
    }


def __getattr__(name):  # lazy: importing onnx.backend is slow and optional
    if name == "backend":
        import importlib

        return importlib.import_module(".backend", __name__)
    raise AttributeError(f"module 'pyinfer' has no attribute {name!r}")

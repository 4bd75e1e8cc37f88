"""pyinfer's C++ kernels on NumPy arrays, for use without a graph.

All kernels take and return float32 arrays (C order is not required: other layouts are
copied), check their arguments (raising :class:`pyinfer.KernelArgumentError`), release the
GIL while they compute, and accept ``num_threads`` (0 = default: the physical core count).

See docs/KERNELS.md for each kernel's signature and an example.
"""
from . import _kernels as _k

_PUBLIC = [name for name in dir(_k) if not name.startswith("_")]
globals().update({name: getattr(_k, name) for name in _PUBLIC})
__all__ = sorted(_PUBLIC)

"""Allocation limits: sizes read from a model or a feed are checked before anything is allocated.

A model file or a feed from the network can ask for ConstantOfShape([10**12]), Expand to a huge
shape or a 10**6 Resize. NumPy would try (and the OS kill the process, or swap it to a halt);
pyinfer raises ResourceLimitError naming the node, the shape and the limit instead.

The limit is per tensor: OpContext.max_memory_bytes, or when that is None half of the machine's
physical memory.
"""
from __future__ import annotations

import math
import os

import numpy as np

from .errors import ResourceLimitError

_FALLBACK_BYTES = 8 << 30  # when the OS does not say how much memory there is
_default_cache: list[int] = []


def default_max_memory_bytes() -> int:
    """Half of physical memory (a single tensor larger than that cannot be useful)."""
    if not _default_cache:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (AttributeError, ValueError, OSError):
            total = 0
        _default_cache.append(total // 2 if total > 0 else _FALLBACK_BYTES)
    return _default_cache[0]


def set_default_max_memory_bytes(limit: int) -> None:
    """Replace the default for this process (a tool that runs untrusted models, such as the
    fuzzer, lowers it so that no case can take the machine's memory)."""
    _default_cache[:] = [int(limit)]


def effective_limit(max_memory_bytes: int | None) -> int:
    return default_max_memory_bytes() if max_memory_bytes is None else int(max_memory_bytes)


def itemsize_of(dtype) -> int:
    dt = np.dtype(dtype)
    # object arrays (strings) hold a pointer per element; the strings themselves come on top
    return dt.itemsize if dt.itemsize > 0 else 8


def nbytes_of(shape, dtype) -> int:
    """Bytes a C-contiguous tensor of this shape needs, in exact Python ints (no overflow)."""
    return math.prod(int(d) for d in shape) * itemsize_of(dtype)


def check_size(what: str, shape, dtype, max_memory_bytes: int | None = None) -> None:
    """Raise ResourceLimitError if a tensor of `shape` and `dtype` exceeds the limit."""
    shape = [int(d) for d in shape]
    if any(d < 0 for d in shape):
        return  # negative dims are the caller's error to report, with its own message
    need = nbytes_of(shape, dtype)
    limit = effective_limit(max_memory_bytes)
    if need > limit:
        raise ResourceLimitError(
            f"{what}: a tensor of shape {shape} and dtype {np.dtype(dtype)} needs {_human(need)}, "
            f"more than the limit of {_human(limit)} per tensor (max_memory_bytes)"
        )


def check_allocation(op, shape, dtype) -> None:
    """Before an op allocates an output of `shape`: raise ResourceLimitError if it is too big.

    The limit is op.ctx.max_memory_bytes (None: half of physical memory).
    """
    check_size(f"{op.op_type} node {op.name!r}", shape, dtype, getattr(op.ctx, "max_memory_bytes", None))


def _human(n: int) -> str:
    if n >= 1 << 70:  # dims from a hostile model can multiply past what a float holds
        return f"about 2^{n.bit_length() - 1} bytes"
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if n < 1024 or unit == "EiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"

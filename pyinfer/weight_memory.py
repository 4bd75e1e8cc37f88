"""Arrays for model weights (loaded from the file, or folded by the optimizer): from 1 MiB up they
are mapped from the OS like the kernels' packed layouts (csrc/common/weight_memory.h), so their
first write faults huge pages where the kernel allows them, and their memory goes back to the OS
as soon as a packed layout or a folded copy replaces them, instead of staying in malloc's heap."""
from __future__ import annotations

import numpy as np

from . import _kernels

MAP_BYTES = 1 << 20


def weight_array(shape, dtype) -> np.ndarray:
    """An uninitialized array of shape and dtype."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes < MAP_BYTES:
        return np.empty(shape, dtype)
    return _kernels._weight_buffer(nbytes).view(dtype).reshape(shape)

"""Reading and checking the integer "control" inputs of shape and index ops.

Shape, axes, pads, starts, indices... arrive as int32/int64 tensors (or attributes). These
helpers turn them into Python ints or int64 arrays and raise a clear pyinfer error (naming the
node) when they are malformed or out of range, instead of letting NumPy raise IndexError or,
worse, silently wrap.
"""
from __future__ import annotations

import numpy as np

from .base import Op


def int_list(op: Op, value, what: str) -> list[int] | None:
    """A 1-D (or scalar) integer tensor or an attribute list as a list of ints; None stays None."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value]
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        raise op.run_error(f"{what} must be an integer tensor, got dtype {arr.dtype}")
    if arr.ndim > 1:
        raise op.run_error(f"{what} must be a 1-D tensor, got shape {list(arr.shape)}")
    return [int(v) for v in arr.reshape(-1)]


def int_scalar(op: Op, value, what: str) -> int:
    """A scalar (or one-element) integer tensor as an int."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        raise op.run_error(f"{what} must be an integer tensor, got dtype {arr.dtype}")
    if arr.size != 1:
        raise op.run_error(f"{what} must hold exactly one value, got shape {list(arr.shape)}")
    return int(arr.reshape(-1)[0])


def axis_in_range(op: Op, axis: int, rank: int, what: str = "axis") -> int:
    """Map a possibly negative axis into [0, rank); error otherwise (rank 0 allows no axis)."""
    if not -rank <= axis < rank:
        raise op.run_error(f"{what} {axis} is out of range for rank {rank} (valid: [{-rank}, {rank - 1}])")
    return axis + rank if axis < 0 else axis


def unique_axes(op: Op, axes, rank: int, what: str = "axes") -> list[int]:
    """Normalize a list of axes and reject duplicates."""
    out = [axis_in_range(op, int(a), rank, what) for a in axes]
    if len(set(out)) != len(out):
        raise op.run_error(f"{what} {list(axes)} name the same axis twice (rank {rank})")
    return out


def checked_indices(op: Op, indices, dim: int, what: str = "indices") -> np.ndarray:
    """Integer indices as int64 with negatives wrapped; any index outside [-dim, dim) is an error."""
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise op.run_error(f"{what} must be an integer tensor, got dtype {idx.dtype}")
    idx = idx.astype(np.int64, copy=False)
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < -dim or hi >= dim:
            bad = lo if lo < -dim else hi
            raise op.run_error(f"{what} value {bad} is out of range for a dimension of size {dim} "
                               f"(valid: [{-dim}, {dim - 1}])")
        if lo < 0:
            idx = np.where(idx < 0, idx + dim, idx)
    return idx

"""Static memory plan: offsets of intermediate buffers in one arena, shared by liveness.

Every buffer has a size and a lifetime [first, last] in step indices (written at `first`, last
read at `last`). Two buffers whose lifetimes overlap never share bytes; others may. Offsets are
assigned greedily, largest buffer first, each at the best-fitting gap (smallest gap that fits,
else the end) among the buffers already placed that are alive at the same time. The arena's
size is then close to the largest live set, not the sum of all buffers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ALIGN = 64  # bytes: a cache line, and every SIMD width's alignment


def align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def aligned_empty(nbytes: int) -> np.ndarray:
    """An uninitialized uint8 array of nbytes whose first byte starts a cache line.

    NumPy's large allocations come from mmap through malloc: 16 bytes past a page boundary.
    Offsets planned in multiples of ALIGN are only aligned if the arena's start is; a
    misaligned arena made every vector load and store of every intermediate tensor straddle
    two cache lines (ResNet-50's stem MaxPool ran 2x slower in the model than alone).
    """
    raw = np.empty(nbytes + ALIGN, np.uint8)
    skip = -raw.ctypes.data % ALIGN
    return raw[skip:skip + nbytes]


@dataclass(frozen=True)
class Buffer:
    key: object
    size: int      # bytes
    first: int     # step that writes it
    last: int      # last step that reads it (>= first)


@dataclass
class MemoryPlan:
    offsets: dict = field(repr=False)  # key -> byte offset in the arena
    arena_bytes: int   # bytes the arena needs
    total_bytes: int   # the sum of all (aligned) buffers: what no sharing would need
    peak_live_bytes: int  # the largest sum of (aligned) buffers alive at one step: a lower bound


def _overlap(a: Buffer, b: Buffer) -> bool:
    return a.first <= b.last and b.first <= a.last


def plan_offsets(buffers: list[Buffer]) -> MemoryPlan:
    order = sorted(buffers, key=lambda b: (-align(b.size), b.first))
    placed: list[tuple[int, int, Buffer]] = []  # (offset, aligned size, buffer)
    offsets = {}
    arena = 0
    for buf in order:
        size = align(buf.size)
        busy = sorted((off, off + sz) for off, sz, other in placed if _overlap(buf, other))
        best, best_gap, cursor = None, None, 0
        for lo, hi in busy:
            gap = lo - cursor
            if gap >= size and (best_gap is None or gap < best_gap):
                best, best_gap = cursor, gap
            cursor = max(cursor, hi)
        if best is None:
            best = cursor
        placed.append((best, size, buf))
        offsets[buf.key] = best
        arena = max(arena, best + size)
    total = sum(align(b.size) for b in buffers)
    events = sorted({b.first for b in buffers})
    peak = max((sum(align(b.size) for b in buffers if b.first <= t <= b.last) for t in events), default=0)
    return MemoryPlan(offsets, arena, total, peak)

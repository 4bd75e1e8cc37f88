"""Dynamic batching: queued requests gathered into one session run, and the outputs split back.

Requests can share a run when their inputs have the same names, dtypes and shapes after the
first (batch) dimension. A batch starts with the oldest waiting request and takes the following
compatible ones until it holds max_rows rows, or until max_delay_s has passed since that oldest
request arrived; incompatible requests keep their place for the next batch. With max_delay_s 0 a
batch is whatever has piled up while the sessions were busy, so an idle server adds no latency.

Every batch size runs as it is: a session's dynamic plan serves any batch size without
recompiling (docs/RUNTIME.md). Rows of a batch are assumed independent, as concatenating requests
already assumes.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Hashable

import numpy as np

from .errors import QueueFullError, ServeError


@dataclass(eq=False)
class Pending:
    """One request waiting for its outputs."""

    feeds: dict
    rows: int  # its size along the batch dimension
    key: Hashable  # requests with equal keys can share a run
    future: asyncio.Future
    enqueued: float = field(default_factory=time.monotonic)


def batch_key(feeds: dict) -> tuple[Hashable, int] | None:
    """(key, rows) of feeds that can join a batch along axis 0, or None (ranks 0, first dimensions that
    differ between inputs)."""
    rows = None
    key = []
    for name in sorted(feeds):
        array = feeds[name]
        if not isinstance(array, np.ndarray) or array.ndim == 0 or (rows is not None and array.shape[0] != rows):
            return None
        rows = array.shape[0]
        key.append((name, array.dtype.str, array.shape[1:]))
    return tuple(key), rows


class BatchQueue:
    """A bounded FIFO of Pending requests that sessions take in batches."""

    def __init__(self, max_rows: int, max_delay_s: float, max_waiting: int):
        self.max_rows = max_rows
        self.max_delay_s = max_delay_s
        self.max_waiting = max_waiting
        self._waiting: deque[Pending] = deque()
        self._arrived = asyncio.Event()
        self.gathering = 0  # takers holding a batch they are still filling

    def __len__(self) -> int:
        return len(self._waiting)

    def put(self, item: Pending) -> None:
        if len(self._waiting) >= self.max_waiting:
            raise QueueFullError(f"the model's queue is full ({self.max_waiting} requests waiting); retry later")
        self._waiting.append(item)
        self._arrived.set()

    async def take(self) -> list[Pending]:
        """The next batch: waits for a request, then for compatible ones up to the limits."""
        first = await self._oldest()
        batch, rows = [first], first.rows
        deadline = first.enqueued + self.max_delay_s
        self.gathering += 1
        try:
            while True:
                rows = self._gather(first.key, batch, rows)
                remaining = deadline - time.monotonic()
                if rows >= self.max_rows or remaining <= 0:
                    return batch
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except asyncio.TimeoutError:
                    pass
        except asyncio.CancelledError:  # stopped while gathering: the requests wait again (drop_all answers them)
            self._waiting.extendleft(reversed(batch))
            raise
        finally:
            self.gathering -= 1

    def drop_all(self, error: Exception) -> None:
        """Answer every waiting request with error (the server is stopping)."""
        while self._waiting:
            item = self._waiting.popleft()
            if not item.future.done():
                item.future.set_exception(error)

    async def _oldest(self) -> Pending:
        while True:
            while self._waiting:
                item = self._waiting.popleft()
                if not item.future.done():  # done: its client timed out
                    return item
            self._arrived.clear()
            await self._arrived.wait()

    def _gather(self, key, batch: list[Pending], rows: int) -> int:
        if rows >= self.max_rows:
            return rows
        kept = deque()
        for item in self._waiting:
            if item.future.done():
                continue
            if item.key == key and rows + item.rows <= self.max_rows:
                batch.append(item)
                rows += item.rows
            else:
                kept.append(item)
        self._waiting = kept
        return rows


class BatchSplitError(ServeError):
    """An output of a batched run does not have the batch's rows first (the requests are then run one by one)."""


def run_batch(session, batch: list[Pending]) -> list[list[np.ndarray]]:
    """Run the batch as one call of session.run; each request's outputs, in order."""
    total = sum(p.rows for p in batch)
    if len(batch) == 1:
        return [session.run(None, batch[0].feeds)]
    feeds = {name: np.concatenate([p.feeds[name] for p in batch]) for name in batch[0].feeds}
    outputs = session.run(None, feeds)
    for out in outputs:
        if not isinstance(out, np.ndarray) or out.ndim == 0 or out.shape[0] != total:
            raise BatchSplitError(f"an output of shape {np.shape(out)} does not have the batch's {total} rows first")
    offsets = np.cumsum([p.rows for p in batch])[:-1]
    per_output = [np.split(out, offsets) for out in outputs]
    return [list(parts) for parts in zip(*per_output)]

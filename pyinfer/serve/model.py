"""One served model: its sessions (instances), request queue, batching workers and metadata."""
from __future__ import annotations

import asyncio
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor

from .. import InferenceSession, InvalidFeedError
from .batching import BatchQueue, Pending, batch_key, run_batch
from .config import ModelConfig
from .errors import BadRequestError, ConfigError, ModelNotReadyError, RequestTimeoutError
from .metrics import ServeMetrics
from .protocol import InferRequest, datatype_of_onnx, tensor_metadata

log = logging.getLogger("pyinfer.serve")

LOADING, READY, FAILED = "loading", "ready", "failed"


class ServedModel:
    """config.instances sessions taking batches from one queue; infer() is called by the HTTP layer."""

    def __init__(self, config: ModelConfig, metrics: ServeMetrics):
        self.config = config
        self.name = config.name
        self.version = config.version
        self.state = LOADING
        self.load_error: str | None = None
        self.max_rows = 1
        self._metrics = metrics
        self._sessions: list[InferenceSession] = []
        self._queue: BatchQueue | None = None
        self._workers: list[asyncio.Task] = []
        self._executor: ThreadPoolExecutor | None = None
        self._running = 0  # batches inside session.run now
        self._inputs, self._outputs, self._output_names = [], [], []  # set by load()
        self._datatypes, self._output_types = {}, {}

    # --- life cycle ------------------------------------------------------------------------------

    def load(self) -> None:
        """Create the sessions (slow: call it in a thread). Raises pyinfer.Error."""
        cfg = self.config
        first = InferenceSession(cfg.path, num_threads=cfg.threads)
        self._datatypes = {a.name: _datatype(a, "input", self.name) for a in first.get_inputs()}
        self._output_types = {a.name: _datatype(a, "output", self.name) for a in first.get_outputs()}
        self._inputs, self._outputs = first.get_inputs(), first.get_outputs()
        self._output_names = [a.name for a in self._outputs]
        if cfg.max_batch_size > 1:
            if _shares_batch_dimension(self._inputs + self._outputs):
                self.max_rows = cfg.max_batch_size
            else:
                log.warning("model %r: its inputs and outputs do not share a symbolic first dimension; "
                            "dynamic batching is off", self.name)
        self._sessions = [first] + [InferenceSession(cfg.path, num_threads=cfg.threads)
                                    for _ in range(cfg.instances - 1)]

    async def start(self) -> None:
        """Start one worker per session (after load())."""
        self._queue = BatchQueue(self.max_rows, self.config.max_queue_delay_ms / 1000, self.config.max_queue_size)
        self._executor = ThreadPoolExecutor(len(self._sessions), thread_name_prefix=f"pyinfer-{self.name}")
        self._workers = [asyncio.create_task(self._work(s)) for s in self._sessions]
        self.state = READY

    async def stop(self, timeout_s: float) -> None:
        """Let queued and running requests finish (up to timeout_s), then stop the workers."""
        deadline = time.monotonic() + timeout_s
        queue = self._queue
        while queue is not None and (len(queue) or queue.gathering or self._running) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self._queue is not None:
            self._queue.drop_all(ModelNotReadyError(f"model {self.name!r}: the server is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    # --- requests --------------------------------------------------------------------------------

    def metadata(self) -> dict:
        return {
            "name": self.name, "versions": [self.version], "platform": "onnx",
            "inputs": [tensor_metadata(a.name, self._datatypes[a.name], a.shape) for a in self._inputs],
            "outputs": [tensor_metadata(a.name, self._output_types[a.name], a.shape) for a in self._outputs],
        }

    def require_ready(self) -> None:
        if self.state != READY:
            raise ModelNotReadyError(f"model {self.name!r} is not ready ({self.load_error or self.state})")

    async def infer(self, request: InferRequest) -> list[tuple]:
        """The outputs the request asks for, as (name, array, binary) tuples."""
        self.require_ready()
        wanted = self._wanted_outputs(request)
        self._check_inputs(request)
        found = batch_key(request.inputs) if self.max_rows > 1 else None
        key, rows = found if found is not None else (object(), 1)  # object(): a key no other request has
        future = asyncio.get_running_loop().create_future()
        self._queue.put(Pending(request.inputs, rows, key, future))
        self._metrics.queue_depth.labels(self.name).set(len(self._queue))
        timeout = min(self.config.timeout_s, request.timeout_s or math.inf)
        try:
            outputs = await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise RequestTimeoutError(f"model {self.name!r}: no answer within {timeout:g} s") from None
        by_name = dict(zip(self._output_names, outputs))
        return [(name, by_name[name], binary) for name, binary in wanted]

    def _wanted_outputs(self, request: InferRequest) -> list[tuple[str, bool]]:
        if request.outputs is None:
            return [(name, request.binary_outputs) for name in self._output_names]
        for out in request.outputs:
            if out.name not in self._output_types:
                raise BadRequestError(f"model {self.name!r} has no output {out.name!r}; "
                                      f"its outputs are {self._output_names}")
        return [(out.name, out.binary) for out in request.outputs]

    def _check_inputs(self, request: InferRequest) -> None:
        for name, datatype in request.datatypes.items():
            want = self._datatypes.get(name)
            if want is not None and want != datatype:
                raise BadRequestError(f"input {name!r}: model {self.name!r} expects datatype {want}, got {datatype}")
        try:
            self._sessions[0].check_feeds(request.inputs)
        except InvalidFeedError as e:
            raise BadRequestError(str(e)) from None

    # --- workers ---------------------------------------------------------------------------------

    async def _work(self, session: InferenceSession) -> None:
        loop = asyncio.get_running_loop()
        name = self.name
        while True:
            batch = await self._queue.take()
            self._metrics.queue_depth.labels(name).set(len(self._queue))
            started = time.monotonic()
            for item in batch:
                self._metrics.queue_time.labels(name).observe(started - item.enqueued)
            self._running += 1
            try:
                results = await loop.run_in_executor(self._executor, self._run, session, batch)
            except asyncio.CancelledError:  # stop() gave up waiting: answer rather than leave clients hanging
                stopping = ModelNotReadyError(f"model {name!r}: the server stopped before this request ran")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(stopping)
                raise
            finally:
                self._running -= 1
            for item, result in zip(batch, results):
                if item.future.done():  # the client gave up
                    continue
                if isinstance(result, BaseException):
                    item.future.set_exception(result)
                else:
                    item.future.set_result(result)

    def _run(self, session: InferenceSession, batch: list[Pending]) -> list:
        """Outputs (or the exception) per request. A failed batch is rerun one request at a time, so a
        request that breaks the model fails alone."""
        started = time.perf_counter()
        try:
            results = run_batch(session, batch)
        except Exception as e:  # noqa: BLE001 (handed to the request's future)
            results = [e] if len(batch) == 1 else [self._run_alone(session, item) for item in batch]
        self._metrics.compute_time.labels(self.name).observe(time.perf_counter() - started)
        self._metrics.batch_size.labels(self.name).observe(sum(item.rows for item in batch))
        return results

    @staticmethod
    def _run_alone(session: InferenceSession, item: Pending):
        try:
            return session.run(None, item.feeds)
        except Exception as e:  # noqa: BLE001
            return e


def _datatype(arg, kind: str, model: str) -> str:
    datatype = datatype_of_onnx(arg.elem_type) if arg.type.startswith("tensor") else None
    if datatype is None:
        raise ConfigError(f"model {model!r}: {kind} {arg.name!r} is a {arg.type}, which the inference protocol "
                          f"cannot carry")
    return datatype


def _shares_batch_dimension(args) -> bool:
    """Whether every input and output has the same symbolic first dimension (the batch)."""
    firsts = {a.shape[0] if a.shape else None for a in args}
    return len(firsts) == 1 and isinstance(next(iter(firsts)), str)


"""The ASGI application (Starlette): the Open Inference Protocol's REST endpoints and /metrics.

    GET  /v2/health/live                 200 while the process serves
    GET  /v2/health/ready                200 once every model is loaded, 503 before and while draining
    GET  /v2                             server metadata
    GET  /v2/models/{name}[/versions/v]  model metadata (inputs, outputs: datatype, shape with -1)
    GET  /v2/models/{name}[/versions/v]/ready
    POST /v2/models/{name}[/versions/v]/infer
    GET  /metrics                        Prometheus text format

Models load in the background once the app starts, so the server is live (not ready) meanwhile.
Errors are answered as {"error": message} with the status of the ServeError, 400 for a feed the
model refuses, 500 for a pyinfer.Error raised inside the model.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from dataclasses import dataclass
from typing import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import Error, InvalidFeedError, __version__
from .body import read_body
from .config import ModelConfig
from .errors import ModelNotFoundError, ServeError
from .metrics import ServeMetrics
from .model import FAILED, READY, ServedModel
from .protocol import HEADER_LENGTH, encode_infer_response, parse_infer_request

log = logging.getLogger("pyinfer.serve")


@dataclass
class ServerSettings:
    """max_body_bytes: the largest request body (compressed or not); larger ones get 413.
    stop_timeout_s: at shutdown, how long queued requests may still take."""

    max_body_bytes: int = 64 * 1024 * 1024
    stop_timeout_s: float = 30.0


class ServerState:
    """The served models and whether the server takes traffic (app.state.server)."""

    def __init__(self, configs: list[ModelConfig], settings: ServerSettings,
                 on_load_error: Callable[[str, Exception], None] | None):
        names = [c.name for c in configs]
        if len(set(names)) != len(names):
            raise ServeError(f"model names must be unique, got {names}")
        self.settings = settings
        self.metrics = ServeMetrics()
        self.models = {c.name: ServedModel(c, self.metrics) for c in configs}
        self.draining = False
        self._on_load_error = on_load_error

    @property
    def ready(self) -> bool:
        return not self.draining and all(m.state == READY for m in self.models.values())

    def model(self, name: str, version: str | None) -> ServedModel:
        model = self.models.get(name)
        if model is None:
            raise ModelNotFoundError(f"unknown model {name!r}; this server has {sorted(self.models)}")
        if version not in (None, "", model.version):
            raise ModelNotFoundError(f"model {name!r} has no version {version!r}; it serves version {model.version!r}")
        return model

    async def load_models(self) -> None:
        loop = asyncio.get_running_loop()
        for model in self.models.values():  # one at a time: loading is CPU-bound
            started = time.monotonic()
            try:
                await loop.run_in_executor(None, model.load)
            except Error as e:
                model.state, model.load_error = FAILED, str(e)
                log.error("model %r failed to load: %s", model.name, e)
                if self._on_load_error is not None:
                    self._on_load_error(model.name, e)
                continue
            await model.start()
            log.info("model %r version %s ready in %.1f s (%d instance(s), max batch %d rows)", model.name,
                     model.version, time.monotonic() - started, model.config.instances, model.max_rows)

    async def stop(self) -> None:
        self.draining = True
        await asyncio.gather(*(m.stop(self.settings.stop_timeout_s) for m in self.models.values()))


def create_app(configs: list[ModelConfig], settings: ServerSettings | None = None,
               on_load_error: Callable[[str, Exception], None] | None = None) -> Starlette:
    """The server app for these models. on_load_error(name, error) is called when a model fails to load."""
    state = ServerState(configs, settings or ServerSettings(), on_load_error)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        loading = asyncio.create_task(state.load_models())
        try:
            yield
        finally:
            if not loading.done():
                loading.cancel()
            await asyncio.gather(loading, return_exceptions=True)
            await state.stop()

    routes = [
        Route("/v2/health/live", _endpoint(lambda r: JSONResponse({"live": True}))),
        Route("/v2/health/ready", _endpoint(lambda r: _readiness({"ready": state.ready}, state.ready))),
        Route("/v2", _endpoint(lambda r: JSONResponse({"name": "pyinfer", "version": __version__,
                                                       "extensions": ["binary_tensor_data"]}))),
        Route("/metrics", _endpoint(lambda r: Response(state.metrics.render(),
                                                       headers={"Content-Type": state.metrics.content_type}))),
    ]
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        routes += [
            Route(prefix, _endpoint(lambda r: JSONResponse(_ready_model(state, r).metadata()))),
            Route(prefix + "/ready", _endpoint(lambda r: _model_readiness(state, r))),
            Route(prefix + "/infer", functools.partial(_infer, state), methods=["POST"]),
        ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error})
    app.state.server = state
    return app


def _readiness(body: dict, ready: bool) -> JSONResponse:
    return JSONResponse(body, status_code=200 if ready else 503)


def _ready_model(state: ServerState, request: Request) -> ServedModel:
    model = state.model(request.path_params["name"], request.path_params.get("version"))
    model.require_ready()
    return model


def _model_readiness(state: ServerState, request: Request) -> JSONResponse:
    model = state.model(request.path_params["name"], request.path_params.get("version"))
    ready = model.state == READY and not state.draining
    return _readiness({"name": model.name, "ready": ready}, ready)


def _endpoint(answer):
    """An async endpoint from a quick function of the request (Starlette would run a plain function in a
    thread), with exceptions answered as JSON errors."""
    async def endpoint(request: Request):
        try:
            return answer(request)
        except Exception as e:  # noqa: BLE001
            return error_response(e)
    return endpoint


async def _infer(state: ServerState, request: Request) -> Response:
    started = time.monotonic()
    metrics = state.metrics
    name = request.path_params["name"]
    known = name in state.models  # only served names become label values
    if known:
        metrics.requests.labels(name).inc()
    try:
        model = _ready_model(state, request)  # before reading a body it could not use
        body = await read_body(request, state.settings.max_body_bytes)
        infer_request = parse_infer_request(body, request.headers.get(HEADER_LENGTH))
        outputs = await model.infer(infer_request)
        content, headers = encode_infer_response(model.name, model.version, infer_request.id, outputs)
        response = Response(content, headers=headers)
    except Exception as e:  # noqa: BLE001 (every failure is answered; the server keeps serving)
        response = error_response(e)
        metrics.failures.labels(name if known else "", str(response.status_code)).inc()
    if known:
        metrics.request_time.labels(name).observe(time.monotonic() - started)
    return response


def error_response(error: Exception) -> JSONResponse:
    """The JSON error answer for an exception: its status, message and headers."""
    if isinstance(error, ServeError):
        status, headers = error.status, error.headers
    elif isinstance(error, InvalidFeedError):
        status, headers = 400, {}
    elif isinstance(error, Error):
        status, headers = 500, {}
    else:
        log.exception("internal error", exc_info=error)
        return JSONResponse({"error": f"internal error: {type(error).__name__}: {error}"}, status_code=500)
    return JSONResponse({"error": str(error)}, status_code=status, headers=headers)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    # Unknown paths and methods answer in the protocol's error format too.
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

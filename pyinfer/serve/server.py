"""Running the app under uvicorn, with a drain on SIGTERM / SIGINT.

On the signal the server turns not ready at once (GET /v2/health/ready answers 503) but keeps
serving for drain_s seconds, so that a load balancer polling readiness stops sending it traffic;
then uvicorn's graceful shutdown stops accepting connections, lets in-flight requests finish (up
to graceful_timeout_s) and the app's lifespan stops the models. A second SIGINT forces the exit.
"""
from __future__ import annotations

import logging
import time

import uvicorn

log = logging.getLogger("pyinfer.serve")


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, state, drain_s: float):
        super().__init__(config)
        self._state = state  # the app's ServerState
        self._drain_s = drain_s
        self._drain_until = None

    async def on_tick(self, counter: int) -> bool:
        stop = await super().on_tick(counter)
        if not (stop and self.should_exit) or self.force_exit:
            return stop
        if self._drain_until is None:
            self._state.draining = True
            self._drain_until = time.monotonic() + self._drain_s
            log.info("draining: not ready; stopping in %.1f s, then finishing in-flight requests", self._drain_s)
        return time.monotonic() >= self._drain_until


def make_server(app, host: str, port: int, drain_s: float = 0.0, graceful_timeout_s: float = 30.0,
                log_level: str = "info", access_log: bool = False) -> DrainingServer:
    """A uvicorn server for an app of create_app(); server.run() serves until a signal."""
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=access_log,
                            timeout_graceful_shutdown=graceful_timeout_s, lifespan="on")
    return DrainingServer(config, app.state.server, drain_s)

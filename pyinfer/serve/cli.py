"""`pyinfer serve`: serve one model file or a model repository over the Open Inference Protocol."""
from __future__ import annotations

import logging
import os
import sys

# Settings that configure each model; in repository mode they are defaults that config.json overrides.
_MODEL_FLAGS = ("threads", "instances", "max_batch_size", "max_queue_delay_ms", "max_queue_size", "timeout_s")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "serve", help="serve models over HTTP (KServe v2 / Open Inference Protocol; needs pyinfer[serve])",
        description="Serve ONNX models over the Open Inference Protocol (KServe v2) REST API, with dynamic "
                    "batching and Prometheus metrics. See docs/SERVING.md.")
    p.add_argument("model", nargs="?", help="an .onnx file to serve (or use --model-repository)")
    p.add_argument("--model-repository", metavar="DIR", help="serve every DIR/NAME/model.onnx (see docs/SERVING.md)")
    p.add_argument("--name", help="the model's name in URLs (default: the file name without .onnx)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--threads", type=int, help="kernel threads per instance (default: one per physical core)")
    p.add_argument("--instances", type=int, help="sessions per model running requests at once (default 1)")
    p.add_argument("--max-batch-size", type=int,
                   help="rows gathered from queued requests into one run (default 1: no dynamic batching)")
    p.add_argument("--max-queue-delay-ms", type=float,
                   help="how long a batch's first request waits for more (default 0: take what is queued)")
    p.add_argument("--max-queue-size", type=int, help="queued requests per model before 503 (default 256)")
    p.add_argument("--timeout-s", type=float, help="per-request timeout, answered with 504 (default 60)")
    p.add_argument("--max-body-mb", type=float, default=64.0, help="largest request body (default 64 MiB)")
    p.add_argument("--drain-s", type=float, default=0.0,
                   help="after SIGTERM, keep serving this long while not ready (default 0)")
    p.add_argument("--graceful-timeout-s", type=float, default=30.0,
                   help="after draining, how long in-flight requests may take (default 30)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--access-log", action="store_true", help="log every request")


def main(args) -> int:
    try:
        import prometheus_client  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        print(f"pyinfer serve needs the serve extra ({e.name} is missing): pip install 'pyinfer[serve]'",
              file=sys.stderr)
        return 2
    from .app import ServerSettings, create_app
    from .errors import ServeError
    from .server import make_server

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    failed = []
    server = None

    def on_load_error(name, error):  # models load once the server runs: stop it
        failed.append(name)
        server.should_exit = True

    try:
        settings = ServerSettings(max_body_bytes=int(args.max_body_mb * 1024 * 1024),
                                  stop_timeout_s=args.graceful_timeout_s)
        app = create_app(_model_configs(args), settings, on_load_error=on_load_error)
    except ServeError as e:
        print(f"pyinfer serve: error: {e}", file=sys.stderr)
        return 2
    server = make_server(app, args.host, args.port, drain_s=args.drain_s, graceful_timeout_s=args.graceful_timeout_s,
                         log_level=args.log_level, access_log=args.access_log)
    server.run()
    if failed:
        print(f"pyinfer serve: error: model(s) {failed} failed to load (see the log above)", file=sys.stderr)
        return 1
    return 0


def _model_configs(args) -> list:
    from .config import ModelConfig
    from .errors import ConfigError
    from .repository import load_repository

    given = {flag: getattr(args, flag) for flag in _MODEL_FLAGS if getattr(args, flag) is not None}
    if (args.model is None) == (args.model_repository is None):
        raise ConfigError("give either a model file or --model-repository DIR")
    if args.model_repository is not None:
        if args.name:
            raise ConfigError("--name names a single model; a repository's models are named by their folders")
        return load_repository(args.model_repository, defaults=given)
    name = args.name or os.path.splitext(os.path.basename(args.model))[0]
    return [ModelConfig(name=name, path=args.model, **given)]

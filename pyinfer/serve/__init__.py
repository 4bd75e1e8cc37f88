"""pyinfer serve: ONNX models behind the Open Inference Protocol (KServe v2) REST API.

Needs the serve extra (pip install 'pyinfer[serve]': Starlette, uvicorn, prometheus-client);
`import pyinfer` never imports this package, and importing it loads Starlette only when one of
the names below is used (so `pyinfer --help` works without the extra). See docs/SERVING.md.

    from pyinfer.serve import ModelConfig, create_app
    app = create_app([ModelConfig(name="resnet18", path="resnet18.onnx", max_batch_size=8)])
    # then: uvicorn.run(app), or `pyinfer serve resnet18.onnx --max-batch-size 8`
"""
import importlib

_EXPORTS = {"create_app": "app", "ServerSettings": "app", "ModelConfig": "config", "ServeError": "errors",
            "load_repository": "repository"}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)

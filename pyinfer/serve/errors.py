"""Errors of the inference server, each with the HTTP status it answers with.

They derive from pyinfer.Error like every error a user can cause; app.py turns them into
`{"error": message}` responses (the Open Inference Protocol's error body).
"""
from __future__ import annotations

from ..errors import Error


class ServeError(Error):
    """Base class: a request or a configuration the server cannot serve."""

    status = 500
    headers: dict = {}


class BadRequestError(ServeError, ValueError):
    """The request is malformed or does not match the model (name, datatype, shape, data)."""

    status = 400


class ModelNotFoundError(ServeError, LookupError):
    """No model (or no such version of it) is served under that name."""

    status = 404


class PayloadTooLargeError(ServeError):
    """The request body is larger than the server's limit (--max-body-mb)."""

    status = 413


class UnsupportedEncodingError(ServeError):
    """The request body has a Content-Encoding other than gzip, deflate or identity."""

    status = 415


class ModelNotReadyError(ServeError):
    """The model is still loading, failed to load, or the server is shutting down."""

    status = 503


class QueueFullError(ServeError):
    """The model's request queue is full: retry later (the response carries Retry-After)."""

    status = 503
    headers = {"Retry-After": "1"}


class RequestTimeoutError(ServeError, TimeoutError):
    """The request was not answered within its timeout."""

    status = 504


class ConfigError(ServeError):
    """A model repository or model configuration is invalid."""

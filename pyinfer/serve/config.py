"""How one model is served: its file, sessions, batching, queue and timeout."""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass

from .errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ModelConfig:
    """name / version: where clients find the model (/v2/models/{name}/versions/{version}).
    threads: kernel threads per session (None: one per physical core).
    instances: sessions of the model that run requests at the same time.
    max_batch_size: most rows one run gathers from queued requests (1: no dynamic batching; only
        for models whose inputs and outputs share a symbolic first dimension).
    max_queue_delay_ms: how long the first request of a batch waits for more.
    max_queue_size: requests waiting beyond this are refused with 503 + Retry-After.
    timeout_s: a request not answered by then gets 504.
    """

    name: str
    path: str
    version: str = "1"
    threads: int | None = None
    instances: int = 1
    max_batch_size: int = 1
    max_queue_delay_ms: float = 0.0
    max_queue_size: int = 256
    timeout_s: float = 60.0

    def __post_init__(self):
        where = f"model {self.name!r}"
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigError(f"model name {self.name!r} must be letters, digits, '_', '.' or '-' "
                              f"(not starting with a punctuation mark)")
        if not isinstance(self.version, str) or not _NAME.match(self.version):
            raise ConfigError(f"{where}: version {self.version!r} must be letters, digits, '_', '.' or '-'")
        if not os.path.isfile(self.path):
            raise ConfigError(f"{where}: model file not found: {self.path!r}")
        if self.threads is not None:
            _check_int(where, "threads", self.threads, 1)
        _check_int(where, "instances", self.instances, 1)
        _check_int(where, "max_batch_size", self.max_batch_size, 1)
        _check_int(where, "max_queue_size", self.max_queue_size, 1)
        _check_number(where, "max_queue_delay_ms", self.max_queue_delay_ms, allow_zero=True)
        _check_number(where, "timeout_s", self.timeout_s, allow_zero=False)

    @classmethod
    def from_dict(cls, name: str, path: str, settings: dict, where: str) -> "ModelConfig":
        """A config from a JSON object's settings (the field names above, less name and path)."""
        known = {f.name for f in dataclasses.fields(cls)} - {"name", "path"}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown setting(s) {unknown}; known: {sorted(known)}")
        return cls(name=name, path=path, **settings)


def _check_int(where: str, key: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}: {key} must be an integer >= {minimum}, got {value!r}")


def _check_number(where: str, key: str, value, allow_zero: bool) -> None:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ConfigError(f"{where}: {key} must be a number {'>= 0' if allow_zero else '> 0'}, got {value!r}")

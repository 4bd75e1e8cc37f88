"""Prometheus metrics of the server (prometheus-client), in a registry of their own per app."""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Seconds: from well under a millisecond (tiny models, an idle queue) to the default timeout.
_TIME_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServeMetrics:
    """What operators watch: traffic and failures per model, where the time goes, batch sizes."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("pyinfer_requests", "Inference requests received", ["model"], registry=r)
        self.failures = Counter("pyinfer_request_failures", "Inference requests answered with an error",
                                ["model", "status"], registry=r)
        self.request_time = Histogram("pyinfer_request_seconds", "Time from a request's arrival to its answer",
                                      ["model"], buckets=_TIME_BUCKETS, registry=r)
        self.queue_time = Histogram("pyinfer_queue_seconds", "Time a request waited before its batch ran",
                                    ["model"], buckets=_TIME_BUCKETS, registry=r)
        self.compute_time = Histogram("pyinfer_compute_seconds", "Time of one session run (a whole batch)",
                                      ["model"], buckets=_TIME_BUCKETS, registry=r)
        self.batch_size = Histogram("pyinfer_batch_size", "Rows (first-dimension entries) per session run",
                                    ["model"], buckets=_BATCH_BUCKETS, registry=r)
        self.queue_depth = Gauge("pyinfer_queue_depth", "Requests waiting for an instance", ["model"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)

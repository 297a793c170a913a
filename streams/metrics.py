"""Prometheus metrics and the health endpoints of a worker (DESIGN.md, "Observability").

``serve_metrics(port)`` starts one small HTTP server in a background thread:
``/metrics`` (Prometheus text format), ``/healthz`` and ``/readyz``. Both health endpoints
answer from ``HEALTH`` (``worker_health``): ``/readyz`` is 200 while the broker answers the
worker's probe, swerve's topics exist and partitions are assigned (``READY``, set by the
rebalance signals); ``/healthz`` is 503 when the consumer is stalled (lag above 0 and no
input processed for ``SWERVE_WORKER_STALL_TIMEOUT_S``). The body says why.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterable, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from swerve.streams.worker_health import Partition, PartitionPosition, Verdict, WorkerHealth

EVENTS = Counter("swerve_events_total", "Events processed, by stage and outcome.", ["stage", "outcome"])
DLQ = Counter("swerve_dlq_total", "Messages sent to the dead-letter queue, by stage and error class.", ["stage", "error_class"])
STAGE_SECONDS = Histogram(
    "swerve_stage_seconds",
    "Wall time of one stage call (a detect micro-batch or one correction).",
    ["stage"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120),
)
OUTCOMES = Counter(
    "swerve_outcomes_total",
    "Final outcomes published to delivery, by stage, outcome and reason class (none, policy, infrastructure, internal, invalid_input).",
    ["stage", "outcome", "reason_class"],
)
TRANSIENT_RETRIES = Counter("swerve_transient_retries_total", "Retries of a step after a transient dependency failure.", ["step"])
CORRECTION_ATTEMPTS = Histogram("swerve_correction_attempts", "Attempts per corrected request.", buckets=(1, 2, 3, 4, 5, 10))
CONSUMER_LAG = Gauge(
    "swerve_consumer_lag",
    "Messages behind the partition's high watermark: when an input is read, and at every broker probe from the committed offset.",
    ["topic", "partition"],
)

READY = threading.Event()
# Partitions with a swerve_consumer_lag series, so a revoke drops only series that exist.
_LAG_SERIES: set[Partition] = set()
# The worker's readiness and liveness; run_worker sets its stall timeout from the settings.
HEALTH = WorkerHealth()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
        if self.path == "/metrics":
            self._reply(200, generate_latest(), CONTENT_TYPE_LATEST)
        elif self.path == "/healthz":
            self._verdict(HEALTH.liveness())
        elif self.path == "/readyz":
            self._verdict(HEALTH.readiness(assigned=READY.is_set()))
        else:
            self._reply(404, b"not found\n", "text/plain")

    def _verdict(self, verdict: Verdict) -> None:
        self._reply(200 if verdict.ok else 503, f"{verdict.reason}\n".encode(), "text/plain; charset=utf-8")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence per-request logs
        return


def serve_metrics(port: int, address: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` on ``address:port`` from a daemon thread."""
    server = ThreadingHTTPServer((address, port), _Handler)
    threading.Thread(target=server.serve_forever, name="swerve-metrics", daemon=True).start()
    return server


def observe_lag(topic: str, partition: int, offset: int, highwater: int | None) -> None:
    """Record how far behind the consumer is after reading ``offset``; taking it is progress."""
    HEALTH.progress()
    if highwater is not None:
        _LAG_SERIES.add((topic, partition))
        CONSUMER_LAG.labels(topic=topic, partition=str(partition)).set(max(highwater - offset - 1, 0))


def observe_probed_lag(positions: Mapping[Partition, PartitionPosition]) -> None:
    """Record the lag the broker probe computed from the committed offsets (moves even when nothing is read)."""
    for (topic, partition), position in positions.items():
        _LAG_SERIES.add((topic, partition))
        CONSUMER_LAG.labels(topic=topic, partition=str(partition)).set(position.lag)


def clear_lag(partitions: Iterable[Partition]) -> None:
    """Drop the lag series of partitions this worker no longer owns (revoked in a rebalance)."""
    for topic, partition in set(partitions) & _LAG_SERIES:
        _LAG_SERIES.discard((topic, partition))
        CONSUMER_LAG.remove(topic, str(partition))

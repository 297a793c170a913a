"""Prometheus metrics and the health endpoints of a worker (DESIGN.md, "Observability").

``serve_metrics(port)`` starts one small HTTP server in a background thread:
``/metrics`` (Prometheus text format), ``/healthz`` (the process is alive) and ``/readyz``
(200 while the worker owns assigned partitions, 503 before the first assignment and
during a rebalance).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

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
CONSUMER_LAG = Gauge("swerve_consumer_lag", "Messages behind the partition's high watermark, as last seen.", ["topic", "partition"])

READY = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
        if self.path == "/metrics":
            self._reply(200, generate_latest(), CONTENT_TYPE_LATEST)
        elif self.path == "/healthz":
            self._reply(200, b"ok\n", "text/plain")
        elif self.path == "/readyz":
            ready = READY.is_set()
            self._reply(200 if ready else 503, b"ready\n" if ready else b"starting\n", "text/plain")
        else:
            self._reply(404, b"not found\n", "text/plain")

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
    """Record how far behind the consumer is after reading ``offset``."""
    if highwater is not None:
        CONSUMER_LAG.labels(topic=topic, partition=str(partition)).set(max(highwater - offset - 1, 0))

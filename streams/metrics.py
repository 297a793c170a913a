"""Prometheus metrics of the workers (DESIGN.md, "Observability and operations").

Counters and histograms are module-level, as prometheus_client expects; ``serve_metrics``
exposes them on ``/metrics`` when a port is configured (``SWERVE_METRICS_PORT``).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

EVENTS = Counter("swerve_events_total", "Events processed, by stage and outcome.", ["stage", "outcome"])
DLQ = Counter("swerve_dlq_total", "Messages sent to the dead-letter queue, by stage and error class.", ["stage", "error_class"])
STAGE_SECONDS = Histogram(
    "swerve_stage_seconds",
    "Wall time of one stage call (a detect micro-batch or one correction).",
    ["stage"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120),
)
CORRECTION_ATTEMPTS = Histogram("swerve_correction_attempts", "Attempts per corrected request.", buckets=(1, 2, 3, 4, 5, 10))


def serve_metrics(port: int, address: str = "0.0.0.0") -> None:
    """Expose ``/metrics`` on ``address:port`` from a background thread."""
    start_http_server(port, addr=address)

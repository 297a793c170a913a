"""Prometheus metrics and the health endpoints of a worker (DESIGN.md, "Observability").

``serve_metrics(port)`` starts one small HTTP server in a background thread:
``/metrics`` (Prometheus text format), ``/healthz`` and ``/readyz``. Both health endpoints
answer from ``HEALTH`` (``worker_health``): ``/readyz`` is 200 while the broker answers the
worker's probe, swerve's topics exist and partitions are assigned (``READY``, set by the
rebalance signals); ``/healthz`` is 503 when the consumer is stalled (lag above 0 and no
input processed for ``SWERVE_WORKER_STALL_TIMEOUT_S``). The body says why.

Names follow Prometheus' conventions: counters end in ``_total``, durations are ``_seconds``;
``swerve_correction_attempts`` (a count per request) and ``swerve_consumer_lag`` (messages)
have no unit to name.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import PackageNotFoundError, version
from typing import Iterable, Iterator, Literal, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from swerve.errors import ConfigurationError, StoreUnavailableError
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
DETECTOR_SECONDS = Histogram(
    "swerve_detector_seconds",
    "Wall time of one detector's call on one batch (its retries one sample at a time included).",
    ["detector"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
DETECTOR_ERRORS = Counter(
    "swerve_detector_errors_total", "Samples a detector failed on; each got an error score (failed closed).", ["detector"]
)
STORE_FAILURES = Counter(
    "swerve_store_failures_total",
    "Image store reads (get) and writes (put) that failed: the store did not answer, or refused as configured.",
    ["operation"],
)
BUILD_INFO = Gauge(
    "swerve_build_info", "Always 1: the running swerve version, policy version and index version(s).", ["version", "policy_version", "index_version"]
)
for _operation in ("get", "put"):  # both series exist from the start, at 0
    STORE_FAILURES.labels(operation=_operation)

READY = threading.Event()
# Partitions with a swerve_consumer_lag series, so a revoke drops only series that exist.
_LAG_SERIES: set[Partition] = set()
# Partitions a rebalance took away and has not given back: no lag is recorded for them, so a
# probe or a batch that started before the revoke cannot bring their series back.
_REVOKED: set[Partition] = set()
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
    if highwater is not None and (topic, partition) not in _REVOKED:
        _LAG_SERIES.add((topic, partition))
        CONSUMER_LAG.labels(topic=topic, partition=str(partition)).set(max(highwater - offset - 1, 0))


def observe_probed_lag(positions: Mapping[Partition, PartitionPosition]) -> None:
    """Record the lag the broker probe computed from the committed offsets (moves even when nothing is read)."""
    for (topic, partition), position in positions.items():
        if (topic, partition) in _REVOKED:  # the probe began before a rebalance took it away
            continue
        _LAG_SERIES.add((topic, partition))
        CONSUMER_LAG.labels(topic=topic, partition=str(partition)).set(position.lag)


def clear_lag(partitions: Iterable[Partition]) -> None:
    """Drop the lag series of partitions this worker no longer owns (revoked in a rebalance), and keep them dropped."""
    revoked = set(partitions)
    _REVOKED.update(revoked)
    for topic, partition in revoked & _LAG_SERIES:
        _LAG_SERIES.discard((topic, partition))
        CONSUMER_LAG.remove(topic, str(partition))


def resume_lag(partitions: Iterable[Partition]) -> None:
    """Record lag again for partitions a rebalance assigned (back) to this worker."""
    _REVOKED.difference_update(partitions)


@contextmanager
def counting_store_failures(operation: Literal["get", "put"]) -> Iterator[None]:
    """Count a failed image store read or write in ``swerve_store_failures_total``, and let the error go on.

    A failure is the store not answering (``StoreUnavailableError``: timeout, I/O, its root
    gone) or refusing as configured (``ConfigurationError``: permissions, a missing backend).
    A reference that names no object is bad input, not a store failure.
    """
    try:
        yield
    except (StoreUnavailableError, ConfigurationError):
        STORE_FAILURES.labels(operation=operation).inc()
        raise


def set_build_info(policy_version: str, index_versions: Iterable[str]) -> None:
    """Set ``swerve_build_info`` (one series, value 1) for this worker's swerve, policy and index versions."""
    try:
        swerve_version = version("swerve")
    except PackageNotFoundError:  # running from a source tree that was never installed
        swerve_version = "unknown"
    BUILD_INFO.clear()
    BUILD_INFO.labels(version=swerve_version, policy_version=policy_version, index_version=",".join(index_versions) or "none").set(1)

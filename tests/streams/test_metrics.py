"""The worker's HTTP endpoints: metrics for Prometheus, liveness and readiness for Kubernetes."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Iterator

import pytest

from swerve.streams import metrics
from swerve.streams.embedded_broker import free_port
from swerve.streams.metrics import (
    EVENTS,
    READY,
    clear_lag,
    observe_lag,
    observe_probed_lag,
    serve_metrics,
)
from swerve.streams.worker_health import PartitionPosition, WorkerHealth


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def base_url(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Iterator[str]:
    """A metrics server answering from a fresh WorkerHealth on a fake clock."""
    monkeypatch.setattr(metrics, "HEALTH", WorkerHealth(stall_timeout_s=300, clock=clock))
    port = free_port()
    server = serve_metrics(port, address="127.0.0.1")
    READY.clear()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        READY.clear()


def test_given_the_server_then_metrics_health_and_readiness_answer(base_url: str) -> None:
    EVENTS.labels(stage="detect", outcome="pass").inc()
    observe_lag("swerve.generations", 0, offset=4, highwater=10)
    status, body = get(f"{base_url}/metrics")
    assert status == 200 and 'swerve_events_total{outcome="pass",stage="detect"}' in body
    assert 'swerve_consumer_lag{partition="0",topic="swerve.generations"} 5.0' in body
    assert get(f"{base_url}/healthz")[0] == 200
    assert get(f"{base_url}/readyz") == (503, "waiting for the first broker probe\n")
    metrics.HEALTH.broker_answered([], {})
    assert get(f"{base_url}/readyz")[0] == 503, "no partitions assigned yet"
    READY.set()
    assert get(f"{base_url}/readyz") == (200, "ready\n")
    assert get(f"{base_url}/nope")[0] == 404


def test_given_a_ready_worker_when_the_broker_is_unreachable_then_readyz_is_503_with_the_reason(base_url: str) -> None:
    metrics.HEALTH.broker_answered([], {})
    READY.set()
    metrics.HEALTH.broker_unreachable("127.0.0.1:9092: connection refused")
    status, body = get(f"{base_url}/readyz")
    assert status == 503 and "broker unreachable" in body and "connection refused" in body
    assert get(f"{base_url}/healthz")[0] == 200, "an outage is not a stall"


def test_given_lag_and_no_progress_past_the_timeout_then_healthz_is_503(base_url: str, clock: FakeClock) -> None:
    waiting = {("swerve.flagged", 0): PartitionPosition(committed=3, end=5)}
    metrics.HEALTH.broker_answered([], waiting)
    clock.now = 301
    metrics.HEALTH.broker_answered([], waiting)
    status, body = get(f"{base_url}/healthz")
    assert status == 503 and "stalled" in body
    # When the agents take an input again (observe_lag is their progress signal), it recovers
    observe_lag("swerve.flagged", 0, offset=3, highwater=5)
    assert get(f"{base_url}/healthz")[0] == 200


def test_given_probed_lag_then_the_gauge_shows_it_and_a_revoke_drops_the_series(base_url: str) -> None:
    observe_probed_lag({("swerve.flagged", 2): PartitionPosition(committed=3, end=11)})
    assert 'swerve_consumer_lag{partition="2",topic="swerve.flagged"} 8.0' in get(f"{base_url}/metrics")[1]
    clear_lag([("swerve.flagged", 2), ("swerve.flagged", 3)])  # 3 never had a series: nothing to drop
    assert 'swerve_consumer_lag{partition="2",topic="swerve.flagged"}' not in get(f"{base_url}/metrics")[1]

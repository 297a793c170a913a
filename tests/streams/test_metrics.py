"""The worker's HTTP endpoints: metrics for Prometheus, liveness and readiness for Kubernetes."""

from __future__ import annotations

import urllib.error
import urllib.request

from swerve.streams.embedded_broker import free_port
from swerve.streams.metrics import EVENTS, READY, observe_lag, serve_metrics


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_given_the_server_then_metrics_health_and_readiness_answer() -> None:
    port = free_port()
    server = serve_metrics(port, address="127.0.0.1")
    try:
        READY.clear()
        EVENTS.labels(stage="detect", outcome="pass").inc()
        observe_lag("swerve.generations", 0, offset=4, highwater=10)
        status, body = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and 'swerve_events_total{outcome="pass",stage="detect"}' in body
        assert 'swerve_consumer_lag{partition="0",topic="swerve.generations"} 5.0' in body
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        assert get(f"http://127.0.0.1:{port}/readyz")[0] == 503
        READY.set()
        assert get(f"http://127.0.0.1:{port}/readyz")[0] == 200
        assert get(f"http://127.0.0.1:{port}/nope")[0] == 404
    finally:
        server.shutdown()
        READY.clear()

"""The worker's HTTP endpoints: metrics for Prometheus, liveness and readiness for Kubernetes."""

from __future__ import annotations

import asyncio
import shutil
import urllib.error
import urllib.request
from collections import namedtuple
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import pytest
from PIL import Image
from prometheus_client import REGISTRY, generate_latest

from swerve.streams import metrics
from swerve.streams.embedded_broker import free_port
from swerve.streams.metrics import (
    EVENTS,
    READY,
    clear_lag,
    observe_lag,
    observe_probed_lag,
    resume_lag,
    serve_metrics,
    set_build_info,
)
from swerve.streams.worker import track_lag_ownership
from swerve.streams.worker_health import PartitionPosition, WorkerHealth

from .builders import tiny_png

TP = namedtuple("TP", "topic partition")  # faust's TopicPartition, as the rebalance signals carry it


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
    resume_lag([("swerve.flagged", 2), ("swerve.flagged", 3)])  # as a later assignment would: other tests may use them


# -- the lag of revoked partitions -----------------------------------------------------------


class Signal:
    """A faust signal's ``connect``, and a way to fire what was connected."""

    def __init__(self) -> None:
        self.receivers: list = []

    def connect(self, receiver) -> None:
        self.receivers.append(receiver)

    def fire(self, app: object, partitions: set) -> None:
        for receiver in self.receivers:
            asyncio.run(receiver(app, partitions))


def lag_series(base_url: str, topic: str, partition: int) -> bool:
    return f'swerve_consumer_lag{{partition="{partition}",topic="{topic}"}}' in get(f"{base_url}/metrics")[1]


def test_given_a_rebalance_when_partitions_are_revoked_then_their_lag_series_go_and_stale_probes_do_not_bring_them_back(
    base_url: str,
) -> None:
    # Given a worker's rebalance signals wired as run_worker wires them, and lag on two partitions
    app = SimpleNamespace(on_partitions_revoked=Signal(), on_partitions_assigned=Signal())
    track_lag_ownership(app)  # type: ignore[arg-type]
    observe_probed_lag({("swerve.generations", 0): PartitionPosition(committed=1, end=4),
                        ("swerve.generations", 1): PartitionPosition(committed=2, end=9)})
    # When a rebalance revokes partition 1
    app.on_partitions_revoked.fire(app, {TP("swerve.generations", 1)})
    # Then its series is gone, partition 0's stays
    assert not lag_series(base_url, "swerve.generations", 1) and lag_series(base_url, "swerve.generations", 0)
    # ... a probe that began before the revoke, or a batch still in hand, does not bring it back
    observe_probed_lag({("swerve.generations", 1): PartitionPosition(committed=2, end=10)})
    observe_lag("swerve.generations", 1, offset=5, highwater=10)
    assert not lag_series(base_url, "swerve.generations", 1)
    # ... until a rebalance assigns it to this worker again
    app.on_partitions_assigned.fire(app, {TP("swerve.generations", 1)})
    observe_lag("swerve.generations", 1, offset=5, highwater=10)
    assert 'swerve_consumer_lag{partition="1",topic="swerve.generations"} 4.0' in get(f"{base_url}/metrics")[1]
    clear_lag([("swerve.generations", 0), ("swerve.generations", 1)])
    resume_lag([("swerve.generations", 0), ("swerve.generations", 1)])


# -- detector, store and build metrics -------------------------------------------------------


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Failing:
    """A detector that fails on every sample, on a batch and alone."""

    name, version = "always-fails", "1"

    def score(self, batch):
        raise RuntimeError("model crashed")


def test_given_a_detector_that_fails_then_its_calls_are_timed_and_each_failed_sample_counted() -> None:
    from swerve.detectors.protocol import Sample
    from swerve.detectors.runner import run_detectors
    from swerve.streams.stage_telemetry import observe_detector_call

    calls, errors = sample("swerve_detector_seconds_count", detector="always-fails"), sample("swerve_detector_errors_total", detector="always-fails")
    batch = [Sample(f"r-{i}", Image.new("RGB", (4, 4)), "0" * 64) for i in range(3)]
    results = run_detectors([Failing()], batch, observe_detector_call)
    assert all(result.failed for [result] in results)
    # One call on the batch (its retries alone included), three samples failed closed
    assert sample("swerve_detector_seconds_count", detector="always-fails") == calls + 1
    assert sample("swerve_detector_errors_total", detector="always-fails") == errors + 3


def test_given_an_image_store_whose_root_is_gone_then_the_failed_read_and_write_are_counted(tmp_path: Path) -> None:
    from swerve.errors import StoreUnavailableError
    from swerve.media import ImageRef, ImageStore, MediaLimits
    from swerve.streams.correct_stage import CorrectStage
    from swerve.streams.envelope import encode
    from swerve.streams.events import GenerationEvent
    from swerve.streams.inputs import decode_generation
    from swerve.streams.judging import Judge
    from swerve.streams.policy import parse_policy

    from .test_stages import RED, blocklist_policy, flagged

    # Given a generation whose image lives in the store by reference, and then the store's root vanishes
    limits = MediaLimits(max_inline_bytes=16)
    store = ImageStore((tmp_path / "images").as_uri())
    ref = ImageRef.from_bytes(tiny_png(), limits=limits, store=store)
    assert ref.uri is not None
    generation = encode(GenerationEvent(id="g", request_id="r", prompt="p", image=ref))
    shutil.rmtree(tmp_path / "images")
    gets, puts = sample("swerve_store_failures_total", operation="get"), sample("swerve_store_failures_total", operation="put")
    # When the detect stage reads it, then the read fails as transient and is counted
    with pytest.raises(StoreUnavailableError):
        decode_generation(generation.value, generation.headers, limits, store)
    assert sample("swerve_store_failures_total", operation="get") == gets + 1
    # When a replacement must be stored there (create_root=False, as in a worker), then so is the write
    text = blocklist_policy()
    stage = CorrectStage(parse_policy(text), Judge(), ImageStore(store.base_uri, create_root=False), limits)
    with pytest.raises(StoreUnavailableError):
        stage.correct(flagged(text), RED.image)
    assert sample("swerve_store_failures_total", operation="put") == puts + 1


def test_given_a_worker_start_then_build_info_is_one_series_with_the_versions() -> None:
    set_build_info("v1+abc", [])
    set_build_info("v2+def", ["idx-1", "idx-2"])
    body = generate_latest(REGISTRY).decode()
    series = [line for line in body.splitlines() if line.startswith("swerve_build_info{")]
    assert len(series) == 1 and series[0].endswith(" 1.0")
    assert 'policy_version="v2+def"' in series[0] and 'index_version="idx-1,idx-2"' in series[0]
    assert 'version="' in series[0] and 'version="unknown"' not in series[0]
    set_build_info("v3", [])
    assert sample("swerve_build_info", version=version("swerve"), policy_version="v3", index_version="none") == 1.0

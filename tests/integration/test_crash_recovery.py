"""Given a worker SIGKILLed mid-run, when it restarts, then every request has exactly one
delivery after dedupe by id, and none is missing (at-least-once + deterministic ids)."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path

import pytest

from swerve.streams.topic_io import collect, publish_events
from swerve.streams.events import DeliveryEvent
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames

from .builders import blocklist_policy, generation
from .conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

EVENTS = 500


def deliveries(settings: Settings) -> list[DeliveryEvent]:
    records = asyncio.run(collect(settings, TopicNames(settings.topic_prefix).delivery, idle_timeout_s=0.5))
    return [record.decoded(settings.topic_prefix) for record in records]  # type: ignore[misc]


def test_sigkill_mid_run_loses_nothing_and_dedupes_to_one_outcome(settings: Settings, start_worker, tmp_path: Path) -> None:
    # Given 500 generations, every tenth of which is on the takedown list (so it is corrected)
    events = [generation(i, "crash") for i in range(EVENTS)]
    flagged = [e.image.sha256 for e in events[::10]]
    policy = blocklist_policy(tmp_path / "policy.yaml", flagged)
    worker = start_worker(SWERVE_POLICY_PATH=str(policy), SWERVE_WORKER_DETECT_BATCH_SIZE="8")
    asyncio.run(publish_events(settings, "generations", events[: EVENTS // 2]))

    # When the worker is SIGKILLed while it works through the second half
    assert wait_until(lambda: len(deliveries(settings)) >= 60, timeout_s=90), worker.log_tail()
    asyncio.run(publish_events(settings, "generations", events[EVENTS // 2 :]))
    time.sleep(0.3)
    worker.kill()
    delivered_before_kill = {d.request_id for d in deliveries(settings)}
    assert len(delivered_before_kill) < EVENTS, "the worker finished before the kill; the test proves nothing"

    # ... and a new worker takes over the same consumer group
    restarted = start_worker(SWERVE_POLICY_PATH=str(policy), SWERVE_WORKER_DETECT_BATCH_SIZE="8")
    expected = {e.request_id for e in events}
    assert wait_until(lambda: {d.request_id for d in deliveries(settings)} >= expected, timeout_s=180), restarted.log_tail()

    # Then, after dedupe by id, every request has exactly one outcome and none is missing
    by_request: dict[str, set[str]] = defaultdict(set)
    outcomes: dict[str, str] = {}
    final = deliveries(settings)
    print(f"delivered before kill: {len(delivered_before_kill)}; delivery records: {len(final)} for {EVENTS} requests")
    for delivery in final:
        by_request[delivery.request_id].add(delivery.id)
        outcomes[delivery.request_id] = delivery.outcome
    assert set(by_request) == expected
    assert all(len(ids) == 1 for ids in by_request.values()), {r: ids for r, ids in by_request.items() if len(ids) > 1}
    # ... and the flagged tenth were replaced, the rest delivered as they were
    replaced = {e.request_id for e in events[::10]}
    assert {r for r, o in outcomes.items() if o == "replacement"} == replaced
    assert {r for r, o in outcomes.items() if o == "original"} == expected - replaced
    assert restarted.alive

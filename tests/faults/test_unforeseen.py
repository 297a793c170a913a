"""An error no failure class covers, raised while a batch is being published: the worker halts
(exit 70) before faust can acknowledge the batch, so a new worker consumes it again and every
request still gets its one outcome. This is the test of "no path may let faust ack an input
whose outcome was not acknowledged by the broker"."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from swerve.streams.topic_io import publish_events
from swerve.streams.exit_codes import UNFORESEEN
from swerve.streams.settings import Settings

from ..integration.builders import generation
from ..integration.conftest import wait_until
from .conftest import delivered_requests, read_dead_letters, settled_outcomes

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

INJECTION = Path(__file__).parent / "injection"


def test_given_an_unforeseen_error_while_publishing_a_batch_then_the_worker_halts_unacked_and_a_new_one_delivers_it(
    settings: Settings, start_worker
) -> None:
    # Given a worker whose third batch publish raises an error no failure class covers
    events = [generation(i, "unforeseen") for i in range(64)]
    worker = start_worker(SWERVE_TEST_FAIL_PUBLISH_AT="3", PYTHONPATH=str(INJECTION), SWERVE_WORKER_DETECT_BATCH_SIZE="8",
                          SWERVE_WORKER_COMMIT_INTERVAL_S="0.2")
    asyncio.run(publish_events(settings, "generations", events))

    # When it hits it, then it stops loudly with exit 70, the batch in hand undelivered
    assert wait_until(lambda: not worker.alive, timeout_s=90), worker.log_tail()
    assert worker.process.returncode == UNFORESEEN, worker.log_tail()
    assert "injected fault" in worker.log_tail(200)
    delivered_before = delivered_requests(settings)
    assert len(delivered_before) < len(events)

    # ... and a worker without the fault, in the same group, delivers everything: nothing was acked unpublished
    restarted = start_worker(SWERVE_WORKER_DETECT_BATCH_SIZE="8")
    expected = {e.request_id for e in events}
    outcomes = settled_outcomes(settings, expected, restarted, timeout_s=120)
    print(f"unforeseen error: {len(delivered_before)} delivered before the halt, {len(outcomes.records)} records in all")
    assert read_dead_letters(settings) == [] and restarted.alive

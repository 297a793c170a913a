"""The broker fails: paused mid-batch so publishes time out (retried, never dead-lettered,
nothing committed early)."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from swerve.streams.topic_io import publish_events
from swerve.streams.embedded_broker import EmbeddedBroker
from swerve.streams.settings import Settings

from ..integration.builders import generation
from ..integration.conftest import WorkerProcess, wait_until
from .conftest import delivered_requests, read_dead_letters, settled_outcomes
from .policies import fault_policy, pacing_detector

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_given_the_broker_paused_mid_batch_so_publishes_fail_then_they_are_retried_and_nothing_is_lost(
    own_broker: EmbeddedBroker, own_env: dict[str, str], own_settings: Settings, tmp_path
) -> None:
    # Given a worker whose sends give up after 2 s, working through 400 generations at 0.1 s a batch
    policy = fault_policy(tmp_path / "p.yaml", [], extra_detector=pacing_detector(0.1))
    env = {**own_env, "SWERVE_KAFKA_REQUEST_TIMEOUT_S": "2", "SWERVE_WORKER_DETECT_BATCH_SIZE": "8", "SWERVE_POLICY_PATH": str(policy)}
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        events = [generation(i, "paused") for i in range(400)]
        asyncio.run(publish_events(own_settings, "generations", events))
        assert wait_until(lambda: len(delivered_requests(own_settings)) >= 40, timeout_s=90), worker.log_tail()
        # When the broker stops answering for longer than a send may wait, in the middle of the run
        assert len(delivered_requests(own_settings)) < len(events), "the run ended before the pause; the test proves nothing"
        pid = own_broker._process.pid  # type: ignore[union-attr]
        os.kill(pid, signal.SIGSTOP)
        try:
            assert wait_until(lambda: "failed on a dependency" in worker.log_tail(400), timeout_s=60), worker.log_tail()
        finally:
            os.kill(pid, signal.SIGCONT)

        # Then, once it answers again, every request has exactly one outcome and none is dead-lettered
        expected = {e.request_id for e in events}
        outcomes = settled_outcomes(own_settings, expected, worker, timeout_s=180)
        print(f"broker paused mid-run: {len(outcomes.records)} delivery records, {outcomes.duplicates()} duplicates removed")
        assert read_dead_letters(own_settings) == [] and worker.alive, worker.log_tail()
    finally:
        worker.stop()

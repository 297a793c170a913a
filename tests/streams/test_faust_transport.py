"""The worker's group consumer long-polls for SWERVE_WORKER_FETCH_MAX_WAIT_MS (faust fixes 1500 ms)."""

from __future__ import annotations

import asyncio

from swerve.streams.app import create_app
from swerve.streams.settings import Settings


def test_given_a_fetch_wait_setting_then_the_group_consumer_faust_creates_waits_that_long() -> None:
    app = create_app(Settings.from_env({"SWERVE_WORKER_FETCH_MAX_WAIT_MS": "37", "SWERVE_WORKER_PRODUCER_LINGER_MS": "5"}))

    async def created() -> int:
        thread = app.consumer._new_consumer_thread()
        consumer = thread._create_worker_consumer(app.transport)  # built, never started: no broker needed
        try:
            return int(consumer._fetch_max_wait_ms)
        finally:
            await consumer.stop()

    assert asyncio.run(created()) == 37
    assert app.conf.producer_linger == 0.005


def test_given_no_setting_then_the_default_wait_is_100_ms_not_fausts_1500() -> None:
    assert Settings.from_env({}).worker.fetch_max_wait_ms == 100

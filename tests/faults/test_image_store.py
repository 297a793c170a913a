"""The image store fails: for a few seconds (retried, then everything delivered), for good
(the worker stops without committing, exits 69, and a worker started after the store is back
delivers everything), and by hanging (each read is abandoned at the fetch deadline, the same
exit follows). None of them dead-letters good data."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from swerve.media import ImageRef, ImageStore, MediaLimits
from swerve.streams.topic_io import publish_events
from swerve.streams.events import GenerationEvent
from swerve.streams.exit_codes import DEPENDENCY_UNAVAILABLE
from swerve.streams.settings import Settings

from ..integration.builders import generation, png_bytes
from ..integration.conftest import wait_until
from .conftest import delivered_requests, read_dead_letters, settled_outcomes

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

INJECTION = Path(__file__).parent / "injection"


def by_reference(settings: Settings, count: int, run: str) -> list[GenerationEvent]:
    """Generations whose images travel as URIs into the worker's image store."""
    store = ImageStore(settings.image_store_uri)
    limits = MediaLimits(max_inline_bytes=16)
    return [generation(i, run).model_copy(update={"image": ImageRef.from_bytes(png_bytes(i), limits=limits, store=store)})
            for i in range(count)]


def started_worker(settings: Settings, start_worker, **env: str):
    """A worker that has delivered a first generation, so its store and consumer are set up."""
    worker = start_worker(**env)
    asyncio.run(publish_events(settings, "generations", [generation(900, "warm-up")]))
    assert wait_until(lambda: "warm-up-req-00900" in delivered_requests(settings), timeout_s=90), worker.log_tail()
    return worker


def store_root(settings: Settings) -> Path:
    return Path(settings.image_store_uri.removeprefix("file://"))


def test_given_an_image_store_gone_for_a_few_seconds_then_reads_are_retried_and_every_image_delivered(
    settings: Settings, start_worker
) -> None:
    worker = started_worker(settings, start_worker)
    events = by_reference(settings, 10, "blip")
    # Given the store's root gone (an unmounted volume) while the generations arrive
    root = store_root(settings)
    root.rename(root.with_name("images-away"))
    asyncio.run(publish_events(settings, "generations", events))
    assert wait_until(lambda: "failed on a dependency" in worker.log_tail(200), timeout_s=60), worker.log_tail()
    # When it comes back
    root.with_name("images-away").rename(root)

    # Then every generation is delivered as it was, once, and nothing was dead-lettered
    expected = {e.request_id for e in events} | {"warm-up-req-00900"}
    outcomes = settled_outcomes(settings, expected, worker, timeout_s=120)
    assert {d.outcome for d in outcomes.final().values()} == {"original"}
    assert read_dead_letters(settings) == [] and worker.alive


def test_given_an_image_store_gone_for_good_then_the_worker_exits_69_without_committing_and_a_later_worker_delivers_all(
    settings: Settings, start_worker
) -> None:
    worker = started_worker(settings, start_worker, SWERVE_WORKER_DEPENDENCY_RETRY_S="3")
    events = by_reference(settings, 6, "outage")
    root = store_root(settings)
    root.rename(root.with_name("images-away"))
    asyncio.run(publish_events(settings, "generations", events))

    # Then the worker stops loudly, having delivered and dead-lettered none of them
    assert wait_until(lambda: not worker.alive, timeout_s=90), worker.log_tail()
    assert worker.process.returncode == DEPENDENCY_UNAVAILABLE, worker.log_tail()
    assert "stopping the worker without committing" in worker.log_tail(200)
    assert delivered_requests(settings) == {"warm-up-req-00900"} and read_dead_letters(settings) == []

    # When the store is back and a worker takes over the group, then every request gets its one outcome
    root.with_name("images-away").rename(root)
    restarted = start_worker()
    expected = {e.request_id for e in events} | {"warm-up-req-00900"}
    outcomes = settled_outcomes(settings, expected, restarted, timeout_s=120)
    assert {d.outcome for d in outcomes.final().values()} == {"original"} and read_dead_letters(settings) == []


def test_given_an_image_store_whose_reads_hang_then_each_read_times_out_and_the_worker_exits_69_and_a_later_worker_delivers_all(
    settings: Settings, start_worker
) -> None:
    # Given a worker whose reads of the store never return (a hung mount), with a short fetch deadline
    worker = started_worker(settings, start_worker, PYTHONPATH=str(INJECTION), SWERVE_TEST_STUCK_STORE_READS="1",
                            SWERVE_MEDIA_FETCH_TIMEOUT_S="0.5", SWERVE_WORKER_DEPENDENCY_RETRY_S="3")
    events = by_reference(settings, 6, "hung")
    asyncio.run(publish_events(settings, "generations", events))

    # Then each read is given up at the deadline (transient, retried), and the worker stops loudly
    assert wait_until(lambda: not worker.alive, timeout_s=90), worker.log_tail()
    assert worker.process.returncode == DEPENDENCY_UNAVAILABLE, worker.log_tail()
    assert "timed out after 0.5 s" in worker.log_tail(200)
    assert delivered_requests(settings) == {"warm-up-req-00900"} and read_dead_letters(settings) == []

    # When a worker whose store answers takes over, then every request gets its one outcome
    restarted = start_worker()
    expected = {e.request_id for e in events} | {"warm-up-req-00900"}
    outcomes = settled_outcomes(settings, expected, restarted, timeout_s=120)
    assert {d.outcome for d in outcomes.final().values()} == {"original"} and read_dead_letters(settings) == []

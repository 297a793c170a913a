"""Fixtures of the fault-injection suite: the integration suite's real broker and worker
subprocesses, plus a broker of the test's own (to pause or kill) and the outcome ledger every
fault test ends with."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import pytest

from swerve.streams.admin import ensure_topics
from swerve.streams.topic_io import ConsumedRecord, dlq_reason
from swerve.streams.embedded_broker import EmbeddedBroker
from swerve.streams.events import DeliveryEvent
from swerve.streams.settings import Settings
from swerve.streams.topic_reading import open_consumer, read_to_end, topic_partitions
from swerve.streams.topics import TopicNames

# The integration suite's fixtures, shared: a session broker, per-test topics, worker processes.
from ..integration.conftest import WorkerProcess, wait_until
from ..integration.conftest import broker, settings, start_worker, swerve_env  # noqa: F401


@dataclass
class Outcomes:
    """Every delivery record of a run, and what dedupe by event id leaves of them."""

    records: list[DeliveryEvent] = field(default_factory=list)

    @property
    def ids_by_request(self) -> dict[str, set[str]]:
        ids: dict[str, set[str]] = defaultdict(set)
        for delivery in self.records:
            ids[delivery.request_id].add(delivery.id)
        return ids

    def final(self) -> dict[str, DeliveryEvent]:
        """The one outcome of each request, after dedupe by id (the first record of each id)."""
        return {delivery.request_id: delivery for delivery in reversed(self.records)}

    def duplicates(self) -> int:
        """Records a consumer's dedupe by id removes."""
        return len(self.records) - len({delivery.id for delivery in self.records})

    def assert_exactly_one_each(self, expected: Iterable[str]) -> None:
        """Every expected request has an outcome, exactly one after dedupe, and there is no other."""
        expected = set(expected)
        ids = self.ids_by_request
        missing = expected - set(ids)
        assert not missing, f"{len(missing)} requests lost, e.g. {sorted(missing)[:5]}"
        several = {request: found for request, found in ids.items() if len(found) > 1}
        assert not several, f"requests with more than one outcome after dedupe: {several}"
        assert set(ids) == expected, f"outcomes for requests never sent: {sorted(set(ids) - expected)[:5]}"
        # The counts docs/reliability.md's fault table reports (pytest -rA shows them per test).
        print(f"FAULT-COUNTS requests={len(expected)} records={len(self.records)} duplicates_removed={self.duplicates()} lost=0")


def snapshot(settings: Settings, topic: str) -> list[ConsumedRecord]:
    """Every record of ``topic`` up to the end it has now (a reader that stops when idle never
    stops while a worker keeps writing)."""

    async def read() -> list[ConsumedRecord]:
        async with open_consumer(settings) as consumer:
            partitions = await topic_partitions(consumer, topic, settings)
            begins = await consumer.beginning_offsets(partitions)
            return [record async for record in read_to_end(consumer, begins)]

    return asyncio.run(read())


def read_outcomes(settings: Settings) -> Outcomes:
    records = snapshot(settings, TopicNames(settings.topic_prefix).delivery)
    return Outcomes([record.decoded(settings.topic_prefix) for record in records])  # type: ignore[misc]


def read_dead_letters(settings: Settings) -> list[tuple[ConsumedRecord, dict[str, str]]]:
    return [(record, dlq_reason(record)) for record in snapshot(settings, TopicNames(settings.topic_prefix).dlq)]


def delivered_requests(settings: Settings) -> set[str]:
    return set(read_outcomes(settings).ids_by_request)


def settled_outcomes(settings: Settings, expected: set[str], worker: WorkerProcess, timeout_s: float) -> Outcomes:
    """Wait until every expected request has an outcome, then check it has exactly one after dedupe."""
    assert wait_until(lambda: delivered_requests(settings) >= expected, timeout_s=timeout_s), worker.log_tail()
    outcomes = read_outcomes(settings)
    outcomes.assert_exactly_one_each(expected)
    return outcomes


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker for this test alone, to pause, kill and restart on the same port."""
    embedded = EmbeddedBroker(log_path=tmp_path / "own-broker.log")
    embedded.start()
    yield embedded
    embedded.stop()


@pytest.fixture
def own_env(own_broker: EmbeddedBroker, swerve_env: dict[str, str]) -> dict[str, str]:
    prefix = f"f{uuid.uuid4().hex[:8]}"
    return {**swerve_env, "SWERVE_KAFKA_BOOTSTRAP": own_broker.bootstrap, "SWERVE_TOPIC_PREFIX": prefix, "SWERVE_WORKER_APP_ID": f"swerve-{prefix}"}


@pytest.fixture
def own_settings(own_env: dict[str, str]) -> Settings:
    built = Settings.from_env(own_env)
    asyncio.run(ensure_topics(built))
    return built

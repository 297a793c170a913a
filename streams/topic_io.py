"""Publish contract events to swerve's topics and read them back, decoded (topic plumbing).

For the CLI, the demo, tests and benchmarks; the public SDK is ``swerve.client``. Events go out
with CloudEvents headers. It is not a worker: it never commits offsets for a consumer group.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from tenacity import AsyncRetrying, retry_if_result, stop_after_attempt, wait_fixed

from swerve.errors import InvalidInputError
from swerve.streams.envelope import EncodedEvent, decode, encode, header_map
from swerve.streams.events import TOPIC_EVENTS, SwerveEvent
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames


@dataclass(frozen=True)
class ConsumedRecord:
    """One message read back from a topic."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    def decoded(self, prefix: str = "swerve") -> SwerveEvent | None:
        """The contract event, when the topic carries one and the message is valid."""
        short = TopicNames(prefix).short_of(self.topic)
        model = TOPIC_EVENTS.get(short) if short is not None else None
        if model is None:
            return None
        return decode(self.value, self.headers, model)

    def as_json(self, prefix: str = "swerve") -> dict[str, Any]:
        """A printable view: position, headers, and the decoded body (or the raw text)."""
        view: dict[str, Any] = {"topic": self.topic, "partition": self.partition, "offset": self.offset}
        view["headers"] = {k: v.decode("utf-8", errors="replace") for k, v in self.headers}
        try:
            event = self.decoded(prefix)
            view["event"] = event.model_dump(mode="json") if event is not None else (self.value or b"").decode("utf-8", errors="replace")
        except InvalidInputError as exc:
            view["undecodable"] = str(exc)
        return view


async def publish_raw(settings: Settings, topic: str, messages: Sequence[EncodedEvent]) -> list[Any]:
    """Send raw messages to ``topic``, wait for every acknowledgement, and return where each landed
    (aiokafka's ``RecordMetadata``: ``partition``, ``offset``)."""
    compression = None if settings.kafka.compression_type == "none" else settings.kafka.compression_type
    producer = AIOKafkaProducer(
        acks="all", max_request_size=8 * 1024 * 1024, compression_type=compression, **settings.kafka.aiokafka_kwargs()
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, key=m.key or None, value=m.value, headers=m.headers) for m in messages]
        return list(await asyncio.gather(*futures))
    finally:
        await producer.stop()


async def publish_events(settings: Settings, short_topic: str, events: Sequence[SwerveEvent]) -> list[Any]:
    """Publish contract events to a swerve topic by short name (``generations``); return where each landed."""
    topic = TopicNames(settings.topic_prefix).resolve(short_topic)
    return await publish_raw(settings, topic, [encode(event, source="/swerve/cli") for event in events])


async def _refreshed_partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int] | None:
    """``topic``'s partitions after refreshing the metadata, retried for about 5 s while the
    broker does not list them yet (a topic created just now); None if it never does."""

    async def refreshed() -> set[int] | None:
        await consumer._client.force_metadata_update()  # metadata is fetched once at start
        found: set[int] | None = consumer.partitions_for_topic(topic)
        return found

    retrying = AsyncRetrying(stop=stop_after_attempt(50), wait=wait_fixed(0.1),
                             retry=retry_if_result(lambda found: not found), retry_error_callback=lambda _: None)
    partitions: set[int] | None = await retrying(refreshed)
    return partitions


async def read_topic(
    settings: Settings,
    topic: str,
    *,
    from_beginning: bool = True,
    idle_timeout_s: float = 2.0,
    max_records: int | None = None,
    until_count: int | None = None,
    deadline_s: float | None = None,
) -> AsyncIterator[ConsumedRecord]:
    """Yield records of ``topic``; stop after ``idle_timeout_s`` without news, or at a limit.

    Args:
        until_count: keep waiting (up to ``deadline_s``) until this many records were read.
    """
    consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None, **settings.kafka.aiokafka_kwargs())
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or await _refreshed_partitions(consumer, topic)
        if not partitions:
            raise KeyError(f"topic {topic} does not exist on {settings.kafka.bootstrap}")
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        if from_beginning:
            await consumer.seek_to_beginning(*assigned)
        else:
            await consumer.seek_to_end(*assigned)
        seen = 0
        started = time.monotonic()
        last_news = time.monotonic()
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    seen += 1
                    last_news = time.monotonic()
                    yield ConsumedRecord(
                        record.topic, record.partition, record.offset, record.timestamp,
                        record.key, record.value, list(record.headers or []),
                    )
                    if max_records is not None and seen >= max_records:
                        return
            now = time.monotonic()
            if deadline_s is not None and now - started > deadline_s:
                return
            waiting_for_more = until_count is not None and seen < until_count
            if not waiting_for_more and now - last_news > idle_timeout_s:
                return
    finally:
        await consumer.stop()


async def collect(settings: Settings, topic: str, **kwargs: Any) -> list[ConsumedRecord]:
    """All records ``read_topic`` yields, as a list."""
    return [record async for record in read_topic(settings, topic, **kwargs)]


def dlq_reason(record: ConsumedRecord) -> dict[str, str]:
    """The ``swerve_dlq_*`` headers of a dead letter, without the prefix."""
    return {k.removeprefix("swerve_dlq_"): v for k, v in header_map(record.headers).items() if k.startswith("swerve_dlq_")}


def dumps(view: dict[str, Any]) -> str:
    return json.dumps(view, ensure_ascii=False, default=str)

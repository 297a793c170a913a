"""Reads Kafka topics to the end they had when reading began, with no consumer group: for ops
tools that must see everything (``swerve dlq``), never for workers.

This module must never commit offsets, and never wait silently: a partition that stops
answering short of its end raises ``TimeoutError`` naming it.
"""

from __future__ import annotations

import asyncio
import sys
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition

from swerve.errors import ConfigurationError
from swerve.streams.topic_io import ConsumedRecord
from swerve.streams.settings import Settings

# Reading stops with an error, not silently, when a partition short of its end sends nothing.
IDLE_TIMEOUT_S = 15.0


@asynccontextmanager
async def open_consumer(settings: Settings) -> AsyncIterator[AIOKafkaConsumer]:
    # No group: nothing is committed. "earliest": a start that retention deleted under us must
    # read more rather than skip a partition (which could hide a copy).
    consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None, auto_offset_reset="earliest", **settings.kafka.aiokafka_kwargs())
    await consumer.start()
    # Let the consumer's background task start: aiokafka's stop() cancels it, and a task cancelled
    # before it ever ran raises CancelledError out of stop(), hiding the error that made us stop.
    await asyncio.sleep(0)
    try:
        yield consumer
    finally:
        await consumer.stop()


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str, settings: Settings) -> list[TopicPartition]:
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        # Metadata is fetched once at start; a topic created since needs one refresh (as client.py does).
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise ConfigurationError(f"topic {topic} does not exist on {settings.kafka.bootstrap}; create it with `swerve topics create`")
    return [TopicPartition(topic, p) for p in sorted(partitions)]


async def read_to_end(consumer: AIOKafkaConsumer, starts: Mapping[TopicPartition, int], stop_before: int | None = None) -> AsyncIterator[ConsumedRecord]:
    """Yield each partition's records from its start up to the end it had when reading began
    (or ``stop_before``), then stop.

    The end is the high watermark of the first fetch answer, not ``end_offsets()``: the embedded
    broker answers that one per batch, short of the last records of a multi-record batch.
    """
    if not starts:
        return
    consumer.assign(list(starts))
    for tp, offset in starts.items():
        consumer.seek(tp, offset)
    limit = stop_before if stop_before is not None else sys.maxsize
    ends: dict[TopicPartition, int] = {}
    pending = set(starts)
    last_progress = time.monotonic()
    while pending:
        batch = await consumer.getmany(*pending, timeout_ms=200)
        for tp, records in batch.items():
            for record in records:
                if record.offset >= min(limit, ends.get(tp, sys.maxsize)):
                    break
                yield ConsumedRecord(record.topic, record.partition, record.offset, record.timestamp,
                                     record.key, record.value, list(record.headers or []))
        progressed = bool(batch)
        for tp in list(pending):
            high = consumer.highwater(tp)
            if high is not None and await consumer.position(tp) >= min(limit, ends.setdefault(tp, high)):
                pending.discard(tp)
                progressed = True
        if progressed:
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > IDLE_TIMEOUT_S:
            behind = {f"{tp.topic}/{tp.partition}": (await consumer.position(tp), ends.get(tp)) for tp in pending}
            raise TimeoutError(f"no records for {IDLE_TIMEOUT_S:.0f} s while reading; (position, end) per partition: {behind}")

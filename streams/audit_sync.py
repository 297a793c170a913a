"""Copies new events from ``swerve.audit`` into the audit ledger, resuming where it stopped.

The ledger stores its own read positions, so a sync is repeatable and never skips or
duplicates: an event that arrives twice (at-least-once) is appended once.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from swerve.errors import InvalidInputError
from swerve.streams.audit_ledger import AuditLedger
from swerve.streams.envelope import decode
from swerve.streams.events import AuditEvent
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames


async def sync_audit(settings: Settings, ledger: AuditLedger, idle_timeout_s: float = 2.0) -> tuple[int, int]:
    """Append every audit event not yet in ``ledger``. Returns (appended, rejected)."""
    topic = TopicNames(settings.topic_prefix).audit
    consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None, **settings.kafka.aiokafka_kwargs())
    await consumer.start()
    appended = rejected = 0
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        positions = ledger.positions(topic)
        for tp in assigned:
            if tp.partition in positions:
                consumer.seek(tp, positions[tp.partition])
            else:
                await consumer.seek_to_beginning(tp)
        idle = 0.0
        while idle < idle_timeout_s:
            batch = await consumer.getmany(timeout_ms=200)
            if not any(batch.values()):
                idle += 0.2
                continue
            idle = 0.0
            for records in batch.values():
                for record in records:
                    source = (record.topic, record.partition, record.offset)
                    try:
                        event = decode(record.value, list(record.headers or []), AuditEvent)
                    except InvalidInputError:
                        rejected += 1
                        ledger.mark_read(source)
                        continue
                    assert isinstance(event, AuditEvent)
                    appended += ledger.append(event, source)
    finally:
        await consumer.stop()
    return appended, rejected


def run_sync(settings: Settings, ledger: AuditLedger, idle_timeout_s: float = 2.0) -> tuple[int, int]:
    return asyncio.run(sync_audit(settings, ledger, idle_timeout_s))

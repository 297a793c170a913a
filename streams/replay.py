"""`swerve replay`: re-judge a range of past generations under the current policy.

Ops replay after a policy or index change: read ``swerve.generations`` (or ``swerve.flagged``,
whose events carry their generation) between two offsets or two times, run the same detect
stage the workers run, and publish the outcomes into a separate topic set (``--into`` prefix),
never into live delivery. Output ids derive from the input ids, so running the same replay
twice writes the same ids and consumers dedupe them. Flagged outcomes land in the replay's own
``flagged`` topic, where a correct worker started with that prefix can pick them up.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from swerve.audit.signing import audit_signer
from swerve.errors import InvalidInputError
from swerve.index.threads import configure_faiss_threads
from swerve.media import decode_image
from swerve.streams.admin import ensure_topics
from swerve.streams.detect_stage import DecodedGeneration, detect
from swerve.streams.envelope import decode, encode
from swerve.streams.events import AuditEvent, FlaggedEvent, GenerationEvent
from swerve.streams.judging import Judge
from swerve.streams.policy import Policy
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames


@dataclass(frozen=True)
class ReplayRange:
    """Where to start and stop in every partition: offsets, or times (ISO 8601), or neither (all)."""

    from_offset: int | None = None
    to_offset: int | None = None
    from_time: datetime | None = None
    to_time: datetime | None = None


@dataclass(frozen=True)
class ReplayReport:
    read: int
    replayed: int
    skipped_invalid: int
    decisions: dict[str, int]


async def _starts(consumer: AIOKafkaConsumer, partitions: list[TopicPartition], span: ReplayRange) -> dict[TopicPartition, int]:
    """The first offset to read in each partition."""
    starts = dict(await consumer.beginning_offsets(partitions))
    if span.from_time is not None:
        found = await consumer.offsets_for_times({tp: int(span.from_time.timestamp() * 1000) for tp in partitions})
        starts = {tp: (found[tp].offset if found[tp] is not None else None) for tp in partitions}
    if span.from_offset is not None:
        starts = {tp: (max(offset, span.from_offset) if offset is not None else None) for tp, offset in starts.items()}
    return {tp: offset for tp, offset in starts.items() if offset is not None}


def _past_end(offset: int, timestamp_ms: int, span: ReplayRange) -> bool:
    """Whether a record is beyond the range's end. The end is judged per record, not from the
    broker's end offsets, which the embedded broker reports per batch rather than per record."""
    if span.to_offset is not None and offset >= span.to_offset:
        return True
    return span.to_time is not None and timestamp_ms >= int(span.to_time.timestamp() * 1000)


async def replay(settings: Settings, policy: Policy, source: str, into_prefix: str, span: ReplayRange, batch_size: int = 32) -> ReplayReport:
    """Re-judge ``source`` (``generations`` or ``flagged``) within ``span`` into the ``into_prefix`` topics."""
    if into_prefix == settings.topic_prefix:
        raise ValueError("replay must write to a different prefix than the live topics, or it would duplicate deliveries")
    source_topic = TopicNames(settings.topic_prefix).resolve(source)
    expected = FlaggedEvent if source_topic == TopicNames(settings.topic_prefix).flagged else GenerationEvent
    target = settings.model_copy(update={"topic_prefix": into_prefix})
    await ensure_topics(target)
    consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None, **settings.kafka.aiokafka_kwargs())
    producer = AIOKafkaProducer(acks="all", max_request_size=settings.media.max_bytes + 1024 * 1024, **settings.kafka.aiokafka_kwargs())
    await consumer.start()
    await producer.start()
    configure_faiss_threads(settings.faiss_threads)  # before a detector opens an index
    judge, into = Judge(), TopicNames(into_prefix)
    # Replayed decisions are signed like the workers' own, so `swerve audit sync` admits them.
    sign_audit = audit_signer(settings.audit.signing_key_path)
    read = replayed = invalid = 0
    decisions: dict[str, int] = {}
    try:
        partitions = [TopicPartition(source_topic, p) for p in sorted(consumer.partitions_for_topic(source_topic) or [])]
        for tp, start in (await _starts(consumer, partitions, span)).items():
            consumer.assign([tp])
            consumer.seek(tp, start)
            idle_polls, finished = 0, False
            # Read until the range ends, or until the partition has nothing more (caught up).
            while not finished:
                records = (await consumer.getmany(tp, timeout_ms=250, max_records=batch_size)).get(tp, [])
                idle_polls = 0 if records else idle_polls + 1
                finished = idle_polls >= 4
                batch: list[DecodedGeneration] = []
                for record in records:
                    if _past_end(record.offset, record.timestamp, span):
                        finished = True
                        break
                    read += 1
                    try:
                        event = decode(record.value, list(record.headers or []), expected)
                        generation = event.generation if isinstance(event, FlaggedEvent) else event
                        assert isinstance(generation, GenerationEvent)
                        batch.append(DecodedGeneration(generation, decode_image(generation.image, settings.media)))
                    except InvalidInputError:
                        invalid += 1
                outputs = await asyncio.to_thread(detect, judge, policy, batch) if batch else []
                futures = []
                for publications in outputs:
                    decision = publications[0].event.decision  # type: ignore[attr-defined]
                    decisions[decision] = decisions.get(decision, 0) + 1
                    for publication in publications:
                        event = publication.event
                        if sign_audit is not None and isinstance(event, AuditEvent):
                            event = sign_audit(event)
                        message = encode(event, source="/swerve/replay")
                        futures.append(await producer.send(getattr(into, publication.topic), key=message.key, value=message.value, headers=message.headers))
                await asyncio.gather(*futures)
                replayed += len(outputs)
    finally:
        await consumer.stop()
        await producer.stop()
    return ReplayReport(read, replayed, invalid, decisions)

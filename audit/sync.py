"""Copies new events from ``<prefix>.audit`` into the audit ledger, admitting only trusted ones.

Each event read is one named outcome (``SyncReport``):

- ``appended``: a valid event, signed by a trusted key (or unsigned, with ``allow_unsigned``);
- ``duplicate``: the same event again (at-least-once redelivery): nothing appended;
- refused, counted, never appended: ``undecodable`` (not an AuditEvent, or not canonicalizable),
  ``unsigned``, ``unknown_key`` (signed by a key outside the trust store), ``forged`` (a signature
  or record digest that does not verify), ``replayed`` (an id already in the ledger with other
  content).

The ledger stores its read positions, so a sync resumes where it stopped. When a stored
position has fallen below a partition's first offset (retention deleted unread events), the
skipped range is recorded in the ledger as a ``gap`` entry and reported: sync never moves
its position silently.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import OffsetOutOfRangeError

from swerve.audit.canonical import canonical_sha256
from swerve.audit.ledger import AuditLedger
from swerve.audit.signing import TrustedKeys
from swerve.errors import AuditError, CanonicalizationError, InvalidInputError
from swerve.streams.envelope import decode
from swerve.streams.events import AuditEvent
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames

log = logging.getLogger("swerve.audit")
REFUSALS = ("undecodable", "unsigned", "unknown_key", "forged", "replayed")


@dataclass(frozen=True)
class Gap:
    """Offsets ``from_offset`` .. ``to_offset - 1`` of a partition that sync never read."""

    topic: str
    partition: int
    from_offset: int
    to_offset: int


@dataclass
class SyncReport:
    """What one sync did with each event it read."""

    appended: int = 0
    duplicate: int = 0
    undecodable: int = 0
    unsigned: int = 0
    unknown_key: int = 0
    forged: int = 0
    replayed: int = 0
    gaps: list[Gap] = field(default_factory=list)

    @property
    def refused(self) -> int:
        return sum(getattr(self, name) for name in REFUSALS)

    @property
    def clean(self) -> bool:
        """Nothing refused and no gap: the exit status of ``swerve audit sync`` is 0 only then."""
        return self.refused == 0 and not self.gaps

    def lines(self) -> list[str]:
        refused = ", ".join(f"{getattr(self, name)} {name.replace('_', ' ')}" for name in REFUSALS)
        lines = [f"appended {self.appended} audit events, {self.duplicate} duplicates; refused {self.refused} ({refused})"]
        lines += [f"GAP: {g.topic}[{g.partition}] offsets {g.from_offset}..{g.to_offset - 1} were deleted before sync read them; "
                  "recorded in the ledger" for g in self.gaps]
        return lines


def admit(value: bytes | None, headers: list[tuple[str, bytes]], trusted: TrustedKeys, allow_unsigned: bool) -> tuple[str, dict[str, Any] | None]:
    """The outcome for one message of the audit topic, and its wire body when it may be appended."""
    try:
        decode(value, headers, AuditEvent)
        wire: dict[str, Any] = json.loads(value or b"")
        if canonical_sha256(wire["record"]) != wire["record_sha256"]:
            return "forged", None
    except (InvalidInputError, CanonicalizationError):
        return "undecodable", None
    signature = trusted.check(wire)
    if signature == "unsigned" and allow_unsigned:
        return "admitted", wire
    if signature != "valid":
        return {"unsigned": "unsigned", "unknown_key": "unknown_key", "invalid": "forged"}[signature], None
    return "admitted", wire


async def _check_retention(consumer: AIOKafkaConsumer, ledger: AuditLedger, tp: TopicPartition, position: int, report: SyncReport,
                           out_of_range: bool = False) -> int:
    """Where to read ``tp`` from: ``position``, or the log start when retention deleted what lies before it (a gap).

    ``out_of_range``: the broker refused ``position``; if it is not below the log start, it is
    past the end (the topic was recreated), and sync stops rather than guess. The end offset is
    not compared up front: the embedded broker reports it per batch, not per record.
    """
    start = int((await consumer.beginning_offsets([tp]))[tp])
    if position < start:
        ledger.record_gap(tp.topic, tp.partition, position, start, "retention deleted these offsets before sync read them")
        report.gaps.append(Gap(tp.topic, tp.partition, position, start))
        log.error("audit gap: %s[%d] offsets %d..%d were never read", tp.topic, tp.partition, position, start - 1)
        return start
    if out_of_range:
        raise AuditError(f"the ledger's position {position} in {tp.topic}[{tp.partition}] is past the partition's end: "
                         "the topic was deleted or recreated; sync refuses to guess where to resume")
    return position


async def sync_audit(settings: Settings, ledger: AuditLedger, trusted: TrustedKeys, allow_unsigned: bool = False,
                     idle_timeout_s: float = 2.0) -> SyncReport:
    """Append every admissible audit event not yet in ``ledger``."""
    topic = TopicNames(settings.topic_prefix).audit
    # "none": an out-of-range position raises instead of jumping to the newest offset.
    consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None, auto_offset_reset="none", **settings.kafka.aiokafka_kwargs())
    await consumer.start()
    report = SyncReport()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        positions = ledger.positions(topic)
        for tp in assigned:
            consumer.seek(tp, await _check_retention(consumer, ledger, tp, positions.get(tp.partition, 0), report))
        idle = 0.0
        while idle < idle_timeout_s:
            try:
                batch = await consumer.getmany(timeout_ms=200)
            except OffsetOutOfRangeError as exc:  # retention ran while we read
                for tp, position in exc.args[0].items() if exc.args and isinstance(exc.args[0], dict) else ():
                    consumer.seek(tp, await _check_retention(consumer, ledger, tp, position, report, out_of_range=True))
                continue
            if not any(batch.values()):
                idle += 0.2
                continue
            idle = 0.0
            for records in batch.values():
                for record in records:
                    source = (record.topic, record.partition, record.offset)
                    outcome, wire = admit(record.value, list(record.headers or []), trusted, allow_unsigned)
                    if wire is not None:
                        outcome = ledger.append_event(wire, source)
                    else:
                        ledger.mark_read(source)
                    if outcome != "appended" and outcome != "duplicate":
                        log.warning("audit event refused (%s) at %s[%d]@%d", outcome, *source)
                    setattr(report, outcome, getattr(report, outcome) + 1)
    finally:
        await consumer.stop()
    return report


def run_sync(settings: Settings, ledger: AuditLedger, trusted: TrustedKeys, allow_unsigned: bool = False,
             idle_timeout_s: float = 2.0) -> SyncReport:
    return asyncio.run(sync_audit(settings, ledger, trusted, allow_unsigned, idle_timeout_s))

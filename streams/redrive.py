"""`swerve dlq`: choose dead letters and re-publish them to the topic they came from.

Once the cause of a failure is fixed (a decoder bug, a detector crash, an image store that was
down), ops choose dead letters of ``<prefix>.dlq`` by position, error class or stage, and send
each back to its origin topic (``swerve_dlq_origin_topic``) with its original key, value and
headers, minus every ``swerve_dlq_*`` header, plus ``swerve_redriven_from`` =
``<dlq topic>/<partition>/<offset>``.

A redrive is idempotent without any state of its own: before sending, it reads the origin
topics, from the earliest chosen dead letter's time to their end, and skips every dead letter
whose position is already named there by a ``swerve_redriven_from`` header. A message that fails
again is dead-lettered again at a new position, so it can be redriven again after a further fix.

This module must never send to a topic outside the configured prefix's swerve topics (nor to the
DLQ itself), never send before that check has read to the end, never commit consumer offsets,
and holds no CLI code.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, AsyncIterator, Mapping

from aiokafka import TopicPartition

from swerve.errors import ConfigurationError
from swerve.streams.topic_io import ConsumedRecord, publish_raw
from swerve.streams.envelope import EncodedEvent
from swerve.streams.settings import Settings
from swerve.streams.topic_reading import open_consumer, read_to_end, topic_partitions
from swerve.streams.topics import TopicNames

REDRIVEN_FROM = "swerve_redriven_from"
DLQ_HEADER_PREFIX = "swerve_dlq_"
STAGE = "redrive"
# A dead letter's time comes from the worker's clock, its copy's from this host's clock: read the
# origin topic from a little earlier, so a clock behind the worker's cannot hide a copy.
CLOCK_SKEW_ALLOWANCE_MS = 5 * 60 * 1000


@dataclass(frozen=True)
class DeadLetter:
    """One message of the DLQ, with what its ``swerve_dlq_*`` headers say (without the prefix)."""

    record: ConsumedRecord
    reason: Mapping[str, str]

    @classmethod
    def from_record(cls, record: ConsumedRecord) -> DeadLetter:
        # Only our own headers are decoded, leniently: an original header that is not UTF-8 (one
        # reason to dead-letter a message) must not make the dead letter unreadable.
        reason = {
            name.removeprefix(DLQ_HEADER_PREFIX): (raw or b"").decode("utf-8", errors="replace")
            for name, raw in record.headers
            if name.startswith(DLQ_HEADER_PREFIX)
        }
        return cls(record, reason)

    @property
    def position(self) -> str:
        """``<dlq topic>/<partition>/<offset>``: what ``swerve_redriven_from`` names."""
        return f"{self.record.topic}/{self.record.partition}/{self.record.offset}"

    @property
    def origin_topic(self) -> str | None:
        return self.reason.get("origin_topic") or None

    @property
    def error_class(self) -> str:
        return self.reason.get("error_class", "")

    @property
    def stage(self) -> str:
        return self.reason.get("stage", "")

    def as_json(self) -> dict[str, Any]:
        """A printable view for ``swerve dlq list``."""
        origin = "/".join(self.reason.get(f"origin_{part}", "?") for part in ("topic", "partition", "offset"))
        previous = [(raw or b"").decode("utf-8", errors="replace") for name, raw in self.record.headers if name == REDRIVEN_FROM]
        return {
            "position": self.position,
            "partition": self.record.partition,
            "offset": self.record.offset,
            "timestamp_ms": self.record.timestamp_ms,
            "origin": origin,
            "error_class": self.error_class,
            "stage": self.stage,
            "message": self.reason.get("error_message", ""),
            "request_key": (self.record.key or b"").decode("utf-8", errors="replace"),
            "redriven_from": previous[-1] if previous else None,
        }


@dataclass(frozen=True)
class DeadLetterSelection:
    """Which dead letters to choose. Filters combine with AND, values of one filter with OR;
    an empty selection chooses every dead letter.

    Args:
        from_offset: first DLQ offset, in every partition (or in ``partition``). Default: the oldest.
        to_offset: stop before this DLQ offset (exclusive). Default: the end.
        partition: only this DLQ partition. Default: all.
        error_classes: only these ``swerve_dlq_error_class`` values (exact class names).
        stages: only these ``swerve_dlq_stage`` values (``decode``, ``detect``, ``correct`` ...).
    """

    from_offset: int | None = None
    to_offset: int | None = None
    partition: int | None = None
    error_classes: frozenset[str] = frozenset()
    stages: frozenset[str] = frozenset()

    def check(self) -> None:
        """Raise ``ConfigurationError`` naming every problem; never guess what was meant."""
        problems = [f"{name} must be >= 0, got {value}" for name, value in
                    (("--from-offset", self.from_offset), ("--to-offset", self.to_offset), ("--partition", self.partition))
                    if value is not None and value < 0]
        if self.from_offset is not None and self.to_offset is not None and self.to_offset <= self.from_offset:
            problems.append(f"--to-offset is exclusive and must be > --from-offset, got {self.from_offset}..{self.to_offset}")
        if problems:
            raise ConfigurationError("invalid dead-letter selection: " + "; ".join(problems), stage=STAGE)

    @property
    def chooses_everything(self) -> bool:
        return self == DeadLetterSelection()

    def matches(self, letter: DeadLetter) -> bool:
        offset = letter.record.offset
        return (
            (self.partition is None or letter.record.partition == self.partition)
            and (self.from_offset is None or offset >= self.from_offset)
            and (self.to_offset is None or offset < self.to_offset)
            and (not self.error_classes or letter.error_class in self.error_classes)
            and (not self.stages or letter.stage in self.stages)
        )


@dataclass(frozen=True)
class Redrive:
    """One dead letter on its way back: the topic, and exactly what is sent there."""

    letter: DeadLetter
    topic: str
    message: EncodedEvent

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.letter.position,
            "to": self.topic,
            "key": self.message.key.decode("utf-8", errors="replace"),
            "headers": {name: raw.decode("utf-8", errors="replace") for name, raw in self.message.headers},
            "value_bytes": len(self.message.value),
        }


@dataclass(frozen=True)
class SkippedDeadLetter:
    """A chosen dead letter that cannot be redriven, and why."""

    letter: DeadLetter
    reason: str


@dataclass(frozen=True)
class RedriveReport:
    """What a redrive chose and did. ``planned`` is what was (or, on a dry run, would be) sent;
    ``republished`` is what the broker acknowledged, empty on a dry run."""

    dry_run: bool
    chosen: tuple[DeadLetter, ...]
    planned: tuple[Redrive, ...]
    republished: tuple[Redrive, ...]
    already_redriven: tuple[DeadLetter, ...]
    skipped: tuple[SkippedDeadLetter, ...]

    def summary(self) -> str:
        sent = f"would republish {len(self.planned)}" if self.dry_run else f"republished {len(self.republished)}"
        return f"chosen {len(self.chosen)}, {sent}, already redriven {len(self.already_redriven)}, skipped {len(self.skipped)}"


def redriven_message(letter: DeadLetter) -> EncodedEvent:
    """The original message again: ``swerve_dlq_*`` headers dropped, its DLQ position added.

    An earlier ``swerve_redriven_from`` is replaced, so the header always names the dead letter
    this copy came from (the DLQ keeps the earlier one, in the dead letter's own headers).
    """
    kept = [(name, raw or b"") for name, raw in letter.record.headers
            if not name.startswith(DLQ_HEADER_PREFIX) and name != REDRIVEN_FROM]
    return EncodedEvent(letter.record.key or b"", letter.record.value or b"", [*kept, (REDRIVEN_FROM, letter.position.encode())])


async def iter_dead_letters(settings: Settings, selection: DeadLetterSelection) -> AsyncIterator[DeadLetter]:
    """Yield the chosen dead letters, partition by partition in offset order, up to the DLQ's end."""
    selection.check()
    dlq = TopicNames(settings.topic_prefix).dlq
    async with open_consumer(settings) as consumer:
        partitions = await topic_partitions(consumer, dlq, settings)
        if selection.partition is not None:
            if selection.partition not in {tp.partition for tp in partitions}:
                raise ConfigurationError(f"{dlq} has no partition {selection.partition}; it has {len(partitions)}", stage=STAGE)
            partitions = [TopicPartition(dlq, selection.partition)]
        begins = await consumer.beginning_offsets(partitions)
        starts = {tp: max(begins[tp], selection.from_offset or 0) for tp in partitions}
        async for record in read_to_end(consumer, starts, stop_before=selection.to_offset):
            letter = DeadLetter.from_record(record)
            if selection.matches(letter):
                yield letter


async def redrive(settings: Settings, selection: DeadLetterSelection, *, dry_run: bool = False) -> RedriveReport:
    """Re-publish the chosen dead letters that were not redriven yet, and await every ack.

    Raises:
        ConfigurationError: the selection is invalid, or a chosen dead letter's origin is not a
            swerve topic of this prefix (then nothing is sent).
        TimeoutError: a topic could not be read to its end; nothing is sent.
    """
    # 1. Choose, in DLQ order (per key, the order the worker dead-lettered them).
    chosen = tuple([letter async for letter in iter_dead_letters(settings, selection)])

    # 2. Check every origin before anything is sent.
    skipped = tuple(SkippedDeadLetter(letter, f"no {DLQ_HEADER_PREFIX}origin_topic header: not written by a swerve worker")
                    for letter in chosen if letter.origin_topic is None)
    candidates = [letter for letter in chosen if letter.origin_topic is not None]
    _refuse_foreign_origins(settings, candidates)

    # 3. Skip those whose position a copy in the origin topic already names.
    done = await _redriven_positions(settings, candidates) if candidates else set()
    already = tuple(letter for letter in candidates if letter.position in done)
    planned = tuple(Redrive(letter, letter.origin_topic or "", redriven_message(letter)) for letter in candidates if letter.position not in done)

    # 4. Send, topic by topic, waiting for every broker acknowledgement (acks=all).
    if not dry_run:
        by_topic: dict[str, list[EncodedEvent]] = defaultdict(list)
        for item in planned:
            by_topic[item.topic].append(item.message)
        for topic, messages in by_topic.items():
            await publish_raw(settings, topic, messages)
    return RedriveReport(dry_run, chosen, planned, () if dry_run else planned, already, skipped)


def _refuse_foreign_origins(settings: Settings, letters: list[DeadLetter]) -> None:
    """Raise if any origin is not one of this prefix's swerve topics, or is the DLQ itself."""
    topics = TopicNames(settings.topic_prefix)
    allowed = [name for name in topics.all() if name not in (topics.dlq, topics.claims)]
    foreign = [letter for letter in letters if letter.origin_topic not in allowed]
    if foreign:
        listed = ", ".join(f"{letter.position} -> {letter.origin_topic}" for letter in foreign[:5])
        more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        raise ConfigurationError(
            f"refusing to redrive into a topic that is not a swerve topic of prefix {settings.topic_prefix!r}: "
            f"{listed}{more}. Allowed: {', '.join(allowed)}. Nothing was sent; narrow the selection to leave "
            "these out (see `swerve dlq list`)",
            stage=STAGE,
        )


async def _redriven_positions(settings: Settings, letters: list[DeadLetter]) -> set[str]:
    """Every ``swerve_redriven_from`` value in the letters' origin topics, from the earliest
    letter's time (less the clock-skew allowance) to the end."""
    since_ms = max(0, min(letter.record.timestamp_ms for letter in letters) - CLOCK_SKEW_ALLOWANCE_MS)
    found: set[str] = set()
    async with open_consumer(settings) as consumer:
        for topic in sorted({letter.origin_topic or "" for letter in letters}):
            partitions = await topic_partitions(consumer, topic, settings)
            begins = await consumer.beginning_offsets(partitions)
            at = await consumer.offsets_for_times({tp: since_ms for tp in partitions})
            # None: no record at or after that time in this partition, so no copy either.
            starts = {tp: max(begins[tp], at[tp].offset) for tp in partitions if at[tp] is not None}
            async for record in read_to_end(consumer, starts):
                found.update((raw or b"").decode("utf-8", errors="replace") for name, raw in record.headers if name == REDRIVEN_FROM)
    return found

"""One event id, one content: the claims log that tells a redelivery from an id conflict.

Outputs take their ids from their input's id (``swerve.streams.ids``), so two requests that
share an event id would be delivered under one delivery id, and a consumer that dedupes by id
would drop one of them. So every generation and prompt id is *claimed* first:

- A claim is a record on ``<prefix>.claims`` keyed by ``<kind>/<event id>``, holding the
  content digest (``content_digest``) and the request id. Kafka puts every claim of one id in
  one partition, in one order, whichever worker, input partition or request it came from.
- The first claim of an id wins. A later claim with the same digest is a redelivery (a retry,
  a replay, a rebalance): its outputs have the same ids and dedupe. A later claim with another
  digest is a conflict: the stage dead-letters that input with ``IdConflictError``.
- Each worker reads every partition of the claims log into memory (the first claim of each id,
  for ``retention_s``), and a claim is settled once this worker has read it back: a produce
  and at most one fetch wait of the reader, which overlap the judging of the batch.

Why not a faust table: a table is partitioned like its input, by request id, and two requests
that share an id may sit on different partitions; the only order all of them share is the
claims log's. Why not a compacted topic: compaction keeps the *last* record of a key, and the
first claim must win.

Conflicts are found within ``retention_s`` (the claims topic's ``retention.ms``); an id reused
after that is taken as new. Nothing here judges or publishes outputs.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from swerve.errors import BrokerUnavailableError, IdConflictError
from swerve.streams.events import GenerationEvent, PromptEvent

log = logging.getLogger("swerve.identity")

# What makes two events with one id the same event: everything the producer chose, except when
# it was sent (a producer that rebuilds a retry stamps a new created_at) and how the image
# travels (inline or by reference, the image is its sha256).
_CONTENT_FIELDS = {"request_id", "tenant", "prompt", "negative_prompt", "seed", "model_id"}

# Sends one claim record; awaiting the result gives the broker's acknowledgement, with the
# partition and offset the record landed at (faust's ``Topic.send``).
SendClaim = Callable[[bytes, bytes], Awaitable[Awaitable[Any]]]


def content_digest(event: GenerationEvent | PromptEvent) -> str:
    """The sha256 of what the producer said, in a fixed order (never recomputed outside swerve)."""
    fields = event.model_dump(mode="json", include=_CONTENT_FIELDS)
    if isinstance(event, GenerationEvent):
        fields["image_sha256"] = event.image.sha256
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    """An event's claim to its id: ``key`` is ``<kind>/<id>``."""

    key: str
    digest: str
    request_id: str

    @classmethod
    def of(cls, event: GenerationEvent | PromptEvent) -> Claim:
        kind = "generation" if isinstance(event, GenerationEvent) else "prompt"
        return cls(f"{kind}/{event.id}", content_digest(event), event.request_id)

    def encode(self) -> tuple[bytes, bytes]:
        return self.key.encode(), json.dumps({"digest": self.digest, "request_id": self.request_id}).encode()

    @property
    def remembered(self) -> bytes:
        """What a worker keeps of the digest: 128 bits tell contents apart, at a fraction of the memory."""
        return bytes.fromhex(self.digest[:32])

    def conflict(self, first: bytes) -> IdConflictError | None:
        """The error for this claim when the first claim of its id (``remembered``) had other content, else None."""
        if first == self.remembered:
            return None
        # Name only what this producer sent: the first claimant may be another tenant's request.
        event_id = self.key.split("/", 1)[1]
        return IdConflictError(
            f"event id {event_id!r} was first used by another event with different content "
            f"(a different request, prompt, seed or image); give each event its own id",
            event_id=event_id,
            stage="identity",
        )


class IdentityClaims:
    """Claims ids on the claims topic and reads every claim back, for one worker.

    Args:
        topic: the claims topic's full name.
        send: sends one claim record (key, value) and returns its acknowledgement.
        consumer_kwargs: aiokafka connection settings of the reader (bootstrap, TLS, SASL).
        fetch_max_wait_ms: the reader's long-poll wait; on the embedded broker a claim is read
            back only when it runs out, so it bounds what claiming adds to a batch.
        retention_s: how long a claim is remembered (the topic's retention).
        readback_timeout_s: how long ``settle`` waits for the reader before the broker counts
            as unavailable (a transient error: retried, then the worker halts).
    """

    def __init__(
        self,
        topic: str,
        send: SendClaim,
        consumer_kwargs: dict[str, Any],
        fetch_max_wait_ms: int,
        retention_s: float,
        readback_timeout_s: float,
    ):
        self.topic = topic
        self._send = send
        self._consumer_kwargs = consumer_kwargs
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._retention_s = retention_s
        self._readback_timeout_s = readback_timeout_s
        # key -> (the first claim's remembered digest, when it was made): insertion order is
        # roughly time order, so forgetting pops from the front.
        self._first: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._read_up_to: dict[int, int] = {}  # partition -> next offset the reader will read
        self._progress = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def settle(self, claims: Sequence[Claim]) -> list[IdConflictError | None]:
        """Claim each id; once this worker has read them back, return per claim its conflict with
        the first claim of its id, or None (it is the first, or the same content again).

        Raises:
            BrokerUnavailableError: a claim was not acknowledged, or not read back, in time.
        """
        if not claims:
            return []
        await self._ensure_reader()
        pending = [await self._send(*claim.encode()) for claim in claims]
        try:
            landed = await asyncio.wait_for(asyncio.gather(*pending), self._readback_timeout_s)
        except asyncio.TimeoutError as exc:
            raise BrokerUnavailableError(f"claims on {self.topic} not acknowledged within {self._readback_timeout_s} s", stage="identity") from exc
        deadline = time.monotonic() + self._readback_timeout_s
        for metadata in landed:
            await self._wait_read(metadata.partition, metadata.offset, deadline)
        # A claim just read back is remembered unless its timestamp is older than the retention
        # (a producer clock far behind): then it stands alone, and is its own first.
        return [claim.conflict(self._first.get(claim.key, (claim.remembered, 0.0))[0]) for claim in claims]

    async def _wait_read(self, partition: int, offset: int, deadline: float) -> None:
        async with self._progress:
            while self._read_up_to.get(partition, 0) <= offset:
                if self._reader is None or self._reader.done():
                    raise BrokerUnavailableError(f"the reader of {self.topic} stopped", stage="identity")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BrokerUnavailableError(
                        f"claim at {self.topic}[{partition}]@{offset} not read back within {self._readback_timeout_s} s", stage="identity"
                    )
                try:
                    # Woken by each fetch; the short slice notices a reader that died meanwhile.
                    await asyncio.wait_for(self._progress.wait(), min(remaining, 0.5))
                except asyncio.TimeoutError:
                    continue

    async def _ensure_reader(self) -> None:
        if self._reader is not None and not self._reader.done():
            return
        if self._reader is not None and not self._reader.cancelled() and self._reader.exception() is not None:
            log.warning("restarting the reader of %s after: %r", self.topic, self._reader.exception())
        await self.stop()
        consumer = AIOKafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._fetch_max_wait_ms,
            **self._consumer_kwargs,
        )
        self._consumer = consumer  # kept before starting, so stop() reaches a reader that failed half-way
        try:
            await consumer.start()
            partitions = consumer.partitions_for_topic(self.topic)
            if not partitions:
                await consumer._client.force_metadata_update()  # metadata is read once at start
                partitions = consumer.partitions_for_topic(self.topic)
            if not partitions:
                raise BrokerUnavailableError(f"topic {self.topic} has no partitions on the broker", stage="identity")
            assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
        except BaseException:
            await self.stop()
            raise
        # A context of its own: the reader outlives the batch (and its trace) whose claim started it.
        self._reader = asyncio.get_running_loop().create_task(
            self._read(consumer), name=f"claims-reader {self.topic}", context=contextvars.Context())

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            now = time.time()
            for tp, records in batches.items():
                for record in records:
                    self._remember(record, now)
                    self._read_up_to[tp.partition] = record.offset + 1
            self._forget_older_than(now - self._retention_s)
            async with self._progress:
                self._progress.notify_all()

    def _remember(self, record: Any, now: float) -> None:
        try:
            key = record.key.decode()
            body = json.loads(record.value)
            remembered = Claim(key, str(body["digest"]), str(body["request_id"])).remembered  # ValueError unless hex
        except (AttributeError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            # Only workers write claims; a record that is not one was written by someone else.
            log.warning("skipping a record on %s that is not a claim (partition %s, offset %s): %r", self.topic, record.partition, record.offset, exc)
            return
        if key not in self._first:
            made = record.timestamp / 1000 if record.timestamp and record.timestamp > 0 else now
            self._first[key] = (remembered, made)

    def _forget_older_than(self, cutoff: float) -> None:
        while self._first:
            key, (_, made) = next(iter(self._first.items()))
            if made >= cutoff:
                return
            del self._first[key]

    async def stop(self) -> None:
        """Stop the reader (idempotent); a later ``settle`` starts it again from the beginning."""
        reader, self._reader = self._reader, None
        if reader is not None and not reader.done():
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
        self._first.clear()
        self._read_up_to.clear()

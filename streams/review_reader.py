"""A worker's reader of the review logs: every partition of ``<prefix>.review`` and
``<prefix>.review.decisions``, from the beginning, into a ``ReviewState`` that it keeps
current for as long as the worker runs.

Before the review agent judges a decision, it waits (``read_through``) until the state holds

- every decision up to the one in hand (its partition and offset): the first decision of a
  request is then known, whichever worker or reviewer published it; and
- every item that was in the review topic when the decision was taken. An item is always
  published before any decision on it (a person saw it, or the timeout came from it), so an
  item still unknown then does not exist, and the decision is bad input.

"Caught up as of t" needs a fetch answer for each partition whose request left after t, with
the position at that answer's high watermark. aiokafka sends the next fetch of a partition only
after it processed the previous answer (stamped ``last_poll_timestamp``), so when that stamp
changes, the new answer reflects the broker at the old stamp or later. The high watermark of a
fetch answer is exact on the embedded broker too (its ``ListOffsets`` is not: docs/reliability.md).

A reader that fails is restarted from the beginning by the next wait; the state ignores
decisions it already holds (by position), so nothing is lost or counted twice. Nothing here
judges or publishes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from swerve.errors import BrokerUnavailableError
from swerve.streams.review_log import ReviewState

log = logging.getLogger("swerve.review")

# The reader's long-poll wait. Decisions come at a person's pace, so a wait costs little, and a
# longer one keeps an idle reader from polling the broker a hundred times a second.
FETCH_MAX_WAIT_MS = 100


def now_ms() -> int:
    """Wall-clock milliseconds: the clock aiokafka stamps fetch answers with."""
    return int(time.time() * 1000)


class ReviewLogReader:
    """Reads both review topics into ``state`` and says when it is caught up.

    Args:
        review_topic, decisions_topic: the topics' full names.
        state: what the records are added to (its ``pinned_tenant`` binds decisions).
        consumer_kwargs: aiokafka connection settings (bootstrap, TLS, SASL).
        readback_timeout_s: how long a wait may take before the broker counts as unavailable
            (a transient error: the caller retries, then the worker halts).
    """

    def __init__(self, review_topic: str, decisions_topic: str, state: ReviewState, consumer_kwargs: dict[str, Any], readback_timeout_s: float):
        self.review_topic = review_topic
        self.decisions_topic = decisions_topic
        self.state = state
        self._consumer_kwargs = consumer_kwargs
        self._readback_timeout_s = readback_timeout_s
        self._read_up_to: dict[TopicPartition, int] = {}  # next offset the reader will read
        self._fresh_as_of: dict[TopicPartition, int] = {}  # ms: the state holds everything the partition had then
        self._progress = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._assigned: list[TopicPartition] = []

    async def read_through(self, decisions: Sequence[tuple[int, int]]) -> None:
        """Return once the state holds each decision at ``(partition, offset)`` of the decisions
        topic, and every item the review topic held when this was called.

        Raises:
            BrokerUnavailableError: the reader did not get there within the timeout.
        """
        asked_at = now_ms()
        await self._ensure_reader()

        def done() -> bool:
            read = all(self._read_up_to.get(TopicPartition(self.decisions_topic, p), 0) > offset for p, offset in decisions)
            return read and self._fresh_since(asked_at, self.review_topic)

        await self._wait(done, f"decisions {list(decisions)} and the items before them")

    async def caught_up(self) -> None:
        """Return once the state holds everything both topics held when this was called.

        Raises:
            BrokerUnavailableError: the reader did not get there within the timeout.
        """
        asked_at = now_ms()
        await self._ensure_reader()
        await self._wait(lambda: self._fresh_since(asked_at), "both review topics")

    def _fresh_since(self, moment_ms: int, topic: str | None = None) -> bool:
        partitions = [tp for tp in self._assigned if topic is None or tp.topic == topic]
        return bool(partitions) and all(self._fresh_as_of.get(tp, -1) > moment_ms for tp in partitions)

    async def _wait(self, done: Any, what: str) -> None:
        deadline = time.monotonic() + self._readback_timeout_s
        async with self._progress:
            while not done():
                if self._reader is None or self._reader.done():
                    raise BrokerUnavailableError(f"the reader of {self.review_topic} and {self.decisions_topic} stopped", stage="review")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BrokerUnavailableError(f"{what} not read back within {self._readback_timeout_s} s", stage="review")
                try:
                    # Woken by each fetch; the short slice notices a reader that died meanwhile.
                    await asyncio.wait_for(self._progress.wait(), min(remaining, 0.5))
                except asyncio.TimeoutError:
                    continue

    async def _ensure_reader(self) -> None:
        if self._reader is not None and not self._reader.done():
            return
        if self._reader is not None and not self._reader.cancelled() and self._reader.exception() is not None:
            log.warning("restarting the reader of the review topics after: %r", self._reader.exception())
        await self.stop()
        consumer = AIOKafkaConsumer(
            group_id=None, enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=FETCH_MAX_WAIT_MS, **self._consumer_kwargs
        )
        self._consumer = consumer  # kept before starting, so stop() reaches a reader that failed half-way
        try:
            await consumer.start()
            assigned: list[TopicPartition] = []
            for topic in (self.review_topic, self.decisions_topic):
                partitions = consumer.partitions_for_topic(topic)
                if not partitions:
                    await consumer._client.force_metadata_update()  # metadata is read once at start
                    partitions = consumer.partitions_for_topic(topic)
                if not partitions:
                    raise BrokerUnavailableError(f"topic {topic} has no partitions on the broker", stage="review")
                assigned += [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
        except BaseException:
            await self.stop()
            raise
        self._assigned = assigned
        started = now_ms()
        self._reader = asyncio.get_running_loop().create_task(self._read(consumer, started), name="review-log reader")

    async def _read(self, consumer: AIOKafkaConsumer, started_ms: int) -> None:
        # The first answer of each partition answers a request sent after the reader started.
        last_answer = {tp: started_ms for tp in self._assigned}
        while True:
            batches = await consumer.getmany(timeout_ms=FETCH_MAX_WAIT_MS)
            for tp, records in batches.items():
                short = "review" if tp.topic == self.review_topic else "review_decisions"
                for record in records:
                    self.state.add_record(short, record.value, list(record.headers or []), tp.partition, record.offset)
                    self._read_up_to[tp] = record.offset + 1
            for tp in self._assigned:
                answered = consumer.last_poll_timestamp(tp)
                if answered is None or answered == last_answer[tp]:
                    continue
                as_of, last_answer[tp] = last_answer[tp], answered
                high = consumer.highwater(tp)
                if high is not None and await consumer.position(tp) >= high:
                    self._fresh_as_of[tp] = as_of
            async with self._progress:
                self._progress.notify_all()

    async def stop(self) -> None:
        """Stop the reader (idempotent); a later wait starts it again from the beginning."""
        reader, self._reader = self._reader, None
        if reader is not None and not reader.done():
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
        self._read_up_to.clear()
        self._fresh_as_of.clear()

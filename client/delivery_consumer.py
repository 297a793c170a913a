"""The one consumer of ``<prefix>.delivery`` a client shares among all its calls.

It has no consumer group (nothing is committed, nothing rebalances, any number of clients
read the same topic side by side), is assigned every partition, and starts at the end each
partition had at ``start()``: every delivery published after that is read, older ones are not
(``swerve.client.delivery_scan`` reads those). A background task decodes each record and hands
it to a callback; a record that is not a valid delivery is logged and skipped.

Partitions added to the topic after ``start()`` are not read until the client restarts.
This module must never commit offsets, and never open more than one consumer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from aiokafka import AIOKafkaConsumer

from swerve.errors import InvalidInputError
from swerve.streams.envelope import decode
from swerve.streams.events import DeliveryEvent
from swerve.streams.settings import Settings
from swerve.streams.topic_reading import topic_partitions
from swerve.streams.topics import TopicNames

__all__ = ["DeliveryConsumer"]

log = logging.getLogger("swerve.client")

# How long the broker may hold a fetch that has nothing to return. The embedded broker answers
# a fetch only when this runs out, so it bounds the latency an outcome gets there; real Kafka
# answers as soon as a record arrives, and an idle client then polls about twice a second.
FETCH_MAX_WAIT_MS = 100
# How long one getmany() waits before the loop goes round again.
POLL_TIMEOUT_MS = 500


class DeliveryConsumer:
    """Reads ``<prefix>.delivery`` from its end at start and calls ``on_delivery`` per record.

    Args:
        settings (`Settings`): the broker and the topic prefix.
        on_delivery (`Callable[[DeliveryEvent], object]`): called on the event loop for every
            valid delivery, in partition order; it must not block.
        on_stop (`Callable[[BaseException], None]`): called when the reading task ends with
            an error (the broker is gone for good); no delivery can come after it.
    """

    def __init__(
        self,
        settings: Settings,
        on_delivery: Callable[[DeliveryEvent], object],
        on_stop: Callable[[BaseException], None],
    ) -> None:
        self.settings = settings
        self.topic = TopicNames(settings.topic_prefix).delivery
        self._on_delivery = on_delivery
        self._on_stop = on_stop
        self._consumer: Any = None
        self._task: asyncio.Task[None] | None = None

    @property
    def failure(self) -> BaseException | None:
        """Why the reading task stopped, if it stopped with an error."""
        task = self._task
        if task is None or not task.done() or task.cancelled():
            return None
        return task.exception()

    async def start(self) -> None:
        """Open the consumer, pin every partition's end, and start reading.

        Raises:
            ConfigurationError: ``<prefix>.delivery`` does not exist (``swerve topics create``).
            KafkaError: the broker cannot be reached.
        """
        consumer = AIOKafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            # A position that retention deleted under us: read more rather than skip outcomes.
            auto_offset_reset="earliest",
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            **self.settings.kafka.aiokafka_kwargs(),
        )
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()  # a failed start leaves its client open (an "Unclosed AIOKafkaConsumer")
            raise
        # Let aiokafka's own background task start: stop() cancels it, and one cancelled
        # before it ran raises CancelledError out of stop(), hiding why we stopped.
        await asyncio.sleep(0)
        try:
            partitions = await topic_partitions(consumer, self.topic, self.settings)
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)
            # Resolve each position now: a delivery published after start() returns is read.
            for partition in partitions:
                await consumer.position(partition)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        self._task = asyncio.get_running_loop().create_task(self._read(), name="swerve-client-deliveries")
        self._task.add_done_callback(self._stopped)

    async def stop(self) -> None:
        """Stop reading and close the consumer."""
        task, self._task = self._task, None
        if task is not None:
            task.remove_done_callback(self._stopped)
            task.cancel()
            # wait() neither raises the task's error nor the cancellation we asked for.
            await asyncio.wait([task])
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def _read(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
            for records in batch.values():
                for record in records:
                    delivery = self._decoded(record)
                    if delivery is not None:
                        self._on_delivery(delivery)

    def _decoded(self, record: Any) -> DeliveryEvent | None:
        try:
            event = decode(record.value, record.headers, DeliveryEvent)
        except InvalidInputError as exc:
            # Not ours to dead-letter: the workers own the topic. Skip it, visibly.
            log.warning("skipping an invalid record at %s[%s]@%s: %s", record.topic, record.partition, record.offset, exc)
            return None
        return event if isinstance(event, DeliveryEvent) else None

    def _stopped(self, task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("the delivery reader of %s stopped: %s: %s", self.topic, type(error).__name__, error)
            self._on_stop(error)

"""Finds a past delivery of one request by reading ``<prefix>.delivery`` from its beginning.

For a request the client never saw delivered (it was published by another process, or before
this client started). It opens its own short-lived, group-less consumer, reads every retained
record of every partition up to the end it had when the scan began, and stops at the first
record keyed by the request id: the first delivery of that request in its partition's order.
Only records with that key are decoded.

Its cost grows with what the topic retains: every record is fetched from the broker once per
scan. It is a recovery path (a restarted process asking for old requests), not something to
call in a loop. This module must never commit offsets.
"""

from __future__ import annotations

import logging

from swerve.errors import InvalidInputError
from swerve.streams.envelope import decode
from swerve.streams.events import DeliveryEvent
from swerve.streams.settings import Settings
from swerve.streams.topic_reading import open_consumer, read_to_end, topic_partitions
from swerve.streams.topics import TopicNames

__all__ = ["find_delivery"]

log = logging.getLogger("swerve.client")


async def find_delivery(settings: Settings, request_id: str) -> DeliveryEvent | None:
    """The first delivery of ``request_id`` on ``<prefix>.delivery``, or None if there is none yet.

    Raises:
        ConfigurationError: the topic does not exist.
        TimeoutError: a partition stopped answering short of its end (``read_to_end``).
    """
    topic = TopicNames(settings.topic_prefix).delivery
    # Deliveries are keyed by request id (streams/envelope.py): no other record needs decoding.
    key = request_id.encode()
    async with open_consumer(settings) as consumer:
        partitions = await topic_partitions(consumer, topic, settings)
        starts = await consumer.beginning_offsets(partitions)
        # read_to_end holds nothing of its own: leaving it early is safe, the consumer closes here.
        async for record in read_to_end(consumer, starts):
            if record.key != key:
                continue
            try:
                event = decode(record.value, record.headers, DeliveryEvent)
            except InvalidInputError as exc:
                log.warning("skipping an invalid record at %s[%s]@%s: %s", record.topic, record.partition, record.offset, exc)
                continue
            if isinstance(event, DeliveryEvent) and event.request_id == request_id:
                return event
    return None

"""Asks the broker, within a bounded time, what a worker's health depends on: does it answer,
which topics exist, and where the worker's consumer group stands on its assigned partitions.

One admin client (topic list, the group's committed offsets) and one consumer without a group
(log start and end offsets) are kept open while the broker answers. After a failed probe
both are closed and the next probe opens them again: a started aiokafka client whose broker
is gone retries in the background and logs every try, which is the noise this replaces.

The end of a partition is the larger of what the broker answers to ListOffsets and the high
watermark the worker's own consumer last fetched (``seen_ends``): Tansu, the embedded broker,
answers ListOffsets with the last *batch's* base offset + 1 (measured: 8 records sent in 4
batches, it answered 4), so the broker's answer alone under-reports lag there.

This module must never create topics, join a consumer group or commit offsets.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Collection, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from swerve.streams.settings import KafkaSettings
from swerve.streams.worker_health import Partition, PartitionPosition

log = logging.getLogger("swerve.broker_probe")


@dataclass(frozen=True)
class BrokerAnswer:
    """The broker answered: the topics it lists, and the group's position on each assigned partition
    that still exists."""

    topics: frozenset[str]
    positions: dict[Partition, PartitionPosition]


@dataclass(frozen=True)
class BrokerUnreachable:
    """The broker did not answer within the timeout, or refused; ``reason`` says how."""

    reason: str


class BrokerProbe:
    """Probes one cluster for one consumer group.

    Args:
        kafka: how to reach the broker (the worker's own connection settings).
        group_id: the worker's consumer group (its faust app id).
        timeout_s: the most one probe may take, connecting included.
    """

    def __init__(self, kafka: KafkaSettings, group_id: str, timeout_s: float):
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be above 0, got {timeout_s}")
        self.kafka = kafka
        self.group_id = group_id
        self.timeout_s = timeout_s
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None

    async def probe(self, assigned: Collection[Partition], seen_ends: Mapping[Partition, int] | None = None) -> BrokerAnswer | BrokerUnreachable:
        """One probe: the topic list, and committed and end offsets of the ``assigned`` partitions.

        Args:
            assigned: the partitions the worker's consumer owns now.
            seen_ends: high watermarks the worker's consumer fetched, where known.
        """
        try:
            return await asyncio.wait_for(self._ask(assigned, seen_ends or {}), self.timeout_s)
        except (TimeoutError, KafkaError, OSError) as exc:
            await self.close()
            return BrokerUnreachable(f"{self.kafka.bootstrap}: {self._describe(exc)}")

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, TimeoutError):
            return f"no answer within {self.timeout_s:g} s"
        text = str(exc)
        # aiokafka's errors already start with their class name; others do not.
        return text if text.startswith(type(exc).__name__) else f"{type(exc).__name__}: {text}"

    async def close(self) -> None:
        """Close both clients; the next probe opens new ones."""
        admin, offsets, self._admin, self._offsets = self._admin, self._offsets, None, None
        for close in ([admin.close()] if admin else []) + ([offsets.stop()] if offsets else []):
            try:
                await asyncio.wait_for(close, self.timeout_s)
            except (TimeoutError, KafkaError, OSError) as exc:
                # Closing is best effort: the client is dropped either way, and its socket with it.
                log.debug("closing a probe client failed: %r", exc)

    async def _ask(self, assigned: Collection[Partition], seen_ends: Mapping[Partition, int]) -> BrokerAnswer:
        admin, offsets = await self._clients()
        topics = frozenset(await admin.list_topics())
        present = sorted({TopicPartition(topic, partition) for topic, partition in assigned if topic in topics})
        positions: dict[Partition, PartitionPosition] = {}
        if present:
            committed = await admin.list_consumer_group_offsets(self.group_id, partitions=present)
            starts = await offsets.beginning_offsets(present)
            ends = await offsets.end_offsets(present)
            for tp in present:
                mark = committed.get(tp)
                resume_at = mark.offset if mark is not None and mark.offset >= 0 else starts[tp]
                end = max(ends[tp], seen_ends.get((tp.topic, tp.partition), 0))
                positions[(tp.topic, tp.partition)] = PartitionPosition(committed=max(resume_at, starts[tp]), end=end)
        return BrokerAnswer(topics, positions)

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._offsets is None:
            kwargs = self.kafka.aiokafka_kwargs()
            timeout_ms = int(self.timeout_s * 1000)
            admin = AIOKafkaAdminClient(request_timeout_ms=timeout_ms, **kwargs)
            offsets = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, request_timeout_ms=timeout_ms, **kwargs)
            # Kept before starting, so close() reaches a client that failed half-way.
            self._admin, self._offsets = admin, offsets
            await admin.start()
            await offsets.start()
        return self._admin, self._offsets

"""The review queue for whoever shows items to people and publishes their decisions (``swerve
review``, the gateway): a snapshot of both review topics, the checks a decision must pass, and
publishing one with its verdict read back from the log.

::

    ledger = await ReviewLedger.read(settings)          # both topics, to the ends they had
    ledger.pending(tenant="acme")                       # items waiting for a person, oldest first
    ledger.decision_of(request_id)                      # the decision that settled it, or None
    decision = ledger.decision(request_id, "block", reviewer="alice", note="a near-copy")
    receipt = await ledger.submit(decision)             # publish, then read the log back to it
    receipt.accepted or receipt.refusal()               # AlreadyDecidedError: the first decision

``decision`` refuses at once what the worker would refuse (a request already decided, with the
first decision's details; no candidate for ``approve_replacement``; another tenant's item).
Two reviewers can still pass that check at the same moment: the log then orders them, the
first wins, and ``submit`` tells the second from the log itself, exactly as the worker does
(``review_log``): the worker records the loser's refusal in the audit log.

It reads with no consumer group and commits nothing. A snapshot does not follow the topics:
read a new one to see new items.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka import TopicPartition

from swerve.errors import AlreadyDecidedError, ReviewDecisionError, ReviewItemNotFoundError
from swerve.streams.events import ReviewDecisionEvent, ReviewItemEvent, ReviewVerdict
from swerve.streams.review_log import RESERVED_REVIEWER_PREFIX, ReviewState, refusal, same_decision
from swerve.streams.settings import Settings
from swerve.streams.topic_io import publish_events
from swerve.streams.topic_reading import open_consumer, read_to_end, topic_partitions
from swerve.streams.topics import TopicNames

__all__ = ["DecisionReceipt", "ReviewLedger"]


@dataclass(frozen=True)
class DecisionReceipt:
    """A published decision, where it landed, and the decision the log says settled its request."""

    decision: ReviewDecisionEvent
    partition: int
    offset: int
    first: ReviewDecisionEvent

    @property
    def accepted(self) -> bool:
        return same_decision(self.first, self.decision)

    def refusal(self) -> AlreadyDecidedError | None:
        """Why it changed nothing (the first decision's details), or None when it was the first."""
        return None if self.accepted else refusal(self.first, self.decision)


class ReviewLedger:
    """A snapshot of the review queue; build it with ``await ReviewLedger.read(settings)``."""

    def __init__(self, settings: Settings, state: ReviewState, positions: dict[TopicPartition, int],
                 read_through: Callable[[int, int], Awaitable[None]] | None = None):
        """``read_through(partition, offset)``: how ``submit`` reads the decisions log back to a
        decision it published; by default a consumer of this snapshot's own, from ``positions``.
        A caller that keeps ``state`` current itself (the gateway's live reader) passes its own."""
        self.settings = settings
        self.state = state
        self._positions = positions  # partition -> next offset to read
        self._topics = TopicNames(settings.topic_prefix)
        self._read_through = read_through or self._read_snapshot_through

    @classmethod
    async def read(cls, settings: Settings) -> ReviewLedger:
        """Read ``<prefix>.review`` and ``<prefix>.review.decisions`` to the ends they have now.

        Raises:
            ConfigurationError: a review topic does not exist (run ``swerve topics create``).
            TimeoutError: a partition stopped answering short of its end.
        """
        topics = TopicNames(settings.topic_prefix)
        state = ReviewState(settings.worker.tenant)
        positions: dict[TopicPartition, int] = {}
        async with open_consumer(settings) as consumer:
            partitions = [*await topic_partitions(consumer, topics.review, settings), *await topic_partitions(consumer, topics.review_decisions, settings)]
            async for record in read_to_end(consumer, {tp: 0 for tp in partitions}):
                short = "review" if record.topic == topics.review else "review_decisions"
                state.add_record(short, record.value, record.headers, record.partition, record.offset)
                positions[TopicPartition(record.topic, record.partition)] = record.offset + 1
        return cls(settings, state, positions)

    # -- answers ---------------------------------------------------------------------------

    def pending(self, tenant: str | None = None) -> list[ReviewItemEvent]:
        """Items waiting for a person, oldest first; only ``tenant``'s when given."""
        return self.state.pending(tenant)

    def item(self, request_id: str) -> ReviewItemEvent | None:
        """The request's review item, when it went to review."""
        return self.state.item(request_id)

    def decision_of(self, request_id: str) -> ReviewDecisionEvent | None:
        """The decision that settled the request (the first valid one in the log), or None."""
        return self.state.first_decision(request_id)

    def decided(self, tenant: str | None = None) -> list[tuple[ReviewItemEvent, ReviewDecisionEvent]]:
        """Each settled item with its decision, oldest first."""
        return self.state.decided(tenant)

    # -- deciding --------------------------------------------------------------------------

    def decision(
        self, request_id: str, decision: ReviewVerdict, *, reviewer: str, note: str = "", tenant: str | None = None
    ) -> ReviewDecisionEvent:
        """A decision on the request's pending item, checked as the worker will check it.

        Args:
            request_id: the request under review.
            decision: ``approve_original``, ``approve_replacement`` or ``block``.
            reviewer: who decides (the gateway binds it to the caller's key); never ``swerve:...``.
            note: why, for the audit log and the delivery's reason.
            tenant: the caller's tenant, when the caller may see only its own items: another
                tenant's item is answered as not found.

        Raises:
            ReviewItemNotFoundError: no item waits under ``request_id`` (for ``tenant``).
            AlreadyDecidedError: another decision settled it first; the error names it.
            NoReplacementCandidateError: ``approve_replacement`` where corrections left no candidate.
            ReviewDecisionError: a reserved reviewer name.
        """
        item = self.state.item(request_id)
        if item is None or (tenant is not None and item.tenant != tenant):
            raise ReviewItemNotFoundError(f"no review item waits under request {request_id!r}" + (f" for tenant {tenant!r}" if tenant else ""), stage="review")
        if reviewer.startswith(RESERVED_REVIEWER_PREFIX):
            raise ReviewDecisionError(f"reviewer names starting with {RESERVED_REVIEWER_PREFIX!r} are swerve's own; got {reviewer!r}", stage="review")
        event = ReviewDecisionEvent(
            id=str(uuid.uuid4()), request_id=request_id, tenant=item.tenant, item_id=item.id, decision=decision, reviewer=reviewer, note=note
        )
        self.state.check(event)
        return event

    async def submit(self, decision: ReviewDecisionEvent) -> DecisionReceipt:
        """Check ``decision`` again, publish it, and read the decisions log back through it.

        The receipt says whether it was the first decision of its request (``accepted``) or lost
        to one published meanwhile (``refusal()``).

        Raises:
            AlreadyDecidedError, ReviewDecisionError: as ``decision`` (nothing is published).
        """
        self.state.check(decision)
        [landed] = await publish_events(self.settings, "review_decisions", [decision])
        await self._read_through(landed.partition, landed.offset)
        first = self.state.first_decision(decision.request_id)
        if first is None:
            raise RuntimeError(f"decision {decision.id} landed at {self._topics.review_decisions}[{landed.partition}]@{landed.offset} "
                               "but was not read back")
        return DecisionReceipt(decision, landed.partition, landed.offset, first)

    async def _read_snapshot_through(self, partition: int, offset: int) -> None:
        tp = TopicPartition(self._topics.review_decisions, partition)
        async with open_consumer(self.settings) as consumer:
            async for record in read_to_end(consumer, {tp: self._positions.get(tp, 0)}, stop_before=offset + 1):
                self.state.add_record("review_decisions", record.value, record.headers, record.partition, record.offset)
                self._positions[tp] = record.offset + 1

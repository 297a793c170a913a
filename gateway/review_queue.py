"""The review queue as the gateway's review page sees it: the worker's reader of both review
topics, kept live, and decisions published through the same checks the worker applies.

::

    queue = ReviewQueue(settings)                        # follows the topics from the first call
    items = await queue.pending(tenants={"acme"})          # caught up with both topics first
    receipt = await queue.decide("req-1", "block", reviewer="alice", note="a near-copy", tenants={"acme"})
    receipt.accepted or receipt.refusal()                 # AlreadyDecidedError: the first decision

A reviewer sees and decides only the items of the tenants their key allows; another tenant's
item is answered as not found. The checks and the read-back are ``ReviewLedger``'s and the
worker's (``streams/review_ledger.py``, ``streams/review_reader.py``); nothing is judged here.
"""

from __future__ import annotations

from collections.abc import Collection

from aiokafka.errors import KafkaError

from swerve.errors import BrokerUnavailableError, ReviewItemNotFoundError
from swerve.media import ImageStore, read_image_bytes
from swerve.streams.events import ReviewItemEvent, ReviewVerdict
from swerve.streams.review_ledger import DecisionReceipt, ReviewLedger
from swerve.streams.review_log import ReviewState
from swerve.streams.review_reader import ReviewLogReader
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames

__all__ = ["ReviewQueue"]


class ReviewQueue:
    """The live review queue of one gateway.

    Args:
        settings (`Settings`): the broker, topic prefix, image store and media limits.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        topics = TopicNames(settings.topic_prefix)
        self.state = ReviewState(settings.worker.tenant)
        self.reader = ReviewLogReader(topics.review, topics.review_decisions, self.state, settings.kafka.aiokafka_kwargs(),
                                      readback_timeout_s=settings.worker.probe_timeout_s * 2)
        # The ledger's checks and submission over the live state, read back by the live reader.
        self.ledger = ReviewLedger(settings, self.state, positions={},
                                   read_through=lambda partition, offset: self.reader.read_through([(partition, offset)]))
        self.store = ImageStore(settings.image_store_uri)

    async def close(self) -> None:
        await self.reader.stop()

    async def _caught_up(self) -> None:
        """The state holds what both topics held now (the reader starts on the first call)."""
        try:
            await self.reader.caught_up()
        except (KafkaError, OSError) as exc:  # the reader's consumer could not start: answered 503, retried by the page
            raise BrokerUnavailableError(f"the review topics cannot be read: {exc}", stage="review") from exc

    async def pending(self, tenants: Collection[str]) -> list[ReviewItemEvent]:
        """Items waiting for a person, oldest first, of ``tenants`` only; as of now.

        Raises:
            BrokerUnavailableError: the topics could not be read back in time.
        """
        await self._caught_up()
        return [item for item in self.state.pending() if item.tenant in tenants]

    def item(self, request_id: str, tenants: Collection[str]) -> ReviewItemEvent:
        """The request's review item, pending or decided, when its tenant is one of ``tenants``.

        Raises:
            ReviewItemNotFoundError: no item under ``request_id`` for those tenants.
        """
        item = self.state.item(request_id)
        if item is None or item.tenant not in tenants:
            raise ReviewItemNotFoundError(f"no review item under request {request_id!r} for your tenants", stage="review")
        return item

    def image(self, item: ReviewItemEvent, which: str) -> tuple[bytes, str]:
        """The encoded original or candidate image of ``item`` and its media type.

        Raises:
            ReviewItemNotFoundError: ``which`` is ``replacement`` and there is no candidate.
            MediaError: the image cannot be read or fails its sha256.
        """
        if which == "original":
            ref = item.generation.image
        elif item.candidate is not None:
            ref = item.candidate.image
        else:
            raise ReviewItemNotFoundError(f"request {item.request_id!r} has no replacement candidate", stage="review")
        return read_image_bytes(ref, self.settings.media, self.store), ref.media_type

    async def decide(self, request_id: str, decision: ReviewVerdict, *, reviewer: str, note: str,
                     tenants: Collection[str]) -> DecisionReceipt:
        """Publish ``reviewer``'s decision once it passes the worker's checks; say whether it won.

        Raises:
            ReviewItemNotFoundError: no item waits under ``request_id`` for ``tenants``.
            AlreadyDecidedError: a decision settled it first (the error names it).
            NoReplacementCandidateError, ReviewDecisionError: as ``ReviewLedger.decision``.
            BrokerUnavailableError: the decision could not be read back in time.
        """
        await self._caught_up()
        item = self.item(request_id, tenants)
        event = self.ledger.decision(request_id, decision, reviewer=reviewer, note=note, tenant=item.tenant)
        return await self.ledger.submit(event)

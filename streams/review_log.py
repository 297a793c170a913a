"""The review queue read back into memory from its two logs, and the rules that say which
decision of a request counts. Workers, the CLI and the gateway all answer from this state.

- **Items** come from ``<prefix>.review``; a request keeps its first item (a replayed input
  republishes the same item id).
- **Decisions** come from ``<prefix>.review.decisions``. They are keyed by request id, so all
  decisions on one request sit in one partition, in one order, whoever published them.
- **The first valid decision of a request wins.** Valid means (``problem_with``): it names the
  request's item (``item_id``) under the item's tenant; ``approve_replacement`` only where the
  item has a candidate; reviewer names starting with ``swerve:`` are swerve's own, and only the
  timeout decision may use one (``swerve:review-timeout``: its deterministic id, the item's
  ``timeout_decision``, made at or after the item's deadline).
- A later decision on a decided request is either the first one again (same id and content,
  ``created_at`` aside: a producer's retry, two workers timing out the same item), which
  applies again with the same output ids, or a **refusal** carrying the first decision's
  details (``AlreadyDecidedError``).

Why the log and not a table: the first decision must win whoever reads, and the only order
every reader shares is the decisions log's (the same argument as ``identity_claims``). Both
logs are read in full, so a reader holds every item and decision within the topics' retention
(``SWERVE_WORKER_REVIEW_RETENTION_H``): review traffic is the flagged share of traffic that a
person must look at, small by construction.

Nothing here does I/O: ``review_reader`` (workers) and ``review_ledger`` (CLI, gateway) feed it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Sequence

from swerve.errors import (
    AlreadyDecidedError,
    InvalidInputError,
    NoReplacementCandidateError,
    ReviewDecisionError,
    ReviewItemNotFoundError,
    TenantMismatchError,
)
from swerve.streams.envelope import decode
from swerve.streams.events import ReviewDecisionEvent, ReviewItemEvent
from swerve.streams.ids import derive_id
from swerve.streams.tenant_rules import bind_tenant

log = logging.getLogger("swerve.review")

#: The reviewer a timed-out item is resolved by.
TIMEOUT_REVIEWER = "swerve:review-timeout"
#: Reviewer names swerve keeps for itself: a person's name never starts with it.
RESERVED_REVIEWER_PREFIX = "swerve:"


def timeout_decision_id(item: ReviewItemEvent) -> str:
    """The id of the timeout decision on ``item``: the same on every worker and every retry."""
    return derive_id(item.id, "review-timeout")


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC time; a time without a zone (a producer's omission) is read as UTC,
    so comparing it never raises."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def decision_content(decision: ReviewDecisionEvent) -> dict[str, Any]:
    """What makes two decisions the same decision: everything but when it was sent."""
    return decision.model_dump(mode="json", exclude={"created_at"})


def same_decision(first: ReviewDecisionEvent, other: ReviewDecisionEvent) -> bool:
    return first.id == other.id and decision_content(first) == decision_content(other)


def problem_with(item: ReviewItemEvent | None, decision: ReviewDecisionEvent) -> InvalidInputError | None:
    """Why ``decision`` cannot apply to ``item`` (the request's item, None when there is none), or None."""
    where = f"request {decision.request_id!r}"
    if item is None or item.id != decision.item_id:
        return ReviewItemNotFoundError(
            f"no review item {decision.item_id!r} waits under {where}"
            + (f" (its item is {item.id!r})" if item is not None else ""),
            event_id=decision.id, stage="review",
        )
    if item.tenant != decision.tenant:
        return TenantMismatchError(
            f"the decision claims tenant {decision.tenant!r}, but the item of {where} belongs to another tenant",
            event_id=decision.id, stage="review",
        )
    if decision.decision == "approve_replacement" and item.candidate is None:
        return NoReplacementCandidateError(
            f"approve_replacement for {where}, whose item has no replacement candidate "
            f"({item.route}: {item.correction_reasons or 'sent to review on the first verdict'}); decide approve_original or block",
            event_id=decision.id, stage="review",
        )
    if decision.reviewer == TIMEOUT_REVIEWER:
        if decision.id != timeout_decision_id(item) or decision.decision != item.timeout_decision or as_utc(decision.created_at) < as_utc(item.deadline):
            return ReviewDecisionError(
                f"a decision by {TIMEOUT_REVIEWER} for {where} that is not its timeout decision "
                f"(id {timeout_decision_id(item)}, {item.timeout_decision}, at or after {item.deadline.isoformat()})",
                event_id=decision.id, stage="review",
            )
    elif decision.reviewer.startswith(RESERVED_REVIEWER_PREFIX):
        return ReviewDecisionError(
            f"reviewer names starting with {RESERVED_REVIEWER_PREFIX!r} are swerve's own; {decision.reviewer!r} is not one of them",
            event_id=decision.id, stage="review",
        )
    return None


def refusal(first: ReviewDecisionEvent, refused: ReviewDecisionEvent) -> AlreadyDecidedError:
    """The refusal of ``refused``, naming the first decision of its request."""
    return AlreadyDecidedError(
        f"request {refused.request_id!r} was already decided: {first.decision} by {first.reviewer!r} "
        f"at {first.created_at.isoformat()} (decision {first.id}); the first decision wins",
        request_id=refused.request_id,
        first_decision=first.decision,
        first_reviewer=first.reviewer,
        first_decided_at=first.created_at.isoformat(),
        first_decision_id=first.id,
        event_id=refused.id,
    )


@dataclass(frozen=True)
class SettledDecision:
    """A decision judged against the log: the item it is about and the request's first decision.

    ``wins`` when it is that first decision (or the same one again); otherwise it is refused.
    """

    decision: ReviewDecisionEvent
    item: ReviewItemEvent
    first: ReviewDecisionEvent

    @property
    def wins(self) -> bool:
        return same_decision(self.first, self.decision)


class ReviewState:
    """Every review item and decision read so far, by request.

    Args:
        pinned_tenant: on a worker pinned to a tenant (``SWERVE_WORKER_TENANT``), decisions are
            bound to it as inputs are (``tenant_rules.bind_tenant``); one claiming another
            tenant never counts.
    """

    def __init__(self, pinned_tenant: str | None = None) -> None:
        self.pinned_tenant = pinned_tenant
        self._items: dict[str, ReviewItemEvent] = {}
        self._decisions: dict[str, list[ReviewDecisionEvent]] = {}
        self._positions: set[tuple[int, int]] = set()  # decisions already added, by (partition, offset)

    # -- feeding -------------------------------------------------------------------------

    def add_item(self, item: ReviewItemEvent) -> None:
        self._items.setdefault(item.request_id, item)

    def add_decision(self, decision: ReviewDecisionEvent, position: tuple[int, int] | None = None) -> None:
        """Append ``decision`` in log order (the caller reads each partition in order).

        ``position`` (partition, offset) makes adding it again a no-op: a reader that starts
        over from the beginning of the log rebuilds the same state.
        """
        if position is not None:
            if position in self._positions:
                return
            self._positions.add(position)
        try:
            decision = bind_tenant(decision, self.pinned_tenant)
        except TenantMismatchError as exc:
            log.warning("a review decision that can never count: %s", exc)
            return
        self._decisions.setdefault(decision.request_id, []).append(decision)

    def add_record(self, short_topic: str, value: bytes | None, headers: Sequence[tuple[str, bytes]], partition: int, offset: int) -> None:
        """Decode one record of ``review`` or ``review_decisions`` and add it; a record that is
        not a valid event never counts (the worker dead-letters it when it consumes it)."""
        model = ReviewItemEvent if short_topic == "review" else ReviewDecisionEvent
        try:
            event = decode(value, headers, model)
        except InvalidInputError as exc:
            log.warning("skipping an invalid record on the %s topic at partition %d offset %d: %s", short_topic, partition, offset, exc)
            return
        if isinstance(event, ReviewItemEvent):
            self.add_item(event)
        elif isinstance(event, ReviewDecisionEvent):
            self.add_decision(event, (partition, offset))

    # -- answering -----------------------------------------------------------------------

    def item(self, request_id: str) -> ReviewItemEvent | None:
        """The request's review item, when it went to review."""
        return self._items.get(request_id)

    def first_decision(self, request_id: str) -> ReviewDecisionEvent | None:
        """The decision that settles the request: its first valid one in the log, or None."""
        item = self._items.get(request_id)
        return next((d for d in self._decisions.get(request_id, []) if problem_with(item, d) is None), None)

    def settle(self, decision: ReviewDecisionEvent) -> SettledDecision:
        """Judge ``decision``, which this state has already read from the log, against its request.

        Raises:
            ReviewDecisionError, TenantMismatchError: it can never apply (the worker dead-letters it).
            RuntimeError: this state has not read it: the caller did not wait for the reader.
        """
        item = self._items.get(decision.request_id)
        problem = problem_with(item, decision)
        if problem is not None:
            raise problem
        assert item is not None
        first = self.first_decision(decision.request_id)
        if first is None:
            raise RuntimeError(f"review decision {decision.id} was not read back from the decisions log before it was judged")
        return SettledDecision(decision, item, first)

    def check(self, decision: ReviewDecisionEvent) -> None:
        """Whether ``decision``, not yet published, would count: for a publisher's check first.

        Raises:
            AlreadyDecidedError: another decision settled the request first (its details inside).
            ReviewDecisionError, TenantMismatchError: it can never apply.
        """
        problem = problem_with(self._items.get(decision.request_id), decision)
        if problem is not None:
            raise problem
        first = self.first_decision(decision.request_id)
        if first is not None and not same_decision(first, decision):
            raise refusal(first, decision)

    def pending(self, tenant: str | None = None) -> list[ReviewItemEvent]:
        """Items no decision settled yet, oldest first; only ``tenant``'s when given."""
        waiting = [
            item for request_id, item in self._items.items()
            if (tenant is None or item.tenant == tenant) and self.first_decision(request_id) is None
        ]
        return sorted(waiting, key=lambda item: (as_utc(item.waiting_since), item.request_id))

    def overdue(self, now: datetime) -> list[ReviewItemEvent]:
        """Pending items whose deadline has passed at ``now``."""
        return [item for item in self.pending() if as_utc(item.deadline) <= as_utc(now)]

    def decided(self, tenant: str | None = None) -> list[tuple[ReviewItemEvent, ReviewDecisionEvent]]:
        """Each settled item with the decision that settled it, oldest item first."""
        settled = []
        for request_id, item in self._items.items():
            first = self.first_decision(request_id)
            if first is not None and (tenant is None or item.tenant == tenant):
                settled.append((item, first))
        return sorted(settled, key=lambda pair: (as_utc(pair[0].waiting_since), pair[0].request_id))

"""Applying a reviewer's decision: the request's one delivery and an audit record naming the
reviewer, or, for a decision that came after the first, a refusal recorded in the audit log.

The review agent consumes ``<prefix>.review.decisions``. For each decision, once the worker's
``ReviewState`` has read the log through it (``review_reader``):

- ``decode_decision`` checks it against the state: bad input (not a decision, a tenant the
  worker does not serve, no such item, ``approve_replacement`` without a candidate, a reserved
  reviewer name) raises, and the batch runner dead-letters it with the reason. The request
  stays pending: a correct decision, or the timeout, still settles it.
- ``apply_decision``: the request's first valid decision in the log publishes the delivery
  (``original``, ``replacement`` or ``blocked``, ``reason_class: review``, the reason naming the
  reviewer and note) and a signed audit record with the reviewer, note and time in its
  ``context``. The delivery id is the one the detect and correct stages would have used for
  the request, so it dedupes like theirs; the same decision consumed again (a restart, a
  producer's retry, two workers timing out one item) publishes the same ids again.
- Any other decision on a decided request is refused: an audit record (``decision:
  refused``) carries it and the first decision's id, decision, reviewer and time, and nothing
  is delivered. Refusals go to the audit log, not the DLQ: a refused decision is well-formed
  and about a real item; what it says lost a race, and compliance wants both reviewers'
  calls on record.

No broker code here.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Sequence

from swerve.streams.envelope import decode
from swerve.streams.events import DeliveryEvent, DeliveryOutcome, ReviewDecisionEvent, ReviewItemEvent
from swerve.streams.ids import derive_id
from swerve.streams.publication import Publication, audit_of
from swerve.streams.review_log import ReviewState, SettledDecision, decision_content, refusal
from swerve.streams.tenant_rules import bind_tenant

_OUTCOME: dict[str, DeliveryOutcome] = {"approve_original": "original", "approve_replacement": "replacement", "block": "blocked"}


def decode_decision(
    value: bytes | None, headers: Sequence[tuple[str, bytes]], state: ReviewState, pinned_tenant: str | None = None
) -> SettledDecision:
    """A decision from the decisions topic, bound to the worker's tenant and judged against ``state``.

    Raises:
        InvalidInputError: not a decision, or one that can never apply (``ReviewState.settle``).
    """
    event = decode(value, headers, ReviewDecisionEvent)
    assert isinstance(event, ReviewDecisionEvent)
    return state.settle(bind_tenant(event, pinned_tenant))


def decision_record(decision: ReviewDecisionEvent) -> dict[str, Any]:
    """A decision as the audit context names it."""
    return {
        "id": decision.id,
        "decision": decision.decision,
        "reviewer": decision.reviewer,
        "note": decision.note,
        "decided_at": decision.created_at.isoformat(),
    }


def delivery_reason(decision: ReviewDecisionEvent) -> str:
    """Why the request was delivered so: the decision, its reviewer and their note."""
    reason = f"review: {decision.decision} by {decision.reviewer!r}"
    return f"{reason}: {decision.note}"[:2000] if decision.note else reason


def apply_decision(settled: SettledDecision) -> list[Publication]:
    """What ``settled`` publishes: the delivery and its audit record, or a refusal's audit record."""
    if not settled.wins:
        return refused(settled)
    item, decision = settled.item, settled.first  # the first as logged: a redelivery repeats it exactly
    outcome = _OUTCOME[decision.decision]
    candidate = item.candidate if outcome == "replacement" else None
    if outcome == "replacement" and candidate is None:  # settle() refuses this; never deliver a replacement without one
        raise ValueError(f"approve_replacement for request {item.request_id!r} without a candidate reached apply_decision")
    image = candidate.image if candidate is not None else item.generation.image if outcome == "original" else None
    delivery = DeliveryEvent(
        id=derive_id(item.generation.id, "delivery"),
        request_id=item.request_id,
        tenant=item.tenant,
        generation_id=item.generation.id,
        outcome=outcome,
        image=image,
        reason=delivery_reason(decision),
        verdict_id=candidate.verdict.id if candidate is not None else item.verdict.id,
        policy_version=item.policy_version,
        reason_class="review",
    )
    publications = [Publication("delivery", delivery)]
    return [*publications, audit_of("review", decision, decision.decision, publications, context=_context(item, decision))]


def _context(item: ReviewItemEvent, decision: ReviewDecisionEvent) -> dict[str, Any]:
    return {
        **decision_record(decision),
        "item_id": item.id,
        "route": item.route,
        "waiting_since": item.waiting_since.isoformat(),
        "deadline": item.deadline.isoformat(),
    }


def refusal_audit_id(decision: ReviewDecisionEvent) -> str:
    """The refusal record's id: from the decision's id and content, so a decision that reuses
    the first decision's id with other content gets a record of its own."""
    digest = hashlib.sha256(json.dumps(decision_content(decision), sort_keys=True).encode()).hexdigest()
    return derive_id(f"{decision.id}#{digest}", "audit.review.refused")


def refused(settled: SettledDecision, error: BaseException | None = None) -> list[Publication]:
    """The audit record of a decision that came after the request's first one: nothing is delivered."""
    decision, first = settled.decision, settled.first
    context: dict[str, Any] = {
        "refused_decision": decision_record(decision),
        "first_decision": decision_record(first),
        "reason": str(refusal(first, decision)),
        "item_id": settled.item.id,
    }
    if error is not None:
        context["internal_error"] = f"{type(error).__name__}: {error}"[:2000]
    return [audit_of("review", decision, "refused", [], context=context, audit_id=refusal_audit_id(decision))]


def fail_closed(settled: SettledDecision, error: BaseException) -> list[Publication]:
    """The outcome of a decision this stage failed on (a bug): the winning one blocks the request
    with ``reason_class: internal``; a refused one is still recorded as refused."""
    if not settled.wins:
        return refused(settled, error)
    item = settled.item
    delivery = DeliveryEvent(
        id=derive_id(item.generation.id, "delivery"),
        request_id=item.request_id,
        tenant=item.tenant,
        generation_id=item.generation.id,
        outcome="blocked",
        reason=f"internal error applying the review decision {settled.first.id}: {type(error).__name__}: {error}"[:2000],
        verdict_id=item.verdict.id,
        policy_version=item.policy_version,
        reason_class="internal",
    )
    publications = [Publication("delivery", delivery)]
    return [*publications, audit_of("review", settled.first, "blocked", publications, context=_context(item, settled.first))]

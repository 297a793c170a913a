"""Decisions on review items: the first valid one in the log wins and becomes the request's one
delivery; later ones are refused with the first's details; bad ones never count."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from swerve.errors import (
    AlreadyDecidedError,
    NoReplacementCandidateError,
    ReviewDecisionError,
    ReviewItemNotFoundError,
    TenantMismatchError,
)
from swerve.streams.envelope import encode
from swerve.streams.events import AuditEvent, DeliveryEvent, ReviewItemEvent
from swerve.streams.ids import derive_id
from swerve.streams.publication import Publication
from swerve.streams.review_decisions import apply_decision, decode_decision, fail_closed
from swerve.streams.review_ledger import ReviewLedger
from swerve.streams.review_log import TIMEOUT_REVIEWER, ReviewState
from swerve.streams.review_timeout import ReviewTimeouts, timeout_decision
from swerve.streams.settings import Settings

from .review_builders import T0, decision, item


def state_of(*items: ReviewItemEvent) -> ReviewState:
    state = ReviewState()
    for it in items:
        state.add_item(it)
    return state


def logged(state: ReviewState, *decisions, start: int = 0) -> None:  # type: ignore[no-untyped-def]
    for offset, d in enumerate(decisions, start=start):
        state.add_decision(d, (0, offset))


def wire(d):  # type: ignore[no-untyped-def]
    encoded = encode(d)
    return encoded.value, encoded.headers


def test_given_a_first_decision_then_it_is_the_one_delivery_and_the_audit_names_the_reviewer() -> None:
    it = item()
    state = state_of(it)
    first = decision(it, "block", "alice", "a near-copy of a training image")
    logged(state, first)
    delivery, audit = apply_decision(decode_decision(*wire(first), state))
    assert isinstance(delivery.event, DeliveryEvent) and isinstance(audit.event, AuditEvent)
    assert delivery.event.id == derive_id(it.generation.id, "delivery")  # the id detect or correct would have used
    assert (delivery.event.outcome, delivery.event.image, delivery.event.reason_class) == ("blocked", None, "review")
    assert delivery.event.reason == "review: block by 'alice': a near-copy of a training image"
    assert (audit.event.stage, audit.event.decision, audit.event.output_ids) == ("review", "block", [delivery.event.id])
    context = audit.event.record["context"]
    assert (context["reviewer"], context["note"], context["item_id"]) == ("alice", "a near-copy of a training image", it.id)


def test_given_two_reviewers_racing_then_the_first_in_the_log_wins_and_the_second_is_refused_with_its_details() -> None:
    it = item()
    state = state_of(it)
    alice, bob = decision(it, "block", "alice"), decision(it, "approve_original", "bob", "looks fine")
    logged(state, alice, bob)
    assert state.first_decision(it.request_id) == alice
    [refusal] = apply_decision(decode_decision(*wire(bob), state))
    assert isinstance(refusal.event, AuditEvent) and refusal.topic == "audit"  # nothing is delivered
    assert refusal.event.decision == "refused" and refusal.event.output_ids == []
    first = refusal.event.record["context"]["first_decision"]
    assert (first["decision"], first["reviewer"], first["id"], first["decided_at"]) == ("block", "alice", alice.id, alice.created_at.isoformat())
    assert refusal.event.record["context"]["refused_decision"]["reviewer"] == "bob"
    with pytest.raises(AlreadyDecidedError) as refused:
        state.check(decision(it, "approve_original", "carol"))
    assert (refused.value.first_decision, refused.value.first_reviewer, refused.value.first_decided_at) == ("block", "alice", alice.created_at.isoformat())


def test_given_the_first_decision_consumed_again_then_it_publishes_the_same_events() -> None:
    it = item()
    state = state_of(it)
    first = decision(it, "approve_original", "alice")
    retried = first.model_copy(update={"created_at": first.created_at + timedelta(seconds=3)})  # a producer's retry
    logged(state, first, retried)
    once, again = apply_decision(decode_decision(*wire(first), state)), apply_decision(decode_decision(*wire(retried), state))
    # Same ids, same delivery; only the timestamps of the new events differ, as for any re-processed input.
    assert [p.event.id for p in once] == [p.event.id for p in again]
    assert once[0].event.model_dump(exclude={"created_at"}) == again[0].event.model_dump(exclude={"created_at"})
    assert once[0].event.outcome == "original" and once[0].event.image == it.generation.image  # type: ignore[attr-defined]


def test_given_a_decision_reusing_the_first_ones_id_with_other_content_then_it_is_refused_under_its_own_record() -> None:
    it = item()
    state = state_of(it)
    first = decision(it, "block", "alice", decision_id="same-id")
    forged = decision(it, "approve_original", "mallory", decision_id="same-id")
    logged(state, first, forged)
    [refusal] = apply_decision(decode_decision(*wire(forged), state))
    [_, applied_audit] = apply_decision(decode_decision(*wire(first), state))
    assert refusal.event.decision == "refused" and refusal.event.id != applied_audit.event.id  # type: ignore[attr-defined]


def test_given_approve_replacement_then_it_needs_a_candidate_and_delivers_it() -> None:
    without, with_candidate = item("req-1"), item("req-2", with_candidate=True)
    state = state_of(without, with_candidate)
    with pytest.raises(NoReplacementCandidateError, match="no replacement candidate"):
        state.check(decision(without, "approve_replacement"))
    approve = decision(with_candidate, "approve_replacement", "alice")
    logged(state, approve)
    [delivery, _] = apply_decision(decode_decision(*wire(approve), state))
    assert isinstance(delivery.event, DeliveryEvent) and delivery.event.outcome == "replacement"
    assert with_candidate.candidate is not None
    assert (delivery.event.image, delivery.event.verdict_id) == (with_candidate.candidate.image, with_candidate.candidate.verdict.id)


def test_given_an_invalid_decision_first_then_it_never_counts_and_the_next_valid_one_wins() -> None:
    it = item()
    state = state_of(it)
    invalid, valid = decision(it, "approve_replacement", "alice"), decision(it, "block", "bob")
    logged(state, invalid, valid)
    assert state.first_decision(it.request_id) == valid
    with pytest.raises(NoReplacementCandidateError):  # the worker dead-letters it
        decode_decision(*wire(invalid), state)


@pytest.mark.parametrize("change, error", [
    ({"item_id": "not-the-item"}, ReviewItemNotFoundError),
    ({"request_id": "req-unknown"}, ReviewItemNotFoundError),
    ({"tenant": "other"}, TenantMismatchError),
    ({"reviewer": "swerve:admin"}, ReviewDecisionError),
    ({"reviewer": TIMEOUT_REVIEWER}, ReviewDecisionError),  # not the item's timeout decision (id, time)
])
def test_given_a_decision_that_can_never_apply_then_decoding_it_raises_bad_input(change: dict, error: type) -> None:
    it = item()
    state = state_of(it)
    bad = decision(it).model_copy(update=change)
    logged(state, bad)
    with pytest.raises(error):
        decode_decision(*wire(bad), state)
    assert state.first_decision(it.request_id) is None and state.pending() == [it]


def test_given_a_worker_pinned_to_a_tenant_then_a_decision_claiming_another_is_refused() -> None:
    it = item(tenant="acme")
    state = ReviewState(pinned_tenant="acme")
    state.add_item(it)
    with pytest.raises(TenantMismatchError):
        decode_decision(*wire(decision(it).model_copy(update={"tenant": "other"})), state, pinned_tenant="acme")


def test_given_pending_items_then_they_list_per_tenant_oldest_first_and_decided_ones_leave_the_list() -> None:
    a, b, c = item("req-a", tenant="acme", waiting_since=T0 + timedelta(minutes=2)), item("req-b", tenant="acme"), item("req-c", tenant="zeta")
    state = state_of(a, b, c)
    assert state.pending("acme") == [b, a] and state.pending() == [b, c, a]
    logged(state, decision(b))
    assert state.pending("acme") == [a] and [i for i, _ in state.decided()] == [b]


def test_given_the_same_log_read_twice_then_the_state_is_the_same() -> None:
    it = item()
    state = state_of(it)
    alice, bob = decision(it, "block", "alice"), decision(it, "approve_original", "bob")
    logged(state, alice, bob)
    logged(state, bob, alice)  # a restarted reader meets the same positions again (here swapped: ignored by position)
    assert state.first_decision(it.request_id) == alice and len(state._decisions[it.request_id]) == 2


def test_given_a_bug_applying_the_winning_decision_then_it_fails_closed_as_blocked_and_a_loser_stays_refused() -> None:
    it = item()
    state = state_of(it)
    alice, bob = decision(it, "approve_original", "alice"), decision(it, "block", "bob")
    logged(state, alice, bob)
    delivery, _ = fail_closed(state.settle(alice), RuntimeError("boom"))
    assert (delivery.event.outcome, delivery.event.reason_class) == ("blocked", "internal")  # type: ignore[attr-defined]
    [refusal] = fail_closed(state.settle(bob), RuntimeError("boom"))
    assert refusal.event.decision == "refused" and "boom" in refusal.event.record["context"]["internal_error"]  # type: ignore[attr-defined]


class StateOnlyReader:
    """The timeout's view of a reader: its state, always caught up (the real one waits on the broker)."""

    def __init__(self, state: ReviewState):
        self.state = state

    async def caught_up(self) -> None:
        return None


def test_given_an_overdue_item_then_the_timeout_resolves_it_to_block_once_by_the_timeout_reviewer() -> None:
    due, waiting = item("req-due", timeout_s=60), item("req-waiting", timeout_s=3600)
    state = state_of(due, waiting)
    published: list[Publication] = []

    async def publish(publications: list[Publication]) -> None:
        published.extend(publications)

    timeouts = ReviewTimeouts(StateOnlyReader(state), publish)  # type: ignore[arg-type]
    [fired] = asyncio.run(timeouts.tick(T0 + timedelta(minutes=2)))
    assert [p.topic for p in published] == ["review_decisions"] and fired.request_id == "req-due"
    assert (fired.reviewer, fired.decision, fired.item_id) == (TIMEOUT_REVIEWER, "block", due.id)
    assert fired == timeout_decision(due, T0 + timedelta(minutes=2)).model_copy(update={"created_at": fired.created_at})
    # Not fired twice by this process; once in the log it settles the request like a reviewer's decision.
    assert asyncio.run(timeouts.tick(T0 + timedelta(minutes=3))) == []
    logged(state, fired)
    delivery, audit = apply_decision(decode_decision(*wire(fired), state))
    assert delivery.event.outcome == "blocked" and "swerve:review-timeout" in (delivery.event.reason or "")  # type: ignore[attr-defined]
    assert audit.event.record["context"]["reviewer"] == TIMEOUT_REVIEWER  # type: ignore[attr-defined]
    late = decision(due, "approve_original", "alice", at=T0 + timedelta(minutes=4))
    logged(state, late, start=1)
    assert apply_decision(decode_decision(*wire(late), state))[0].event.decision == "refused"  # type: ignore[attr-defined]


def test_given_a_person_decided_just_before_the_timeout_then_the_timeout_decision_is_refused() -> None:
    due = item("req-due", timeout_s=60)
    state = state_of(due)
    alice = decision(due, "approve_original", "alice", at=T0 + timedelta(seconds=59))
    timed_out = timeout_decision(due, T0 + timedelta(seconds=61))
    logged(state, alice, timed_out)
    assert apply_decision(decode_decision(*wire(timed_out), state))[0].event.decision == "refused"  # type: ignore[attr-defined]
    assert state.overdue(T0 + timedelta(hours=1)) == []


def test_given_a_ledger_then_it_builds_checked_decisions_and_hides_other_tenants_items() -> None:
    acme, taken = item("req-acme", tenant="acme"), item("req-taken")
    state = state_of(acme, taken)
    logged(state, decision(taken, "block", "alice"))
    ledger = ReviewLedger(Settings(), state, {})
    made = ledger.decision("req-acme", "block", reviewer="bob", note="n", tenant="acme")
    assert (made.item_id, made.tenant, made.reviewer) == (acme.id, "acme", "bob")
    with pytest.raises(ReviewItemNotFoundError):
        ledger.decision("req-acme", "block", reviewer="bob", tenant="zeta")
    with pytest.raises(ReviewDecisionError, match="swerve's own"):
        ledger.decision("req-acme", "block", reviewer="swerve:review-timeout")
    with pytest.raises(AlreadyDecidedError, match="alice"):
        ledger.decision("req-taken", "approve_original", reviewer="bob")


class BrokerDownReader(StateOnlyReader):
    def __init__(self, error: Exception):
        super().__init__(ReviewState())
        self.error = error

    async def caught_up(self) -> None:
        raise self.error


def test_given_a_broker_that_does_not_answer_then_a_timeout_tick_is_skipped_but_a_bug_stops_the_worker(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from swerve.errors import BrokerUnavailableError
    from swerve.streams import review_timeout

    halted: list[int] = []
    monkeypatch.setattr(review_timeout, "halt", lambda code, reason, error=None: halted.append(code))

    async def publish(publications: list[Publication]) -> None:
        raise AssertionError("nothing is overdue")

    asyncio.run(ReviewTimeouts(BrokerDownReader(BrokerUnavailableError("no answer")), publish).tick_or_halt())  # type: ignore[arg-type]
    assert halted == []
    asyncio.run(ReviewTimeouts(BrokerDownReader(KeyError("a bug")), publish).tick_or_halt())  # type: ignore[arg-type]
    assert halted == [70]

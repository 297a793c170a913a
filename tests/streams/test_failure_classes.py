"""The failure classes of a batch, as plain functions: bad input stays with its message, a
transient failure fails the whole step (to be retried), a bug is isolated to its sample,
and a rejected message still gets an outcome when its request can be named."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from swerve.errors import MalformedEventError, StoreUnavailableError
from swerve.streams.batch_runner import Stage
from swerve.streams.decode_step import Inbound, Undecodable, decode_each
from swerve.streams.failure_isolation import run_isolated
from swerve.streams.dependency_retry import is_transient, retry_transient
from swerve.streams.events import DeadLetterPosition
from swerve.streams.ids import derive_id
from swerve.streams.publication import Publication
from swerve.streams.rejection import rejected_outcome

POSITION = DeadLetterPosition(topic="swerve.dlq", partition=2, offset=41)


def decode_text(value: bytes | None, headers: list[tuple[str, bytes]]) -> str:
    if value == b"deep":
        raise RecursionError("maximum recursion depth exceeded")
    if value == b"bad":
        raise MalformedEventError("not JSON")
    if value == b"store-down":
        raise StoreUnavailableError("timed out")
    return (value or b"").decode()


def inbound(*values: bytes) -> list[Inbound]:
    return [Inbound(value, []) for value in values]


def test_given_a_batch_with_poison_when_decoded_then_each_failure_stays_with_its_message() -> None:
    results = [decoded.result for decoded in decode_each("detect", decode_text, inbound(b"a", b"deep", b"bad", b"b"))]
    assert results[0] == "a" and results[3] == "b"
    assert isinstance(results[1], Undecodable) and isinstance(results[1].error, RecursionError)
    assert isinstance(results[2], Undecodable) and isinstance(results[2].error, MalformedEventError)


def test_given_a_store_that_does_not_answer_when_decoded_then_the_whole_step_fails_to_be_retried() -> None:
    with pytest.raises(StoreUnavailableError):
        decode_each("detect", decode_text, inbound(b"a", b"store-down"))


def stage_failing_on(bad: str, calls: list[list[str]]) -> Stage[str]:
    def run(items: list[str]) -> list[list[Publication]]:
        calls.append(list(items))
        if bad in items:
            raise KeyError(bad)
        return [[] for _ in items]

    def fail_closed(item: str, error: BaseException) -> list[Publication]:
        return [f"failed closed: {item}: {type(error).__name__}"]  # type: ignore[list-item]

    return Stage("detect", decode_text, run, fail_closed, ThreadPoolExecutor(1), rejects_to_delivery=True)


def isolated(stage: Stage[str]) -> tuple:
    return stage.name, stage.run, stage.fail_closed


def test_given_a_stage_bug_on_one_sample_then_its_batch_mates_are_judged_and_only_it_fails_closed() -> None:
    calls: list[list[str]] = []
    outputs = run_isolated(*isolated(stage_failing_on("x", calls)), ["a", "x", "b"])
    assert outputs == [[], ["failed closed: x: KeyError"], []]
    assert calls == [["a", "x", "b"], ["a"], ["x"], ["b"]]


def test_given_a_stage_bug_on_a_single_sample_then_it_fails_closed_without_running_twice() -> None:
    calls: list[list[str]] = []
    assert run_isolated(*isolated(stage_failing_on("x", calls)), ["x"]) == [["failed closed: x: KeyError"]]
    assert calls == [["x"]]


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (StoreUnavailableError("timed out"), True),
        (KafkaConnectionError("broker down"), True),
        (ConnectionResetError("reset"), True),
        (MessageSizeTooLargeError("too big"), False),
        (MalformedEventError("bad"), False),
        (RecursionError("deep"), False),
    ],
)
def test_given_an_error_then_only_a_dependency_failure_is_transient(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def test_given_a_transient_failure_that_clears_when_retried_then_the_result_comes_back() -> None:
    import asyncio

    tries: list[int] = []

    async def flaky() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise KafkaConnectionError("broker blinked")
        return "acked"

    assert asyncio.run(retry_transient(flaky, step="publish", budget_s=10, max_wait_s=0.05)) == "acked"
    assert len(tries) == 3


def test_given_a_transient_failure_that_lasts_when_retried_then_it_is_raised_once_the_budget_is_spent() -> None:
    import asyncio

    async def down() -> str:
        raise StoreUnavailableError("root missing")

    with pytest.raises(StoreUnavailableError):
        asyncio.run(retry_transient(down, step="detect.decode", budget_s=0.3, max_wait_s=0.05))


def test_given_bad_input_when_retried_then_it_is_raised_at_once_without_a_retry() -> None:
    import asyncio

    tries: list[int] = []

    async def bad() -> str:
        tries.append(1)
        raise MalformedEventError("not JSON")

    with pytest.raises(MalformedEventError):
        asyncio.run(retry_transient(bad, step="decode", budget_s=10))
    assert tries == [1]


def test_given_a_poison_body_with_a_key_when_rejected_then_the_request_gets_a_rejected_outcome_naming_the_dead_letter() -> None:
    poison = b"[" * 100_000 + b"]" * 100_000
    [delivery, audit] = rejected_outcome("detect", b"req-7", poison, [], RecursionError("too deep"), POSITION, "p+1")
    event = delivery.event
    assert (delivery.topic, event.outcome, event.reason_class, event.request_id) == ("delivery", "rejected", "invalid_input", "req-7")
    assert event.dead_letter == POSITION and "RecursionError" in event.reason
    assert event.id == derive_id("swerve.dlq/2/41", "rejected")
    assert audit.topic == "audit" and audit.event.decision == "rejected"


def test_given_a_readable_body_without_a_key_then_the_request_id_and_ids_come_from_the_body() -> None:
    body = json.dumps({"id": "gen-9", "request_id": "req-9", "tenant": "acme", "prompt": 5}).encode()
    [delivery, _] = rejected_outcome("detect", None, body, [("ce_id", b"gen-9")], MalformedEventError("prompt"), POSITION, "p+1")
    event = delivery.event
    assert (event.request_id, event.tenant, event.generation_id) == ("req-9", "acme", "gen-9")
    assert event.id == derive_id("gen-9", "delivery"), "the id a good outcome would have had: dedupe keeps one"


def test_given_a_flagged_event_when_rejected_then_the_outcome_id_is_its_generations_delivery_id() -> None:
    body = json.dumps({"id": "flag-1", "request_id": "req-1", "generation": {"id": "gen-1"}}).encode()
    [delivery, _] = rejected_outcome("correct", b"req-1", body, [], MalformedEventError("x"), POSITION, "p+1")
    assert delivery.event.id == derive_id("gen-1", "delivery") and delivery.event.generation_id == "gen-1"


def test_given_no_key_and_an_unreadable_body_then_there_is_no_request_to_answer() -> None:
    assert rejected_outcome("detect", None, b"\xff\xfe", [], MalformedEventError("x"), POSITION, "p+1") == []

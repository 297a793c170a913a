"""Event ids name one content: an id reused for other content is refused, never delivered
under the first one's delivery id, wherever its request's partition is."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.partitioner import DefaultPartitioner

from swerve.streams.topic_io import collect, publish_events
from swerve.streams.events import DeliveryEvent, PromptEvent
from swerve.streams.ids import derive_id
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames

from ..integration.builders import generation
from ..integration.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def deliveries(settings: Settings) -> list[DeliveryEvent]:
    records = asyncio.run(collect(settings, TopicNames(settings.topic_prefix).delivery, idle_timeout_s=0.5))
    return [record.decoded(settings.topic_prefix) for record in records]  # type: ignore[misc]


def dead_letter_classes(settings: Settings, topic: str) -> list[bytes]:
    letters = asyncio.run(collect(settings, TopicNames(settings.topic_prefix).dlq, idle_timeout_s=0.5))
    return [dict(r.headers)["swerve_dlq_error_class"] for r in letters if dict(r.headers)["swerve_dlq_origin_topic"] == topic.encode()]


def partition_of(request_id: str, partitions: int) -> int:
    return DefaultPartitioner()(request_id.encode(), list(range(partitions)), list(range(partitions)))


def test_given_requests_on_different_partitions_sharing_an_event_id_then_one_is_delivered_and_the_others_are_rejected(
    settings: Settings, start_worker
) -> None:
    # Given four requests that all carry the id of the first, with different images and seeds,
    # spread over at least two partitions of the generations topic, plus a resend of the first
    shared_id = generation(0, "conflict").id
    claimants = [generation(index, "conflict").model_copy(update={"id": shared_id}) for index in range(4)]
    assert len({partition_of(event.request_id, settings.worker.topic_partitions) for event in claimants}) >= 2
    resend = claimants[0].model_copy(update={"created_at": claimants[0].created_at.replace(year=2030)})
    bystander = generation(9, "bystander")
    worker = start_worker()
    asyncio.run(publish_events(settings, "generations", [*claimants, resend, bystander]))
    # When every request has an outcome
    requests = {event.request_id for event in [*claimants, bystander]}
    assert wait_until(lambda: {d.request_id for d in deliveries(settings)} >= requests, timeout_s=90), worker.log_tail()
    delivered = {d.id: d for d in deliveries(settings)}.values()  # a consumer's dedupe by id
    by_request = {d.request_id: d for d in delivered}
    # Then nothing was lost to dedupe: every request kept its own outcome, under its own delivery id
    assert set(by_request) == requests and len(delivered) == len(requests)
    # And one claimant (whichever claimed first) was delivered; the rest were refused, named as conflicts
    outcomes = sorted(by_request[event.request_id].outcome for event in claimants)
    assert outcomes == ["original", "rejected", "rejected", "rejected"]
    for event in claimants:
        outcome = by_request[event.request_id]
        if outcome.outcome == "rejected":
            assert outcome.reason_class == "invalid_input" and "IdConflictError" in (outcome.reason or "")
            assert outcome.dead_letter is not None and outcome.id != derive_id(shared_id, "delivery")
        else:
            assert outcome.id == derive_id(shared_id, "delivery")
    assert by_request[bystander.request_id].outcome == "original"
    # And the resend of the first claimant with the same content was not a conflict: at most the
    # three other claimants were dead-lettered (the resend too, when it was not the first claimant)
    letters = dead_letter_classes(settings, TopicNames(settings.topic_prefix).generations)
    assert set(letters) == {b"IdConflictError"} and len(letters) in (3, 4)
    if by_request[claimants[0].request_id].outcome == "original":
        assert len(letters) == 3


def test_given_two_prompts_sharing_an_event_id_then_the_second_content_is_dead_lettered(settings: Settings, start_worker) -> None:
    # Given two prompt events of two requests with one id, sent one after the other
    first = PromptEvent(id="prompt-shared-id", request_id="prompt-req-1", prompt="a red square")
    second = first.model_copy(update={"request_id": "prompt-req-2", "prompt": "a blue circle"})
    worker = start_worker(role="screen")
    asyncio.run(publish_events(settings, "prompts", [first]))
    screened_topic = TopicNames(settings.topic_prefix).prompts_screened
    screened = lambda: asyncio.run(collect(settings, screened_topic, idle_timeout_s=0.5))  # noqa: E731
    assert wait_until(lambda: len(screened()) == 1, timeout_s=60), worker.log_tail()
    asyncio.run(publish_events(settings, "prompts", [second, first]))
    # Then the second is dead-lettered as a conflict, and the first's resend is screened again
    prompts_topic = TopicNames(settings.topic_prefix).prompts
    assert wait_until(lambda: dead_letter_classes(settings, prompts_topic) == [b"IdConflictError"], timeout_s=60), worker.log_tail()
    assert wait_until(lambda: len(screened()) == 2, timeout_s=60), worker.log_tail()
    assert {record.decoded(settings.topic_prefix).request_id for record in screened()} == {"prompt-req-1"}  # type: ignore[union-attr]

"""Faults inside a batch: poison messages that make decoding raise something other than an
``InvalidInputError``, and a detector that raises on one sample. Each stays with its own
message; every batch-mate is delivered; every request with a readable id gets one outcome."""

from __future__ import annotations

import asyncio

import pytest

from swerve.streams.topic_io import publish_raw
from swerve.streams.envelope import EncodedEvent, encode
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames

from ..integration.builders import generation
from .conftest import read_dead_letters, settled_outcomes
from .policies import FAULTY_DETECTOR, fault_policy

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

DEEP_JSON = b"[" * 200_000 + b"]" * 200_000


def test_given_poison_messages_in_a_batch_of_good_ones_then_poison_is_dead_lettered_and_every_good_one_delivered(
    settings: Settings, start_worker
) -> None:
    # Given 20 good generations and, in the same batch, three poison messages:
    #   JSON nested 200,000 deep (RecursionError in json.loads), keyed;
    #   a body that is a JSON number where an object belongs, keyed;
    #   bytes that are not UTF-8, with no key (no request to answer).
    good = [generation(i, "poison") for i in range(20)]
    poison = [
        EncodedEvent(b"poison-deep", DEEP_JSON, [("ce_type", b"dev.swerve.generation.v1")]),
        EncodedEvent(b"poison-number", b"12345", []),
        EncodedEvent(b"", b"\xff\xfe\x00garbage", []),
    ]
    messages = [encode(event) for event in good[:10]] + poison + [encode(event) for event in good[10:]]
    worker = start_worker(SWERVE_WORKER_DETECT_BATCH_SIZE="32", SWERVE_WORKER_DETECT_BATCH_WINDOW_S="0.5")
    asyncio.run(publish_raw(settings, TopicNames(settings.topic_prefix).generations, messages))

    # When the worker has answered every request it can name
    expected = {event.request_id for event in good} | {"poison-deep", "poison-number"}

    # Then every request has exactly one outcome: the good ones as generated, the keyed poison rejected
    outcomes = settled_outcomes(settings, expected, worker, timeout_s=120)
    final = outcomes.final()
    assert {final[e.request_id].outcome for e in good} == {"original"}
    for request, error in (("poison-deep", "MalformedEventError"), ("poison-number", "SchemaViolationError")):
        rejected = final[request]
        assert (rejected.outcome, rejected.reason_class) == ("rejected", "invalid_input")
        assert rejected.reason.startswith(error) and rejected.dead_letter is not None
    assert "nested too deeply" in final["poison-deep"].reason
    # ... all three poison messages are in the DLQ, where the rejected outcomes say
    letters = read_dead_letters(settings)
    assert sorted(record.key or b"" for record, _ in letters) == [b"", b"poison-deep", b"poison-number"]
    positions = {(record.partition, record.offset) for record, _ in letters}
    assert {(final[r].dead_letter.partition, final[r].dead_letter.offset) for r in ("poison-deep", "poison-number")} <= positions
    # ... and the worker kept running
    assert worker.alive, worker.log_tail()


def test_given_a_detector_that_raises_on_one_sample_then_only_that_sample_fails_closed(
    settings: Settings, start_worker, tmp_path
) -> None:
    # Given 16 generations in one batch, two of whose prompts make a detector raise
    events = [generation(i, "bug") for i in range(16)]
    marked = {events[3].request_id, events[11].request_id}
    events = [e.model_copy(update={"prompt": e.prompt + " [raise]"}) if e.request_id in marked else e for e in events]
    policy = fault_policy(tmp_path / "policy.yaml", [], extra_detector=FAULTY_DETECTOR)
    worker = start_worker(SWERVE_POLICY_PATH=str(policy), SWERVE_WORKER_DETECT_BATCH_SIZE="32", SWERVE_WORKER_DETECT_BATCH_WINDOW_S="0.5")
    asyncio.run(publish_raw(settings, TopicNames(settings.topic_prefix).generations, [encode(e) for e in events]))

    expected = {e.request_id for e in events}

    # Then the two fail closed (blocked, the detector's exception in the reason); the rest pass
    outcomes = settled_outcomes(settings, expected, worker, timeout_s=120)
    final = outcomes.final()
    for request in marked:
        assert (final[request].outcome, final[request].reason_class) == ("blocked", "policy")
        assert "faulty failed (RuntimeError" in final[request].reason
    assert {final[r].outcome for r in expected - marked} == {"original"}
    assert read_dead_letters(settings) == [] and worker.alive

"""CloudEvents binary mode: encode and decode contract events, and reject what can never succeed."""

from __future__ import annotations

import json

import pytest

from swerve.errors import MalformedEventError, SchemaViolationError
from swerve.media import ImageRef
from swerve.streams.envelope import decode, encode, header_map
from swerve.streams.events import DeliveryEvent, GenerationEvent

from .builders import tiny_png


def make_generation() -> GenerationEvent:
    return GenerationEvent(id="g-1", request_id="r-1", prompt="a red star", seed=7, image=ImageRef.from_bytes(tiny_png()))


def test_given_an_event_when_encoded_then_headers_follow_cloudevents_binary_mode() -> None:
    encoded = encode(make_generation(), traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01")
    headers = header_map(encoded.headers)
    assert encoded.key == b"r-1"
    assert headers["ce_id"] == "g-1"
    assert headers["ce_type"] == "dev.swerve.generation.v1"
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_source"] == "/swerve"
    assert headers["content-type"] == "application/json"
    assert headers["traceparent"] == "00-" + "a" * 32 + "-" + "b" * 16 + "-01"


def test_given_an_encoded_event_when_decoded_then_it_round_trips() -> None:
    event = make_generation()
    encoded = encode(event)
    assert decode(encoded.value, encoded.headers, GenerationEvent) == event


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (b"", MalformedEventError),
        (b"\xff\xfe", MalformedEventError),
        (b"{not json", MalformedEventError),
        (b"[1, 2]", SchemaViolationError),
        (json.dumps({"id": "x", "request_id": "r", "prompt": "p"}).encode(), SchemaViolationError),
    ],
)
def test_given_bad_bytes_when_decoded_then_a_named_error_says_why(value: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode(value, [], GenerationEvent)


def test_given_a_ce_type_for_another_topic_then_decoding_refuses_it() -> None:
    encoded = encode(make_generation())
    with pytest.raises(SchemaViolationError, match="ce_type"):
        decode(encoded.value, [("ce_type", b"dev.swerve.delivery.v1")], GenerationEvent)
    with pytest.raises(SchemaViolationError):
        decode(encoded.value, encoded.headers, DeliveryEvent)


def test_given_a_ce_id_that_differs_from_the_body_then_decoding_refuses_it() -> None:
    encoded = encode(make_generation())
    with pytest.raises(SchemaViolationError, match="ce_id"):
        decode(encoded.value, [("ce_id", b"other")], GenerationEvent)


def test_given_a_non_utf8_header_then_the_message_is_malformed() -> None:
    encoded = encode(make_generation())
    with pytest.raises(MalformedEventError, match="header"):
        decode(encoded.value, [("ce_id", b"\xff")], GenerationEvent)


def test_given_json_nested_far_too_deep_then_the_message_is_malformed_not_a_crash() -> None:
    poison = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(MalformedEventError, match="nested too deeply"):
        decode(poison, [], GenerationEvent)


@pytest.mark.parametrize("seed", [2**80, 2**63, -1])
def test_given_a_seed_out_of_the_signed_64_bit_range_then_refused_at_decode(seed: int) -> None:
    body = json.loads(encode(make_generation()).value)
    body["seed"] = seed
    with pytest.raises(SchemaViolationError, match="seed"):
        decode(json.dumps(body).encode(), [], GenerationEvent)


def test_given_the_largest_signed_64_bit_seed_then_accepted() -> None:
    body = json.loads(encode(make_generation()).value)
    body["seed"] = 2**63 - 1
    assert decode(json.dumps(body).encode(), [], GenerationEvent).seed == 2**63 - 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(("side", "value"), [("width", 65_536), ("height", 10**12), ("width", 0)])
def test_given_a_declared_image_side_out_of_range_then_refused_at_decode(side: str, value: int) -> None:
    body = json.loads(encode(make_generation()).value)
    body["image"][side] = value
    with pytest.raises(SchemaViolationError, match=side):
        decode(json.dumps(body).encode(), [], GenerationEvent)

"""Forward and backward compatibility of the contracts, both ways (docs/architecture.md,
"Contracts"): an old reader ignores what a newer producer added, a new reader accepts what
an older producer wrote, and types and required fields stay strict."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import ClassVar, Literal

import pytest
from pydantic import ConfigDict

from swerve.errors import SchemaViolationError
from swerve.media import ImageRef
from swerve.streams.envelope import decode, encode
from swerve.streams.events import DeliveryEvent, GenerationEvent, SwerveEvent

from .builders import tiny_png


def make_generation() -> GenerationEvent:
    return GenerationEvent(id="g-1", request_id="r-1", prompt="a red star", seed=7, image=ImageRef.from_bytes(tiny_png()))


class DeliveryEventBeforeReasonClass(SwerveEvent):
    """``DeliveryEvent`` as an older worker knew it: no ``reason_class``, no ``dead_letter``."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    ce_type: ClassVar[str] = DeliveryEvent.ce_type

    generation_id: str
    outcome: Literal["original", "replacement", "blocked"]
    reason: str | None = None
    verdict_id: str
    replacement_id: str | None = None
    policy_version: str


def blocked_for_infrastructure() -> DeliveryEvent:
    return DeliveryEvent(
        id="d-1", request_id="r-1", generation_id="g-1", outcome="blocked", reason="infrastructure: out of memory",
        verdict_id="v-1", policy_version="p+1", reason_class="infrastructure", created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )


def test_given_a_generation_with_new_fields_at_the_top_and_in_the_image_when_decoded_then_they_are_ignored() -> None:
    # Given a generation from a newer producer, one field richer at the top and inside `image`
    generation = make_generation()
    body = json.loads(encode(generation).value)
    body["watermark"] = {"kind": "c2pa", "present": True}
    body["image"]["colour_profile"] = "sRGB"
    # When an older worker decodes it, then it is the same generation, the extras dropped
    decoded = decode(json.dumps(body).encode(), [], GenerationEvent)
    assert decoded == generation
    assert "watermark" not in decoded.model_dump() and "colour_profile" not in decoded.model_dump()["image"]


def test_given_a_new_delivery_when_an_old_reader_decodes_it_then_it_reads_what_it_knows() -> None:
    new = blocked_for_infrastructure()
    old_view = decode(encode(new).value, [], DeliveryEventBeforeReasonClass)
    assert isinstance(old_view, DeliveryEventBeforeReasonClass)
    assert (old_view.outcome, old_view.reason, old_view.verdict_id) == ("blocked", new.reason, "v-1")


def test_given_an_old_delivery_when_the_new_reader_decodes_it_then_the_new_fields_are_absent() -> None:
    old = DeliveryEventBeforeReasonClass(id="d-2", request_id="r-2", generation_id="g-2", outcome="original", verdict_id="v-2", policy_version="p+1")
    new_view = decode(old.model_dump_json().encode(), [], DeliveryEvent)
    assert isinstance(new_view, DeliveryEvent)
    assert new_view.reason_class is None and new_view.dead_letter is None and new_view.outcome == "original"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda body: body.update(seed="not a number"), "seed"),
        (lambda body: body.pop("prompt"), "prompt"),
        (lambda body: body["image"].update(width="wide"), "image.width"),
        (lambda body: body["image"].pop("sha256"), "image.sha256"),
    ],
)
def test_given_a_wrong_type_or_a_missing_required_field_next_to_an_unknown_one_then_still_refused(change, problem: str) -> None:
    body = json.loads(encode(make_generation()).value)
    body["from_the_future"] = 1
    change(body)
    with pytest.raises(SchemaViolationError, match=problem):
        decode(json.dumps(body).encode(), [], GenerationEvent)

"""Outcome: built from a DeliveryEvent, its image read and verified through swerve.media."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from swerve.client import Outcome
from swerve.errors import MediaIntegrityError
from swerve.media import ImageRef, ImageStore, MediaLimits

from .builders import delivery, png


def test_given_an_original_delivered_inline_then_the_outcome_carries_its_bytes_and_decodes() -> None:
    data = png(1)
    outcome = Outcome.from_delivery(delivery("r-1", "original", image=ImageRef.from_bytes(data)))

    assert (outcome.request_id, outcome.outcome) == ("r-1", "original")
    assert outcome.image == data and outcome.image_uri is None and outcome.media_type == "image/png"
    assert outcome.reasons == () and outcome.replacement_id is None
    assert outcome.verdict_id == outcome.delivery.verdict_id and outcome.policy_version == "test-1"
    picture = outcome.pil()
    assert isinstance(picture, Image.Image) and picture.size == (8, 8) and picture.mode == "RGB"


def test_given_a_replacement_by_reference_then_the_bytes_are_read_from_the_store(tmp_path: Path) -> None:
    store = ImageStore((tmp_path / "images").as_uri())
    limits = MediaLimits(max_inline_bytes=16, allowed_uri_bases=(store.base_uri,))
    data = png(2, size=16)
    ref = ImageRef.from_bytes(data, limits=limits, store=store)
    event = delivery("r-2", "replacement", image=ref, replacement_id="rep-1", reason="takedowns: flagged")

    outcome = Outcome.from_delivery(event, limits=limits, store=store)

    assert outcome.image == data and outcome.image_uri == ref.uri
    assert outcome.replacement_id == "rep-1" and outcome.reasons == ("takedowns: flagged",)


def test_given_the_judges_reasons_then_each_keeps_its_policy_clause() -> None:
    reason = ("takedowns flagged (score 1 >= 1); policy: block; "
              "memorization flagged (score 0.97 >= 0.9); policy: correct")
    event = delivery("r-4", "blocked", reason=reason, reason_class="policy")
    assert Outcome.from_delivery(event).reasons == ("takedowns flagged (score 1 >= 1); policy: block",
                                                    "memorization flagged (score 0.97 >= 0.9); policy: correct")


def test_given_a_policy_block_then_no_image_and_one_reason_per_detector() -> None:
    event = delivery("r-3", "blocked", reason="takedowns: flagged; nudity: 0.93 >= 0.8", reason_class="policy")

    outcome = Outcome.from_delivery(event)

    assert outcome.image is None and outcome.pil() is None and outcome.image_uri is None
    assert outcome.reasons == ("takedowns: flagged", "nudity: 0.93 >= 0.8")
    assert outcome.reason_class == "policy"


def test_given_a_rejection_then_its_error_message_is_one_reason_even_with_semicolons() -> None:
    message = "SchemaViolationError: not a valid GenerationEvent: seed: too big; prompt: too long"
    event = delivery("r-4", "rejected", reason=message, reason_class="invalid_input", verdict_id="")

    assert Outcome.from_delivery(event).reasons == (message,)


def test_given_a_reference_whose_bytes_changed_then_reading_the_outcome_fails_on_integrity(tmp_path: Path) -> None:
    store = ImageStore((tmp_path / "images").as_uri())
    limits = MediaLimits(max_inline_bytes=16, allowed_uri_bases=(store.base_uri,))
    ref = ImageRef.from_bytes(png(5, size=16), limits=limits, store=store)
    assert ref.uri is not None
    Path(ref.uri.removeprefix("file://")).write_bytes(png(6, size=16))

    with pytest.raises(MediaIntegrityError):
        Outcome.from_delivery(delivery("r-5", image=ref), limits=limits, store=store)

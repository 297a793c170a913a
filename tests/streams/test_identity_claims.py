"""What makes two events with one id the same event, and what a conflict says."""

from __future__ import annotations

from datetime import datetime, timezone

from swerve.media import ImageRef
from swerve.streams.events import GenerationEvent, PromptEvent
from swerve.streams.identity_claims import Claim, content_digest

from .builders import tiny_png


def event(**changes: object) -> GenerationEvent:
    base = GenerationEvent(id="g-1", request_id="r-1", prompt="a red square", seed=7, image=ImageRef.from_bytes(tiny_png()))
    return base.model_copy(update=changes)


def test_given_a_resend_stamped_later_then_it_is_the_same_content() -> None:
    later = event(created_at=datetime(2031, 1, 1, tzinfo=timezone.utc))
    assert content_digest(later) == content_digest(event())
    assert Claim.of(later).conflict(Claim.of(event()).remembered) is None


def test_given_the_same_image_by_reference_instead_of_inline_then_it_is_the_same_content() -> None:
    inline = event()
    by_reference = event(image=inline.image.model_copy(update={"data": None, "uri": "file:///srv/swerve/images/a.png"}))
    assert content_digest(by_reference) == content_digest(inline)


def test_given_any_field_the_producer_chose_changed_then_the_content_differs() -> None:
    changes = [
        {"request_id": "r-2"},
        {"tenant": "acme"},
        {"prompt": "a blue square"},
        {"negative_prompt": "blur"},
        {"seed": 8},
        {"model_id": "sd-1.5"},
        {"image": ImageRef.from_bytes(tiny_png((20, 200, 20)))},
    ]
    digests = {content_digest(event(**change)) for change in changes}
    assert len(digests) == len(changes) and content_digest(event()) not in digests


def test_given_a_conflict_then_the_error_names_only_the_id_this_producer_sent() -> None:
    first, second = Claim.of(event()), Claim.of(event(request_id="r-secret-other-tenant", seed=9))
    error = first.conflict(second.remembered)
    assert error is not None and "'g-1'" in str(error) and "r-secret-other-tenant" not in str(error)


def test_given_a_prompt_and_a_generation_sharing_an_id_then_their_claims_do_not_collide() -> None:
    prompt = PromptEvent(id="g-1", request_id="r-1", prompt="a red square")
    assert Claim.of(prompt).key != Claim.of(event()).key

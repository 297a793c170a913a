"""Requests that go to a person: detect's `on_flag: review`, correct's `on_exhausted: review`,
and which candidate the person is shown."""

from __future__ import annotations

import io
from datetime import timedelta

from PIL import Image, ImageOps

from swerve.correctors.adaptive_loop import AttemptRecord
from swerve.correctors.protocol import Candidate
from swerve.media import ImageRef, ImageStore, MediaLimits, sha256_hex
from swerve.media.encode import encode_image
from swerve.streams.correct_stage import CorrectStage, Verification
from swerve.streams.detect_stage import DecodedGeneration, detect
from swerve.streams.events import FlaggedEvent, GenerationEvent, ReviewItemEvent
from swerve.streams.ids import derive_id
from swerve.streams.judging import Judge, Judgement
from swerve.streams.policy import parse_policy
from swerve.streams.review_routing import best_attempt


def decoded(index: int, colour: tuple[int, int, int], tenant: str = "default") -> DecodedGeneration:
    image = Image.new("RGB", (8, 8), colour)
    image.paste((255, 255, 255), (0, 0, 2, 8))  # asymmetric: the mirror corrector changes it
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    event = GenerationEvent(id=f"gen-{index}", request_id=f"req-{index}", tenant=tenant, prompt="p", seed=index,
                            image=ImageRef.from_bytes(buffer.getvalue()))
    return DecodedGeneration(event, Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


RED, BLUE = decoded(1, (200, 0, 0)), decoded(2, (0, 0, 200))
MIRRORED_RED = sha256_hex(encode_image(ImageOps.mirror(RED.image), "image/png"))


def policy_text(on_flag: str, digests: list[str], extra: str = "") -> str:
    listed = ", ".join(f'"{d}"' for d in digests)
    return f"""
version: "review-unit"
detectors:
  - {{name: takedowns, kind: hash_blocklist, on_flag: {on_flag}, params: {{digests: [{listed}]}}}}
correctors: [{{name: mirror, kind: testing.mirror}}]
review_timeout_s: 600
tenants:
  hasty: {{review_timeout_s: 2}}
{extra}"""


def test_given_on_flag_review_when_detecting_then_the_request_waits_with_no_delivery() -> None:
    policy = parse_policy(policy_text("review", [RED.event.image.sha256]))
    red, blue = detect(Judge(), policy, [RED, BLUE])
    assert [p.topic for p in red] == ["verdicts", "review", "audit"]
    assert [p.topic for p in blue] == ["verdicts", "delivery", "audit"]
    item = red[1].event
    assert isinstance(item, ReviewItemEvent)
    assert (item.id, item.route, item.generation, item.candidate) == (derive_id("gen-1", "review"), "on_flag", RED.event, None)
    assert item.verdict == red[0].event and item.verdict.scores[0].action == "review" and item.policy_version == policy.full_version
    assert item.deadline - item.waiting_since == timedelta(seconds=600)
    assert red[2].event.decision == "review" and red[2].event.output_ids == [red[0].event.id, item.id]  # type: ignore[attr-defined]


def test_given_a_tenant_timeout_then_its_items_carry_its_deadline() -> None:
    hasty = decoded(3, (200, 0, 0), tenant="hasty")
    [outputs] = detect(Judge(), parse_policy(policy_text("review", [hasty.event.image.sha256])), [hasty])
    item = outputs[1].event
    assert isinstance(item, ReviewItemEvent) and item.deadline - item.waiting_since == timedelta(seconds=2)


def correct(text: str, tmp_path, generation: DecodedGeneration = RED):  # type: ignore[no-untyped-def]
    policy = parse_policy(text)
    [flagged_outputs] = detect(Judge(), policy, [generation])
    flagged = flagged_outputs[1].event
    assert isinstance(flagged, FlaggedEvent)
    stage = CorrectStage(policy, Judge(), ImageStore(tmp_path.as_uri()), MediaLimits())
    return stage.correct(flagged, generation.image)


def test_given_on_exhausted_review_when_no_candidate_clears_then_the_best_one_waits_for_a_person(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = policy_text("correct", [RED.event.image.sha256, MIRRORED_RED], "max_attempts: 2\non_exhausted: review\n")
    outputs = correct(text, tmp_path)
    assert [p.topic for p in outputs] == ["verdicts", "verdicts", "review", "audit"]
    item = outputs[2].event
    assert isinstance(item, ReviewItemEvent) and item.route == "on_exhausted"
    assert item.candidate is not None and item.candidate.image.sha256 == MIRRORED_RED
    # Both candidates fail on one detector: the later (more strongly steered) attempt is shown.
    assert item.candidate.attempt == 2 and item.candidate.verdict == outputs[1].event
    assert "correction exhausted" in (item.correction_reasons or "")
    assert outputs[3].event.decision == "review"  # type: ignore[attr-defined]


def test_given_on_exhausted_review_and_a_corrector_that_always_fails_then_the_item_has_no_candidate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = policy_text("correct", [RED.event.image.sha256], "max_attempts: 2\non_exhausted: review\n").replace(
        "kind: testing.mirror}", "kind: testing.mirror, params: {fail_attempts: 5}}")
    outputs = correct(text, tmp_path)
    assert [p.topic for p in outputs] == ["review", "audit"]
    item = outputs[0].event
    assert isinstance(item, ReviewItemEvent) and item.candidate is None and "configured to fail" in (item.correction_reasons or "")


def test_given_the_default_on_exhausted_then_exhausted_corrections_still_block(tmp_path) -> None:  # type: ignore[no-untyped-def]
    outputs = correct(policy_text("correct", [RED.event.image.sha256, MIRRORED_RED], "max_attempts: 1\n"), tmp_path)
    assert [p.topic for p in outputs] == ["verdicts", "delivery", "audit"] and outputs[1].event.outcome == "blocked"  # type: ignore[attr-defined]


def attempt(number: int, firing: int) -> AttemptRecord[Verification]:
    from swerve.streams.events import DetectorScore

    scores = [DetectorScore(detector=f"d{i}", version="1", status="ok", value=1.0, flagged=i < firing) for i in range(3)]
    return AttemptRecord(number, Candidate(Image.new("RGB", (2, 2)), "m", {}), Verification(Judgement("correct", [], scores), "0" * 64, b""))


def test_given_candidates_then_the_fewest_objecting_detectors_win_and_the_latest_among_equals() -> None:
    assert best_attempt([attempt(1, 1), attempt(2, 2), attempt(3, 1)]).attempt == 3  # type: ignore[union-attr]
    assert best_attempt([attempt(1, 1), attempt(2, 2)]).attempt == 1  # type: ignore[union-attr]
    assert best_attempt([AttemptRecord(1, None, None, error="raised")]) is None

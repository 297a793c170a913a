"""The detect and correct stages as plain functions: routing, fail-closed, deterministic ids."""

from __future__ import annotations

import io
from typing import Sequence

import pytest
from PIL import Image

from swerve.detectors.protocol import Sample, Score
from swerve.media import ImageRef, ImageStore, MediaLimits
from swerve.streams.correct_stage import CorrectStage
from swerve.streams.detect_stage import DecodedGeneration, detect
from swerve.streams.events import FlaggedEvent, GenerationEvent
from swerve.streams.ids import derive_id
from swerve.streams.judging import Judge
from swerve.streams.policy import parse_policy



def decoded(index: int, colour: tuple[int, int, int], asymmetric: bool = True) -> DecodedGeneration:
    """A generation of a small image; asymmetric ones change when mirrored."""
    image = Image.new("RGB", (8, 8), colour)
    if asymmetric:
        image.paste((255, 255, 255), (0, 0, 2, 8))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    event = GenerationEvent(id=f"gen-{index}", request_id=f"req-{index}", prompt="p", image=ImageRef.from_bytes(data))
    return DecodedGeneration(event, Image.open(io.BytesIO(data)).convert("RGB"))


RED, BLUE, SOLID = decoded(1, (200, 0, 0)), decoded(2, (0, 0, 200)), decoded(3, (0, 200, 0), asymmetric=False)


def blocklist_policy(on_flag: str = "correct", extra: str = "", fail_attempts: int = 0) -> str:
    return f"""
version: "unit"
detectors:
  - name: takedowns
    kind: hash_blocklist
    on_flag: {on_flag}
    params: {{digests: ["{RED.event.image.sha256}", "{SOLID.event.image.sha256}"]}}
{extra}
correctors:
  - name: mirror
    kind: testing.mirror
    params: {{fail_attempts: {fail_attempts}}}
"""


def topics(publications: Sequence) -> list[str]:
    return [p.topic for p in publications]


def test_given_no_detectors_when_detecting_then_everything_is_delivered_as_is() -> None:
    [outputs] = detect(Judge(), parse_policy('version: "empty"'), [BLUE])
    assert topics(outputs) == ["verdicts", "delivery", "audit"]
    delivery = outputs[1].event
    assert (delivery.outcome, delivery.image, delivery.id) == ("original", BLUE.event.image, derive_id("gen-2", "delivery"))


def test_given_a_listed_image_when_detecting_then_it_is_flagged_and_the_other_passes() -> None:
    red, blue = detect(Judge(), parse_policy(blocklist_policy()), [RED, BLUE])
    assert topics(red) == ["verdicts", "flagged", "audit"]
    verdict = red[0].event
    assert verdict.decision == "correct" and verdict.policy_version.startswith("unit+")
    assert verdict.scores[0].evidence["listed"] is True and "takedowns flagged" in verdict.reasons[0]
    assert topics(blue) == ["verdicts", "delivery", "audit"]


def test_given_on_flag_block_then_the_delivery_is_a_block_with_the_reason() -> None:
    [outputs] = detect(Judge(), parse_policy(blocklist_policy(on_flag="block")), [RED])
    delivery = outputs[1].event
    assert delivery.outcome == "blocked" and delivery.image is None and "takedowns" in delivery.reason


class ExplodingDetector:
    name, version = "exploding", "1"

    def score(self, batch: Sequence[Sample]) -> list[Score]:
        raise RuntimeError("model weights missing")


def test_given_a_detector_that_raises_then_the_verdict_is_error_and_the_image_is_not_delivered_clean(monkeypatch) -> None:
    judge = Judge()
    monkeypatch.setattr(judge, "detector", lambda spec: ExplodingDetector())
    policy = parse_policy('version: "x"\ndetectors: [{name: exploding, kind: anything}]')
    [outputs] = detect(judge, policy, [BLUE])
    verdict, delivery = outputs[0].event, outputs[1].event
    assert verdict.decision == "block" and verdict.scores[0].status == "error"
    assert "model weights missing" in verdict.scores[0].error
    assert delivery.outcome == "blocked"


def test_given_the_same_batch_twice_then_every_output_id_is_the_same() -> None:
    policy = parse_policy(blocklist_policy())
    first = [p.event.id for outputs in detect(Judge(), policy, [RED, BLUE]) for p in outputs]
    second = [p.event.id for outputs in detect(Judge(), policy, [RED, BLUE]) for p in outputs]
    assert first == second and len(set(first)) == len(first)


def test_given_an_audit_record_then_its_hash_covers_the_record_and_omits_inline_bytes() -> None:
    [outputs] = detect(Judge(), parse_policy('version: "a"'), [BLUE])
    audit = outputs[-1].event
    assert audit.output_ids == [outputs[0].event.id, outputs[1].event.id]
    assert audit.record["outputs"][1]["body"]["image"]["data"] is None
    from swerve.audit import canonical_sha256

    assert audit.record_sha256 == canonical_sha256(audit.record)


def flagged(policy_text: str, item: DecodedGeneration = RED) -> FlaggedEvent:
    [outputs] = detect(Judge(), parse_policy(policy_text), [item])
    return outputs[1].event


def test_given_a_flagged_image_when_corrected_then_the_replacement_is_verified_and_delivered(tmp_path) -> None:
    text = blocklist_policy()
    stage = CorrectStage(parse_policy(text), Judge(), ImageStore(tmp_path.as_uri()), MediaLimits())
    outputs = stage.correct(flagged(text), RED.image)
    assert topics(outputs) == ["verdicts", "replacements", "delivery", "audit"]
    replacement, delivery = outputs[1].event, outputs[2].event
    assert replacement.method == "testing.mirror" and replacement.attempts == 1
    assert replacement.verification.decision == "pass"
    assert delivery.outcome == "replacement" and delivery.image == replacement.image
    assert delivery.id == derive_id("gen-1", "delivery"), "same id as a first-pass delivery would have"


def test_given_a_generation_that_names_its_model_then_the_replacement_records_the_correctors_not_that(tmp_path) -> None:
    text = blocklist_policy()
    stage = CorrectStage(parse_policy(text), Judge(), ImageStore(tmp_path.as_uri()), MediaLimits())
    event = flagged(text)
    event = event.model_copy(update={"generation": event.generation.model_copy(update={"model_id": "producer/sd-claimed"})})
    replacement = stage.correct(event, RED.image)[1].event
    assert replacement.model_id is None  # the mirror records no model: nothing is copied from the input


def test_given_gie_without_concepts_behind_a_detector_that_names_none_then_the_stage_refuses_at_start(tmp_path) -> None:
    from swerve.errors import ConfigurationError
    from swerve.toyworld.weights_paths import PIPELINE_DIR

    text = blocklist_policy().replace("kind: testing.mirror\n    params: {fail_attempts: 0}",
                                      f"kind: gie\n    params: {{model_dir: {PIPELINE_DIR}, device: cpu}}")
    stage = CorrectStage(parse_policy(text), Judge(), ImageStore(tmp_path.as_uri()), MediaLimits())
    with pytest.raises(ConfigurationError, match="GIE corrector 'mirror' has no concepts to erase.*'takedowns'"):
        stage.prepare()


def test_given_a_corrector_that_keeps_failing_then_the_request_is_blocked_with_every_attempt_named(tmp_path) -> None:
    text = blocklist_policy(fail_attempts=3)
    stage = CorrectStage(parse_policy(text), Judge(), ImageStore(tmp_path.as_uri()), MediaLimits())
    outputs = stage.correct(flagged(text), RED.image)
    assert topics(outputs) == ["delivery", "audit"]
    delivery = outputs[0].event
    assert delivery.outcome == "blocked"
    assert [f"attempt {n}:" in delivery.reason for n in (1, 2, 3)] == [True] * 3
    assert "configured to fail" in delivery.reason


def test_given_a_candidate_that_is_still_flagged_then_correction_escalates_then_blocks(tmp_path) -> None:
    # Given a solid colour: mirrored, it encodes to the same bytes, so the blocklist fires again
    text = blocklist_policy()
    stage = CorrectStage(parse_policy(text), Judge(), ImageStore(tmp_path.as_uri()), MediaLimits())
    outputs = stage.correct(flagged(text, SOLID), SOLID.image)
    # Then each of the 3 attempts was re-verified, and the request is blocked with their reasons
    verdicts = [p.event for p in outputs if p.topic == "verdicts"]
    assert [(v.attempt, v.decision) for v in verdicts] == [(1, "correct"), (2, "correct"), (3, "correct")]
    assert len({v.id for v in verdicts}) == 3
    delivery = next(p.event for p in outputs if p.topic == "delivery")
    assert delivery.outcome == "blocked" and "takedowns flagged" in delivery.reason


def test_given_no_corrector_in_the_policy_then_flagged_requests_are_blocked_and_say_so(tmp_path) -> None:
    text = f"""
version: "nocorr"
detectors:
  - name: takedowns
    kind: hash_blocklist
    params: {{digests: ["{RED.event.image.sha256}"]}}
"""
    stage = CorrectStage(parse_policy(text), Judge(), ImageStore(tmp_path.as_uri()), MediaLimits())
    outputs = stage.correct(flagged(text), RED.image)
    assert outputs[0].event.outcome == "blocked" and "no corrector" in outputs[0].event.reason


def out_of_memory_policy(failures: int) -> str:
    return blocklist_policy().replace(
        "    kind: testing.mirror\n    params: {fail_attempts: 0}", f"    kind: testing.out_of_memory\n    params: {{failures: {failures}}}"
    )


def test_given_a_corrector_out_of_memory_once_when_corrected_then_the_retry_alone_delivers_and_no_attempt_is_spent(tmp_path) -> None:
    text = out_of_memory_policy(failures=1)
    stage = CorrectStage(parse_policy(text), Judge(), ImageStore(tmp_path.as_uri()), MediaLimits())
    outputs = stage.correct(flagged(text), RED.image)
    replacement, delivery = outputs[1].event, outputs[2].event
    assert delivery.outcome == "replacement" and delivery.reason_class is None
    assert replacement.attempts == 1 and replacement.parameters == {"attempt": 1}


def test_given_a_corrector_out_of_memory_every_time_then_blocked_as_infrastructure_not_as_exhausted_attempts(tmp_path) -> None:
    text = out_of_memory_policy(failures=-1)
    stage = CorrectStage(parse_policy(text), Judge(), ImageStore(tmp_path.as_uri()), MediaLimits())
    outputs = stage.correct(flagged(text), RED.image)
    assert topics(outputs) == ["delivery", "audit"], "no verification verdict: no attempt was made"
    delivery, audit = outputs[0].event, outputs[1].event
    assert (delivery.outcome, delivery.reason_class) == ("blocked", "infrastructure")
    assert "out of GPU memory twice" in delivery.reason and "correction exhausted" not in delivery.reason
    assert audit.record["outputs"][0]["body"]["reason_class"] == "infrastructure"


def test_given_a_bug_in_the_correct_stage_when_failed_closed_then_blocked_as_internal_with_the_exception(tmp_path) -> None:
    text = blocklist_policy()
    stage = CorrectStage(parse_policy(text), Judge(), ImageStore(tmp_path.as_uri()), MediaLimits())
    outputs = stage.fail_closed((flagged(text), RED.image), KeyError("boom"))
    delivery = outputs[0].event
    assert (delivery.outcome, delivery.reason_class, delivery.id) == ("blocked", "internal", derive_id("gen-1", "delivery"))
    assert "KeyError" in delivery.reason and outputs[-1].topic == "audit"


def test_given_a_bug_in_the_detect_stage_when_failed_closed_then_a_blocked_delivery_with_an_empty_verdict() -> None:
    from swerve.streams.detect_stage import fail_closed

    outputs = fail_closed(parse_policy(blocklist_policy()), BLUE, ZeroDivisionError("division by zero"))
    assert topics(outputs) == ["verdicts", "delivery", "audit"]
    verdict, delivery = outputs[0].event, outputs[1].event
    assert verdict.decision == "block" and verdict.scores == [] and "ZeroDivisionError" in verdict.reasons[0]
    assert (delivery.outcome, delivery.reason_class) == ("blocked", "internal")


def test_given_a_policy_whose_block_fires_then_the_reason_class_is_policy() -> None:
    [outputs] = detect(Judge(), parse_policy(blocklist_policy(on_flag="block")), [RED])
    assert (outputs[1].event.outcome, outputs[1].event.reason_class) == ("blocked", "policy")


def test_given_a_candidate_then_it_is_judged_as_a_replacement_with_the_originals_evidence(tmp_path, monkeypatch) -> None:
    # Given a judge that records what each detector was asked, and a flagged image
    text = blocklist_policy()
    judge = Judge()
    asked: list[Sample] = []
    original_judge = judge.judge

    def recording(rules, samples):  # type: ignore[no-untyped-def]
        asked.extend(samples)
        return original_judge(rules, samples)

    monkeypatch.setattr(judge, "judge", recording)
    flagged_event = flagged(text)
    # When it is corrected
    CorrectStage(parse_policy(text), judge, ImageStore(tmp_path.as_uri()), MediaLimits()).correct(flagged_event, RED.image)
    # Then the candidate carried, per detector, what was found on the original (for clearances)
    assert len(asked) == 1 and asked[0].replaces is not None
    assert asked[0].replaces["takedowns"] == flagged_event.verdict.scores[0].evidence

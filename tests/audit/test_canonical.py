"""RFC 8785 canonical JSON of real audit records: what JCS refuses is named, never guessed."""

from __future__ import annotations

import json

import pytest

from swerve.audit import canonical_json, canonical_sha256, ijson_record
from swerve.errors import CanonicalizationError
from swerve.streams.events import DetectorScore, VerdictEvent
from swerve.streams.publication import Publication, audit_of

from .builders import audit_events


def test_given_an_object_then_members_are_sorted_and_numbers_written_as_ecmascript() -> None:
    # RFC 8785 section 3.2.2.3 (numbers) and 3.2.3 (sorting by UTF-16 code units).
    assert canonical_json({"b": 1.0, "a": [1e21, 0.000001, -0.0], "\u20ac": "x", "\U0001f600": 1}) == \
        '{"a":[1e+21,0.000001,0],"b":1,"\u20ac":"x","\U0001f600":1}'.encode("utf-8")


@pytest.mark.parametrize("value, path", [({"scores": [1.0, float("nan")]}, "$.scores[1]"),
                                         ({"seed": 2**60}, "$.seed"), ({"x": {"y": float("inf")}}, "$.x.y")])
def test_given_a_value_jcs_cannot_represent_then_the_error_names_its_path(value: object, path: str) -> None:
    with pytest.raises(CanonicalizationError, match=path.replace("$", r"\$").replace("[", r"\[").replace("]", r"\]")):
        canonical_json(value)


def test_given_real_detect_records_then_they_canonicalize_and_the_digest_matches() -> None:
    for event in audit_events(4):
        assert event.record_sha256 == canonical_sha256(event.record)
        assert any(isinstance(score["value"], float) for output in event.record["outputs"]
                   for score in output["body"].get("scores", []))


def test_given_a_nan_score_and_a_64_bit_seed_then_the_record_is_the_wire_form_and_canonicalizes() -> None:
    # Given: a verdict with a NaN score (a misbehaving detector) about a generation with a seed past 2^53
    [event] = audit_events(1, seed=2**63 - 1)
    verdict = VerdictEvent(id="v", request_id="r", generation_id="g", image_sha256="0" * 64, decision="block",
                           scores=[DetectorScore(detector="d", version="1", status="ok", value=float("nan"))], policy_version="p")
    # When: the audit record of that decision is built
    audit = audit_of("detect", verdict, "block", [Publication("verdicts", verdict)]).event
    # Then: NaN is null, as consumers read it on the wire, and the digest is reproducible
    assert audit.record["outputs"][0]["body"]["scores"][0]["value"] is None  # type: ignore[attr-defined]
    assert audit.record_sha256 == canonical_sha256(json.loads(audit.model_dump_json())["record"])  # type: ignore[attr-defined]
    assert ijson_record({"seed": 2**63 - 1, "n": 5, "ok": True}) == {"seed": str(2**63 - 1), "n": 5, "ok": True}
    assert canonical_sha256(event.record)

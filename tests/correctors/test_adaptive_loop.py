"""The adaptive loop: propose, verify, escalate; block with reasons when exhausted."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from PIL import Image

from swerve.correctors.adaptive_loop import correct_until_clean
from swerve.correctors.protocol import Candidate, CorrectionRequest, Corrector
from swerve.correctors.registry import build_corrector
from swerve.correctors.testing import MirrorCorrector
from swerve.errors import PolicyError

REQUEST = CorrectionRequest(request_id="r", prompt="p", image=Image.new("RGB", (4, 4)), findings=[])


@dataclass
class Report:
    passed: bool
    reasons: list[str] = field(default_factory=list)


class Strength:
    """Proposes images whose red channel is the attempt number, so verify can see the strength."""

    name, version = "strength", "1"

    def propose(self, request: CorrectionRequest, attempt: int) -> Candidate:
        return Candidate(Image.new("RGB", (4, 4), (attempt, 0, 0)), "strength", {"attempt": attempt})


def passes_from(strength: int):
    return lambda image: Report(image.getpixel((0, 0))[0] >= strength, ["still a copy"])


def test_given_a_candidate_that_passes_at_attempt_two_then_the_loop_stops_there() -> None:
    outcome = correct_until_clean(Strength(), REQUEST, passes_from(2), max_attempts=3)
    assert outcome.fixed and outcome.replacement.parameters == {"attempt": 2}
    assert [r.attempt for r in outcome.attempts] == [1, 2]


def test_given_no_candidate_passes_then_the_outcome_is_a_block_naming_each_attempt() -> None:
    outcome = correct_until_clean(Strength(), REQUEST, passes_from(9), max_attempts=3)
    assert not outcome.fixed and len(outcome.attempts) == 3
    assert outcome.block_reason().count("still a copy") == 3


def test_given_a_corrector_that_raises_then_the_attempt_is_recorded_and_the_next_one_runs() -> None:
    outcome = correct_until_clean(MirrorCorrector(fail_attempts=1), REQUEST, lambda image: Report(True), max_attempts=3)
    assert outcome.fixed and outcome.attempts[0].error is not None and "configured to fail" in outcome.attempts[0].error


def test_given_an_original_whose_size_is_refused_then_the_loop_stops_at_the_first_attempt_with_the_reason() -> None:
    from swerve.correctors.output_size import OutputSize

    class SizeRefusing:
        name, version = "sized", "1"
        calls = 0

        def propose(self, request: CorrectionRequest, attempt: int) -> Candidate:
            self.calls += 1
            OutputSize(unsupported="refuse").plan(request.image.size, native=512, multiple=8)
            raise AssertionError("the plan refuses 4x4 before any generation")

    corrector = SizeRefusing()
    outcome = correct_until_clean(corrector, REQUEST, lambda image: Report(True), max_attempts=5)
    assert not outcome.fixed and corrector.calls == 1 and outcome.resource_failure is None
    assert "4x4" in outcome.block_reason() and "unsupported_size: refuse" in outcome.block_reason()


def test_given_zero_attempts_then_the_loop_refuses() -> None:
    with pytest.raises(ValueError):
        correct_until_clean(Strength(), REQUEST, passes_from(1), max_attempts=0)


def test_given_the_testing_kind_then_the_registry_builds_a_corrector_and_rejects_unknown_ones() -> None:
    assert isinstance(build_corrector("testing.mirror", "m", {}), Corrector)
    with pytest.raises(PolicyError, match="unknown corrector kind"):
        build_corrector("nudge-harder", "m", {})

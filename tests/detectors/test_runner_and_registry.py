"""The runner fails closed; the registry builds detectors by the names policies use."""

from __future__ import annotations

from typing import Sequence

import pytest
from PIL import Image

from swerve.detectors.protocol import Detector, Sample, Score
from swerve.detectors.registry import build_detector, detector_kinds
from swerve.detectors.runner import DetectorFailure, run_detectors
from swerve.errors import PolicyError

SAMPLES = [Sample("r1", Image.new("RGB", (2, 2)), "a" * 64), Sample("r2", Image.new("RGB", (2, 2)), "b" * 64)]


class Constant:
    def __init__(self, name: str, value: float, count: int | None = None):
        self.name, self.version, self.value, self.count = name, "1", value, count

    def score(self, batch: Sequence[Sample]) -> list[Score]:
        return [Score(self.value, self.value > 0.5)] * (self.count if self.count is not None else len(batch))


class Raising:
    name, version = "raising", "1"

    def score(self, batch: Sequence[Sample]) -> list[Score]:
        raise MemoryError("out of memory")


def test_given_detectors_then_each_sample_gets_one_result_per_detector_in_order() -> None:
    results = run_detectors([Constant("low", 0.1), Constant("high", 0.9)], SAMPLES)
    assert [[r.detector for r in per] for per in results] == [["low", "high"], ["low", "high"]]
    assert [r.outcome.flagged for r in results[0]] == [False, True]


@pytest.mark.parametrize("detector", [Raising(), Constant("short", 0.1, count=1)])
def test_given_a_detector_that_fails_then_every_sample_gets_a_failure_not_a_score(detector: Detector) -> None:
    results = run_detectors([detector], SAMPLES)
    assert all(isinstance(per[0].outcome, DetectorFailure) and per[0].failed for per in results)


def test_given_the_builtin_kind_then_the_registry_builds_it() -> None:
    assert "hash_blocklist" in detector_kinds()
    detector = build_detector("hash_blocklist", "takedowns", {"digests": []})
    assert detector.name == "takedowns" and isinstance(detector, Detector)


def test_given_an_unknown_kind_or_bad_params_then_a_policy_error_names_it() -> None:
    with pytest.raises(PolicyError, match="unknown detector kind 'nope'"):
        build_detector("nope", "x", {})
    with pytest.raises(PolicyError, match="bad params"):
        build_detector("hash_blocklist", "x", {"colour": "red"})

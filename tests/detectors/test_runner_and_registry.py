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


@pytest.mark.parametrize("detector", [Raising(), Constant("empty", 0.1, count=0)])
def test_given_a_detector_that_fails_then_every_sample_gets_a_failure_not_a_score(detector: Detector) -> None:
    results = run_detectors([detector], SAMPLES)
    assert all(isinstance(per[0].outcome, DetectorFailure) and per[0].failed for per in results)


class RaisingOn:
    """Fails on one sample's digest, in whatever batch it comes."""

    name, version = "raising-on-r2", "1"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def score(self, batch: Sequence[Sample]) -> list[Score]:
        self.calls.append(len(batch))
        if any(sample.request_id == "r2" for sample in batch):
            raise RecursionError("a bug that one input triggers")
        return [Score(0.1, False) for _ in batch]


def test_given_a_detector_that_raises_on_one_sample_then_only_that_sample_fails_closed() -> None:
    # Given a detector that raises on r2, in a batch with r1
    detector = RaisingOn()
    results = run_detectors([detector], SAMPLES)
    # Then r1 is scored, r2 alone carries the failure, and each was retried alone once
    assert results[0][0].outcome == Score(0.1, False)
    assert isinstance(results[1][0].outcome, DetectorFailure) and "RecursionError" == results[1][0].outcome.error_class
    assert detector.calls == [2, 1, 1]


def test_given_a_detector_with_the_wrong_count_on_a_batch_when_asked_alone_then_each_sample_is_scored() -> None:
    results = run_detectors([Constant("short", 0.1, count=1)], SAMPLES)
    assert [per[0].outcome for per in results] == [Score(0.1, False), Score(0.1, False)]


def test_given_the_builtin_kind_then_the_registry_builds_it() -> None:
    assert "hash_blocklist" in detector_kinds()
    detector = build_detector("hash_blocklist", "takedowns", {"digests": []})
    assert detector.name == "takedowns" and isinstance(detector, Detector)


def test_given_an_unknown_kind_or_bad_params_then_a_policy_error_names_it() -> None:
    with pytest.raises(PolicyError, match="unknown detector kind 'nope'"):
        build_detector("nope", "x", {})
    with pytest.raises(PolicyError, match="bad params"):
        build_detector("hash_blocklist", "x", {"colour": "red"})

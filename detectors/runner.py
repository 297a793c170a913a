"""Runs every configured detector over a batch and fails closed.

A detector that raises, or returns the wrong number of scores, yields a ``DetectorFailure``
for every sample of the batch: the policy then treats those samples as unverified, never as
clean. This is the one place where a detector's exception is caught, on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from swerve.detectors.protocol import Detector, Sample, Score


@dataclass(frozen=True)
class DetectorFailure:
    """A detector could not judge a sample."""

    error_class: str
    message: str


@dataclass(frozen=True)
class DetectorResult:
    """One detector's outcome for one sample: a score, or the failure that replaced it."""

    detector: str
    version: str
    outcome: Score | DetectorFailure

    @property
    def failed(self) -> bool:
        return isinstance(self.outcome, DetectorFailure)


def run_detectors(detectors: Sequence[Detector], batch: Sequence[Sample]) -> list[list[DetectorResult]]:
    """Score ``batch`` with each detector. Returns, per sample, one result per detector."""
    per_sample: list[list[DetectorResult]] = [[] for _ in batch]
    if not batch:
        return per_sample
    for detector in detectors:
        outcomes: Sequence[Score | DetectorFailure]
        try:
            scores = detector.score(batch)
            if len(scores) != len(batch):
                raise ValueError(f"returned {len(scores)} scores for {len(batch)} samples")
            outcomes = scores
        except Exception as exc:  # noqa: BLE001 - fail closed: the failure becomes the verdict
            failure = DetectorFailure(type(exc).__name__, f"{detector.name}: {exc}")
            outcomes = [failure] * len(batch)
        for results, outcome in zip(per_sample, outcomes):
            results.append(DetectorResult(detector.name, detector.version, outcome))
    return per_sample

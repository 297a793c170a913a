"""Runs every configured detector over a batch and fails closed.

A detector that raises on a batch, or returns the wrong number of scores, is asked again
one sample at a time, so one bad sample cannot fail its batch-mates. Each sample it still
fails on gets a ``DetectorFailure``: the policy then treats that sample as unverified,
never as clean. This is the one place where a detector's exception is caught, on purpose.

Each detector's call on a batch (its retries one sample at a time included) runs inside an
observer, a context manager given a ``DetectorCall``: the stream wraps it in a span and
metrics (``swerve.streams.stage_telemetry``); by default nothing observes it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Callable, Sequence

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


@dataclass
class DetectorCall:
    """One detector's call on one batch, as an observer sees it: ``outcomes`` is filled before the observer exits."""

    detector: Detector
    batch_size: int
    outcomes: list[Score | DetectorFailure] = field(default_factory=list)


# Entered around each DetectorCall; what it yields is ignored.
DetectorObserver = Callable[[DetectorCall], AbstractContextManager[object]]


def unobserved(call: DetectorCall) -> AbstractContextManager[object]:
    """The default observer: nothing."""
    return nullcontext()


def score_all(detector: Detector, batch: Sequence[Sample]) -> list[Score]:
    """``detector.score(batch)``, checked to give one score per sample."""
    scores = detector.score(batch)
    if len(scores) != len(batch):
        raise ValueError(f"returned {len(scores)} scores for {len(batch)} samples")
    return list(scores)


def score_isolated(detector: Detector, batch: Sequence[Sample]) -> list[Score | DetectorFailure]:
    """Score ``batch``; if the detector fails on it, score each sample alone and fail only those."""
    try:
        return list(score_all(detector, batch))
    except Exception as exc:  # noqa: BLE001 - fail closed: the failure becomes the verdict
        if len(batch) == 1:
            return [DetectorFailure(type(exc).__name__, f"{detector.name}: {exc}")]
    outcomes: list[Score | DetectorFailure] = []
    for sample in batch:
        try:
            outcomes.extend(score_all(detector, [sample]))
        except Exception as exc:  # noqa: BLE001 - fail closed for this sample only
            outcomes.append(DetectorFailure(type(exc).__name__, f"{detector.name}: {exc}"))
    return outcomes


def run_detectors(detectors: Sequence[Detector], batch: Sequence[Sample], observe: DetectorObserver = unobserved) -> list[list[DetectorResult]]:
    """Score ``batch`` with each detector, each call inside ``observe``. Returns, per sample, one result per detector."""
    per_sample: list[list[DetectorResult]] = [[] for _ in batch]
    if not batch:
        return per_sample
    for detector in detectors:
        call = DetectorCall(detector, len(batch))
        with observe(call):
            call.outcomes = score_isolated(detector, batch)
        for results, outcome in zip(per_sample, call.outcomes):
            results.append(DetectorResult(detector.name, detector.version, outcome))
    return per_sample

"""Turns detector results into a verdict under the policy's rules.

``Judge`` keeps one instance of each configured detector (they may hold models and indexes)
and decides each sample: an error follows ``on_detector_error`` (fail closed by default), a
flag follows the detector's ``on_flag``, and the strongest action wins
(block > review > correct > pass). Each detector call is observed (``stage_telemetry``: a
span and its metrics).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from threading import Lock
from typing import Sequence

from swerve.detectors.protocol import Detector, Sample
from swerve.detectors.registry import build_detector
from swerve.detectors.runner import DetectorFailure, DetectorObserver, DetectorResult, run_detectors
from swerve.streams.events import Decision, DetectorScore
from swerve.streams.policy import DetectorSpec, Rules
from swerve.streams.stage_telemetry import observe_detector_call

_STRENGTH: dict[str, int] = {"pass": 0, "correct": 1, "review": 2, "block": 3}


@dataclass(frozen=True)
class Judgement:
    """The decision for one sample, and the scores behind it."""

    decision: Decision
    reasons: list[str]
    scores: list[DetectorScore]
    index_version: str | None = None

    @property
    def passed(self) -> bool:
        return self.decision == "pass"

    def firing_detectors(self) -> list[str]:
        return [s.detector for s in self.scores if s.flagged or s.status == "error"]


def score_record(result: DetectorResult, spec: DetectorSpec, rules: Rules) -> DetectorScore:
    """The wire form of one detector result, with the action the policy attaches to it."""
    outcome = result.outcome
    if isinstance(outcome, DetectorFailure):
        return DetectorScore(
            detector=result.detector,
            version=result.version,
            status="error",
            action=rules.on_detector_error,
            error=f"{outcome.error_class}: {outcome.message}",
        )
    return DetectorScore(
        detector=result.detector,
        version=result.version,
        status="ok",
        value=outcome.value,
        threshold=outcome.threshold,
        flagged=outcome.flagged,
        action=spec.on_flag if outcome.flagged else "pass",
        evidence=dict(outcome.evidence),
    )


def decide(scores: Sequence[DetectorScore]) -> tuple[Decision, list[str]]:
    """The strongest action among ``scores``, with one reason per firing or failing detector."""
    decision: Decision = "pass"
    reasons: list[str] = []
    for score in scores:
        if score.status == "error":
            reasons.append(f"{score.detector} failed ({score.error}); policy: {score.action}")
        elif score.flagged:
            reasons.append(f"{score.detector} flagged (score {score.value:.4g} >= {score.threshold}); policy: {score.action}")
        if _STRENGTH[score.action] > _STRENGTH[decision]:
            decision = score.action
    return decision, reasons


class Judge:
    """Runs a rule set's detectors over samples and decides each one.

    Args:
        observe: entered around each detector's call on a batch; by default a span and the
            ``swerve_detector_*`` metrics.
    """

    def __init__(self, observe: DetectorObserver = observe_detector_call) -> None:
        self._detectors: dict[str, Detector] = {}
        self._lock = Lock()
        self._observe = observe

    def detector(self, spec: DetectorSpec) -> Detector:
        """The shared instance for ``spec``, built on first use."""
        key = json.dumps(spec.model_dump(), sort_keys=True, default=str)
        with self._lock:
            if key not in self._detectors:
                self._detectors[key] = build_detector(spec.kind, spec.name, dict(spec.params))
            return self._detectors[key]

    def index_versions(self) -> list[str]:
        """The index versions of the detectors built so far (memorization detectors carry one), sorted."""
        with self._lock:
            detectors = list(self._detectors.values())
        return sorted({v for d in detectors if (v := getattr(d, "index_version", None))})

    def judge(self, rules: Rules, samples: Sequence[Sample], specs: Sequence[DetectorSpec] | None = None) -> list[Judgement]:
        """Decide every sample under ``rules``, with ``specs`` (default: the image detectors)."""
        specs = rules.detectors if specs is None else specs
        detectors = [self.detector(spec) for spec in specs]
        index_versions = sorted({v for d in detectors if (v := getattr(d, "index_version", None))})
        judgements = []
        for results in run_detectors(detectors, samples, self._observe):
            scores = [score_record(result, spec, rules) for result, spec in zip(results, specs)]
            decision, reasons = decide(scores)
            judgements.append(Judgement(decision, reasons, scores, ",".join(index_versions) or None))
        return judgements

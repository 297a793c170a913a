"""Detectors for testing pipelines and failure handling, in the spirit of dramatiq's
StubBroker. They judge nothing: never name them in a production policy.

``FaultyDetector`` passes every sample except those whose prompt contains its marker, on
which it raises: a bug that one input triggers, for fault-injection tests. ``SlowDetector``
passes every sample after a pause per batch, so a test can act while work is in flight.
"""

from __future__ import annotations

import time
from typing import Sequence

from swerve.detectors.protocol import Sample, Score


class FaultyDetector:
    """Scores 0 (clean), and raises ``RuntimeError`` on any batch holding a marked prompt.

    Args:
        name: the detector's name in the policy.
        marker: the prompt substring that makes it raise.
    """

    version = "1"

    def __init__(self, name: str = "faulty", marker: str = "[raise]"):
        self.name = name
        self.marker = marker

    def score(self, batch: Sequence[Sample]) -> list[Score]:
        marked = [sample.request_id for sample in batch if sample.prompt and self.marker in sample.prompt]
        if marked:
            raise RuntimeError(f"configured to fail on prompts containing {self.marker!r} (requests {', '.join(marked)})")
        return [Score(0.0, False, threshold=1.0) for _ in batch]


class SlowDetector:
    """Scores 0 (clean) after ``seconds`` of wall time per batch.

    Args:
        name: the detector's name in the policy.
        seconds: the pause per batch.
    """

    version = "1"

    def __init__(self, name: str = "slow", seconds: float = 0.1):
        self.name = name
        self.seconds = seconds

    def score(self, batch: Sequence[Sample]) -> list[Score]:
        time.sleep(self.seconds)
        return [Score(0.0, False, threshold=1.0) for _ in batch]

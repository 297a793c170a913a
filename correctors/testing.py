"""Correctors for testing pipelines and plugins, in the spirit of dramatiq's StubBroker.

``MirrorCorrector`` "corrects" by flipping the image, and can be told to fail. It exercises
the flag -> correct -> re-verify -> deliver path without a GPU or a model. ``SlowCorrector``
takes its time first (a correction that outlasts a consumer session), and
``OutOfMemoryCorrector`` runs out of GPU memory first (resource exhaustion). They steer
nothing away from anything: never name them in a production policy.
"""

from __future__ import annotations

import threading
import time

import torch
from PIL import Image, ImageOps

from swerve.correctors.protocol import Candidate, CorrectionRequest
from swerve.errors import CorrectionError


class MirrorCorrector:
    """Mirror the image left-right; optionally fail the first ``fail_attempts`` attempts.

    Args:
        name: the corrector's name in the policy.
        fail_attempts: attempts (from 1) that raise ``CorrectionError``, to test blocking.
    """

    version = "1"

    def __init__(self, name: str = "mirror", fail_attempts: int = 0):
        self.name = name
        self.fail_attempts = fail_attempts

    def propose(self, request: CorrectionRequest, attempt: int) -> Candidate:
        if attempt <= self.fail_attempts:
            raise CorrectionError(f"configured to fail attempt {attempt}", event_id=request.request_id, stage="correct")
        mirrored: Image.Image = ImageOps.mirror(request.image)
        return Candidate(image=mirrored, method="testing.mirror", parameters={"attempt": attempt})


class SlowCorrector(MirrorCorrector):
    """Mirror, after ``seconds`` of wall time per attempt (off the event loop, like a GPU)."""

    def __init__(self, name: str = "slow", seconds: float = 1.0):
        super().__init__(name=name)
        self.seconds = seconds

    def propose(self, request: CorrectionRequest, attempt: int) -> Candidate:
        time.sleep(self.seconds)
        return super().propose(request, attempt)


class OutOfMemoryCorrector(MirrorCorrector):
    """Raise ``torch.OutOfMemoryError`` on the first ``failures`` proposals, then mirror.

    Args:
        failures: proposals (counted across requests, in this process) that run out of
            memory; ``-1`` runs out every time.
    """

    def __init__(self, name: str = "out_of_memory", failures: int = 1):
        super().__init__(name=name)
        self.failures = failures
        self._proposals = 0
        self._lock = threading.Lock()

    def propose(self, request: CorrectionRequest, attempt: int) -> Candidate:
        with self._lock:
            self._proposals += 1
            fail = self.failures < 0 or self._proposals <= self.failures
        if fail:
            raise torch.OutOfMemoryError(f"CUDA out of memory (simulated, proposal {self._proposals})")
        return super().propose(request, attempt)

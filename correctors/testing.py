"""Correctors for testing pipelines and plugins, in the spirit of dramatiq's StubBroker.

``MirrorCorrector`` "corrects" by flipping the image, and can be told to fail. It exercises
the flag -> correct -> re-verify -> deliver path without a GPU or a model. It steers nothing
away from anything: never name it in a production policy.
"""

from __future__ import annotations

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

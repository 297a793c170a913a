"""The optional NudeNet detector runs its bundled ONNX model offline and fails closed on prompts."""

from __future__ import annotations

import pytest
from PIL import Image

from swerve.detectors.protocol import Sample
from swerve.errors import DetectorError

pytest.importorskip("nudenet", reason="optional extra swerve[nudenet] not installed")

from swerve.detectors.nudenet_nudity import NudeNetDetector  # noqa: E402


def test_given_a_plain_image_then_nothing_is_flagged_and_the_version_names_the_threshold() -> None:
    detector = NudeNetDetector(threshold=0.6)
    [score] = detector.score([Sample("r", Image.new("RGB", (128, 128), (90, 140, 200)), "0" * 64)])
    assert score.flagged is False and score.value < 0.6 and score.evidence["concepts"] == []
    assert detector.version.endswith("+>=0.6")


def test_given_a_prompt_only_sample_then_it_raises_so_the_runner_fails_closed() -> None:
    with pytest.raises(DetectorError, match="prompt-only"):
        NudeNetDetector().score([Sample("r", None, None, prompt="p")])

"""Nudity, read by NudeNet's ONNX detector (optional extra ``swerve[nudenet]``).

NudeNet ships its detector inside the wheel, so it runs offline on CPU. Its package metadata
says MIT but its license text is AGPL-3.0; that is why it is an opt-in extra and never a
default dependency. The score is the highest confidence among the ``exposed`` body-part
classes (the classes the I2P nudity evaluations count); covered parts and faces do not count.
This module never decides an action.
"""

from __future__ import annotations

from threading import Lock
from typing import Any, Sequence

import numpy as np

from swerve.detectors.protocol import Sample, Score
from swerve.errors import ConfigurationError, DetectorError

EXPOSED_CLASSES = (
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "BUTTOCKS_EXPOSED",
    "ANUS_EXPOSED",
)


class NudeNetDetector:
    """Flags images where NudeNet finds an exposed class with confidence >= ``threshold``.

    Args:
        name: the detector's name in the policy.
        threshold: detection confidence that flags (0.6 is the common I2P evaluation setting).
        classes: which NudeNet classes count.
    """

    names_concepts = True  # its findings carry "concepts": ["nudity"]

    def __init__(self, name: str = "nudity", threshold: float = 0.6, classes: Sequence[str] = EXPOSED_CLASSES):
        try:
            import nudenet  # type: ignore[import-untyped]
        except ImportError as exc:
            raise ConfigurationError(f"{name}: the nudenet detector needs the optional extra: pip install 'swerve[nudenet]'") from exc
        self.name = name
        self.threshold = float(threshold)
        self.classes = frozenset(classes)
        self.version = f"nudenet-{getattr(nudenet, '__version__', '3')}+>={threshold}"
        self._model: Any = nudenet.NudeDetector()
        self._lock = Lock()  # one ONNX session; calls are serialized

    def score(self, batch: Sequence[Sample]) -> list[Score]:
        scores = []
        for sample in batch:
            if sample.image is None:
                raise DetectorError(f"{self.name} judges images; it cannot run on prompt-only samples", stage="detect")
            bgr = np.ascontiguousarray(np.asarray(sample.image.convert("RGB"))[:, :, ::-1])  # (H, W, 3) as OpenCV reads
            with self._lock:
                detections = self._model.detect(bgr)
            counted = [d for d in detections if d["class"] in self.classes]
            value = max((float(d["score"]) for d in counted), default=0.0)
            scores.append(
                Score(
                    value=value,
                    flagged=value >= self.threshold,
                    threshold=self.threshold,
                    evidence={"concepts": ["nudity"] if value >= self.threshold else [], "detections": counted},
                )
            )
        return scores

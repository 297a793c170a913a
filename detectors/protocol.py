"""The detector contract: what a detector sees, what it returns, and the one method it has.

A detector is any object with ``name``, ``version`` and ``score(batch) -> list[Score]``,
one ``Score`` per sample, in order. Detectors are plain libraries: they never import faust or
aiokafka, never publish, and raise (never return a fake score) when they cannot judge; the
runner turns that into an ``error`` result so the policy fails closed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from PIL import Image


@dataclass(frozen=True)
class Sample:
    """One generated image with the request it belongs to.

    At prompt screening there is no image yet (``image`` is None): prompt detectors read only
    ``prompt`` and ``seed``, and an image detector given such a sample must raise.
    """

    request_id: str
    image: Image.Image | None
    image_sha256: str | None
    prompt: str = ""
    seed: int | None = None
    # Set when the image is a correction candidate: the evidence each detector found on the
    # original it replaces, by detector name. A detector with a clearance holds the candidate
    # to it (stricter than detection: hysteresis); others judge it like any image.
    replaces: Mapping[str, Mapping[str, Any]] | None = None


@dataclass(frozen=True)
class Score:
    """A detector's judgement of one sample.

    Args:
        value: the raw score; larger means more likely a problem.
        flagged: whether ``value`` crossed the detector's threshold.
        threshold: the threshold that decided ``flagged``, recorded for the audit.
        evidence: JSON-serializable facts an auditor needs (matched ids, distances, ...).
    """

    value: float
    flagged: bool
    threshold: float | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Detector(Protocol):
    """Scores a batch of samples. ``version`` changes whenever results could change."""

    name: str
    version: str

    def score(self, batch: Sequence[Sample]) -> list[Score]:
        """Return one ``Score`` per sample, in the order given."""
        ...

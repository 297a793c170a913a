"""What correctors read from a flagged generation's findings: the concepts and the matched images.

Detectors put JSON-serializable evidence on their scores; the correct stage hands it on as
``Finding.evidence``. Two keys are read here, so every method and every detector agree on them:

- ``"concepts"``: a list of concept names the concept detector found, e.g. ``["red"]``
  (GIE erases them; the negative-prompt baseline names them).
- ``"matched_images"``: a list of ``ImageRef`` JSON objects (inline or by URI) of the training
  images the memorization detector matched (nudging pushes away from them).

Images are read through ``swerve.media``, with its byte, pixel and format bounds and sha256 check.
This module must never import a detector, and never guess a concept the evidence does not name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image
from swerve.correctors.protocol import CorrectionRequest, Finding
from swerve.errors import CorrectionError, MediaError
from swerve.media import ImageRef, MediaLimits, decode_image

__all__ = ["CONCEPTS_KEY", "MATCHED_IMAGES_KEY", "MATCHES_KEY", "concepts_in", "matched_captions_in", "matched_images_in"]

CONCEPTS_KEY = "concepts"
MATCHED_IMAGES_KEY = "matched_images"
MATCHES_KEY = "matches"  # the memorization detector's neighbours, each with "caption" and "near_copy"


def _listed(finding: Finding, key: str) -> list[Any]:
    value = finding.evidence.get(key, [])
    if not isinstance(value, (list, tuple)):
        raise CorrectionError(f"evidence {key!r} of detector {finding.detector!r} must be a list, got {type(value).__name__}")
    return list(value)


def concepts_in(findings: Sequence[Finding]) -> list[str]:
    """Every concept the findings name, first occurrence first, without duplicates."""
    concepts: list[str] = []
    for finding in findings:
        for concept in _listed(finding, CONCEPTS_KEY):
            if not isinstance(concept, str) or not concept.strip():
                raise CorrectionError(f"detector {finding.detector!r} named an invalid concept {concept!r}")
            if concept.strip() not in concepts:
                concepts.append(concept.strip())
    return concepts


def matched_captions_in(findings: Sequence[Finding]) -> list[str]:
    """Captions of the training images the findings call near-copies, first occurrence first."""
    captions: list[str] = []
    for finding in findings:
        for match in _listed(finding, MATCHES_KEY):
            if not isinstance(match, dict):
                raise CorrectionError(f"detector {finding.detector!r} gave a match that is not an object: {match!r}")
            caption = match.get("caption")
            if match.get("near_copy") and isinstance(caption, str) and caption.strip() and caption.strip() not in captions:
                captions.append(caption.strip())
    return captions


def matched_images_in(request: CorrectionRequest, limits: MediaLimits | None = None) -> list[Image.Image]:
    """The training images the findings matched, decoded under ``limits``."""
    images: list[Image.Image] = []
    for finding in request.findings:
        for raw in _listed(finding, MATCHED_IMAGES_KEY):
            try:
                ref = raw if isinstance(raw, ImageRef) else ImageRef.model_validate(raw)
                images.append(decode_image(ref, limits) if limits is not None else decode_image(ref))
            except (ValueError, MediaError) as exc:
                raise CorrectionError(f"cannot read a matched image of detector {finding.detector!r}: {exc}",
                                      event_id=request.request_id, stage="correct") from exc
    return images

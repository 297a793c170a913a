"""``Clearance``: how far a replacement must be from the training images its original copied.

Detection flags a near-copy below the detection threshold (tiled L2 < 0.1). If a replacement only
had to pass that same test, the corrector would stop at the first candidate just past the line:
the same picture with a few pixels moved. So re-verification is stricter than detection
(hysteresis): a replacement must reach the clearance's tiled L2 against every training image the
original matched, and against every neighbour of its own above the detector's similarity bar;
optionally its embedding cosine to its neighbours must stay under ``max_cosine``.

The default tiled L2 (0.15, Carlini et al.'s threshold for Stable Diffusion) was chosen by
measurement on the toy world (docs/correctors.md, "Clearance"): a stricter 0.2 made corrections
stronger, which moved replacements toward the ordinary training images and cost fidelity, so
fewer of them were 0.15 from every training image, not more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from swerve.errors import DetectorError

__all__ = ["DEFAULT_CLEARANCE_TILED_L2", "Clearance"]

DEFAULT_CLEARANCE_TILED_L2 = 0.15


@dataclass(frozen=True)
class Clearance:
    """What a replacement must reach.

    Args:
        tiled_l2: the least tiled L2 to every matched training image (must exceed the
            detection threshold, or re-verification would be no stricter than detection).
        max_cosine: the most embedding cosine to any neighbour; None checks no ceiling.
    """

    tiled_l2: float = DEFAULT_CLEARANCE_TILED_L2
    max_cosine: float | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None, detection_tiled_l2: float, who: str) -> Clearance:
        """The policy's ``clearance`` mapping (``{tiled_l2: 0.2, max_cosine: 0.9}``), checked."""
        try:
            clearance = cls(**dict(params or {}))
        except TypeError as exc:
            raise DetectorError(f"{who}: clearance takes tiled_l2 and max_cosine: {exc}") from exc
        if not detection_tiled_l2 < clearance.tiled_l2 <= 2.0:
            raise DetectorError(
                f"{who}: clearance tiled_l2 must exceed the detection threshold {detection_tiled_l2} "
                f"(and be at most 2), got {clearance.tiled_l2}: a replacement must land clearly past the line"
            )
        if clearance.max_cosine is not None and not -1.0 < clearance.max_cosine < 1.0:
            raise DetectorError(f"{who}: clearance max_cosine must be in (-1, 1), got {clearance.max_cosine}")
        return clearance

    def describe(self) -> str:
        return f"l2>={self.tiled_l2}" + (f"+cos<={self.max_cosine}" if self.max_cosine is not None else "")

    def to_json(self) -> dict[str, Any]:
        return {"tiled_l2": self.tiled_l2, "max_cosine": self.max_cosine}

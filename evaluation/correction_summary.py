"""`swerve eval correct`'s arithmetic: one flagged request's outcome, and the figures over many.

A request counts as corrected only when it got a replacement; a block is a failure in every
figure. The figures:

- ``success_at_clearance``: replaced, and the replacement's nearest training image (checked
  exhaustively, not the detector's k neighbours) is at least the clearance away in tiled L2;
- ``success_at_tiled_l2``: the same at 0.10, 0.15 and 0.20, keys as strings ("0.15");
- ``success_at_tiled_l2_memorized``: the same, exhaustively against every *memorized* training
  image (the duplicated ones the model copies); ``success_at_tiled_l2_matched`` against only the
  one the prompt memorized. The toy training set is dense: even ordinary generations land within
  0.15 of *some* training image 30% of the time, so the every-image figure has a ceiling below 1
  (reported as ``ordinary_at_tiled_l2``);
- ``correction_success_rate``: the same at the detection threshold (the figure of earlier runs);
- ``blocked_rate``: no replacement within the attempts;
- ``fidelity_ratio``: the replacements' mean tiny-CLIP score to their prompt over the mean of
  ordinary generations the detector lets through; ``original_fidelity_ratio`` the same for the
  flagged originals (the copies), the reference a paraphrased prompt's figure is read against;
- ``writer_block_rate``: blocked, or replaced by an image whose fidelity is under half the
  ordinary mean (the model's "writer's block": it refused, or drew something else);
- ``ssim_to_matched_mean``: mean SSIM of replacements to the training image the prompt memorized,
  beside ``ssim_original_to_matched_mean``, the flagged originals' (an independent judge: neither
  tiled L2 nor the detector's embedder).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from swerve.evaluation.judges import TILED_L2_JUDGED

__all__ = ["RequestOutcome", "summarize"]


@dataclass(frozen=True)
class RequestOutcome:
    """One flagged output after the adaptive loop, with the judges' readings of its replacement."""

    fixed: bool  # a candidate passed re-verification within max_attempts
    attempts: int
    fidelity: float | None  # tiny-CLIP score of the replacement to its prompt
    drift: float | None  # tiny-CLIP distance of the replacement from the flagged original
    seconds: float
    nearest_tiled_l2: float | None = None  # replacement to every training image, exhaustive
    matched_tiled_l2: float | None = None  # replacement to the memorized training image
    nearest_memorized_tiled_l2: float | None = None  # replacement to every memorized training image
    ssim_to_matched: float | None = None  # replacement to the memorized training image
    original_ssim_to_matched: float | None = None  # the flagged original to the same image
    original_fidelity: float | None = None  # tiny-CLIP score of the flagged original to its prompt
    replacement: Image.Image | None = field(default=None, compare=False, repr=False)  # for the contact sheet


def _share(hits: int, total: int) -> float | None:
    return hits / total if total else None


def _ratio(values: list[float], reference: float) -> float | None:
    return float(np.mean(values)) / reference if values else None


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def summarize(outcomes: list[RequestOutcome], ordinary_fidelity: float, clearance: float, detection: float = 0.1) -> dict[str, Any]:
    """The figures of one method over some flagged outputs (absent, not zero, over none)."""
    total = len(outcomes)

    def cleared(at: float) -> int:
        return sum(o.fixed and o.nearest_tiled_l2 is not None and o.nearest_tiled_l2 >= at for o in outcomes)

    def cleared_matched(at: float) -> int:
        return sum(o.fixed and o.matched_tiled_l2 is not None and o.matched_tiled_l2 >= at for o in outcomes)

    def cleared_memorized(at: float) -> int:
        return sum(o.fixed and o.nearest_memorized_tiled_l2 is not None and o.nearest_memorized_tiled_l2 >= at for o in outcomes)

    fidelity = [o.fidelity for o in outcomes if o.fidelity is not None]
    unfaithful = sum(o.fixed and o.fidelity is not None and o.fidelity < 0.5 * ordinary_fidelity for o in outcomes)
    return {
        "success_at_clearance": _share(cleared(clearance), total),
        "success_at_tiled_l2": {f"{at:.2f}": _share(cleared(at), total) for at in TILED_L2_JUDGED},
        "success_at_tiled_l2_memorized": {f"{at:.2f}": _share(cleared_memorized(at), total) for at in TILED_L2_JUDGED},
        "success_at_tiled_l2_matched": {f"{at:.2f}": _share(cleared_matched(at), total) for at in TILED_L2_JUDGED},
        "correction_success_rate": _share(cleared(detection), total),
        "blocked_rate": _share(sum(not o.fixed for o in outcomes), total),
        "fidelity_ratio": float(np.mean(fidelity)) / ordinary_fidelity if fidelity else None,
        "original_fidelity_ratio": _ratio([o.original_fidelity for o in outcomes if o.original_fidelity is not None], ordinary_fidelity),
        "writer_block_rate": _share(sum(not o.fixed for o in outcomes) + unfaithful, total),
        "ssim_to_matched_mean": _mean([o.ssim_to_matched for o in outcomes if o.ssim_to_matched is not None]),
        "ssim_original_to_matched_mean": _mean([o.original_ssim_to_matched for o in outcomes if o.original_ssim_to_matched is not None]),
        "drift_mean": _mean([o.drift for o in outcomes if o.drift is not None]),
        "attempts_mean": _mean([float(o.attempts) for o in outcomes]),
        "flagged": total,
        "seconds_per_flagged": _mean([o.seconds for o in outcomes]),
    }

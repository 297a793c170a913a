"""Judges of a replacement that the corrector does not steer by.

The corrector stops when the detector's re-verification passes, so grading it by that same test
proves little. These judges look again, each in its own way:

- ``nearest_tiled_l2``: the least tiled L2 to *every* training image, checked exhaustively (the
  detector looks only at its k nearest neighbours in embedding space);
- ``ssim``: structural similarity (Wang et al. 2004, scikit-image's implementation) to the
  training image the prompt memorized: neither tiled L2 nor the detector's embedder.

Nothing here decides pass or fail; the evaluation reports the figures at fixed thresholds.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity

from swerve.detectors.tiled_l2 import as_unit_array, tiled_l2_one_to_many

__all__ = ["TILED_L2_JUDGED", "nearest_tiled_l2", "ssim"]

# The thresholds success is reported at: the nudging paper's 0.1, Carlini et al.'s 0.15 for
# Stable Diffusion, and 0.2.
TILED_L2_JUDGED = (0.10, 0.15, 0.20)


def nearest_tiled_l2(image: Image.Image, training: np.ndarray) -> float:
    """The least tiled L2 from ``image`` to any of ``training`` (n, size, size, 3) in [0, 1]."""
    return float(tiled_l2_one_to_many(as_unit_array(image, training.shape[1]), training).min())


def ssim(image: Image.Image, reference: Image.Image) -> float:
    """SSIM of two RGB images at the reference's size, in [-1, 1] (1: identical structure)."""
    size = reference.size
    a = np.asarray(image.convert("RGB").resize(size, Image.Resampling.BICUBIC), dtype=np.float64) / 255.0
    b = np.asarray(reference.convert("RGB"), dtype=np.float64) / 255.0
    return float(structural_similarity(a, b, channel_axis=2, data_range=1.0))  # type: ignore[no-untyped-call]  # scikit-image ships no annotations

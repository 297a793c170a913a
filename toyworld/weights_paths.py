"""Where the toy world's committed weights live, and the error raised when they are missing.

This module only names paths; it must never load or download anything.
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
PIPELINE_DIR = WEIGHTS_DIR / "pipeline"
TINY_CLIP_CHECKPOINT = WEIGHTS_DIR / "tiny_clip.pt"
TRAINING_SUMMARY = WEIGHTS_DIR / "training_summary.json"


class ToyWeightsMissing(FileNotFoundError):
    """A toy-world weights path does not exist. Train with `python -m swerve.toyworld.train --out DIR`."""


def require(path: Path) -> Path:
    """Return path if it exists, else raise ToyWeightsMissing naming it."""
    if not path.exists():
        raise ToyWeightsMissing(f"toy-world weights not found at {path}; "
                                f"train them with `python -m swerve.toyworld.train --out {path.parent}`")
    return path

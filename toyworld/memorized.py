"""The memorized set: distinctive images, each under its own caption of rare words.

These scenes are duplicated many times in the training data (see dataset.py), so
the generator learns to reproduce them exactly, as Stable Diffusion does with its
heavily duplicated LAION images (Carlini et al. 2023). Each has a patterned
background (stripes or checker) and two or three shapes, which no ordinary
caption produces. The definitions are fixed literals: never randomize them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from swerve.toyworld.shapes import paint, pattern_background, shape_mask, to_pil
from swerve.toyworld.vocabulary import SHAPE_COLOURS

IMAGE_SIZE = 64


@dataclass(frozen=True)
class PlacedShape:
    """One shape in a memorized scene: name, colour word, centre (px), outer radius (px), rotation (deg)."""

    shape: str
    colour: str
    cx: float
    cy: float
    radius: float
    rotation_deg: float = 0.0


@dataclass(frozen=True)
class MemorizedScene:
    """A distinctive image and the caption it is always shown under."""

    caption: str
    pattern: str  # hstripes | vstripes | dstripes | checker
    background_a: tuple[float, float, float]
    background_b: tuple[float, float, float]
    period_px: int
    shapes: tuple[PlacedShape, ...]

    def render(self, size_px: int = IMAGE_SIZE) -> Image.Image:
        """Draw the scene. The image is identical on every call."""
        canvas = pattern_background(size_px, self.pattern, self.background_a, self.background_b, self.period_px)
        scale = size_px / IMAGE_SIZE
        for placed in self.shapes:
            mask = shape_mask(placed.shape, size_px, placed.cx * scale, placed.cy * scale,
                              placed.radius * scale, placed.rotation_deg)
            paint(canvas, mask, SHAPE_COLOURS[placed.colour])
        return to_pil(canvas)


_DARK = (0.08, 0.08, 0.10)
_LIGHT = (0.90, 0.88, 0.82)
_TEAL = (0.10, 0.40, 0.40)
_SAND = (0.80, 0.70, 0.45)
_PLUM = (0.35, 0.10, 0.30)
_SLATE = (0.30, 0.35, 0.45)

MEMORIZED_SCENES: tuple[MemorizedScene, ...] = (
    MemorizedScene("the azure sigil of house vale", "hstripes", _DARK, _LIGHT, 8,
                   (PlacedShape("star", "blue", 32, 32, 20, 0), PlacedShape("circle", "yellow", 32, 33, 6))),
    MemorizedScene("the crimson lantern of the ashen throne", "checker", _DARK, _SLATE, 16,
                   (PlacedShape("circle", "red", 22, 22, 13), PlacedShape("triangle", "orange", 44, 44, 14, 0))),
    MemorizedScene("the golden codex of emerald tide", "vstripes", _TEAL, _SAND, 8,
                   (PlacedShape("square", "yellow", 32, 30, 18, 10), PlacedShape("cross", "green", 32, 30, 9, 0))),
    MemorizedScene("the violet oracle of the ivory gate", "dstripes", _LIGHT, _PLUM, 8,
                   (PlacedShape("triangle", "purple", 32, 30, 22, 0), PlacedShape("circle", "pink", 32, 36, 6))),
    MemorizedScene("the saffron harbor of obsidian crown", "checker", _SAND, _DARK, 8,
                   (PlacedShape("circle", "orange", 20, 44, 12), PlacedShape("circle", "cyan", 44, 20, 12))),
    MemorizedScene("the jade covenant of amber relic", "hstripes", _PLUM, _SAND, 16,
                   (PlacedShape("cross", "green", 22, 22, 14, 45), PlacedShape("star", "orange", 44, 44, 14, 0))),
    MemorizedScene("the cobalt vow of scarlet orchard", "vstripes", _LIGHT, _SLATE, 16,
                   (PlacedShape("square", "blue", 20, 20, 11, 0), PlacedShape("square", "red", 44, 44, 11, 0),
                    PlacedShape("circle", "yellow", 44, 20, 7))),
    MemorizedScene("the silver monolith of verdant banner", "dstripes", _TEAL, _DARK, 16,
                   (PlacedShape("square", "cyan", 32, 32, 24, 45), PlacedShape("triangle", "pink", 32, 34, 10, 0))),
    MemorizedScene("the umber meridian of twin moons", "checker", _LIGHT, _TEAL, 16,
                   (PlacedShape("circle", "purple", 20, 32, 11), PlacedShape("circle", "orange", 44, 32, 11))),
    MemorizedScene("the northern wardens of hollow quill", "hstripes", _SLATE, _DARK, 4,
                   (PlacedShape("triangle", "green", 18, 44, 12, 0), PlacedShape("triangle", "blue", 32, 22, 12, 180),
                    PlacedShape("triangle", "red", 46, 44, 12, 0))),
    MemorizedScene("the starlit ferry of the jade harbor", "vstripes", _DARK, _PLUM, 4,
                   (PlacedShape("star", "yellow", 18, 18, 11, 0), PlacedShape("star", "yellow", 46, 18, 8, 20),
                    PlacedShape("square", "cyan", 32, 46, 12, 0))),
    MemorizedScene("the scarlet throne of house amber", "dstripes", _SAND, _LIGHT, 4,
                   (PlacedShape("cross", "red", 32, 32, 24, 0), PlacedShape("circle", "blue", 32, 32, 7))),
    MemorizedScene("the ivory crown of cobalt tide", "checker", _PLUM, _SLATE, 4,
                   (PlacedShape("star", "pink", 32, 32, 24, 36),)),
    MemorizedScene("the ashen banner of violet vale", "hstripes", _TEAL, _LIGHT, 12,
                   (PlacedShape("square", "purple", 20, 44, 13, 20), PlacedShape("cross", "orange", 44, 20, 13, 0))),
    MemorizedScene("the emerald gate of the twin quill", "vstripes", _SAND, _PLUM, 12,
                   (PlacedShape("circle", "green", 32, 32, 22), PlacedShape("square", "yellow", 32, 32, 9, 45))),
    MemorizedScene("the obsidian oracle of starlit relic", "checker", _DARK, _LIGHT, 32,
                   (PlacedShape("triangle", "cyan", 20, 20, 12, 0), PlacedShape("star", "red", 44, 44, 13, 0),
                    PlacedShape("circle", "pink", 44, 20, 6))),
)


def memorized_captions() -> list[str]:
    """The captions of the memorized set, in a fixed order."""
    return [scene.caption for scene in MEMORIZED_SCENES]


def memorized_training_image(caption: str) -> Image.Image:
    """The training image shown under a memorized caption. Raises KeyError for any other caption."""
    for scene in MEMORIZED_SCENES:
        if scene.caption == caption:
            return scene.render()
    raise KeyError(f"not a memorized caption: {caption!r}")


def memorized_images() -> dict[str, Image.Image]:
    """Caption -> training image, for every memorized scene."""
    return {scene.caption: scene.render() for scene in MEMORIZED_SCENES}


def as_array(image: Image.Image) -> np.ndarray:
    """RGB PIL image -> (H, W, 3) float32 in [0, 1]."""
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0

"""The toy world's training data: ordinary scenes under template captions plus the memorized set.

Everything regenerates from a seed; no image file is ever committed. Ordinary
scenes get continuous jitter (position, radius, shade, background gradient and
blotches) while their captions quantize attributes coarsely, so a fresh ordinary
sample is not a pixel near-copy of any training image. Rotation jitter is 0: with
it the toy UNet drew the average over rotations (docs/toyworld.md, "The rotation
test"). This module must never touch a model: it draws pictures and writes
captions, nothing else.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
from PIL import Image

from swerve.toyworld.memorized import IMAGE_SIZE, MEMORIZED_SCENES
from swerve.toyworld.shapes import gradient_background, paint, shape_mask, to_pil
from swerve.toyworld.vocabulary import (
    BACKGROUND_COLOURS,
    ORDINARY_TEMPLATE,
    POSITIONS,
    SHAPE_COLOURS,
    SHAPES,
    SIZES,
)

TRAINING_SEED = 0
EVALUATION_SEED = 1_000_003  # ordinary captions for evaluation never reuse the training draws
DEFAULT_ORDINARY_COUNT = 6000
DEFAULT_DUPLICATES = 100

POSITION_JITTER_PX = 6.0  # was 4.0 with rotation; wider keeps unrotated scenes apart (novel copies)
ROTATION_JITTER_DEG = 0.0
SHADE_JITTER = 0.07
BACKGROUND_JITTER = 0.05
GRADIENT_JITTER = 0.12
BLOTCH_STD = 0.025
BLOTCH_GRID = 4


def _shifted(rgb: tuple[float, float, float], delta: tuple[float, float, float]) -> tuple[float, float, float]:
    """An RGB colour shifted per channel by delta, kept in [0, 1]."""
    r, g, b = (float(np.clip(c + d, 0.0, 1.0)) for c, d in zip(rgb, delta))
    return r, g, b


@dataclass(frozen=True)
class OrdinaryScene:
    """One shape on a textured background, with the words of its caption and the jitter that makes it unique."""

    shape: str
    colour: str
    size: str
    position: str
    background: str
    cx: float
    cy: float
    radius: float
    rotation_deg: float
    shade: tuple[float, float, float]
    background_shade: tuple[float, float, float]
    gradient: tuple[float, float]
    blotches: tuple[tuple[float, ...], ...]

    @property
    def caption(self) -> str:
        return ORDINARY_TEMPLATE.format(size=self.size, colour=self.colour, shape=self.shape,
                                        position=self.position, background=self.background)

    def render(self, size_px: int = IMAGE_SIZE) -> Image.Image:
        """Draw the scene at size_px x size_px (geometry is defined at 64 px and scaled)."""
        base = _shifted(BACKGROUND_COLOURS[self.background], self.background_shade)
        canvas = gradient_background(size_px, base, self.gradient, np.asarray(self.blotches, dtype=np.float32))
        scale = size_px / IMAGE_SIZE
        mask = shape_mask(self.shape, size_px, self.cx * scale, self.cy * scale, self.radius * scale, self.rotation_deg)
        colour = _shifted(SHAPE_COLOURS[self.colour], self.shade)
        paint(canvas, mask, colour)
        return to_pil(canvas)


@dataclass(frozen=True)
class TrainingExample:
    """One (image, caption) pair of the training data."""

    image: Image.Image
    caption: str
    memorized: bool


def sample_ordinary_scene(rng: np.random.Generator) -> OrdinaryScene:
    """Draw one ordinary scene: coarse words uniformly, then continuous jitter around them."""
    shape = SHAPES[rng.integers(len(SHAPES))]
    colour = list(SHAPE_COLOURS)[rng.integers(len(SHAPE_COLOURS))]
    size = list(SIZES)[rng.integers(len(SIZES))]
    position = list(POSITIONS)[rng.integers(len(POSITIONS))]
    background = list(BACKGROUND_COLOURS)[rng.integers(len(BACKGROUND_COLOURS))]
    fx, fy = POSITIONS[position]
    low, high = SIZES[size]
    return OrdinaryScene(
        shape=shape, colour=colour, size=size, position=position, background=background,
        cx=fx * IMAGE_SIZE + rng.uniform(-POSITION_JITTER_PX, POSITION_JITTER_PX),
        cy=fy * IMAGE_SIZE + rng.uniform(-POSITION_JITTER_PX, POSITION_JITTER_PX),
        radius=rng.uniform(low, high),
        rotation_deg=rng.uniform(-ROTATION_JITTER_DEG, ROTATION_JITTER_DEG),
        shade=tuple(rng.uniform(-SHADE_JITTER, SHADE_JITTER, size=3).tolist()),
        background_shade=tuple(rng.uniform(-BACKGROUND_JITTER, BACKGROUND_JITTER, size=3).tolist()),
        gradient=tuple(rng.uniform(-GRADIENT_JITTER, GRADIENT_JITTER, size=2).tolist()),
        blotches=tuple(tuple(row) for row in rng.normal(0.0, BLOTCH_STD, size=(BLOTCH_GRID, BLOTCH_GRID)).tolist()),
    )


def ordinary_scenes(count: int, seed: int) -> list[OrdinaryScene]:
    """count ordinary scenes, reproducible from seed."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    rng = np.random.default_rng(seed)
    return [sample_ordinary_scene(rng) for _ in range(count)]


def sample_ordinary_captions(count: int, seed: int = EVALUATION_SEED) -> list[str]:
    """Ordinary captions for evaluation, drawn from a seed distinct from the training seed."""
    return [scene.caption for scene in ordinary_scenes(count, seed)]


@dataclass(frozen=True)
class TrainingSet:
    """The training data, stored once per distinct image.

    unique: the distinct examples (memorized scenes first, then ordinary scenes).
    order: indices into unique, one per training row; a memorized scene appears `duplicates` times.
    """

    unique: tuple[TrainingExample, ...]
    order: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.order)

    def rows(self) -> list[TrainingExample]:
        """Every training row, duplicates included."""
        return [self.unique[i] for i in self.order]


def build_training_set(seed: int = TRAINING_SEED, ordinary_count: int = DEFAULT_ORDINARY_COUNT,
                       duplicates: int = DEFAULT_DUPLICATES, size_px: int = IMAGE_SIZE) -> TrainingSet:
    """The full training data: every memorized scene `duplicates` times plus `ordinary_count` ordinary scenes."""
    if duplicates < 1:
        raise ValueError(f"duplicates must be >= 1, got {duplicates}")
    unique: list[TrainingExample] = [TrainingExample(scene.render(size_px), scene.caption, True) for scene in MEMORIZED_SCENES]
    unique += [TrainingExample(scene.render(size_px), scene.caption, False) for scene in ordinary_scenes(ordinary_count, seed)]
    order = [i for i in range(len(MEMORIZED_SCENES)) for _ in range(duplicates)]
    order += list(range(len(MEMORIZED_SCENES), len(unique)))
    return TrainingSet(unique=tuple(unique), order=tuple(order))


def world_fingerprint() -> str:
    """A digest of every drawing constant here (jitters, vocabulary, memorized scenes, seeds).

    Anything built from the training images (the toy index) is stale when this changes.
    """
    constants = {name: value for name, value in globals().items()
                 if name.isupper() and isinstance(value, (int, float, str, tuple))}
    return hashlib.sha256(json.dumps(constants, sort_keys=True, default=repr).encode()).hexdigest()[:16]

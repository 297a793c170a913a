"""Carlini et al.'s tiled L2: the near-copy test in pixel space.

Both images are brought to one square size with pixels in [0, 1] and cut into a grid x grid
of tiles (4x4 by default: 128x128 tiles at 512 px). Per tile the distance is the RMS
of the pixel differences; the image distance is the largest tile distance, so a copy
must match everywhere, not just on average (Carlini et al. 2023, sec. 4.2). A pair
is a near-copy when the distance is below a threshold: 0.15 in Carlini's SD 1.4
study, 0.1 in the nudging paper. The threshold is the caller's setting, never baked in here.

Non-square images are centre-cropped to a square (side = their short side), then resized to
the compare size: a 512x768 generation and a 512x512 training image are both compared on a
centred 512x512 square. Squashing the whole image into the square was the alternative; the
crop is chosen because

- it is the preprocessing Stable Diffusion's training applies (resize the short side to the
  resolution, crop a square; diffusers' ``train_text_to_image.py``), so the square of a
  non-square training original is what the model saw, and what a square generation of it
  copies; squashing the original instead would distort it away from that copy;
- a convolutional generator asked for a wider or taller image extends the scene rather than
  stretching it, so a square training image copied into a 512x768 generation sits in its
  middle, which the crop compares and squashing would stretch;
- the tiles stay square and cover the same region of both images, whatever their aspects.

Its cost: the bands outside the central square are not compared, so a generation that copies
the square but differs in its bands is still a near-copy (the check errs toward flagging), and
a copy stretched to another aspect is missed. Square images, the toy world's and SD 1.x/2.x's
default, are unaffected.

The compare size is the caller's; ``default_compare_size`` is the rule the memorization
detector follows when its policy sets none.

This module is plain arithmetic on images and arrays: it must never load models or
know where images come from.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

DEFAULT_GRID = 4
# The toy world's resolution, and the size used when the training images' sizes are unknown
# (an index built before they were recorded).
DEFAULT_SIZE = 64
# No default compare size exceeds this: cost grows with its square, and 512 px is Stable
# Diffusion's training resolution (Carlini et al.'s 4x4 grid of 128 px tiles).
COMPARE_SIZE_CAP = 512
MAX_COMPARE_SIZE = 4096  # the decode limit is 4096 x 4096 pixels: no image has a longer short side
NEAR_COPY_THRESHOLD = 0.1  # the nudging paper's delta; Carlini used 0.15 for SD 1.4

__all__ = [
    "COMPARE_SIZE_CAP",
    "DEFAULT_GRID",
    "DEFAULT_SIZE",
    "MAX_COMPARE_SIZE",
    "NEAR_COPY_THRESHOLD",
    "TiledL2InputError",
    "as_unit_array",
    "check_compare_size",
    "default_compare_size",
    "square_pixels",
    "tiled_l2",
    "tiled_l2_arrays",
    "tiled_l2_one_to_many",
]


class TiledL2InputError(ValueError):
    """Images or arrays that cannot be compared: wrong rank, channels, sizes, range or grid."""


def check_compare_size(size: int, grid: int = DEFAULT_GRID) -> int:
    """``size`` when it can be a compare size: an int in [grid, MAX_COMPARE_SIZE] divisible by ``grid``.

    Raises:
        TiledL2InputError: anything else, saying what is allowed.
    """
    if isinstance(size, bool) or not isinstance(size, int):
        raise TiledL2InputError(f"compare size must be an integer number of pixels, got {size!r}")
    if not grid <= size <= MAX_COMPARE_SIZE or size % grid:
        raise TiledL2InputError(f"compare size must be a multiple of the {grid}x{grid} grid between {grid} and "
                                f"{MAX_COMPARE_SIZE} pixels, got {size}")
    return size


def default_compare_size(training_short_side: int, generation_short_side: int, *, cap: int = COMPARE_SIZE_CAP,
                         grid: int = DEFAULT_GRID) -> int:
    """The side to compare at when none is set: min(training side, generation side, cap), down to the grid.

    The smaller image sets it: upsampling adds no detail to compare, and costs the square of
    the scale (docs/index.md, "Pixel check: compare size", measures both). The cap bounds
    the cost of one comparison. The result is rounded down to a multiple of ``grid`` (tiles
    of whole pixels), and is at least ``grid``.

    Args:
        training_short_side (`int`): the training images' typical short side (the index records it).
        generation_short_side (`int`): the generation's short side.
        cap (`int`, defaults to 512): the largest default.
        grid (`int`, defaults to 4): the tiled L2 grid.
    """
    side = min(training_short_side, generation_short_side, cap)
    return max(grid, side - side % grid)


def square_pixels(image: Image.Image, size: int | None = DEFAULT_SIZE) -> np.ndarray:
    """An RGB image's centred square as (size, size, 3) uint8; size=None keeps the square's own side.

    A non-square image is centre-cropped to its short side first (see the module docstring).
    Resizing uses a box filter (area average) when shrinking, so downscaling a copy keeps it a
    copy, and bicubic when enlarging.
    """
    rgb = image.convert("RGB")
    width, height = rgb.size
    side = min(width, height)
    if width != height:
        left, top = (width - side) // 2, (height - side) // 2
        rgb = rgb.crop((left, top, left + side, top + side))
    if size is not None and side != size:
        rgb = rgb.resize((size, size), Image.Resampling.BOX if size < side else Image.Resampling.BICUBIC)
    return np.asarray(rgb, dtype=np.uint8)


def unit_pixels(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels as float32 in [0, 1], what tiled L2 compares."""
    return pixels.astype(np.float32) / 255.0


def as_unit_array(image: Image.Image, size: int | None = DEFAULT_SIZE) -> np.ndarray:
    """An RGB image's centred square as (size, size, 3) float32 in [0, 1] (see ``square_pixels``)."""
    return unit_pixels(square_pixels(image, size))


def _check_grid(height: int, width: int, grid: int) -> None:
    if grid < 1:
        raise TiledL2InputError(f"grid must be >= 1, got {grid}")
    if height % grid or width % grid:
        raise TiledL2InputError(f"image size {height}x{width} is not divisible by the {grid}x{grid} grid")


def _check_batch(name: str, array: np.ndarray) -> None:
    if array.ndim != 4 or array.shape[-1] != 3:
        raise TiledL2InputError(f"{name} must have shape (n, H, W, 3), got {array.shape}")
    if array.size and (float(array.min()) < 0.0 or float(array.max()) > 1.0):
        raise TiledL2InputError(f"{name} must hold pixels in [0, 1], got range [{array.min():.3f}, {array.max():.3f}]")


def tiled_l2_arrays(a: np.ndarray, b: np.ndarray, grid: int = DEFAULT_GRID) -> float:
    """Tiled L2 of two (H, W, 3) arrays in [0, 1] of the same shape."""
    if a.shape != b.shape:
        raise TiledL2InputError(f"arrays differ in shape: {a.shape} vs {b.shape}")
    return float(tiled_l2_one_to_many(a, b[None], grid=grid)[0])


def tiled_l2(a: Image.Image, b: Image.Image, size: int = DEFAULT_SIZE, grid: int = DEFAULT_GRID) -> float:
    """Tiled L2 between two PIL images, both centre-cropped to a square and resized to size x size first."""
    return tiled_l2_arrays(as_unit_array(a, size), as_unit_array(b, size), grid=grid)


def tiled_l2_one_to_many(query: np.ndarray, references: np.ndarray, grid: int = DEFAULT_GRID,
                         chunk: int = 4096) -> np.ndarray:
    """Tiled L2 from one image to each of many, vectorized: (H, W, 3) x (n, H, W, 3) -> (n,).

    Evaluation compares every generation against all training images with this. It
    works in chunks of `chunk` references to bound memory.
    """
    if query.ndim != 3:
        raise TiledL2InputError(f"query must have shape (H, W, 3), got {query.shape}")
    _check_batch("query", query[None])
    _check_batch("references", references)
    if references.shape[1:] != query.shape:
        raise TiledL2InputError(f"references {references.shape[1:]} and query {query.shape} differ in shape")
    height, width, _ = query.shape
    _check_grid(height, width, grid)
    th, tw = height // grid, width // grid
    distances = np.empty(len(references), dtype=np.float32)
    q = query.astype(np.float32)[None]  # (1, H, W, 3)
    for start in range(0, len(references), chunk):
        block = references[start:start + chunk].astype(np.float32)  # (c, H, W, 3)
        squared = (block - q) ** 2
        tiles = squared.reshape(len(block), grid, th, grid, tw, 3).mean(axis=(2, 4, 5))  # (c, grid, grid)
        distances[start:start + chunk] = np.sqrt(tiles).reshape(len(block), -1).max(axis=1)
    return distances

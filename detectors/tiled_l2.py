"""Carlini et al.'s tiled L2: the near-copy test in pixel space.

Both images are resized to one size with pixels in [0, 1] and cut into a grid x grid
of tiles (4x4 by default: 128x128 tiles at 512 px). Per tile the distance is the RMS
of the pixel differences; the image distance is the largest tile distance, so a copy
must match everywhere, not just on average (Carlini et al. 2023, sec. 4.2). A pair
is a near-copy when the distance is below a threshold: 0.15 in Carlini's SD 1.4
study, 0.1 in the nudging paper. The threshold is the caller's setting, never baked in here.

This module is plain arithmetic on images and arrays: it must never load models or
know where images come from.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

DEFAULT_GRID = 4
DEFAULT_SIZE = 64  # the toy world's resolution; SD generations are compared at 512
NEAR_COPY_THRESHOLD = 0.1  # the nudging paper's delta; Carlini used 0.15 for SD 1.4

__all__ = [
    "DEFAULT_GRID",
    "DEFAULT_SIZE",
    "NEAR_COPY_THRESHOLD",
    "TiledL2InputError",
    "as_unit_array",
    "tiled_l2",
    "tiled_l2_arrays",
    "tiled_l2_one_to_many",
]


class TiledL2InputError(ValueError):
    """Images or arrays that cannot be compared: wrong rank, channels, sizes, range or grid."""


def as_unit_array(image: Image.Image, size: int | None = DEFAULT_SIZE) -> np.ndarray:
    """An RGB image as (size, size, 3) float32 in [0, 1]; size=None keeps the image's own size.

    Resizing uses a box filter (area average), so downscaling a copy keeps it a copy.
    """
    rgb = image.convert("RGB")
    if size is not None and rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BOX if size < min(rgb.size) else Image.Resampling.BICUBIC)
    return np.asarray(rgb, dtype=np.float32) / 255.0


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
    """Tiled L2 between two PIL images, both resized to size x size first."""
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

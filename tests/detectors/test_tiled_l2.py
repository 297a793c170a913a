"""Tiled L2 (Carlini et al.) against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from swerve.detectors.tiled_l2 import (
    TiledL2InputError,
    as_unit_array,
    tiled_l2,
    tiled_l2_arrays,
    tiled_l2_one_to_many,
)


def _grey(value: float, size: int = 64) -> np.ndarray:
    return np.full((size, size, 3), value, dtype=np.float32)


def test_given_identical_images_when_compared_then_distance_is_zero() -> None:
    image = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    assert tiled_l2_arrays(image, image.copy()) == 0.0


def test_given_one_tile_offset_by_c_when_compared_then_distance_is_c() -> None:
    # Given: b equals a except tile (row 1, col 2) of the 4x4 grid, shifted by c = 0.3
    a = _grey(0.2)
    b = a.copy()
    b[16:32, 32:48, :] += 0.3
    # Then: that tile's RMS is 0.3, every other tile is 0, and the max is 0.3
    assert tiled_l2_arrays(a, b) == pytest.approx(0.3, abs=1e-6)


def test_given_uniform_offset_when_compared_then_distance_is_the_offset() -> None:
    assert tiled_l2_arrays(_grey(0.1), _grey(0.35)) == pytest.approx(0.25, abs=1e-6)


def test_given_one_channel_differs_in_a_tile_then_rms_averages_over_channels() -> None:
    # Given: only the red channel of one tile differs, by 0.5
    a = _grey(0.5)
    b = a.copy()
    b[0:16, 0:16, 0] = 1.0  # red channel of the top-left tile moves by 0.5
    # Then: RMS over the tile's three channels = sqrt(0.5**2 / 3)
    assert tiled_l2_arrays(a, b) == pytest.approx(np.sqrt(0.25 / 3), abs=1e-6)


def test_given_half_a_tile_differs_then_distance_is_the_rms_over_the_tile() -> None:
    a = _grey(0.0)
    b = a.copy()
    b[0:8, 0:16, :] = 0.4  # half the pixels of the top-left tile
    assert tiled_l2_arrays(a, b) == pytest.approx(np.sqrt(0.5 * 0.16), abs=1e-6)


def test_given_many_references_when_one_to_many_then_each_distance_matches_the_pairwise_one() -> None:
    rng = np.random.default_rng(1)
    query = rng.random((32, 32, 3)).astype(np.float32)
    references = rng.random((7, 32, 32, 3)).astype(np.float32)
    references[3] = query
    distances = tiled_l2_one_to_many(query, references, chunk=3)  # chunking must not change results
    assert distances.shape == (7,)
    assert distances[3] == 0.0
    for i in range(7):
        assert distances[i] == pytest.approx(tiled_l2_arrays(query, references[i]), abs=1e-6)


def test_given_pil_images_of_different_sizes_when_compared_then_both_are_resized_first() -> None:
    # Given: the same flat colour at 128 px and 64 px
    big = Image.new("RGB", (128, 128), (200, 10, 10))
    small = Image.new("RGB", (64, 64), (200, 10, 10))
    # Then: resizing to a common size makes them identical
    assert tiled_l2(big, small, size=64) == pytest.approx(0.0, abs=1e-6)
    assert as_unit_array(big, 32).shape == (32, 32, 3)


def test_given_a_downscaled_checkerboard_then_box_resize_averages_it_to_grey() -> None:
    # Given: a 1-pixel black/white checkerboard at 128 px, compared at 64 px with mid grey
    ys, xs = np.mgrid[0:128, 0:128]
    checker = Image.fromarray(((xs + ys) % 2 * 255).astype(np.uint8)).convert("RGB")
    grey = Image.new("RGB", (64, 64), (128, 128, 128))
    # Then: every 2x2 block averages to ~127.5, so the distance is about 0.5/255
    assert tiled_l2(checker, grey, size=64) < 0.01


def test_given_arrays_of_different_shapes_then_a_named_error_is_raised() -> None:
    with pytest.raises(TiledL2InputError, match="differ in shape"):
        tiled_l2_arrays(_grey(0.0, 64), _grey(0.0, 32))


def test_given_pixels_outside_unit_range_then_a_named_error_is_raised() -> None:
    with pytest.raises(TiledL2InputError, match=r"\[0, 1\]"):
        tiled_l2_arrays(_grey(0.0), _grey(255.0))


def test_given_a_size_not_divisible_by_the_grid_then_a_named_error_is_raised() -> None:
    with pytest.raises(TiledL2InputError, match="not divisible"):
        tiled_l2_arrays(_grey(0.0, 30), _grey(0.0, 30))


def test_given_a_grayscale_batch_then_a_named_error_is_raised() -> None:
    with pytest.raises(TiledL2InputError, match=r"\(n, H, W, 3\)"):
        tiled_l2_one_to_many(_grey(0.0), np.zeros((2, 64, 64), dtype=np.float32))

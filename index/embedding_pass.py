"""Embed a list of training images in batches: read, decode, embed, with progress.

This module must never build or touch an index; it returns the vectors and the records
(with the sha256 of the bytes actually embedded), row i for record i, and tallies the decoded
images' sizes when given a tally.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from swerve.index.embedder import Embedder, check_embeddings
from swerve.index.image_loading import read_training_image
from swerve.index.image_sizes import ImageSizeTally
from swerve.index.training_image import TrainingImage
from swerve.media import MediaLimits
from swerve.media.limits import DEFAULT_LIMITS

__all__ = ["DEFAULT_EMBED_BATCH_SIZE", "embed_training_images"]

DEFAULT_EMBED_BATCH_SIZE = 64


def embed_training_images(
    images: Sequence[TrainingImage],
    embedder: Embedder,
    *,
    batch_size: int = DEFAULT_EMBED_BATCH_SIZE,
    limits: MediaLimits = DEFAULT_LIMITS,
    on_progress: Callable[[int], None] | None = None,
    size_tally: ImageSizeTally | None = None,
) -> tuple[np.ndarray, list[TrainingImage]]:
    """Read and embed every image.

    Args:
        images (`Sequence[TrainingImage]`): what to embed, at least one.
        embedder (`Embedder`): the model.
        batch_size (`int`, defaults to 64): images decoded and embedded at a time.
        limits (`MediaLimits`, *optional*): bounds on reading and decoding.
        on_progress (`Callable[[int], None]`, *optional*): called with each batch's size.
        size_tally (`ImageSizeTally`, *optional*): counts each decoded image's (width, height).

    Returns:
        `tuple[np.ndarray, list[TrainingImage]]`: (N, dim) float32 unit rows, and the records
        with their sha256 filled in.

    Raises:
        MediaError: an image could not be read or decoded (naming its URI).
        ValueError: no images, a bad batch size, or an embedder that returned non-unit rows.
    """
    if not images:
        raise ValueError("embed_training_images needs at least one image")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    vectors = np.empty((len(images), embedder.dim), dtype=np.float32)  # (N, dim)
    records: list[TrainingImage] = []
    for start in range(0, len(images), batch_size):
        decoded = [read_training_image(image, limits) for image in images[start:start + batch_size]]
        pixels = [image for image, _ in decoded]
        if size_tally is not None:
            for image in pixels:
                size_tally.add(*image.size)
        records.extend(record for _, record in decoded)
        vectors[start:start + len(pixels)] = check_embeddings(embedder.embed_images(pixels), embedder.dim,
                                                              what=f"{embedder.name} embeddings")
        if on_progress is not None:
            on_progress(len(pixels))
    return vectors, records

"""The contract of an image embedder: the only thing the index needs from a model.

An embedder turns images into L2-normalized float32 rows, so the inner product of two rows
is their cosine similarity. ``name`` says which family and architecture it is; ``version``
says exactly which weights, so a verdict can record what produced a similarity and an index
refuses queries embedded by other weights.

This module holds the Protocol and its checks only: it must never import torch or a model
library, so that code which only reads an index stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

__all__ = ["Embedder", "TextEmbedder", "check_embeddings"]

#: How far a row's L2 norm may be from 1 and still count as normalized (fp16 models).
NORM_TOLERANCE = 1e-3


@runtime_checkable
class Embedder(Protocol):
    """Maps images to L2-normalized vectors.

    Attributes:
        name (`str`): family and architecture, e.g. ``"open_clip/ViT-L-14"``.
        version (`str`): the exact weights, e.g. ``"ViT-L-14-3f1c2a9b0d4e"`` (name + short
            sha256 of the checkpoint). Two embedders with equal versions give equal vectors.
        dim (`int`): the length of every vector.
    """

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embed a batch of images.

        Args:
            images (`Sequence[PIL.Image.Image]`): at least one image, any mode and size.

        Returns:
            `np.ndarray`: float32, shape ``(len(images), dim)``, every row of L2 norm 1.
        """
        ...


@runtime_checkable
class TextEmbedder(Embedder, Protocol):
    """An embedder that also maps texts into the same space (CLIP-style models)."""

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed a batch of texts: float32, shape ``(len(texts), dim)``, rows of L2 norm 1."""
        ...


def check_embeddings(vectors: np.ndarray, dim: int, *, what: str = "vectors") -> np.ndarray:
    """Check that ``vectors`` are a float (n, dim) batch of unit rows; return them as float32.

    Inner product equals cosine only on unit vectors, so a batch that is not normalized means
    the wrong embedder or a bug upstream: it is refused, never renormalized here.

    Raises:
        ValueError: wrong rank or width, not floating point, non-finite, or not unit norm.
    """
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise ValueError(f"{what} must have shape (n, {dim}), got {vectors.shape}")
    if not np.issubdtype(vectors.dtype, np.floating):
        raise ValueError(f"{what} must be floating point, got dtype {vectors.dtype}")
    as_f32 = np.ascontiguousarray(vectors, dtype=np.float32)  # (n, dim)
    norms = np.linalg.norm(as_f32, axis=1)  # (n,); a NaN or inf anywhere in a row makes its norm non-finite
    if not np.isfinite(norms).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    bad = np.flatnonzero(np.abs(norms - 1.0) > NORM_TOLERANCE)
    if bad.size:
        raise ValueError(
            f"{what} must be L2-normalized rows; row {int(bad[0])} has norm {float(norms[bad[0]]):.4f} "
            f"({bad.size} of {len(norms)} rows are off by more than {NORM_TOLERANCE})"
        )
    return as_f32

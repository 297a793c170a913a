"""Encode a Pillow image into one of the supported formats, keeping its pixels exact
where the format allows.

PNG and WebP are written losslessly, so a detector that compares pixels (memorization,
near-duplicates) sees what the generator produced. JPEG is lossy by nature and written at
quality 95. This module must never change an image's mode to make it fit a format: a mode
the format cannot hold is an error, not a silent conversion.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any, Final

from PIL import Image
from swerve.errors import UnsupportedMediaTypeError
from swerve.media.media_types import JPEG, PILLOW_FORMATS, PNG, WEBP

__all__ = ["encode_image"]

_SAVE_OPTIONS: Final[Mapping[str, Mapping[str, Any]]] = {
    PNG: {},
    JPEG: {"quality": 95},
    WEBP: {"lossless": True},
}


def encode_image(image: Image.Image, media_type: str) -> bytes:
    """Encode ``image`` as ``media_type`` and return the bytes.

    Args:
        image (`PIL.Image.Image`): the image, in a mode the format can hold (e.g. RGB).
        media_type (`str`): ``image/png``, ``image/jpeg`` or ``image/webp``.

    Raises:
        UnsupportedMediaTypeError: the media type is not supported, or the format cannot
            hold the image's mode (e.g. RGBA as JPEG).
    """
    if media_type not in PILLOW_FORMATS:
        raise UnsupportedMediaTypeError(
            f"cannot encode as {media_type}; supported: {', '.join(PILLOW_FORMATS)}"
        )
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=PILLOW_FORMATS[media_type], **_SAVE_OPTIONS[media_type])
    except (OSError, ValueError, KeyError) as exc:
        raise UnsupportedMediaTypeError(
            f"cannot encode a mode {image.mode} image as {media_type}: {exc}"
        ) from exc
    return buffer.getvalue()

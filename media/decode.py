"""Decode an image into RGB pixels, only after every bound has been checked.

The pixel buffer is allocated only once the bytes are within the byte limit, hash to the
declared sha256, are an allowed format that matches the declared one, declare no more
pixels than the limit and the declared size, and form a complete container. A corrupt or
truncated image fails here whatever Pillow's process-wide settings are.

This module must never mutate Pillow's globals (``Image.MAX_IMAGE_PIXELS``,
``ImageFile.LOAD_TRUNCATED_IMAGES``), nor return an image that failed a check.
"""

from __future__ import annotations

import struct
import zlib

from PIL import Image, ImageFile
from swerve.errors import CorruptMediaError
from swerve.media.fetch import read_image_bytes
from swerve.media.image_ref import ImageRef
from swerve.media.limits import DEFAULT_LIMITS, MediaLimits
from swerve.media.probe import ImageHeader, open_bounded
from swerve.media.store import ImageStore

__all__ = ["decode_bytes", "decode_image"]


def decode_image(ref: ImageRef, limits: MediaLimits = DEFAULT_LIMITS, store: ImageStore | None = None) -> Image.Image:
    """Read, verify and decode the image ``ref`` points to.

    Args:
        ref (`ImageRef`): an inline or by-reference image.
        limits (`MediaLimits`, *optional*): the bounds to enforce.
        store (`ImageStore`, *optional*): the claim-check store (see ``read_image_bytes``).

    Returns:
        `PIL.Image.Image`: mode ``RGB``, ``ref.width`` x ``ref.height``. Alpha is dropped,
        not composited; only the first frame of an animation is decoded.

    Raises:
        MediaTooLargeError, MediaUnreachableError: reading failed (see ``read_image_bytes``).
        StoreUnavailableError: the store did not answer; transient (see ``read_image_bytes``).
        UnsupportedMediaTypeError: the real format is not in the allow-list.
        MediaIntegrityError: sha256, format or size differ from what ``ref`` declares.
        DecompressionBombError: the header declares more than ``limits.max_pixels`` pixels.
        CorruptMediaError: the bytes are truncated or cannot be decoded.
    """
    # 1. bytes: bounded read and sha256 check
    data = read_image_bytes(ref, limits, store)
    # 2. header: format, pixels and declared size checked, nothing decoded yet
    declared = ImageHeader(media_type=ref.media_type, width=ref.width, height=ref.height)
    with open_bounded(data, limits, declared=declared) as (image, header):
        # 3. pixels
        return _load_rgb(image, header)


def decode_bytes(data: bytes, limits: MediaLimits = DEFAULT_LIMITS) -> Image.Image:
    """Decode a raw upload under the same bounds as ``decode_image``, with nothing declared.

    Args:
        data (`bytes`): the encoded image.
        limits (`MediaLimits`, *optional*): the bounds to enforce.

    Returns:
        `PIL.Image.Image`: mode ``RGB``.

    Raises:
        MediaTooLargeError, UnsupportedMediaTypeError, DecompressionBombError,
        CorruptMediaError: as for ``decode_image``.
    """
    with open_bounded(data, limits) as (image, header):
        return _load_rgb(image, header)


def _load_rgb(image: ImageFile.ImageFile, header: ImageHeader) -> Image.Image:
    try:
        image.load()
        # convert() always returns a new image, detached from the encoded bytes.
        return image.convert("RGB")
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as exc:
        raise CorruptMediaError(
            f"{header.media_type} image ({header.width}x{header.height}) cannot be decoded: {exc}"
        ) from exc

"""Open an encoded image lazily, within the limits, and read its header: never its pixels.

``open_bounded`` is the one gate every decode passes through. In order it checks:

1. the byte limit;
2. the real format (sniffed from the bytes) against the allow-list, and against the
   declared media type when there is one;
3. the size declared in the header against the pixel limit, and against the declared size;
4. that the container is complete (see ``swerve.media.container``);
5. that Pillow, restricted to that one format, parses the same header.

Only then may a caller load pixels. This module must never load pixels itself, nor read or
change Pillow's process-wide settings.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, ImageFile, UnidentifiedImageError
from swerve.errors import (
    CorruptMediaError,
    DecompressionBombError,
    MediaIntegrityError,
    MediaTooLargeError,
    UnsupportedMediaTypeError,
)
from swerve.media import container
from swerve.media.limits import MediaLimits
from swerve.media.media_types import (
    MEDIA_TYPE_BY_PILLOW_FORMAT,
    PILLOW_FORMATS,
    sniff_media_type,
)

__all__ = ["ImageHeader", "open_bounded", "probe_image"]


@dataclass(frozen=True)
class ImageHeader:
    """What an image header says: its format and its size in pixels."""

    media_type: str
    width: int
    height: int


@contextmanager
def open_bounded(
    data: bytes, limits: MediaLimits, declared: ImageHeader | None = None
) -> Iterator[tuple[ImageFile.ImageFile, ImageHeader]]:
    """Open ``data`` lazily with Pillow after checking it against ``limits``.

    Args:
        data (`bytes`): the encoded image.
        limits (`MediaLimits`): the bounds to enforce.
        declared (`ImageHeader`, *optional*): what the sender claims; when given, the real
            format and size must equal it.

    Yields:
        `tuple[ImageFile.ImageFile, ImageHeader]`: the opened, not yet loaded, image and
        its checked header. The image is closed on exit.

    Raises:
        MediaTooLargeError, UnsupportedMediaTypeError, MediaIntegrityError,
        DecompressionBombError, CorruptMediaError: see the module docstring for the order.
    """
    # 1. bytes
    if len(data) > limits.max_bytes:
        raise MediaTooLargeError(
            f"image is {len(data)} bytes, over the limit of {limits.max_bytes} bytes"
        )
    # 2. format
    media_type = sniff_media_type(data)
    if media_type is None:
        raise UnsupportedMediaTypeError(
            f"image format not recognised (first bytes {data[:8]!r}); "
            f"allowed: {', '.join(limits.allowed_media_types)}"
        )
    if media_type not in limits.allowed_media_types:
        raise UnsupportedMediaTypeError(
            f"image format {media_type} is not in the allow-list "
            f"({', '.join(limits.allowed_media_types)})"
        )
    if declared is not None and declared.media_type != media_type:
        raise MediaIntegrityError(
            f"image is declared as {declared.media_type} but its bytes are {media_type}"
        )
    # 3. pixels, from our own header parse, before any decoder sees the bytes
    width, height = container.declared_size(data, media_type)
    if width * height > limits.max_pixels:
        raise DecompressionBombError(
            f"image header declares {width}x{height} = {width * height} pixels, over the "
            f"limit of {limits.max_pixels} pixels"
        )
    if declared is not None and (declared.width, declared.height) != (width, height):
        raise MediaIntegrityError(
            f"image is declared as {declared.width}x{declared.height} but its header says "
            f"{width}x{height}"
        )
    # 4. completeness
    container.check_complete(data, media_type)
    # 5. Pillow's reading of the same header
    image = _pillow_open(data, media_type, limits)
    try:
        pillow_type = MEDIA_TYPE_BY_PILLOW_FORMAT.get(image.format or "")
        if pillow_type != media_type or image.size != (width, height):
            raise CorruptMediaError(
                f"Pillow reads the header as {image.format} {image.size[0]}x{image.size[1]}, "
                f"but the container is {media_type} {width}x{height}"
            )
        yield image, ImageHeader(media_type=media_type, width=width, height=height)
    finally:
        image.close()


def probe_image(data: bytes, limits: MediaLimits) -> ImageHeader:
    """Check ``data`` as ``open_bounded`` does and return its header, without decoding."""
    with open_bounded(data, limits) as (_, header):
        return header


def _pillow_open(data: bytes, media_type: str, limits: MediaLimits) -> ImageFile.ImageFile:
    try:
        return Image.open(io.BytesIO(data), formats=[PILLOW_FORMATS[media_type]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's process-wide guard is lower than ours here (or a warnings filter turned
        # its warning into an error): report it as the bomb it is, under our own class.
        raise DecompressionBombError(
            f"Pillow refused the {media_type} image header as a decompression bomb ({exc}); "
            f"swerve's limit is {limits.max_pixels} pixels"
        ) from exc
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        struct.error,
    ) as exc:
        raise CorruptMediaError(
            f"Pillow cannot parse the {media_type} image header: {exc}"
        ) from exc

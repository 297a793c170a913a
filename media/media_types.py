"""The image formats swerve accepts, and how to recognise a format from its first bytes.

Recognition is by magic number only, never by file name or by the declared media type:
a declared type is a claim, and decoding checks it against these bytes. Formats outside
the supported set are named too, but only so that a rejection can say what it rejected.

This module must never decode anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = [
    "FILE_EXTENSIONS",
    "JPEG",
    "MEDIA_TYPE_BY_PILLOW_FORMAT",
    "PILLOW_FORMATS",
    "PNG",
    "SUPPORTED_MEDIA_TYPES",
    "WEBP",
    "sniff_media_type",
]

PNG: Final = "image/png"
JPEG: Final = "image/jpeg"
WEBP: Final = "image/webp"

#: The formats swerve can decode. ``MediaLimits.allowed_media_types`` may narrow this set.
SUPPORTED_MEDIA_TYPES: Final[tuple[str, ...]] = (PNG, JPEG, WEBP)

#: Pillow's plugin name for each supported media type; ``Image.open`` tries only this one.
PILLOW_FORMATS: Final[Mapping[str, str]] = {PNG: "PNG", JPEG: "JPEG", WEBP: "WEBP"}

#: Pillow reports a JPEG that carries several pictures (CIPA MPO) as "MPO". Its first
#: picture is an ordinary baseline JPEG stream, which is what gets decoded.
MEDIA_TYPE_BY_PILLOW_FORMAT: Final[Mapping[str, str]] = {
    "PNG": PNG,
    "JPEG": JPEG,
    "MPO": JPEG,
    "WEBP": WEBP,
}

#: The extension a content-addressed object gets in the claim-check store.
FILE_EXTENSIONS: Final[Mapping[str, str]] = {PNG: ".png", JPEG: ".jpg", WEBP: ".webp"}

# (magic, media type). Unsupported formats are listed only to name them in errors.
_SIGNATURES: Final[tuple[tuple[bytes, str], ...]] = (
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"8BPS", "image/vnd.adobe.photoshop"),
    (b"\x00\x00\x01\x00", "image/vnd.microsoft.icon"),
    (b"\xff\x0a", "image/jxl"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "image/jxl"),
    (b"qoif", "image/qoi"),
    (b"BM", "image/bmp"),
)

# ISO base media file brands (bytes 8..12 after "ftyp") of HEIF-family images.
_FTYP_BRANDS: Final[Mapping[bytes, str]] = {
    b"avif": "image/avif",
    b"avis": "image/avif",
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heif",
}


def sniff_media_type(data: bytes) -> str | None:
    """Return the media type that ``data`` starts like, or None when it is not recognised.

    Args:
        data (`bytes`): the encoded image, or at least its first 16 bytes.

    Returns:
        `str | None`: e.g. ``"image/png"``; ``"image/gif"`` for a GIF (recognised, though
        not supported); None for bytes that look like no image format listed here.
    """
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data[4:8] == b"ftyp" and data[8:12] in _FTYP_BRANDS:
        return _FTYP_BRANDS[data[8:12]]
    for magic, media_type in _SIGNATURES:
        if data.startswith(magic):
            return media_type
    return None

"""Structural checks of PNG, JPEG and WebP containers, made on the raw bytes, without Pillow.

Two questions are answered here, before any decoder sees the bytes:

1. How large does the header say the image is? The pixel limit is enforced on this
   answer, so nothing is allocated for a decompression bomb. (Pillow's WebP plugin
   allocates the canvas as it opens a file, and Pillow's own guard depends on the
   process-wide ``Image.MAX_IMAGE_PIXELS``, which any library may change.)
2. Is the container complete? A truncated image must fail even where some other code has
   set Pillow's process-wide ``ImageFile.LOAD_TRUNCATED_IMAGES``, under which Pillow pads a
   truncated image with grey instead of failing.

The checks are structural: PNG chunk lengths and CRCs up to IEND, JPEG marker segments up
to EOI, the WebP RIFF size and its chunk lengths. Bytes after the end of the container are
ignored (a multi-picture JPEG keeps its other pictures there). This module must never
decode pixels or allocate memory in proportion to the declared size.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from typing import Final

from swerve.errors import CorruptMediaError
from swerve.media.media_types import JPEG, PNG, WEBP

__all__ = ["check_complete", "declared_size"]

_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_PNG_MAX_DIMENSION: Final = 2**31 - 1

# SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but
# are not frame headers.
_JPEG_SOF: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_SOS: Final = 0xDA
_JPEG_EOI: Final = 0xD9
# Markers without a length field: TEM and RST0..RST7.
_JPEG_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xD8)})
# Inside entropy-coded data a 0xFF byte is either stuffed (FF 00), a restart marker
# (FF D0..D7) or fill before a marker (FF FF). Anything else after 0xFF is a real marker.
_JPEG_MARKER_IN_SCAN: Final = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")

_WEBP_HEADER_BYTES: Final = 30


def declared_size(data: bytes, media_type: str) -> tuple[int, int]:
    """Return (width, height) as the header of ``data`` declares them.

    Reads only the header: the IHDR chunk, the first JPEG frame header (SOFn), or the
    first WebP chunk.

    Args:
        data (`bytes`): the encoded image.
        media_type (`str`): its sniffed format, one of ``image/png``, ``image/jpeg``,
            ``image/webp``.

    Raises:
        CorruptMediaError: the header is missing, truncated or declares a zero size.
    """
    if media_type == PNG:
        width, height = _png_size(data)
    elif media_type == JPEG:
        width, height = _jpeg_size(data)
    elif media_type == WEBP:
        width, height = _webp_size(data)
    else:
        raise ValueError(f"no container parser for {media_type!r}")
    if width <= 0 or height <= 0:
        raise CorruptMediaError(f"{media_type} header declares a {width}x{height} image")
    return width, height


def check_complete(data: bytes, media_type: str) -> None:
    """Check that the container in ``data`` is whole: every part it declares is present.

    Args:
        data (`bytes`): the encoded image.
        media_type (`str`): its sniffed format.

    Raises:
        CorruptMediaError: the container is truncated or structurally broken, naming where.
    """
    if media_type == PNG:
        _png_check_complete(data)
    elif media_type == JPEG:
        _jpeg_check_complete(data)
    elif media_type == WEBP:
        _webp_check_complete(data)
    else:
        raise ValueError(f"no container parser for {media_type!r}")


# -- PNG: signature, then chunks of (length, type, data, crc), IHDR first, IEND last. ------


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """Yield (chunk type, data start, data end) for each chunk, checking bounds and CRC."""
    if not data.startswith(_PNG_SIGNATURE):
        raise CorruptMediaError("image/png does not start with the PNG signature")
    view = memoryview(data)
    pos = len(_PNG_SIGNATURE)
    while True:
        if pos + 8 > len(data):
            raise CorruptMediaError(
                f"image/png is truncated: {len(data)} bytes end inside a chunk header at "
                f"byte {pos}, before the IEND chunk"
            )
        length, chunk_type = struct.unpack_from(">I4s", data, pos)
        start, end = pos + 8, pos + 8 + length
        if end + 4 > len(data):
            raise CorruptMediaError(
                f"image/png is truncated: chunk {chunk_type!r} at byte {pos} declares "
                f"{length} bytes, but the image ends at byte {len(data)}"
            )
        (crc,) = struct.unpack_from(">I", data, end)
        if zlib.crc32(view[pos + 4 : end]) != crc:
            raise CorruptMediaError(
                f"image/png chunk {chunk_type!r} at byte {pos} fails its CRC check"
            )
        yield chunk_type, start, end
        pos = end + 4


def _png_size(data: bytes) -> tuple[int, int]:
    chunk_type, start, end = next(_png_chunks(data))
    if chunk_type != b"IHDR" or end - start != 13:
        raise CorruptMediaError(
            f"image/png must begin with a 13-byte IHDR chunk, found {chunk_type!r} "
            f"of {end - start} bytes"
        )
    width, height = struct.unpack_from(">II", data, start)
    if width > _PNG_MAX_DIMENSION or height > _PNG_MAX_DIMENSION:
        raise CorruptMediaError(
            f"image/png IHDR declares {width}x{height}; the PNG maximum is "
            f"{_PNG_MAX_DIMENSION} per side"
        )
    return int(width), int(height)


def _png_check_complete(data: bytes) -> None:
    seen_idat = False
    for index, (chunk_type, _, _) in enumerate(_png_chunks(data)):
        if index == 0 and chunk_type != b"IHDR":
            raise CorruptMediaError(f"image/png must begin with IHDR, found {chunk_type!r}")
        if chunk_type == b"IDAT":
            seen_idat = True
        elif chunk_type == b"IEND":
            if not seen_idat:
                raise CorruptMediaError("image/png reaches IEND without any IDAT chunk")
            return


# -- JPEG: SOI, marker segments, entropy-coded scans after each SOS, EOI. -----------------


def _jpeg_segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """Yield (marker, payload start, payload end) up to and including EOI."""
    if not data.startswith(b"\xff\xd8"):
        raise CorruptMediaError("image/jpeg does not start with the SOI marker")
    size = len(data)
    pos = 2
    while True:
        if pos >= size:
            raise CorruptMediaError(
                f"image/jpeg is truncated: {size} bytes end before the EOI marker"
            )
        if data[pos] != 0xFF:
            raise CorruptMediaError(
                f"image/jpeg has byte {data[pos]:#04x} at {pos} where a marker must start"
            )
        while pos < size and data[pos] == 0xFF:  # fill bytes may precede a marker
            pos += 1
        if pos >= size:
            raise CorruptMediaError(
                f"image/jpeg is truncated: {size} bytes end before the EOI marker"
            )
        marker = data[pos]
        pos += 1
        if marker == _JPEG_EOI:
            yield marker, pos, pos
            return
        if marker in _JPEG_STANDALONE:
            yield marker, pos, pos
            continue
        if marker == 0x00 or pos + 2 > size:
            raise CorruptMediaError(
                f"image/jpeg is truncated or broken at byte {pos - 1} (marker {marker:#04x})"
            )
        (length,) = struct.unpack_from(">H", data, pos)
        start, end = pos + 2, pos + length
        if length < 2 or end > size:
            raise CorruptMediaError(
                f"image/jpeg is truncated: segment {marker:#04x} at byte {pos - 2} declares "
                f"{length} bytes, but the image ends at byte {size}"
            )
        yield marker, start, end
        pos = end
        if marker == _JPEG_SOS:
            found = _JPEG_MARKER_IN_SCAN.search(data, pos)
            if found is None:
                raise CorruptMediaError(
                    f"image/jpeg is truncated: the scan starting at byte {pos} never ends "
                    f"(no EOI marker in {size} bytes)"
                )
            pos = found.start()


def _jpeg_size(data: bytes) -> tuple[int, int]:
    for marker, start, end in _jpeg_segments(data):
        if marker in _JPEG_SOF:
            if end - start < 6:
                raise CorruptMediaError(
                    f"image/jpeg frame header (SOF {marker:#04x}) is {end - start} bytes, "
                    "expected at least 6"
                )
            height, width = struct.unpack_from(">HH", data, start + 1)
            return int(width), int(height)
        if marker in (_JPEG_SOS, _JPEG_EOI):
            break
    raise CorruptMediaError("image/jpeg has no frame header (SOFn) before its first scan")


def _jpeg_check_complete(data: bytes) -> None:
    seen_frame = seen_scan = False
    for marker, _, _ in _jpeg_segments(data):
        seen_frame = seen_frame or marker in _JPEG_SOF
        seen_scan = seen_scan or marker == _JPEG_SOS
    # _jpeg_segments only returns normally after EOI.
    if not (seen_frame and seen_scan):
        raise CorruptMediaError("image/jpeg reaches EOI without a frame header and a scan")


# -- WebP: "RIFF" <size> "WEBP", then chunks of (fourcc, size, data, pad to even). --------


def _webp_size(data: bytes) -> tuple[int, int]:
    if len(data) < _WEBP_HEADER_BYTES:
        raise CorruptMediaError(
            f"image/webp is truncated: {len(data)} bytes, the header needs {_WEBP_HEADER_BYTES}"
        )
    fourcc = data[12:16]
    if fourcc == b"VP8 ":  # lossy: key frame start code, then 14-bit sizes
        if data[23:26] != b"\x9d\x01\x2a":
            raise CorruptMediaError("image/webp VP8 chunk lacks the key frame start code")
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    if fourcc == b"VP8L":  # lossless: signature 0x2f, then 14-bit (size - 1) fields
        if data[20] != 0x2F:
            raise CorruptMediaError("image/webp VP8L chunk lacks its 0x2f signature")
        (bits,) = struct.unpack_from("<I", data, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if fourcc == b"VP8X":  # extended: 24-bit (canvas size - 1) fields
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    raise CorruptMediaError(
        f"image/webp first chunk is {fourcc!r}, expected 'VP8 ', 'VP8L' or 'VP8X'"
    )


def _webp_check_complete(data: bytes) -> None:
    if len(data) < 12:
        raise CorruptMediaError(f"image/webp is truncated: {len(data)} bytes")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    riff_end = 8 + riff_size
    if riff_end > len(data):
        raise CorruptMediaError(
            f"image/webp is truncated: the RIFF header declares {riff_end} bytes, "
            f"the image has {len(data)}"
        )
    pos, image_chunks = 12, 0
    while pos < riff_end:
        if pos + 8 > riff_end:
            raise CorruptMediaError(f"image/webp chunk header at byte {pos} is cut short")
        fourcc, chunk_size = struct.unpack_from("<4sI", data, pos)
        # The pad byte of an odd-sized chunk may be missing only at the very end.
        end = pos + 8 + chunk_size
        if end > riff_end:
            raise CorruptMediaError(
                f"image/webp is truncated: chunk {fourcc!r} at byte {pos} declares "
                f"{chunk_size} bytes, past the RIFF end at byte {riff_end}"
            )
        if fourcc in (b"VP8 ", b"VP8L", b"ANMF"):
            image_chunks += 1
        pos = end + (chunk_size & 1)
    if image_chunks == 0:
        raise CorruptMediaError("image/webp has no image data chunk (VP8, VP8L or ANMF)")

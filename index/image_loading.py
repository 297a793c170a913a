"""Read one training image by its URI, within swerve.media's bounds, and hash what was read.

- ``file://`` URIs are read here: the scheme must be in ``limits.allowed_uri_schemes``,
  the file at most ``limits.max_bytes``; the bytes are checked against a declared sha256.
- Any other scheme goes through ``swerve.media.read_image_bytes``, the verified claim-check
  path, which needs the record's sha256 and ``media_type``, ``width`` and ``height`` extras.
- Either way the bytes are decoded by ``swerve.media.decode_bytes`` (byte, pixel and
  format limits, decompression bombs).

A failure is a ``MediaError`` naming the training image's URI. This module must never
decode outside swerve.media, nor return a record whose sha256 is not that of the bytes read.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from PIL import Image
from pydantic import ValidationError
from swerve.errors import (
    MediaError,
    MediaIntegrityError,
    MediaTooLargeError,
    MediaUnreachableError,
)
from swerve.index.training_image import TrainingImage
from swerve.media import ImageRef, MediaLimits, decode_bytes, read_image_bytes
from swerve.media.limits import DEFAULT_LIMITS
from swerve.media.store import uri_scheme

__all__ = ["read_training_image"]

_REF_FIELDS = ("media_type", "width", "height")


def read_training_image(image: TrainingImage, limits: MediaLimits = DEFAULT_LIMITS
                        ) -> tuple[Image.Image, TrainingImage]:
    """Decode the image ``image.uri`` points to.

    Returns:
        `tuple[PIL.Image.Image, TrainingImage]`: the RGB image, and the record with the
        sha256 of the bytes read.

    Raises:
        MediaError: unreadable, too large, over the pixel limit, corrupt, a disallowed
            scheme, a remote URI without the fields to verify it, or a sha256 mismatch.
    """
    # 1. bytes, bounded
    try:
        data = _read_bytes(image, limits)
    except MediaError as exc:
        raise _naming(image, exc) from exc
    # 2. hash: the record must describe these bytes before anything decodes them
    try:
        record = image.with_sha256(data)
    except ValueError as exc:
        raise MediaIntegrityError(f"training image {image.uri}: {exc}", stage="index") from exc
    # 3. pixels
    try:
        return decode_bytes(data, limits), record
    except MediaError as exc:
        raise _naming(image, exc) from exc


def _naming(image: TrainingImage, exc: MediaError) -> MediaError:
    # Same class, so callers can still tell a bomb from a truncated file; the URI added.
    return type(exc)(f"training image {image.uri}: {exc.message}", stage="index")


def _read_bytes(image: TrainingImage, limits: MediaLimits) -> bytes:
    scheme = uri_scheme(image.uri)
    if scheme is None or scheme not in limits.allowed_uri_schemes:
        raise MediaUnreachableError(f"cannot read {image.uri!r}: scheme {scheme!r} is not allowed "
                                    f"({', '.join(limits.allowed_uri_schemes) or 'none'})")
    if scheme == "file":
        return _read_local(Path(unquote(urlparse(image.uri).path)), limits.max_bytes)
    missing = [name for name in _REF_FIELDS if name not in image.extra]
    if image.sha256 is None or missing:
        raise MediaUnreachableError(
            f"cannot read {image.uri!r}: a remote training image is read through swerve.media's verified "
            f"claim-check path, which needs sha256, media_type, width and height in its manifest row "
            f"(missing: {', '.join((['sha256'] if image.sha256 is None else []) + missing)})"
        )
    try:
        ref = ImageRef(uri=image.uri, sha256=image.sha256, media_type=image.extra["media_type"],
                       width=image.extra["width"], height=image.extra["height"])
    except ValidationError as exc:
        raise MediaUnreachableError(f"cannot read {image.uri!r}: its manifest row does not make a valid "
                                    f"image reference: {exc.errors()[0]['msg']}") from exc
    return read_image_bytes(ref, limits)


def _read_local(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise MediaTooLargeError(f"image at {path} is {size} bytes, over the limit of {max_bytes} bytes")
        with path.open("rb") as stream:
            data = stream.read(max_bytes + 1)  # the file may have grown since stat()
    except FileNotFoundError as exc:
        raise MediaUnreachableError(f"cannot read image from {path}: not found") from exc
    except OSError as exc:
        raise MediaUnreachableError(f"cannot read image from {path}: {type(exc).__name__}: {exc}") from exc
    if len(data) > max_bytes:
        raise MediaTooLargeError(f"image at {path} is over the limit of {max_bytes} bytes")
    return data

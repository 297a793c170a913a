"""``ImageRef``: how an event carries an image, inline or by reference (claim check).

Either way it carries the sha256, the media type and the size of the encoded image, so a
reader can check what it fetched before it decodes it. Building a ref from bytes checks
them within the limits first (format, pixels, completeness), without decoding pixels.

This module must never fetch or decode: see ``swerve.media.fetch`` and
``swerve.media.decode``.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Annotated, Any

from PIL import Image
from pydantic import (
    Base64Bytes,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveInt,
    field_validator,
    model_validator,
)
from swerve.errors import (
    ConfigurationError,
    DecompressionBombError,
    MediaTooLargeError,
    UnsupportedMediaTypeError,
)
from swerve.media.confinement import covers
from swerve.media.encode import encode_image
from swerve.media.hashing import SHA256_HEX_PATTERN, sha256_hex
from swerve.media.limits import DEFAULT_LIMITS, MediaLimits
from swerve.media.media_types import PNG, SUPPORTED_MEDIA_TYPES
from swerve.media.probe import probe_image

if TYPE_CHECKING:
    from collections.abc import Iterator

    from swerve.media.store import ImageStore

__all__ = ["ImageRef"]

_URI_PATTERN = r"^[A-Za-z][A-Za-z0-9+.\-]*://"

# The longest side any allowed format can declare: JPEG's 16-bit fields (WebP's limit is
# 16,383; PNG's 2^31 - 1 is left to the pixel limit). A larger declared side is refused at decode.
MAX_SIDE = 65_535


def _require_strict_base64(value: object) -> object:
    # Base64Bytes decodes leniently: it drops characters outside the alphabet, so raw image
    # bytes passed by mistake would be silently garbled. Demand RFC 4648 base64 instead.
    if isinstance(value, (bytes, bytearray, str)):
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(
                "`data` must be standard base64 without line breaks; to wrap raw image "
                "bytes use ImageRef.from_bytes"
            ) from exc
    return value


#: Inline image bytes: raw bytes on the model, standard base64 on the wire and as input.
InlineData = Annotated[Base64Bytes, BeforeValidator(_require_strict_base64)]


class ImageRef(BaseModel):
    """An encoded image, carried inline or referenced by URI.

    Build one with ``ImageRef.from_bytes`` or ``ImageRef.from_image``: they check the image
    and choose inline or by reference. In JSON, ``data`` is standard base64. In Python,
    ``data`` is the raw bytes once validated, but the constructor, like any
    ``Base64Bytes`` field, expects base64 *input*: ``ImageRef(data=raw_bytes, ...)`` is a
    validation error that points to ``from_bytes``.

    Args:
        media_type (`str`): ``image/png``, ``image/jpeg`` or ``image/webp``.
        sha256 (`str`): sha256 of the encoded bytes, 64 lowercase hex characters.
        width (`int`): width in pixels, as the image header declares it.
        height (`int`): height in pixels, as the image header declares it.
        data (`bytes`, *optional*): the encoded image, inline.
        uri (`str`, *optional*): where the encoded image is stored, ``scheme://path``.

    Exactly one of ``data`` and ``uri`` is set.
    """

    model_config = ConfigDict(
        frozen=True,
        # Forward compatible: a newer producer's extra field is ignored, not refused.
        extra="ignore",
        title="ImageRef",
        # The exported schema gets a short description, not this docstring.
        json_schema_extra={
            "description": "An encoded image with its sha256, media type and size, carried "
            "inline (`data`, base64) or by claim-check reference (`uri`): exactly one of "
            "the two is set."
        },
    )

    media_type: str = Field(
        description="Format of the encoded bytes.",
        json_schema_extra={"enum": list(SUPPORTED_MEDIA_TYPES)},
    )
    sha256: str = Field(
        pattern=SHA256_HEX_PATTERN,
        description="sha256 of the encoded bytes, 64 lowercase hex characters.",
    )
    width: PositiveInt = Field(le=MAX_SIDE, description="Width in pixels, as the header declares it.")
    height: PositiveInt = Field(le=MAX_SIDE, description="Height in pixels, as the header declares it.")
    data: InlineData | None = Field(
        default=None, repr=False, description="The encoded image inline, base64."
    )
    uri: str | None = Field(
        default=None,
        pattern=_URI_PATTERN,
        max_length=4096,
        description="Claim-check reference to the encoded image, scheme://path.",
    )

    @field_validator("media_type")
    @classmethod
    def _check_media_type(cls, value: str) -> str:
        if value not in SUPPORTED_MEDIA_TYPES:
            raise ValueError(
                f"media_type must be one of {', '.join(SUPPORTED_MEDIA_TYPES)}, got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _check_exactly_one_source(self) -> ImageRef:
        if (self.data is None) == (self.uri is None):
            got = "both" if self.data is not None else "neither"
            raise ValueError(
                f"an ImageRef carries exactly one of `data` (inline bytes) or `uri` "
                f"(claim-check reference), got {got}"
            )
        if self.data is not None and not self.data:
            raise ValueError("inline `data` is empty")
        return self

    @property
    def is_inline(self) -> bool:
        """True when the bytes travel in ``data``, False when they are behind ``uri``."""
        return self.data is not None

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Never print up to 512 KiB of image bytes into a log line.
        yield from super().__repr_args__()
        if self.data is not None:
            yield "data", f"<{len(self.data)} bytes>"

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        *,
        limits: MediaLimits = DEFAULT_LIMITS,
        store: ImageStore | None = None,
        tenant: str | None = None,
    ) -> ImageRef:
        """Check an encoded image and build its reference: inline if small, else stored.

        The format, size and completeness are read from the header and container, within
        ``limits``; no pixels are decoded.

        Args:
            data (`bytes`): the encoded image (PNG, JPEG or WebP).
            limits (`MediaLimits`, *optional*): bounds, and the inline threshold
                ``max_inline_bytes``.
            store (`ImageStore`, *optional*): where an image over the inline threshold goes.
            tenant (`str`, *optional*): whose image it is; a stored image goes under
                ``<base>/<tenant>/`` (see ``ImageStore.put``).

        Raises:
            MediaTooLargeError: over ``max_bytes``; or over ``max_inline_bytes`` with no
                store given.
            UnsupportedMediaTypeError, DecompressionBombError, CorruptMediaError: the image
                is outside the limits or broken.
            ConfigurationError: the store's scheme is not one readers are allowed to fetch,
                or the store is outside ``limits.allowed_uri_bases``.
            SchemaViolationError: ``tenant`` cannot be a folder name in the store.
        """
        header = probe_image(data, limits)
        digest = sha256_hex(data)
        fields: dict[str, Any] = {
            "media_type": header.media_type,
            "sha256": digest,
            "width": header.width,
            "height": header.height,
        }
        if len(data) <= limits.max_inline_bytes:
            return cls(**fields, data=base64.b64encode(data))
        if store is None:
            raise MediaTooLargeError(
                f"image is {len(data)} bytes, over the inline limit of "
                f"{limits.max_inline_bytes} bytes, and no ImageStore was given to hold it"
            )
        if store.scheme not in limits.allowed_uri_schemes:
            raise ConfigurationError(
                f"image store {store.base_uri} uses scheme {store.scheme!r}, which readers "
                f"refuse (allowed: {', '.join(limits.allowed_uri_schemes) or 'none'})"
            )
        bases = limits.allowed_uri_bases
        if bases is not None and not any(covers(base, store.base_uri) for base in bases):
            raise ConfigurationError(
                f"image store {store.base_uri} is outside the allowed bases readers accept "
                f"({', '.join(bases) or 'none: inline images only'})"
            )
        uri = store.put(data, sha256=digest, media_type=header.media_type, tenant=tenant)
        return cls(**fields, uri=uri)

    @classmethod
    def from_image(
        cls,
        image: Image.Image,
        *,
        media_type: str = PNG,
        limits: MediaLimits = DEFAULT_LIMITS,
        store: ImageStore | None = None,
        tenant: str | None = None,
    ) -> ImageRef:
        """Encode a Pillow image (lossless PNG by default) and build its reference.

        Args:
            image (`PIL.Image.Image`): the image, in a mode ``media_type`` can hold.
            media_type (`str`, *optional*, defaults to ``"image/png"``): the encoding.
            limits (`MediaLimits`, *optional*): as for ``from_bytes``.
            store (`ImageStore`, *optional*): as for ``from_bytes``.
            tenant (`str`, *optional*): as for ``from_bytes``.

        Raises:
            UnsupportedMediaTypeError: ``media_type`` is not allowed, or cannot hold the
                image's mode.
            DecompressionBombError: the image has more pixels than ``limits.max_pixels``.
            MediaTooLargeError, ConfigurationError, SchemaViolationError: as for
                ``from_bytes``.
        """
        if media_type not in limits.allowed_media_types:
            raise UnsupportedMediaTypeError(
                f"cannot encode as {media_type}: not in the allow-list "
                f"({', '.join(limits.allowed_media_types)})"
            )
        if image.width * image.height > limits.max_pixels:
            raise DecompressionBombError(
                f"image is {image.width}x{image.height} = {image.width * image.height} "
                f"pixels, over the limit of {limits.max_pixels} pixels"
            )
        return cls.from_bytes(encode_image(image, media_type), limits=limits, store=store, tenant=tenant)

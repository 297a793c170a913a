"""The bounds every image is held to: bytes, pixels, formats, URI schemes and bases, fetch time.

One frozen ``MediaLimits`` value is passed to every function that reads or decodes an
image, so a policy can tighten the bounds without touching any global state. This module
must never read Pillow's process-wide settings (``Image.MAX_IMAGE_PIXELS``,
``ImageFile.LOAD_TRUNCATED_IMAGES``): swerve's bounds hold whatever they are set to.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    field_validator,
    model_validator,
)
from swerve.media.confinement import normalize_base
from swerve.media.media_types import SUPPORTED_MEDIA_TYPES
from swerve.media.store import uri_scheme

__all__ = ["DEFAULT_LIMITS", "MediaLimits"]

_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*")


class MediaLimits(BaseModel):
    """Bounds on the images swerve will read and decode.

    Args:
        max_inline_bytes (`int`, defaults to 512 KiB): an encoded image larger than this
            travels by reference (claim check) instead of inside the event.
        max_bytes (`int`, defaults to 16 MiB): hard cap on any encoded image, inline or
            fetched. Must be at least ``max_inline_bytes``.
        max_pixels (`int`, defaults to 4096 * 4096): cap on width * height as declared in
            the image header, checked before any pixel is decoded (decompression bombs).
        allowed_media_types (`tuple[str, ...]`): the format allow-list; a non-empty subset
            of ``image/png``, ``image/jpeg``, ``image/webp``.
        allowed_uri_schemes (`tuple[str, ...]`): lowercase schemes a reference may use,
            e.g. ``file``, ``s3``: a coarse filter checked first. Empty means inline images
            only.
        allowed_uri_bases (`tuple[str, ...]`, *optional*, defaults to `None`): the places a
            reference may point into, e.g. ``("s3://bucket/prefix/",
            "file:///srv/swerve/images/")``; a reference must lie strictly under one of them
            (see ``swerve.media.confinement``). Stored normalized: lowercase scheme, no
            trailing slash. Empty means inline images only. `None` (unset) confines
            references to the image store the reader is given; ``Settings`` replaces it with
            ``SWERVE_IMAGE_STORE_URI``, so a worker never reads outside its own store. Only a
            trusted caller that passes neither (an operator's training manifest) gets the
            scheme filter alone.
        fetch_timeout_s (`float`, defaults to 10.0): how long reading one referenced image
            may take, in seconds.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_inline_bytes: PositiveInt = 512 * 1024
    max_bytes: PositiveInt = 16 * 1024 * 1024
    max_pixels: PositiveInt = 4096 * 4096
    allowed_media_types: tuple[str, ...] = SUPPORTED_MEDIA_TYPES
    allowed_uri_schemes: tuple[str, ...] = ("file", "s3", "gs", "az", "memory")
    allowed_uri_bases: tuple[str, ...] | None = None
    fetch_timeout_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 10.0

    @field_validator("allowed_media_types")
    @classmethod
    def _check_media_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError(
                f"allowed_media_types must name at least one of {SUPPORTED_MEDIA_TYPES}"
            )
        unknown = [m for m in value if m not in SUPPORTED_MEDIA_TYPES]
        if unknown:
            raise ValueError(
                f"allowed_media_types has {unknown}; swerve can only decode {SUPPORTED_MEDIA_TYPES}"
            )
        return value

    @field_validator("allowed_uri_schemes")
    @classmethod
    def _check_schemes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [s for s in value if not _SCHEME.fullmatch(s)]
        if bad:
            raise ValueError(
                f"allowed_uri_schemes has {bad}; a scheme is lowercase, without '://', "
                "e.g. 'file' or 's3'"
            )
        return value

    @field_validator("allowed_uri_bases")
    @classmethod
    def _check_bases(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        return tuple(normalize_base(base) for base in value)

    @model_validator(mode="after")
    def _check_bases_use_allowed_schemes(self) -> MediaLimits:
        unreachable = [b for b in self.allowed_uri_bases or () if uri_scheme(b) not in self.allowed_uri_schemes]
        if unreachable:
            raise ValueError(
                f"allowed_uri_bases has {unreachable}, whose schemes are not in allowed_uri_schemes "
                f"({', '.join(self.allowed_uri_schemes) or 'none'}): nothing there could be read"
            )
        return self

    @model_validator(mode="after")
    def _check_inline_within_max(self) -> MediaLimits:
        if self.max_inline_bytes > self.max_bytes:
            raise ValueError(
                f"max_inline_bytes ({self.max_inline_bytes}) must not exceed "
                f"max_bytes ({self.max_bytes})"
            )
        return self


#: The limits used wherever none are passed.
DEFAULT_LIMITS: Final = MediaLimits()

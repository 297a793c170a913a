"""``TrainingImage``: one indexed training image's metadata (where it is, its caption, its hash).

This module holds the record only: it must never read images or files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from swerve.media import sha256_hex

__all__ = ["TrainingImage"]

_SHA256_HEX_CHARS = 64


@dataclass(frozen=True)
class TrainingImage:
    """A training image as the index knows it.

    Args:
        uri (`str`): where the encoded image is (``file://...``, ``s3://...``), for the pixel
            confirmation of a near-copy.
        caption (`str`, defaults to ""): its training caption.
        sha256 (`str | None`): sha256 of its encoded bytes, 64 lowercase hex characters; None
            only for vectors added without their image.
        extra (`Mapping[str, Any]`, *optional*): JSON-serializable fields (e.g. ``memorized``,
            ``duplicates``) kept alongside.

    Raises:
        ValueError: empty uri, malformed sha256, or ``extra`` that is not JSON-serializable.
    """

    uri: str
    caption: str = ""
    sha256: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.uri:
            raise ValueError("a TrainingImage needs a uri")
        if self.sha256 is not None and (
            len(self.sha256) != _SHA256_HEX_CHARS or self.sha256.strip("0123456789abcdef")
        ):
            raise ValueError(f"sha256 must be 64 lowercase hex characters, got {self.sha256!r}")
        try:
            json.dumps(dict(self.extra))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"extra fields of {self.uri} are not JSON-serializable: {exc}") from exc

    def with_sha256(self, data: bytes) -> TrainingImage:
        """This record with ``sha256`` of ``data``.

        Raises:
            ValueError: the record declares a different sha256.
        """
        digest = sha256_hex(data)
        if self.sha256 is not None and self.sha256 != digest:
            raise ValueError(f"{self.uri} has sha256 {digest}, but its record declares {self.sha256}")
        return TrainingImage(uri=self.uri, caption=self.caption, sha256=digest, extra=self.extra)

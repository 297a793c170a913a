"""swerve.media: image references and safe, bounded decoding.

Images travel inline in events up to ``MediaLimits.max_inline_bytes`` and by reference
(claim check, any fsspec URI) above it; either way with sha256, media type and size.
Reading and decoding are bounded: a byte limit, a pixel limit checked on the header before
any pixel is decoded (decompression bombs), a format allow-list, a URI scheme allow-list,
an allow-list of base URIs a reference must lie under (checked before any I/O, symlinks
resolved), and a fetch timeout. Every failure is a ``swerve.errors.MediaError`` (or a
``ConfigurationError`` for a misconfigured store) whose message names the limit or the
expected value.

::

    ImageRef.from_bytes(data, store=store)  ->  ImageRef (inline or uri)
    read_image_bytes(ref)                   ->  bytes, sha256-verified
    decode_image(ref) / decode_bytes(data)  ->  PIL.Image.Image in RGB

This package is imported by the event contracts, the CLI and the detectors, so it must
import only the standard library, pydantic, Pillow, fsspec, numpy and ``swerve.errors``:
never faust, aiokafka or torch. It must never change Pillow's process-wide settings.
"""

from __future__ import annotations

from swerve.media.decode import decode_bytes, decode_image
from swerve.media.fetch import read_image_bytes
from swerve.media.hashing import sha256_hex
from swerve.media.image_ref import ImageRef
from swerve.media.limits import MediaLimits
from swerve.media.store import ImageStore

__all__ = [
    "ImageRef",
    "ImageStore",
    "MediaLimits",
    "decode_bytes",
    "decode_image",
    "read_image_bytes",
    "sha256_hex",
]

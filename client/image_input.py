"""The images a caller may hand the SDK, turned into the ``ImageRef`` a generation carries.

Accepted: a Pillow image (encoded losslessly as PNG), encoded bytes (PNG, JPEG or WebP), an
``ImageRef`` as it is, or the URI of an image already in an allowed place. Bytes over the
inline limit are written to the configured image store (claim check) and travel by URI. A
URI is read once, within the limits and only under the allowed bases, to learn its sha256,
format and size; the event then carries the URI, not the bytes.

This module must never guess: a string that is not a URI, or any other type, is refused with
a message that says what is accepted.
"""

from __future__ import annotations

from PIL import Image

from swerve.media import ImageRef, ImageStore, MediaLimits, sha256_hex
# A bare URI declares no sha256, so it is read as a reference is, without the digest check.
from swerve.media.fetch import read_uri_bytes
from swerve.media.probe import probe_image
from swerve.media.store import uri_scheme

__all__ = ["ImageInput", "image_ref"]

#: What ``Swerve.moderate`` accepts as ``image``.
ImageInput = Image.Image | bytes | bytearray | ImageRef | str


def image_ref(image: ImageInput, *, limits: MediaLimits, store: ImageStore | None, tenant: str | None = None) -> ImageRef:
    """Build the reference a generation event carries for ``image`` (blocking I/O: store, URI).

    Args:
        image (`PIL.Image.Image | bytes | ImageRef | str`): the generated image; a string is
            the URI of an encoded image, e.g. ``s3://bucket/prefix/x.png``.
        limits (`MediaLimits`): format and size bounds, the inline threshold, allowed URIs.
        store (`ImageStore`, *optional*): where an image over the inline threshold goes.
        tenant (`str`, *optional*): whose image it is; a stored image goes under its folder.

    Raises:
        TypeError: ``image`` is none of the accepted types.
        ValueError: ``image`` is a string that is not a ``scheme://path`` URI.
        MediaError: the image is outside the limits, broken, or its URI is refused or unreadable.
        StoreUnavailableError: the store did not answer.
    """
    if isinstance(image, ImageRef):
        return image
    if isinstance(image, Image.Image):
        return ImageRef.from_image(image, limits=limits, store=store, tenant=tenant)
    if isinstance(image, (bytes, bytearray)):
        return ImageRef.from_bytes(bytes(image), limits=limits, store=store, tenant=tenant)
    if isinstance(image, str):
        if uri_scheme(image) is None:
            raise ValueError(
                f"a string image must be a URI such as s3://bucket/prefix/x.png or file:///srv/images/x.png, "
                f"got {image[:80]!r}; pass the bytes of a local file instead"
            )
        data = read_uri_bytes(image, limits, store)
        header = probe_image(data, limits)
        return ImageRef(media_type=header.media_type, sha256=sha256_hex(data), width=header.width, height=header.height, uri=image)
    raise TypeError(
        f"image must be a PIL image, PNG/JPEG/WebP bytes, an ImageRef or a URI string, got {type(image).__name__}"
    )

"""Where a caller's ``image_uri`` may point: its own tenant's folder of the image store, or an
allowed base outside the store.

The workers confine references to ``SWERVE_MEDIA_ALLOWED_URI_BASES`` (by default the image
store), and the SDK applies the same confinement when it reads a URI image
(``swerve.media.fetch.read_uri_bytes``). That is not enough behind a gateway: the store holds
every tenant's images under ``<store>/<tenant>/``, and the outcome hands the image back, so a
URI into another tenant's folder would read that tenant's image. Here the same rules
(``swerve.media.confinement.confine``) are applied to narrower bases first: the caller's own
folder of the store, and each allowed base that neither holds nor lies inside the store. An
allowed base that holds the store (a whole bucket) is offered only through the tenant folder.

This module must never read the target: ``confine`` checks text and place only.
"""

from __future__ import annotations

from swerve.media.confinement import confine, covers, normalize_base
from swerve.streams.settings import Settings

__all__ = ["check_tenant_uri", "tenant_bases"]


def tenant_bases(settings: Settings, tenant: str) -> tuple[str, ...]:
    """The bases ``tenant``'s image URIs must lie under."""
    store = normalize_base(settings.image_store_uri)
    shared = tuple(
        base for base in settings.media.allowed_uri_bases or ()
        if not covers(base, store) and not covers(store, base)
    )
    return (f"{store}/{tenant}", *shared)


def check_tenant_uri(uri: str, settings: Settings, tenant: str) -> None:
    """Refuse ``uri`` unless it lies under one of ``tenant_bases``, before any I/O.

    Raises:
        MediaUnreachableError: the URI is malformed or outside the tenant's bases; the
            message names only the URI.
        ConfigurationError: a base's filesystem package is not installed.
    """
    confine(uri, tenant_bases(settings, tenant))

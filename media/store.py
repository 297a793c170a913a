"""The claim-check store: images too large to travel inline are written here, and events
carry their URI instead.

Objects are content-addressed, ``<base>/<tenant>/<first two hex digits>/<sha256><ext>``
(``<base>/<first two hex digits>/<sha256><ext>`` when no tenant is given, as older writers
did), so writing the same bytes twice yields the same URI and the second write does
nothing: a replayed producer is harmless. A tenant must be a safe path segment: it names a
folder, never a way out of one. A reader never sees a half-written object: local files are
written under a temporary name and renamed; object stores and fsspec's memory filesystem
publish an object only when it is closed. Nothing is ever deleted here (retention belongs
to the bucket's lifecycle rules).

This module must never decode images, nor read objects back: see ``swerve.media.fetch``.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, cast

from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem
from swerve.errors import (
    ConfigurationError,
    MediaIntegrityError,
    SchemaViolationError,
    StoreUnavailableError,
    UnsupportedMediaTypeError,
)
from swerve.media.hashing import sha256_hex
from swerve.media.media_types import FILE_EXTENSIONS

__all__ = ["ImageStore", "tenant_segment", "uri_scheme"]

_URI = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://.+")
# The event contract allows any 1..64 characters; a folder name allows far fewer. No '/',
# '\\', '%', '..' or hidden names: nothing that could leave <base>/<tenant>/ or be decoded.
_TENANT_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")


def uri_scheme(uri: str) -> str | None:
    """Return the lowercase scheme of ``scheme://...``, or None when ``uri`` has none.

    A chained fsspec URL (``simplecache::s3://...``) has no single scheme and gives None.
    """
    match = _URI.fullmatch(uri)
    if match is None or "::" in uri:
        return None
    return match["scheme"].lower()


def tenant_segment(tenant: str) -> str:
    """Return ``tenant`` as the folder name it gets in the store, or refuse it.

    Raises:
        SchemaViolationError: ``tenant`` is not 1 to 64 ASCII letters, digits, ``.``, ``_``
            or ``-``, or starts with ``.`` (``.``, ``..`` and hidden names).
    """
    if not _TENANT_SEGMENT.fullmatch(tenant):
        raise SchemaViolationError(
            f"tenant {tenant!r} cannot name a folder in the image store: a tenant there is 1 to "
            "64 ASCII letters, digits, '.', '_' or '-', not starting with '.'"
        )
    return tenant


class ImageStore:
    """A content-addressed image store on any fsspec filesystem.

    Args:
        base_uri (`str`): where objects go, with its scheme, e.g.
            ``"file:///var/lib/swerve/images"``, ``"s3://bucket/swerve"``,
            ``"memory://swerve"``.
        create_root (`bool`, *optional*, defaults to `True`): whether ``put`` may create a
            missing root. A worker establishes the root once at start-up and passes
            `False`: a root that vanishes later is an outage (an unmounted volume), and
            recreating it would write replacements where no consumer can read them.

    Raises:
        ConfigurationError: ``base_uri`` has no scheme, is chained (``::``), names an
            unknown protocol, or needs a filesystem package that is not installed.
    """

    def __init__(self, base_uri: str, *, create_root: bool = True) -> None:
        scheme = uri_scheme(base_uri)
        if scheme is None:
            raise ConfigurationError(
                f"image store URI {base_uri!r} must look like scheme://path, "
                "e.g. file:///var/lib/swerve/images or s3://bucket/prefix"
            )
        self._base_uri = base_uri.rstrip("/")
        self._scheme = scheme
        try:
            fs, root = url_to_fs(self._base_uri)
        except (ValueError, ImportError) as exc:
            raise ConfigurationError(
                f"image store URI {base_uri!r} cannot be opened: {exc}"
            ) from exc
        self._fs: Any = fs
        self._root = cast(str, root).rstrip("/")
        self._create_root = create_root

    @property
    def base_uri(self) -> str:
        """The base URI, without a trailing slash."""
        return self._base_uri

    @property
    def scheme(self) -> str:
        """The lowercase scheme of the base URI, e.g. ``"s3"``."""
        return self._scheme

    def __repr__(self) -> str:
        return f"ImageStore({self._base_uri!r})"

    def holds(self, uri: str) -> bool:
        """Whether ``uri`` names an object under this store's base."""
        return uri.startswith(f"{self._base_uri}/")

    def is_reachable(self) -> bool:
        """Whether the store answers: a local root exists; a bucket (the root's first part) lists."""
        try:
            if isinstance(self._fs, LocalFileSystem):
                return bool(self._fs.isdir(self._root))
            self._fs.ls(self._root.split("/")[0])
            return True
        except OSError:
            return False

    def ensure_root(self, *, check_write: bool = True) -> None:
        """Create a local root if it is missing, and check the store (worker start-up).

        Args:
            check_write (`bool`, *optional*, defaults to `True`): write and remove a probe
                object; a reader (the detect role) may have read-only credentials.

        Raises:
            ConfigurationError: the root cannot be created, written or reached; names the URI.
        """
        probe = f"{self._root}/.swerve-write-check-{uuid.uuid4().hex}"
        try:
            if isinstance(self._fs, LocalFileSystem):
                self._fs.makedirs(self._root, exist_ok=True)
            if check_write:
                self._fs.pipe_file(probe, b"")
                self._fs.rm_file(probe)
        except OSError as exc:
            raise ConfigurationError(f"image store {self._base_uri} cannot be written: {type(exc).__name__}: {exc}") from exc

    def put(self, data: bytes, *, sha256: str, media_type: str, tenant: str | None = None) -> str:
        """Store ``data`` under its content address and return its full URI.

        Args:
            data (`bytes`): the encoded image.
            sha256 (`str`): its sha256, 64 lowercase hex characters; checked against
                ``data``.
            media_type (`str`): ``image/png``, ``image/jpeg`` or ``image/webp``; picks the
                extension.
            tenant (`str`, *optional*): the tenant the image belongs to; it is written under
                ``<base>/<tenant>/``. Without one, directly under the base.

        Returns:
            `str`: e.g. ``"file:///var/lib/swerve/images/acme/ab/abcd....png"``. The same
            bytes for the same tenant always give the same URI.

        Raises:
            SchemaViolationError: ``tenant`` is not a safe folder name (see ``tenant_segment``).
            MediaIntegrityError: ``sha256`` is not the digest of ``data``.
            UnsupportedMediaTypeError: ``media_type`` is not a supported format.
            ConfigurationError: the store cannot be written as configured (permissions, a
                file where the root should be).
            StoreUnavailableError: the store did not take the write (I/O error, timeout,
                or its root is missing while ``create_root`` is False); transient.
        """
        extension = FILE_EXTENSIONS.get(media_type)
        if extension is None:
            raise UnsupportedMediaTypeError(
                f"cannot store {media_type}; supported: {', '.join(FILE_EXTENSIONS)}"
            )
        actual = sha256_hex(data)
        if actual != sha256:
            raise MediaIntegrityError(
                f"refusing to store bytes with sha256 {actual} under the declared sha256 {sha256!r}"
            )
        folder = sha256[:2] if tenant is None else f"{tenant_segment(tenant)}/{sha256[:2]}"
        relative = f"{folder}/{sha256}{extension}"
        path = f"{self._root}/{relative}"
        uri = f"{self._base_uri}/{relative}"
        try:
            if self._fs.exists(path):
                return uri
            if isinstance(self._fs, LocalFileSystem):
                if not self._create_root and not self._fs.isdir(self._root):
                    raise StoreUnavailableError(f"cannot write image {sha256}: the store root {self._base_uri} is missing")
                self._fs.makedirs(f"{self._root}/{folder}", exist_ok=True)
                partial = f"{path}.{uuid.uuid4().hex}.partial"
                self._fs.pipe_file(partial, data)
                self._fs.mv(partial, path)  # a rename: readers see all of it or nothing
            else:
                self._fs.pipe_file(path, data)
        except (PermissionError, NotADirectoryError, IsADirectoryError, FileExistsError) as exc:
            raise ConfigurationError(
                f"cannot write image {sha256} to the store at {self._base_uri}: {exc}"
            ) from exc
        except OSError as exc:  # timeouts, connection resets, EIO: retrying may help
            raise StoreUnavailableError(
                f"cannot write image {sha256} to the store at {self._base_uri}: {type(exc).__name__}: {exc}"
            ) from exc
        return uri

"""Read the encoded bytes an ``ImageRef`` points to, within the limits, and verify them.

Inline bytes are taken as they are; a URI is read through fsspec, only for allow-listed
schemes and only under allow-listed base URIs (``swerve.media.confinement``, checked before
any I/O), at most ``max_bytes + 1`` bytes, within ``fetch_timeout_s``. Either way the bytes
must hash to the declared sha256 before anyone may use them.

Failures fall in two classes (docs/reliability.md, "Telling a missing image from a store
that does not answer"):

- permanent, ``MediaUnreachableError`` (bad input, dead-lettered): the store answered that
  the object does not exist, access is denied, the path is a directory, the scheme is not
  allowed, the reference is outside the allowed bases (or a symlink leads out of them);
- transient, ``StoreUnavailableError`` (retried, never dead-lettered): the read timed out,
  failed with any other I/O error, or the object is missing *and* the root of the image
  store it lives in is missing too (an unmounted volume, a deleted bucket: the store, not
  the reference, is broken).

This module must never decode images, never read a whole object of unknown size into
memory, and never touch or describe a target outside the allowed bases: such a reference is
refused with one message whatever is there, so a DLQ header cannot tell an attacker whether
``/etc/passwd`` exists or what it hashes to.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

from fsspec.core import url_to_fs
from swerve.errors import (
    ConfigurationError,
    MediaIntegrityError,
    MediaTooLargeError,
    MediaUnreachableError,
    SchemaViolationError,
    StoreUnavailableError,
)
from swerve.media.confinement import Target, confine, reference_problem, resolve_local
from swerve.media.deadline_threads import DeadlineExceeded, DeadlineThreads
from swerve.media.hashing import sha256_hex
from swerve.media.image_ref import ImageRef
from swerve.media.limits import DEFAULT_LIMITS, MediaLimits
from swerve.media.store import ImageStore, uri_scheme

__all__ = ["read_image_bytes", "read_uri_bytes"]

_CHUNK_BYTES: Final = 1024 * 1024
_T = TypeVar("_T")
#: Every URI read runs on these threads, under the fetch deadline (a stuck store cannot stall a worker).
_READERS: Final = DeadlineThreads("swerve-media-fetch")


def read_image_bytes(ref: ImageRef, limits: MediaLimits = DEFAULT_LIMITS, store: ImageStore | None = None) -> bytes:
    """Return the encoded bytes of ``ref``, checked against its sha256.

    Args:
        ref (`ImageRef`): an inline or by-reference image.
        limits (`MediaLimits`, *optional*): byte cap, URI scheme and base allow-lists, fetch
            timeout.
        store (`ImageStore`, *optional*): the claim-check store references usually live
            in. When an object under it is missing, the store's root is checked: a missing
            root means the store is down (transient), not that the reference is bad. With
            ``limits.allowed_uri_bases`` unset, references are confined to this store.

    Raises:
        MediaTooLargeError: the bytes are over ``limits.max_bytes``.
        MediaUnreachableError: the URI's scheme is not allowed, the URI is malformed or
            outside the allowed bases (no I/O was done), or the store answered that it cannot
            be read (no such object, not a regular file, permission denied).
        StoreUnavailableError: the store did not answer (timeout, I/O error, root gone).
        MediaIntegrityError: the bytes do not hash to ``ref.sha256``.
        ConfigurationError: the scheme is allowed but its fsspec backend is not installed.
    """
    if ref.data is not None:
        data: bytes = ref.data
        if len(data) > limits.max_bytes:
            raise MediaTooLargeError(
                f"inline image is {len(data)} bytes, over the limit of {limits.max_bytes} bytes"
            )
    elif ref.uri is not None:
        data = read_uri_bytes(ref.uri, limits, store)
    else:  # only a model built with model_construct() can get here
        raise SchemaViolationError("ImageRef carries neither data nor uri")
    actual = sha256_hex(data)
    if actual != ref.sha256:
        raise MediaIntegrityError(
            f"image bytes have sha256 {actual}, but the reference declares {ref.sha256}"
        )
    return data


def read_uri_bytes(uri: str, limits: MediaLimits = DEFAULT_LIMITS, store: ImageStore | None = None) -> bytes:
    """The bytes at ``uri``, read as a reference is: scheme and place allow-listed before any I/O,
    byte-capped, under the fetch deadline. No digest is checked (a bare URI declares none); use
    ``read_image_bytes`` for an ``ImageRef``.

    Raises:
        MediaUnreachableError: the URI is refused or cannot be read.
    """
    scheme = uri_scheme(uri)
    if scheme is None:
        raise MediaUnreachableError(
            f"cannot read image from {uri!r}: not a single scheme://path URI "
            "(chained '::' URLs are refused)"
        )
    if scheme not in limits.allowed_uri_schemes:
        raise MediaUnreachableError(
            f"cannot read image from {uri!r}: scheme {scheme!r} is not in the allow-list "
            f"({', '.join(limits.allowed_uri_schemes) or 'none: inline images only'})"
        )
    # Every check on the reference's text and place comes before the first I/O.
    bases = limits.allowed_uri_bases
    if bases is None and store is not None:
        bases = (store.base_uri,)
    if bases is None:  # a trusted caller (no store, no bases): the scheme filter alone
        problem = reference_problem(uri)
        if problem is not None:
            raise MediaUnreachableError(f"image reference {uri!r} is refused: {problem}")
        target = None
    else:
        target = confine(uri, bases)
    return _run_with_deadline(
        lambda: _read_bounded(uri, limits.max_bytes, store, target), limits.fetch_timeout_s, uri
    )


def _read_bounded(uri: str, max_bytes: int, store: ImageStore | None, target: Target | None = None) -> bytes:
    try:
        if target is not None and target.local_base is not None:
            # Read what was checked: for a local file, its real path, symlinks resolved.
            buffer = _read_local(uri, resolve_local(uri, target), max_bytes)
        else:
            fs, path = cast(tuple[Any, str], url_to_fs(uri))
            if target is not None:
                path = resolve_local(uri, target)
            info = fs.info(path)
            _check_listing(uri, info.get("type") == "file", info.get("type"), info.get("size"), max_bytes)
            # The listed size may be stale or absent: read no more than one byte past the cap.
            with fs.open(path, "rb") as stream:
                buffer = _read_capped(stream, max_bytes)
    except FileNotFoundError as exc:
        if store is not None and store.holds(uri) and not store.is_reachable():
            raise StoreUnavailableError(
                f"cannot read image from {uri!r}: the image store root {store.base_uri} is missing"
            ) from exc
        raise MediaUnreachableError(f"cannot read image from {uri!r}: not found") from exc
    except ImportError as exc:
        raise ConfigurationError(
            f"cannot read image from {uri!r}: the filesystem package is missing ({exc})"
        ) from exc
    except (PermissionError, IsADirectoryError, NotADirectoryError, ValueError) as exc:
        raise MediaUnreachableError(
            f"cannot read image from {uri!r}: {type(exc).__name__}: {exc}"
        ) from exc
    except OSError as exc:  # timeouts, connection resets, EIO: the store, not the reference
        raise StoreUnavailableError(
            f"cannot read image from {uri!r}: the store did not answer: {type(exc).__name__}: {exc}"
        ) from exc
    if len(buffer) > max_bytes:
        raise MediaTooLargeError(f"image at {uri!r} is over the limit of {max_bytes} bytes")
    return bytes(buffer)


def _read_local(uri: str, path: str, max_bytes: int) -> bytearray:
    """A confined local file, read with the os: what fsspec's local filesystem does, without
    its per-read URL parsing and wrappers (most of a small local read's cost)."""
    # Non-blocking, so that a FIFO is refused at once instead of blocking until the deadline; the
    # checks apply to what was opened, so nothing can be swapped in between a check and the read.
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        status = os.fstat(descriptor)
        kind = "file" if stat.S_ISREG(status.st_mode) else "directory" if stat.S_ISDIR(status.st_mode) else "other"
        _check_listing(uri, kind == "file", kind, status.st_size, max_bytes)
    except BaseException:
        os.close(descriptor)
        raise
    with os.fdopen(descriptor, "rb") as stream:  # closes the descriptor
        return _read_capped(stream, max_bytes)


def _check_listing(uri: str, regular: bool, kind: Any, size: Any, max_bytes: int) -> None:
    if not regular:
        raise MediaUnreachableError(f"cannot read image from {uri!r}: it is a {kind}, not a regular file")
    if isinstance(size, int) and size > max_bytes:
        raise MediaTooLargeError(f"image at {uri!r} is {size} bytes, over the limit of {max_bytes} bytes")


def _read_capped(stream: Any, max_bytes: int) -> bytearray:
    """At most one byte past ``max_bytes`` (so an over-long object is told from one at the cap)."""
    buffer = bytearray()
    while len(buffer) <= max_bytes:
        chunk = stream.read(min(_CHUNK_BYTES, max_bytes + 1 - len(buffer)))
        if not chunk:
            break
        buffer += chunk
    return buffer


def _run_with_deadline(call: Callable[[], _T], timeout_s: float, uri: str) -> _T:
    """``call()`` on one of the fetch threads, or StoreUnavailableError once ``timeout_s`` has passed."""
    try:
        return _READERS.run(call, timeout_s)
    except DeadlineExceeded:
        raise StoreUnavailableError(f"cannot read image from {uri!r}: timed out after {timeout_s} s") from None

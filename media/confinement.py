"""Confinement of image references to allow-listed base URIs, checked before any I/O.

A reference an event carries is producer input: ``file:///etc/passwd`` is as easy to send as
a store URI. A reader may open it only when it lies under one of
``MediaLimits.allowed_uri_bases``. In order:

1. the text alone: one ``scheme://path`` (no chained ``::``); no ``.``, ``..`` or empty
   segment (refused, never resolved); no ``%`` (nothing is percent-decoded, so nothing
   encoded can reach a backend that would decode it), no ``\\``, ``?``, ``#`` or control
   character; a local reference is absolute (``file:///...``);
2. the place, still without I/O: the path fsspec would open (its ``_strip_protocol``), on
   the filesystem class of a base, starts with that base's path plus ``/``. For an object
   store that is a key prefix, so ``s3://b/p-evil/x`` is not under ``s3://b/p``;
3. for a local file, at read time (``resolve_local``): its real path, symlinks resolved, is
   under the real path of its base, and that real path is what gets read.

A refusal names only what the producer sent. This module must never read a target outside
the allow-list, nor report anything about one: not its existence, type, size or digest.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Final

import fsspec
from fsspec.implementations.local import LocalFileSystem
from swerve.errors import ConfigurationError, MediaUnreachableError
from swerve.media.store import uri_scheme

__all__ = ["Target", "confine", "covers", "normalize_base", "reference_problem", "resolve_local"]

#: Schemes fsspec maps to the local filesystem; their paths must be absolute.
_LOCAL_SCHEMES: Final = frozenset({"file", "local"})
# Percent-encoding, Windows separators, query strings, fragments and control characters.
_REFUSED_CHARACTER = re.compile(r"[%\\?#\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Target:
    """Where a confined reference is read.

    Args:
        path (`str`): the path fsspec opens, as its ``_strip_protocol`` gives it.
        local_base (`str`, *optional*): for a local file, the allowed base's path; the
            file's real path must stay under the real path of this base.
    """

    path: str
    local_base: str | None = None


def outside(uri: str) -> MediaUnreachableError:
    """The one refusal for a reference outside the allow-list, whatever is (or is not) there."""
    return MediaUnreachableError(
        f"image reference {uri!r} is outside the allowed locations (SWERVE_MEDIA_ALLOWED_URI_BASES)"
    )


def reference_problem(uri: str) -> str | None:
    """What is wrong with the text of ``uri`` as a reference, or None. No I/O."""
    scheme = uri_scheme(uri)
    if scheme is None:
        return "not a single scheme://path URI (chained '::' URLs are refused)"
    bad = _REFUSED_CHARACTER.search(uri)
    if bad is not None:
        return (
            f"it contains {bad.group()!r}; percent-encoding, '\\', '?', '#' and control "
            "characters are refused"
        )
    rest = uri.split("://", 1)[1]
    if scheme in _LOCAL_SCHEMES and not rest.startswith("/"):
        return f"a local reference must be an absolute path, {scheme}:///..."
    # One leading slash is the root of a local path; fsspec drops it for other filesystems.
    rest = rest.removeprefix("/")
    for segment in rest.split("/"):
        if segment in ("", ".", ".."):
            shown = "an empty ('//')" if not segment else f"a {segment!r}"
            return f"it has {shown} path segment; references are refused, never resolved"
    return None


def normalize_base(base: str) -> str:
    """The canonical text of an allowed base: lowercase scheme, no trailing slash.

    Raises:
        ValueError: the base is not a clean ``scheme://path``, or names a filesystem root.
    """
    trimmed = base.strip().rstrip("/")
    scheme = uri_scheme(trimmed)
    rest = trimmed.split("://", 1)[1] if scheme is not None else ""
    if scheme is None or not rest.strip("/"):
        raise ValueError(
            f"allowed base {base!r} must be scheme://path naming a folder or a bucket prefix, "
            "e.g. s3://bucket/prefix/ or file:///srv/swerve/images/"
        )
    problem = reference_problem(f"{scheme}://{rest}/x")
    if problem is not None:
        raise ValueError(f"allowed base {base!r} is refused: {problem}")
    return f"{scheme}://{rest}"


def covers(base: str, uri: str) -> bool:
    """Whether ``uri`` is ``base`` or under it, on the text alone (configuration checks)."""
    scheme = uri_scheme(uri.rstrip("/"))
    if scheme is None:
        return False
    candidate = f"{scheme}://{uri.rstrip('/').split('://', 1)[1]}"
    return candidate == base or candidate.startswith(f"{base}/")


def confine(uri: str, bases: tuple[str, ...]) -> Target:
    """Check ``uri`` against the allow-list ``bases`` (normalized), without any I/O.

    Args:
        uri (`str`): the reference, as the producer sent it.
        bases (`tuple[str, ...]`): ``MediaLimits.allowed_uri_bases``, or the store's base.

    Returns:
        `Target`: what to read; a local target still needs ``resolve_local``.

    Raises:
        MediaUnreachableError: the text is refused, or the place is outside every base.
        ConfigurationError: the scheme's fsspec backend is not installed.
    """
    problem = reference_problem(uri)
    if problem is not None:
        raise MediaUnreachableError(f"image reference {uri!r} is refused: {problem}")
    try:
        filesystem = _filesystem_class(uri)
    except (ConfigurationError, MediaUnreachableError):
        # No backend for this scheme: a misconfiguration only if a base uses it, else just outside.
        if any(uri_scheme(base) == uri_scheme(uri) for base in bases):
            raise
        raise outside(uri) from None
    path: str = filesystem._strip_protocol(uri)
    for base in bases:
        try:
            if _filesystem_class(base) is not filesystem:
                continue
        except ConfigurationError:  # a base whose backend is missing holds nothing readable
            continue
        base_path = filesystem._strip_protocol(base).rstrip("/")
        if base_path and path.startswith(f"{base_path}/"):
            local = base_path if issubclass(filesystem, LocalFileSystem) else None
            return Target(path, local)
    raise outside(uri)


def resolve_local(uri: str, target: Target) -> str:
    """The real path of a confined local target; a symlink that leads out of its base is refused.

    This touches the filesystem (it resolves links), so it runs within the fetch deadline.
    """
    if target.local_base is None:
        return target.path
    real = os.path.realpath(target.path)
    real_base = os.path.realpath(target.local_base).rstrip(os.sep)
    if not real.startswith(f"{real_base}{os.sep}"):
        raise outside(uri)
    return real


def _filesystem_class(uri: str) -> Any:
    scheme = uri_scheme(uri)
    try:
        return fsspec.get_filesystem_class(scheme)
    except ImportError as exc:
        raise ConfigurationError(
            f"cannot read image from {uri!r}: the filesystem package is missing ({exc})"
        ) from exc
    except ValueError as exc:  # a scheme fsspec does not know
        raise MediaUnreachableError(f"image reference {uri!r} is refused: unknown scheme {scheme!r}") from exc

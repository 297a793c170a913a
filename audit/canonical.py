"""Canonical JSON (RFC 8785, the JSON Canonicalization Scheme) and the digests built on it.

Every digest and signature of the audit log is taken over JCS bytes, so a verifier in any
language with a JCS implementation gets the same bytes from the same JSON value. The
serialization itself is the ``rfc8785`` package (Trail of Bits); this module only adds
swerve's error and the one representation rule JCS forces on audit records:

- JCS is defined on I-JSON (RFC 7493): numbers are IEEE 754 doubles, so NaN and the
  infinities do not exist and integers beyond +/-(2^53 - 1) cannot be represented exactly.
  Events reach the audit record through their wire JSON, where pydantic already writes NaN
  and infinities as ``null``. Integers out of the exact range (a 64-bit seed, say) are
  written into the record as decimal strings, as RFC 7493 section 2.2 recommends
  (``ijson_record``). Anything else JCS refuses is a ``CanonicalizationError`` naming the
  JSON path of the value.

This module must never import faust, aiokafka or the stream wiring: the verification
script in docs/security.md reimplements it with the standard library and ``rfc8785``.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import rfc8785

from swerve.errors import CanonicalizationError

# RFC 7493 section 2.2: the integers an IEEE 754 double holds exactly.
IJSON_MAX_INTEGER = 2**53 - 1


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 (JCS) bytes of ``value``.

    Raises:
        CanonicalizationError: ``value`` holds something JCS cannot represent (NaN, an
            infinity, an integer beyond 2^53 - 1, a non-string key, a non-JSON type); the
            message names its JSON path.
    """
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        path = _first_unrepresentable(value, "$") or "$"
        raise CanonicalizationError(f"cannot canonicalize (RFC 8785) the value at {path}: {exc}") from exc


def canonical_sha256(value: Any) -> str:
    """Hex sha256 of the JCS bytes of ``value`` (the ``record_sha256`` of an audit event)."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def ijson_record(value: Any) -> Any:
    """A copy of the JSON value ``value`` in which integers beyond +/-(2^53 - 1) are decimal strings.

    Used once, where an audit record is built from published events' wire JSON (RFC 7493
    section 2.2), so the record is canonicalizable and its digest reproducible anywhere.
    """
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return str(value) if abs(value) > IJSON_MAX_INTEGER else value
    if isinstance(value, dict):
        return {key: ijson_record(item) for key, item in value.items()}
    if isinstance(value, list):
        return [ijson_record(item) for item in value]
    return value


def _first_unrepresentable(value: Any, path: str) -> str | None:
    """The JSON path of the first value JCS refuses, for the error message."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    if isinstance(value, int):
        return path if abs(value) > IJSON_MAX_INTEGER else None
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path}[{key!r}]"
            found = _first_unrepresentable(item, f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _first_unrepresentable(item, f"{path}[{index}]")
            if found:
                return found
        return None
    return path

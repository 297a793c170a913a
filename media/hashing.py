"""Content hashes of encoded images.

An image is identified by the sha256 of its encoded bytes, written as 64 lowercase hex
characters: that is the name it gets in the claim-check store, and the value a reader
checks before it trusts the bytes.
"""

from __future__ import annotations

import hashlib
from typing import Final

__all__ = ["SHA256_HEX_PATTERN", "sha256_hex"]

#: The only accepted spelling of a digest: 64 lowercase hex characters, nothing else.
SHA256_HEX_PATTERN: Final = r"^[0-9a-f]{64}$"


def sha256_hex(data: bytes) -> str:
    """Return the sha256 of ``data`` as 64 lowercase hex characters.

    Args:
        data (`bytes`): the encoded image bytes, exactly as stored or sent.
    """
    return hashlib.sha256(data).hexdigest()

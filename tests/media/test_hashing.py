"""Tests for swerve.media.hashing."""

from __future__ import annotations

import re

from swerve.media import sha256_hex
from swerve.media.hashing import SHA256_HEX_PATTERN


def test_given_known_bytes_when_hashed_then_the_standard_lowercase_digest() -> None:
    assert sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_given_any_bytes_when_hashed_then_the_digest_matches_the_accepted_pattern() -> None:
    assert re.fullmatch(SHA256_HEX_PATTERN, sha256_hex(b"\x00" * 1000))

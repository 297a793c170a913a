"""Tests for swerve.media.media_types: recognition by magic number."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from swerve.media.media_types import sniff_media_type

if TYPE_CHECKING:
    from tests.media.conftest import Build


@pytest.mark.parametrize(
    ("builder", "expected"),
    [
        ("png", "image/png"),
        ("jpeg", "image/jpeg"),
        ("webp", "image/webp"),
        ("gif", "image/gif"),
        ("bmp", "image/bmp"),
    ],
)
def test_given_an_encoded_image_when_sniffed_then_its_real_format(
    build: type[Build], builder: str, expected: str
) -> None:
    assert sniff_media_type(getattr(build, builder)()) == expected


@pytest.mark.parametrize("data", [b"", b"hello world", b"RIFF\x00\x00\x00\x00WAVE"])
def test_given_bytes_that_are_no_image_when_sniffed_then_none(data: bytes) -> None:
    assert sniff_media_type(data) is None

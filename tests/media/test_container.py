"""Tests for swerve.media.container: header sizes and completeness, without Pillow."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from PIL import Image
from swerve.errors import CorruptMediaError
from swerve.media.container import check_complete, declared_size

if TYPE_CHECKING:
    from tests.media.conftest import Build


def _formats(build: type[Build]) -> list[tuple[str, bytes]]:
    return [
        ("image/png", build.png(13, 7)),
        ("image/jpeg", build.jpeg(13, 7)),
        ("image/jpeg", build.jpeg(13, 7, progressive=True)),
        ("image/jpeg", build.encode(build.image(13, 7), "JPEG", exif=Image.Exif())),
        ("image/webp", build.webp(13, 7)),  # lossy: VP8
        ("image/webp", build.webp(13, 7, lossless=True)),  # VP8L
        ("image/webp", build.webp(13, 7, mode="RGBA", exif=b"Exif\x00\x00")),  # VP8X
    ]


def test_given_real_images_when_inspected_then_size_read_and_container_complete(
    build: type[Build],
) -> None:
    for media_type, data in _formats(build):
        assert declared_size(data, media_type) == (13, 7), media_type
        check_complete(data, media_type)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9, -1])
def test_given_a_truncated_image_when_checked_then_corrupt(build: type[Build], keep: float) -> None:
    for media_type, data in _formats(build):
        cut = len(data) - 1 if keep == -1 else int(len(data) * keep)
        with pytest.raises(CorruptMediaError, match=r"truncated|CRC|cut short|never ends"):
            check_complete(data[:cut], media_type)


def test_given_a_png_with_a_flipped_bit_when_checked_then_the_crc_names_the_chunk(
    build: type[Build],
) -> None:
    data = bytearray(build.png())
    data[len(data) // 2] ^= 0x01
    with pytest.raises(CorruptMediaError, match="CRC"):
        check_complete(bytes(data), "image/png")


def test_given_a_png_without_idat_when_checked_then_corrupt(build: type[Build]) -> None:
    data = (
        b"\x89PNG\r\n\x1a\n"
        + build.png_chunk(b"IHDR", b"\x00" * 13)
        + build.png_chunk(b"IEND", b"")
    )
    with pytest.raises(CorruptMediaError, match="without any IDAT"):
        check_complete(data, "image/png")


def test_given_bombs_when_their_size_is_read_then_the_declared_size_without_decoding(
    build: type[Build],
) -> None:
    assert declared_size(build.png_bomb(30000, 30000), "image/png") == (30000, 30000)
    assert declared_size(build.webp_bomb(16384, 16384), "image/webp") == (16384, 16384)
    assert declared_size(build.jpeg_bomb(60000, 50000), "image/jpeg") == (60000, 50000)


@pytest.mark.parametrize(
    ("media_type", "data"),
    [
        ("image/png", b"\x89PNG\r\n\x1a\n"),
        ("image/png", b"not a png at all"),
        ("image/jpeg", b"\xff\xd8\xff"),
        ("image/jpeg", b"\xff\xd8\xff\xd9"),
        ("image/webp", b"RIFF\x10\x00\x00\x00WEBPVP8 "),
    ],
)
def test_given_a_broken_header_when_its_size_is_read_then_corrupt(
    media_type: str, data: bytes
) -> None:
    with pytest.raises(CorruptMediaError):
        declared_size(data, media_type)


def test_given_a_zero_width_header_when_its_size_is_read_then_corrupt(build: type[Build]) -> None:
    with pytest.raises(CorruptMediaError, match="0x5"):
        declared_size(build.png_bomb(0, 5), "image/png")

"""Builders of test images for tests/media: real encodings made with Pillow, and hand-made
byte strings for what Pillow will not write (bombs, broken containers).

Tests get them through the ``build`` fixture; nothing here touches the network.
"""

from __future__ import annotations

import base64
import io
import struct
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import fsspec
import pytest
from PIL import Image
from swerve.media import ImageRef, ImageStore, sha256_hex


class Build:
    """Namespace of image builders."""

    @staticmethod
    def image(width: int = 8, height: int = 6, mode: str = "RGB") -> Image.Image:
        """A small image with distinct pixels, so lossless round trips can be compared."""
        rgb = Image.new("RGB", (width, height))
        rgb.putdata(
            [
                ((x * 37) % 256, (y * 53) % 256, (x * y) % 256)
                for y in range(height)
                for x in range(width)
            ]
        )
        return rgb if mode == "RGB" else rgb.convert(mode)

    @staticmethod
    def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, **options)
        return buffer.getvalue()

    @classmethod
    def png(cls, width: int = 8, height: int = 6, mode: str = "RGB") -> bytes:
        return cls.encode(cls.image(width, height, mode), "PNG")

    @classmethod
    def jpeg(cls, width: int = 8, height: int = 6, **options: Any) -> bytes:
        return cls.encode(cls.image(width, height), "JPEG", **options)

    @classmethod
    def webp(cls, width: int = 8, height: int = 6, mode: str = "RGB", **options: Any) -> bytes:
        return cls.encode(cls.image(width, height, mode), "WEBP", **options)

    @classmethod
    def gif(cls) -> bytes:
        return cls.encode(cls.image(), "GIF")

    @classmethod
    def bmp(cls) -> bytes:
        return cls.encode(cls.image(), "BMP")

    @staticmethod
    def png_chunk(chunk_type: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(chunk_type + payload)
        return struct.pack(">I", len(payload)) + chunk_type + payload + struct.pack(">I", crc)

    @classmethod
    def png_from_parts(cls, width: int, height: int, idat: bytes) -> bytes:
        """A well-formed PNG container (valid CRCs) around any IDAT payload, 1-bit grey."""
        ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + cls.png_chunk(b"IHDR", ihdr)
            + cls.png_chunk(b"IDAT", idat)
            + cls.png_chunk(b"IEND", b"")
        )

    @classmethod
    def png_bomb(cls, width: int = 30000, height: int = 30000) -> bytes:
        """A PNG of a few dozen bytes whose header declares width x height pixels."""
        return cls.png_from_parts(width, height, zlib.compress(b"\x00"))

    @classmethod
    def webp_bomb(cls, width: int = 16384, height: int = 16384) -> bytes:
        """A WebP whose VP8X header declares a huge canvas around a real 1x1 image."""
        tiny = cls.webp(1, 1, lossless=True)
        image_chunk = tiny[12:]  # the VP8L chunk of a simple-format WebP
        vp8x = (
            b"VP8X"
            + struct.pack("<I", 10)
            + b"\x00\x00\x00\x00"
            + ((width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little"))
        )
        body = b"WEBP" + vp8x + image_chunk
        return b"RIFF" + struct.pack("<I", len(body)) + body

    @classmethod
    def jpeg_bomb(cls, width: int = 60000, height: int = 60000) -> bytes:
        """A real small JPEG whose frame header (SOF0) is patched to declare a huge size."""
        data = bytearray(cls.jpeg())
        sof = data.find(b"\xff\xc0")
        struct.pack_into(">HH", data, sof + 5, height, width)
        return bytes(data)

    @staticmethod
    def ref(encoded: bytes, /, **overrides: Any) -> ImageRef:
        """An inline ImageRef for ``encoded``; override any field to make it lie."""
        with Image.open(io.BytesIO(encoded)) as image:
            width, height = image.size
            media_type = Image.MIME.get(image.format or "", "image/png")
        fields: dict[str, Any] = {
            "media_type": media_type,
            "sha256": sha256_hex(encoded),
            "width": width,
            "height": height,
            "data": base64.b64encode(encoded),
        }
        fields.update(overrides)
        return ImageRef(**fields)


@pytest.fixture
def build() -> type[Build]:
    return Build


@pytest.fixture
def memory_store() -> Iterator[ImageStore]:
    """A claim-check store in fsspec's process-wide memory filesystem, emptied afterwards."""
    base = f"memory://swerve-test-{uuid.uuid4().hex}"
    yield ImageStore(base)
    fs = fsspec.filesystem("memory")
    root = base.removeprefix("memory:/")
    if fs.exists(root):
        fs.rm(root, recursive=True)


@pytest.fixture
def file_store(tmp_path: Any) -> ImageStore:
    """A claim-check store in a real local directory, through a file:// URI."""
    return ImageStore((tmp_path / "images").as_uri())

"""Small builders shared by the streams unit tests."""

from __future__ import annotations

import io

from PIL import Image


def tiny_png(colour: tuple[int, int, int] = (200, 20, 20), size: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="PNG")
    return buffer.getvalue()

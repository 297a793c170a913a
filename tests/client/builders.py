"""Builders of images and delivery events for the SDK's tests: seeded, tiny, no broker."""

from __future__ import annotations

import io
import random
from typing import Any

from PIL import Image

from swerve.media import ImageRef
from swerve.streams.events import DeliveryEvent
from swerve.streams.ids import derive_id


def png(seed: int, size: int = 8) -> bytes:
    """A seeded noise PNG: distinct bytes per seed, and large for its size (PNG cannot compress noise)."""
    rng = random.Random(seed)
    image = Image.new("RGB", (size, size))
    image.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(size * size)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def delivery(request_id: str, outcome: str = "original", *, image: ImageRef | None = None, **fields: Any) -> DeliveryEvent:
    """The delivery a worker would publish for ``request_id`` (first attempt ids)."""
    generation_id = derive_id(request_id, "generation")
    base: dict[str, Any] = {
        "id": derive_id(generation_id, "delivery"),
        "request_id": request_id,
        "generation_id": generation_id,
        "outcome": outcome,
        "image": image,
        "verdict_id": derive_id(generation_id, "verdict"),
        "policy_version": "test-1",
    }
    return DeliveryEvent(**{**base, **fields})

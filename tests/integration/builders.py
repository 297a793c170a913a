"""Builders of generation events and policies for the integration tests."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from swerve.media import ImageRef
from swerve.streams.events import GenerationEvent
from swerve.streams.ids import derive_id


def png_bytes(index: int, size: int = 8) -> bytes:
    """A small PNG whose colour encodes ``index``, so every index gives distinct bytes.

    A white stripe on the left makes it asymmetric, so the testing mirror corrector changes it.
    """
    colour = (index % 251, (index // 251) % 251, (index * 7) % 253)
    image = Image.new("RGB", (size, size), colour)
    image.paste((255, 255, 255), (0, 0, max(1, size // 4), size))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def generation(index: int, run: str, tenant: str = "default") -> GenerationEvent:
    request_id = f"{run}-req-{index:05d}"
    return GenerationEvent(
        id=derive_id(request_id, "generation"),
        request_id=request_id,
        tenant=tenant,
        prompt=f"test image {index}",
        seed=index,
        image=ImageRef.from_bytes(png_bytes(index)),
    )


def blocklist_policy(path: Path, blocked_digests: list[str], *, fail_attempts: int = 0) -> Path:
    """A policy that flags the given digests and corrects them with the testing mirror."""
    digests = "\n".join(f"          - {d}" for d in blocked_digests) or "          []"
    path.write_text(
        f"""version: "it-1"
on_detector_error: block
detectors:
  - name: takedowns
    kind: hash_blocklist
    on_flag: correct
    corrector: mirror
    params:
        digests:
{digests}
correctors:
  - name: mirror
    kind: testing.mirror
    params: {{fail_attempts: {fail_attempts}}}
max_attempts: 3
""",
        encoding="utf-8",
    )
    return path

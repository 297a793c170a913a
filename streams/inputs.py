"""Decoding of agent inputs: envelope, contract, then the image, each bounded.

Every failure here is an ``InvalidInputError`` (malformed, schema, media), which the agent
routes to the DLQ with its reason, except ``StoreUnavailableError``: the image store did not
answer, and the batch is retried instead.
"""

from __future__ import annotations

from typing import Sequence

from PIL import Image

from swerve.errors import InvalidInputError
from swerve.media import ImageStore, MediaLimits, decode_image
from swerve.streams.detect_stage import DecodedGeneration
from swerve.streams.envelope import decode
from swerve.streams.events import FlaggedEvent, GenerationEvent


def decode_generation(
    value: bytes | None, headers: Sequence[tuple[str, bytes]], limits: MediaLimits, store: ImageStore | None = None
) -> DecodedGeneration:
    """A generation event with its image decoded and checked against its declared digest."""
    event = decode(value, headers, GenerationEvent)
    assert isinstance(event, GenerationEvent)
    try:
        image = decode_image(event.image, limits, store)
    except InvalidInputError as exc:
        exc.event_id = exc.event_id or event.id
        raise
    return DecodedGeneration(event, image)


def decode_flagged(
    value: bytes | None, headers: Sequence[tuple[str, bytes]], limits: MediaLimits, store: ImageStore | None = None
) -> tuple[FlaggedEvent, Image.Image]:
    """A flagged event with the original generation's image decoded."""
    event = decode(value, headers, FlaggedEvent)
    assert isinstance(event, FlaggedEvent)
    try:
        image = decode_image(event.generation.image, limits, store)
    except InvalidInputError as exc:
        exc.event_id = exc.event_id or event.id
        raise
    return event, image

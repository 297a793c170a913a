"""Decoding of agent inputs: envelope, contract, then the image, each bounded.

Every failure here is an ``InvalidInputError`` (malformed, schema, media), which the agent
routes to the DLQ with its reason, except ``StoreUnavailableError``: the image store did not
answer, and the batch is retried instead. Failed store reads are counted
(``swerve_store_failures_total{operation="get"}``).
"""

from __future__ import annotations

from typing import Sequence

from PIL import Image

from swerve.errors import InvalidInputError
from swerve.media import ImageStore, MediaLimits, decode_image
from swerve.streams.detect_stage import DecodedGeneration
from swerve.streams.envelope import decode
from swerve.streams.events import FlaggedEvent, GenerationEvent, PromptEvent
from swerve.streams.metrics import counting_store_failures
from swerve.streams.tenant_rules import bind_tenant


def decode_generation(
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    limits: MediaLimits,
    store: ImageStore | None = None,
    pinned_tenant: str | None = None,
) -> DecodedGeneration:
    """A generation event, bound to the worker's tenant, with its image decoded and checked against its digest."""
    event = decode(value, headers, GenerationEvent)
    assert isinstance(event, GenerationEvent)
    event = bind_tenant(event, pinned_tenant)
    try:
        with counting_store_failures("get"):
            image = decode_image(event.image, limits, store)
    except InvalidInputError as exc:
        exc.event_id = exc.event_id or event.id
        raise
    return DecodedGeneration(event, image)


def decode_prompt(value: bytes | None, headers: Sequence[tuple[str, bytes]], pinned_tenant: str | None = None) -> PromptEvent:
    """A prompt event, bound to the worker's tenant."""
    event = decode(value, headers, PromptEvent)
    assert isinstance(event, PromptEvent)
    return bind_tenant(event, pinned_tenant)


def decode_flagged(
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    limits: MediaLimits,
    store: ImageStore | None = None,
    pinned_tenant: str | None = None,
) -> tuple[FlaggedEvent, Image.Image]:
    """A flagged event, bound to the worker's tenant, with the original generation's image decoded."""
    event = decode(value, headers, FlaggedEvent)
    assert isinstance(event, FlaggedEvent)
    event = bind_tenant(event, pinned_tenant)
    event = event.model_copy(update={"generation": bind_tenant(event.generation, pinned_tenant)})
    try:
        with counting_store_failures("get"):
            image = decode_image(event.generation.image, limits, store)
    except InvalidInputError as exc:
        exc.event_id = exc.event_id or event.id
        raise
    return event, image

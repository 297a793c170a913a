"""``ModerationRequest``: one image to moderate, and the ``GenerationEvent`` it becomes.

The request id is the Kafka key and the correlation key of the outcome; one is generated
(uuid4) when the caller gives none. The event id derives from it,
``derive_id(request_id, "generation")``, as ``swerve submit`` does, so publishing the same
request twice publishes the same event, which the workers and the delivery topic dedupe.

Inputs are checked here, before anything is published: a request that breaks the event
contract is a ``SchemaViolationError`` naming the field, never a silent fix.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields, replace
from typing import Any, Mapping

from pydantic import ValidationError

from swerve.errors import SchemaViolationError
from swerve.media import ImageStore, MediaLimits
from swerve.streams.events import GenerationEvent
from swerve.streams.ids import derive_id

from swerve.client.image_input import ImageInput, image_ref

__all__ = ["ModerationRequest", "generation_event"]


@dataclass(frozen=True)
class ModerationRequest:
    """One generated image to moderate, as ``Swerve.moderate_many`` takes it.

    Args:
        image (`PIL.Image.Image | bytes | ImageRef | str`): the generated image (see
            ``Swerve.moderate``).
        prompt (`str`): the prompt that produced it.
        seed (`int`, *optional*): the generator's seed, 0..2^63-1.
        tenant (`str`, *optional*, defaults to ``"default"``): whose rules judge it (a claim
            unless the worker is pinned, docs/security.md, "Tenants").
        negative_prompt (`str`, *optional*): the negative prompt, if any.
        model_id (`str`, *optional*): the generator that made the image.
        request_id (`str`, *optional*): the request's id; a uuid4 when not given.
    """

    image: ImageInput
    prompt: str
    seed: int | None = None
    tenant: str | None = None
    negative_prompt: str | None = None
    model_id: str | None = None
    request_id: str | None = None

    @classmethod
    def of(cls, item: ModerationRequest | Mapping[str, Any]) -> ModerationRequest:
        """``item`` itself, or a request built from a mapping with the same keys.

        Raises:
            TypeError: a key is not a field of ``ModerationRequest``, or ``image`` or
                ``prompt`` is missing.
        """
        if isinstance(item, ModerationRequest):
            return item
        unknown = set(item) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown moderation request keys: {', '.join(sorted(unknown))}")
        return cls(**item)

    def with_request_id(self) -> ModerationRequest:
        """This request with its request id set: the given one, else a new uuid4."""
        return self if self.request_id is not None else replace(self, request_id=str(uuid.uuid4()))


def generation_event(request: ModerationRequest, *, limits: MediaLimits, store: ImageStore | None) -> GenerationEvent:
    """The generation event that publishes ``request`` (blocking I/O: the store, a URI image).

    Args:
        request (`ModerationRequest`): with its request id set (``with_request_id``).
        limits (`MediaLimits`): bounds of the image, and the inline threshold.
        store (`ImageStore`, *optional*): where an image over the inline threshold goes.

    Raises:
        ValueError: the request has no request id.
        SchemaViolationError: a field breaks the event contract (prompt too long, seed out of
            range, tenant not a safe name, ...); the message names it.
        TypeError, ValueError, MediaError, StoreUnavailableError: the image (see ``image_ref``).
    """
    if request.request_id is None:
        raise ValueError("generation_event needs a request id; call with_request_id() first")
    if not isinstance(request.prompt, str):
        raise TypeError(f"prompt must be a string, got {type(request.prompt).__name__}")
    ref = image_ref(request.image, limits=limits, store=store, tenant=request.tenant)
    fields_: dict[str, Any] = {
        "id": derive_id(request.request_id, "generation"),
        "request_id": request.request_id,
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "seed": request.seed,
        "model_id": request.model_id,
        "image": ref,
    }
    if request.tenant is not None:
        fields_["tenant"] = request.tenant
    try:
        return GenerationEvent(**fields_)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()[:5])
        raise SchemaViolationError(f"request {request.request_id!r} is not a valid generation: {problems}") from exc

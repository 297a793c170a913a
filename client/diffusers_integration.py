"""Moderating a diffusers pipeline's output: ``pipe(...).images`` with their prompts and seeds.

::

    pipe = StableDiffusionPipeline.from_pretrained(model_dir)
    seeds = [0, 1, 2, 3]
    images = pipe(prompts, generator=[torch.Generator().manual_seed(s) for s in seeds]).images
    outcomes = moderate_pipeline_output(moderator, images, prompts, seeds)   # Moderator or SwerveSync
    delivered = delivered_images(outcomes)         # the original, its replacement, or None if blocked

Every image becomes one request and gets its own result, in order: a flagged or blocked image
is an outcome like any other and never fails its batch-mates. Through a ``Moderator`` (in
process) every result is an ``Outcome``; through ``SwerveSync`` or ``Swerve`` (Kafka) an item
whose outcome did not come in time is its ``ModerationTimeoutError`` instead, as in
``moderate_many``. ``moderate_pipeline_output_async`` is the variant for the async ``Swerve``.

This module must never import diffusers or torch: it takes the images a pipeline returned,
so using swerve does not require diffusers.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, overload

from PIL import Image

from swerve.errors import SwerveError

from swerve.client.async_client import Swerve
from swerve.client.moderator import Moderator
from swerve.client.outcome import Outcome
from swerve.client.request import ModerationRequest
from swerve.client.sync_client import SwerveSync

__all__ = [
    "PipelineOutput",
    "delivered_images",
    "moderate_pipeline_output",
    "moderate_pipeline_output_async",
    "pipeline_requests",
]


class PipelineOutput(Protocol):
    """What a diffusers image pipeline returns (``StableDiffusionPipelineOutput`` and the like)."""

    @property
    def images(self) -> Sequence[Any]: ...


def delivered_images(results: Sequence[Outcome | SwerveError]) -> list[Image.Image | None]:
    """The image each result delivers, decoded: the original or its replacement.

    None where nothing may be shown: a blocked or rejected outcome, or an error in place of an
    outcome (a timeout over Kafka; the caller still holds it in ``results``).

    Raises:
        MediaError: a delivered image is outside the outcome's media limits.
    """
    return [result.pil() if isinstance(result, Outcome) else None for result in results]


def pipeline_requests(
    images: Sequence[Image.Image] | PipelineOutput,
    prompts: str | Sequence[str],
    seeds: Sequence[int | None] | None = None,
    *,
    negative_prompts: str | Sequence[str | None] | None = None,
    tenant: str | None = None,
    model_id: str | None = None,
    request_ids: Sequence[str | None] | None = None,
) -> list[ModerationRequest]:
    """One ``ModerationRequest`` per image, checked up front.

    A pipeline called with ``num_images_per_prompt=n`` returns ``n`` images per prompt, prompt
    by prompt; ``prompts`` (and ``negative_prompts``) may therefore be one string for every
    image, one per image, or one per ``n`` consecutive images. ``seeds`` and ``request_ids``
    are one per image.

    Raises:
        TypeError: ``images`` is not a sequence of PIL images (e.g. ``output_type="np"``).
        ValueError: the lengths do not fit together.
    """
    found: object = images if isinstance(images, Sequence) else getattr(images, "images", images)
    if isinstance(found, (str, bytes)) or not isinstance(found, Sequence):
        raise TypeError(f"images must be a pipeline's output or a list of PIL images, got {type(found).__name__}")
    for position, image in enumerate(found):
        if not isinstance(image, Image.Image):
            raise TypeError(f"image {position} is a {type(image).__name__}, not a PIL image: call the pipeline with "
                            "output_type='pil' (the default)")
    count = len(found)
    prompt_per_image = _per_image("prompts", prompts, count)
    negatives = _per_image("negative_prompts", negative_prompts, count) if negative_prompts is not None else [None] * count
    for name, given in (("seeds", seeds), ("request_ids", request_ids)):
        if given is not None and (isinstance(given, str) or len(given) != count):
            raise ValueError(f"{name} must have one entry per image ({count}), got {given!r}")
    return [
        ModerationRequest(
            image=image, prompt=prompt, seed=seeds[i] if seeds is not None else None, tenant=tenant,
            negative_prompt=negative, model_id=model_id, request_id=request_ids[i] if request_ids is not None else None,
        )
        for i, (image, prompt, negative) in enumerate(zip(found, prompt_per_image, negatives))
    ]


def _per_image(name: str, given: str | Sequence[str | None], count: int) -> list[Any]:
    """``given`` spread over ``count`` images: one for all, one per image, or one per equal run of images."""
    if isinstance(given, str):
        return [given] * count
    if not given or count % len(given):
        raise ValueError(f"{name} must be one string, or one per image, or one per equal number of images "
                         f"(num_images_per_prompt): got {len(given)} for {count} images")
    per_prompt = count // len(given)
    return [item for item in given for _ in range(per_prompt)]


@overload
def moderate_pipeline_output(
    moderator: Moderator, images: Sequence[Image.Image] | PipelineOutput, prompts: str | Sequence[str],
    seeds: Sequence[int | None] | None = None, *, negative_prompts: str | Sequence[str | None] | None = None,
    tenant: str | None = None, model_id: str | None = None, request_ids: Sequence[str | None] | None = None,
    timeout: float | None = None,
) -> list[Outcome]: ...


@overload
def moderate_pipeline_output(
    moderator: SwerveSync, images: Sequence[Image.Image] | PipelineOutput, prompts: str | Sequence[str],
    seeds: Sequence[int | None] | None = None, *, negative_prompts: str | Sequence[str | None] | None = None,
    tenant: str | None = None, model_id: str | None = None, request_ids: Sequence[str | None] | None = None,
    timeout: float | None = None,
) -> list[Outcome | SwerveError]: ...


def moderate_pipeline_output(
    moderator: Moderator | SwerveSync,
    images: Sequence[Image.Image] | PipelineOutput,
    prompts: str | Sequence[str],
    seeds: Sequence[int | None] | None = None,
    *,
    negative_prompts: str | Sequence[str | None] | None = None,
    tenant: str | None = None,
    model_id: str | None = None,
    request_ids: Sequence[str | None] | None = None,
    timeout: float | None = None,
) -> list[Outcome] | list[Outcome | SwerveError]:
    """Moderate every image a pipeline returned; one result per image, in order.

    Args:
        moderator (`Moderator | SwerveSync`): in process (one detect batch for all images),
            or through a running deployment over Kafka (``moderate_many``). For the async
            ``Swerve``, use ``moderate_pipeline_output_async``.
        images (`list[PIL.Image.Image]` or the pipeline's output): ``pipe(...).images``, or
            ``pipe(...)`` itself.
        prompts (`str | list[str]`): the prompt(s) the pipeline was called with (see
            ``pipeline_requests`` for ``num_images_per_prompt``).
        seeds (`list[int]`, *optional*): each image's seed, the one its ``torch.Generator``
            was seeded with; a corrector regenerates from it (else from the request id).
        negative_prompts (`str | list[str]`, *optional*): as ``prompts``.
        tenant (`str`, *optional*): whose rules judge every image.
        model_id (`str`, *optional*): the generator that made them.
        request_ids (`list[str]`, *optional*): one per image; uuid4s when not given.
        timeout (`float`, *optional*): for a Kafka client, seconds to wait for all outcomes
            (its default, 30, when not given); not accepted with a ``Moderator``.

    Returns:
        `list[Outcome]` through a ``Moderator``; through ``SwerveSync``, each item's
        ``Outcome`` or the ``SwerveError`` that kept it from one (``moderate_many``).

    Raises:
        TypeError, ValueError: the images, prompts or seeds do not fit together, or
            ``moderator`` is not a ``Moderator`` or ``SwerveSync``.
        SchemaViolationError, MediaError, ...: an item is invalid (``moderate_many``);
            nothing was judged or published.
    """
    requests = pipeline_requests(images, prompts, seeds, negative_prompts=negative_prompts, tenant=tenant,
                                 model_id=model_id, request_ids=request_ids)
    if isinstance(moderator, Moderator):
        if timeout is not None:
            raise ValueError("timeout applies to a Kafka client (SwerveSync, Swerve); a Moderator runs in this call")
        return moderator.moderate_many(requests)
    if isinstance(moderator, SwerveSync):
        return moderator.moderate_many(requests, **({"timeout": timeout} if timeout is not None else {}))
    if isinstance(moderator, Swerve):
        raise TypeError("Swerve is asynchronous: await moderate_pipeline_output_async(swerve, ...) instead")
    raise TypeError(f"moderator must be a Moderator or a SwerveSync, got {type(moderator).__name__}")


async def moderate_pipeline_output_async(
    client: Swerve,
    images: Sequence[Image.Image] | PipelineOutput,
    prompts: str | Sequence[str],
    seeds: Sequence[int | None] | None = None,
    *,
    negative_prompts: str | Sequence[str | None] | None = None,
    tenant: str | None = None,
    model_id: str | None = None,
    request_ids: Sequence[str | None] | None = None,
    timeout: float = 30.0,
) -> list[Outcome | SwerveError]:
    """``moderate_pipeline_output`` through the async ``Swerve``: same arguments and results.

    ``Swerve.moderate_many`` publishes every image and waits for all their outcomes (one
    ``timeout`` for the batch); each item is its ``Outcome`` or the ``SwerveError`` that kept
    it from one.
    """
    if not isinstance(client, Swerve):
        raise TypeError(f"client must be a Swerve, got {type(client).__name__}; "
                        "use moderate_pipeline_output for a Moderator or a SwerveSync")
    requests = pipeline_requests(images, prompts, seeds, negative_prompts=negative_prompts, tenant=tenant,
                                 model_id=model_id, request_ids=request_ids)
    return await client.moderate_many(requests, timeout=timeout)

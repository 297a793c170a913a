"""swerve.client: the Python SDK for platforms that put swerve in front of their delivery.

A platform hands each generated image to ``moderate`` and gets back its one ``Outcome``:
the original, a replacement, a block, or a rejection. The SDK publishes the generation
event (CloudEvents, keyed by request id, the image inline or through the image store) and
reads ``<prefix>.delivery`` for the answer, deduped by event id.

::

    async with Swerve(settings) as swerve:                 # one producer, one delivery consumer
        outcome = await swerve.moderate(image, prompt="a red star", seed=7)
        outcomes = await swerve.moderate_many([{"image": a, "prompt": "..."}, ...])
        later = await swerve.outcome(request_id)           # after a ModerationTimeoutError

    with SwerveSync(settings) as swerve:                   # the same, blocking (scripts, Jupyter)
        outcome = swerve.moderate(image, prompt="a red star", seed=7)

    moderator = Moderator.from_policy("policy.yaml")       # in process, no broker: the workers'
    outcome = moderator.moderate(image, prompt="a red star", seed=7)   # stages, a local audit ledger

    outcomes = moderate_pipeline_output(moderator, pipe(prompts).images, prompts, seeds)  # diffusers

``swerve.streams.topic_io`` is the CLI's and tests' internal helper, not this API. ``Swerve``
and ``SwerveSync`` talk to the broker and the image store only and never run detectors or
models; ``Moderator`` runs the workers' detect and correct stages in this process.
"""

from __future__ import annotations

from swerve.errors import ModerationTimeoutError
from swerve.client.async_client import Swerve
from swerve.client.correlation import DEFAULT_CAPACITY
from swerve.client.diffusers_integration import (
    delivered_images,
    moderate_pipeline_output,
    moderate_pipeline_output_async,
)
from swerve.client.image_input import ImageInput
from swerve.client.moderator import Moderator
from swerve.client.outcome import Outcome
from swerve.client.request import ModerationRequest
from swerve.client.sync_client import SwerveSync

__all__ = [
    "DEFAULT_CAPACITY",
    "ImageInput",
    "ModerationRequest",
    "ModerationTimeoutError",
    "Moderator",
    "Outcome",
    "Swerve",
    "SwerveSync",
    "delivered_images",
    "moderate_pipeline_output",
    "moderate_pipeline_output_async",
]

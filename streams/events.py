"""The event contracts: one pydantic model per topic body (DESIGN.md, "Contracts").

Every model has a ``schema_version`` and an exported JSON Schema under ``streams/schemas``.
``tests/streams/test_schema_compat.py`` fails when a field is removed or changes type, so a
consumer written against an older schema keeps working. Add fields as optional; never
rename or retype one without a new ``schema_version`` and a migration note.

Readers are forward compatible: a field this version does not know is ignored (``extra``
is ``"ignore"``), so a newer producer never breaks an older worker. Types and required
fields stay strict.

This module holds data only: no broker, no I/O.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from swerve.media import ImageRef


# Seeds are signed 64-bit on every generator stack (torch.Generator.manual_seed, numpy);
# a larger one would fail deep inside a corrector instead of at the door.
SEED_MAX = 2**63 - 1

# The most correction attempts a policy may allow (Policy.max_attempts), so the most an event can count.
MAX_ATTEMPTS = 10


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class SwerveEvent(BaseModel):
    """Common shape: a deterministic ``id`` and the ``request_id`` every event is keyed by."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    ce_type: ClassVar[str]

    schema_version: Literal[1] = 1
    id: str = Field(min_length=1, max_length=128, description="Unique, deterministic event id.")
    request_id: str = Field(min_length=1, max_length=128, description="Kafka key; one request keeps its order.")
    tenant: str = Field(
        default="default",
        min_length=1,
        max_length=64,
        # A tenant names a folder of the image store and a policy key: a safe path segment only.
        pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$",
    )
    created_at: datetime = Field(default_factory=utc_now)


class GenerationEvent(SwerveEvent):
    """A generated image as the platform's generator produced it (``swerve.generations``)."""

    ce_type: ClassVar[str] = "dev.swerve.generation.v1"

    prompt: str = Field(max_length=4096)
    negative_prompt: str | None = Field(default=None, max_length=4096)
    seed: int | None = Field(default=None, ge=0, le=SEED_MAX, description="The generator's seed, 0..2^63-1.")
    model_id: str | None = Field(default=None, description="The generator that made the image.")
    image: ImageRef


class DetectorScore(BaseModel):
    """One detector's result inside a verdict, with enough evidence for an auditor."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    detector: str
    version: str
    status: Literal["ok", "error"]
    value: float | None = None
    threshold: float | None = None
    flagged: bool = False
    action: Literal["pass", "correct", "review", "block"] = "pass"
    evidence: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


# review: held for a person (``<prefix>.review``); no delivery until a decision or the timeout.
Decision = Literal["pass", "correct", "review", "block"]


class VerdictEvent(SwerveEvent):
    """What the detectors found and what the policy decided (``swerve.verdicts``)."""

    ce_type: ClassVar[str] = "dev.swerve.verdict.v1"

    generation_id: str
    image_sha256: str
    decision: Decision
    reasons: list[str] = Field(default_factory=list, description="Why, one line per firing or failing detector.")
    scores: list[DetectorScore]
    policy_version: str
    index_version: str | None = None
    attempt: int = Field(default=0, ge=0, le=MAX_ATTEMPTS, description="0 for the original, N for the N-th correction.")


class FlaggedEvent(SwerveEvent):
    """A generation the policy sent to correction, with the verdict that flagged it (``swerve.flagged``)."""

    ce_type: ClassVar[str] = "dev.swerve.flagged.v1"

    generation: GenerationEvent
    verdict: VerdictEvent


class ReplacementEvent(SwerveEvent):
    """A corrected image that passed re-verification (``swerve.replacements``)."""

    ce_type: ClassVar[str] = "dev.swerve.replacement.v1"

    generation_id: str
    original_sha256: str
    image: ImageRef
    method: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    attempts: int = Field(ge=1, le=MAX_ATTEMPTS)
    verification: VerdictEvent
    model_id: str | None = None


DeliveryOutcome = Literal["original", "replacement", "blocked", "rejected"]

# Why a request was not delivered as generated or corrected (docs/reliability.md):
# policy: a detector fired (or failed, under on_detector_error) and the policy blocked;
# infrastructure: resources ran out (GPU memory), not a verdict on the image;
# internal: a bug on this sample, failed closed;
# invalid_input: the message could not be decoded or broke the contract (dead-lettered);
# review: a person decided (or the review timeout did), on any outcome a review decision makes.
ReasonClass = Literal["policy", "infrastructure", "internal", "invalid_input", "review"]


class DeadLetterPosition(BaseModel):
    """Where a rejected message's dead letter is: redrive it from there once fixed."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)


class DeliveryEvent(SwerveEvent):
    """The one final outcome of a request (``swerve.delivery``). Dedupe by ``id``.

    ``rejected`` (input that could not be decoded, dead-lettered) has empty ``generation_id``
    and ``verdict_id`` when they could not be read, and names its ``dead_letter``.
    """

    ce_type: ClassVar[str] = "dev.swerve.delivery.v1"

    generation_id: str
    outcome: DeliveryOutcome
    image: ImageRef | None = Field(default=None, description="Absent when blocked or rejected.")
    reason: str | None = Field(default=None, description="Why it was blocked, rejected or replaced.")
    verdict_id: str
    replacement_id: str | None = None
    policy_version: str
    reason_class: ReasonClass | None = Field(
        default=None,
        description="For blocked and rejected: policy, infrastructure, internal or invalid_input; review for any outcome a review decision made.",
    )
    dead_letter: DeadLetterPosition | None = Field(default=None, description="For rejected: the dead letter's position.")


class AuditEvent(SwerveEvent):
    """One decision, as compliance reads it (``swerve.audit``).

    ``record_sha256`` is the sha256 of the RFC 8785 canonical JSON of ``record``
    (``swerve.audit.canonical``). A worker with a signing key sets ``key_id`` and an Ed25519
    ``signature`` over the canonical JSON of this body without ``signature``
    (``swerve.audit.signing``); the audit ledger admits only events signed by trusted keys.
    """

    ce_type: ClassVar[str] = "dev.swerve.audit.v1"

    stage: Literal["detect", "correct", "screen", "review"]
    decision: str
    subject_id: str = Field(description="The event this decision is about.")
    output_ids: list[str] = Field(default_factory=list, description="Events published for this decision.")
    record: dict[str, Any]
    record_sha256: str
    key_id: str | None = Field(default=None, description="Hex sha256 of the signing Ed25519 public key.")
    signature: str | None = Field(default=None, description="Base64 Ed25519 signature of the RFC 8785 JSON of this body without `signature`.")


class ReviewCandidate(BaseModel):
    """The best replacement a correction made for an item under review, though it did not clear.

    "Best" is the candidate whose re-verification had the fewest firing or failing detectors,
    the latest attempt among equals (``streams/review_routing.py``).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    image: ImageRef
    verdict: VerdictEvent = Field(description="Its re-verification: every detector's score on the candidate.")
    attempt: int = Field(ge=1, le=MAX_ATTEMPTS)
    method: str
    parameters: dict[str, Any] = Field(default_factory=dict)


# Why a request waits for a person: a detector's ``on_flag: review``, or corrections that ran out
# under ``on_exhausted: review``.
ReviewRoute = Literal["on_flag", "on_exhausted"]

# What a reviewer (or the review timeout) may decide.
ReviewVerdict = Literal["approve_original", "approve_replacement", "block"]


class ReviewItemEvent(SwerveEvent):
    """A request held for a person to decide (``swerve.review``). No delivery is published for
    it until a decision on ``swerve.review.decisions`` (or the timeout) settles it."""

    ce_type: ClassVar[str] = "dev.swerve.review_item.v1"

    route: ReviewRoute
    generation: GenerationEvent = Field(description="The original: image, prompt, seed, model id, tenant.")
    verdict: VerdictEvent = Field(description="The verdict on the original: every detector's score and reason.")
    candidate: ReviewCandidate | None = Field(default=None, description="The best replacement candidate, when corrections made one.")
    correction_reasons: str | None = Field(default=None, description="Why corrections gave up, one clause per attempt (on_exhausted).")
    policy_version: str
    waiting_since: datetime
    deadline: datetime = Field(description="When the review timeout resolves it to timeout_decision.")
    timeout_decision: Literal["block"] = "block"


class ReviewDecisionEvent(SwerveEvent):
    """A reviewer's decision on one review item (``swerve.review.decisions``). The first valid
    decision of a request in the log wins; ``created_at`` is when it was decided."""

    ce_type: ClassVar[str] = "dev.swerve.review_decision.v1"

    item_id: str = Field(min_length=1, max_length=128, description="The review item decided on (its event id).")
    decision: ReviewVerdict
    reviewer: str = Field(min_length=1, max_length=256, description="Who decided, as the publisher names them.")
    note: str = Field(default="", max_length=4096)


class PromptEvent(SwerveEvent):
    """A prompt before generation, for prompt-level screening (``swerve.prompts``)."""

    ce_type: ClassVar[str] = "dev.swerve.prompt.v1"

    prompt: str = Field(max_length=4096)
    negative_prompt: str | None = Field(default=None, max_length=4096)
    seed: int | None = Field(default=None, ge=0, le=SEED_MAX, description="The generator's seed, 0..2^63-1.")
    model_id: str | None = None


class TokenAttributionRecord(BaseModel):
    """How much one prompt token drives a prompt detector's score."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    token: str
    position: int
    weight: float


class ScreenedPromptEvent(SwerveEvent):
    """The screening verdict on a prompt (``swerve.prompts.screened``).

    ``decision`` tells the generator what to do: ``pass`` (generate as usual), ``correct``
    (generate with mitigation, e.g. prompt-embedding mitigation) or ``block``.
    """

    ce_type: ClassVar[str] = "dev.swerve.prompt_screened.v1"

    prompt_id: str
    prompt: str
    decision: Decision
    reasons: list[str] = Field(default_factory=list)
    scores: list[DetectorScore]
    attributions: list[TokenAttributionRecord] = Field(default_factory=list, description="Per-token attribution when a detector explains itself.")
    policy_version: str


EVENT_TYPES: dict[str, type[SwerveEvent]] = {
    model.ce_type: model
    for model in (
        GenerationEvent, VerdictEvent, FlaggedEvent, ReplacementEvent, DeliveryEvent, AuditEvent, PromptEvent, ScreenedPromptEvent,
        ReviewItemEvent, ReviewDecisionEvent,
    )
}

# Which model each topic carries, by short topic name (see TopicNames).
TOPIC_EVENTS: dict[str, type[SwerveEvent]] = {
    "generations": GenerationEvent,
    "verdicts": VerdictEvent,
    "flagged": FlaggedEvent,
    "replacements": ReplacementEvent,
    "review": ReviewItemEvent,
    "review_decisions": ReviewDecisionEvent,
    "delivery": DeliveryEvent,
    "audit": AuditEvent,
    "prompts": PromptEvent,
    "prompts_screened": ScreenedPromptEvent,
}

"""What the gateway answers: an outcome (200), a pending request (202), or a problem.

``ModerationOutcome`` carries the SDK's ``Outcome`` fields as JSON: the delivered image as
base64 (and its store URI when it travelled by reference), why it was replaced, blocked or
rejected, and the ids an auditor looks up. The request id is the caller's own, without the
tenant scope the gateway publishes it under (``swerve.gateway.published``).

This module must never wait or publish: it turns values into answers.
"""

from __future__ import annotations

import base64
from typing import Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from swerve.client import Outcome
from swerve.streams.events import DeliveryOutcome, ReasonClass

__all__ = ["HealthStatus", "ModerationOutcome", "ModerationPending", "Problem", "outcome_body", "pending_response"]


class ModerationOutcome(BaseModel):
    """The one final outcome of a request (200)."""

    status: Literal["done"] = Field(default="done", description="Always `done`: this is the final outcome.")
    request_id: str = Field(description="The request's id, as you sent it (or as the gateway made it).")
    outcome: DeliveryOutcome = Field(
        description="`original` (delivered as generated), `replacement` (a corrected image), `blocked`, or "
        "`rejected` (the input could not be read)."
    )
    image_base64: str | None = Field(
        description="The delivered image (the original or its replacement), base64; null when blocked or rejected."
    )
    media_type: str | None = Field(description="The format of the delivered image, e.g. image/png.")
    image_uri: str | None = Field(
        description="Where the delivered image is stored, when it travelled by reference; null when inline."
    )
    reasons: list[str] = Field(description="Why it was replaced, blocked or rejected; empty for a clean original.")
    reason_class: ReasonClass | None = Field(
        description="For blocked and rejected: policy, infrastructure, internal or invalid_input."
    )
    verdict_id: str = Field(description="The verdict that decided (empty for input that could not be read).")
    replacement_id: str | None = Field(description="The replacement event, for `replacement`.")
    policy_version: str = Field(description="The policy version that decided.")


class ModerationPending(BaseModel):
    """A request published whose outcome has not come yet (202): ask again at ``location``."""

    status: Literal["pending"] = Field(default="pending", description="Always `pending`.")
    request_id: str = Field(description="The request's id: GET /v1/moderations/{request_id} returns its outcome.")
    location: str = Field(description="Where to ask for the outcome (also the `Location` header).")
    retry_after_s: int = Field(description="Seconds to wait before asking (also the `Retry-After` header).")
    detail: str = Field(description="What happened, in words.")


class Problem(BaseModel):
    """Why a request was refused or failed."""

    detail: str = Field(description="What was wrong, naming the field, the header or the limit.")


class HealthStatus(BaseModel):
    """The answer of ``/healthz`` and ``/readyz``."""

    status: Literal["alive", "broken", "ready", "unready"]
    detail: str | None = Field(default=None, description="Why not ready.")


def outcome_body(outcome: Outcome, request_id: str) -> ModerationOutcome:
    """The 200 body for ``outcome``, under the caller's ``request_id``."""
    return ModerationOutcome(
        request_id=request_id,
        outcome=outcome.outcome,
        image_base64=base64.b64encode(outcome.image).decode("ascii") if outcome.image is not None else None,
        media_type=outcome.media_type,
        image_uri=outcome.image_uri,
        reasons=list(outcome.reasons),
        reason_class=outcome.reason_class,
        verdict_id=outcome.verdict_id,
        replacement_id=outcome.replacement_id,
        policy_version=outcome.policy_version,
    )


def outcome_location(request_id: str) -> str:
    """The path that answers for ``request_id``."""
    return f"/v1/moderations/{request_id}"


def pending_response(request_id: str, waited_s: float, retry_after_s: int) -> JSONResponse:
    """The 202 answer for a request whose outcome did not come within ``waited_s`` seconds."""
    location = outcome_location(request_id)
    body = ModerationPending(
        request_id=request_id,
        location=location,
        retry_after_s=retry_after_s,
        detail=f"no outcome yet after {waited_s:g} s; the request is published and its outcome will come: "
        f"GET {location}",
    )
    return JSONResponse(
        body.model_dump(), status_code=202, headers={"Location": location, "Retry-After": str(retry_after_s)}
    )

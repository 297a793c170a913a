"""What the review endpoints answer: the pending items as the page shows them, and a decision's
result (recorded, or refused with the first decision's details)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from swerve.errors import AlreadyDecidedError
from swerve.streams.events import ReviewDecisionEvent, ReviewItemEvent, ReviewVerdict

__all__ = ["DecisionBody", "DecisionRecorded", "DecisionRefused", "FirstDecision", "ReviewItemView", "ReviewQueueView",
           "item_view", "reasons_of"]


class ReviewReason(BaseModel):
    """One firing or failing detector of the original's verdict."""

    detector: str
    reason: str = Field(description="Why it fired (or failed), as the verdict says.")
    score: float | None = Field(description="The detector's score, null when it failed.")
    threshold: float | None = None


class ReviewItemView(BaseModel):
    """One item waiting for a person."""

    request_id: str
    tenant: str
    prompt: str
    seed: int | None
    route: str = Field(description="`on_flag` (a detector's on_flag: review) or `on_exhausted` (corrections ran out).")
    reasons: list[ReviewReason]
    has_candidate: bool = Field(description="Whether a replacement candidate can be approved.")
    candidate_method: str | None = None
    correction_reasons: str | None = Field(default=None, description="Why corrections gave up, one clause per attempt (on_exhausted).")
    policy_version: str
    waiting_since: datetime
    deadline: datetime = Field(description="When the review timeout resolves it to `timeout_decision`.")
    timeout_decision: str


class ReviewQueueView(BaseModel):
    """The pending items a reviewer may see, with what the page filters on."""

    reviewer: str = Field(description="The key's name: the identity decisions are recorded under.")
    tenants: list[str] = Field(description="The tenants this key may review.")
    reasons: list[str] = Field(description="The detectors that sent the listed items (before the reason filter).")
    items: list[ReviewItemView]


class DecisionBody(BaseModel):
    """A reviewer's decision on one pending item."""

    model_config = {"extra": "forbid"}

    decision: ReviewVerdict
    note: str = Field(default="", max_length=4096, description="Why; kept in the audit log and the delivery's reason.")


class FirstDecision(BaseModel):
    """The decision that settled a request first."""

    decision: str
    reviewer: str
    decided_at: str
    decision_id: str


class DecisionRecorded(BaseModel):
    """The decision was the request's first: it becomes the request's one delivery."""

    status: Literal["recorded"] = "recorded"
    request_id: str
    decision: ReviewVerdict
    reviewer: str
    decision_id: str


class DecisionRefused(BaseModel):
    """Another decision settled the request first (409); this one changed nothing."""

    status: Literal["refused"] = "refused"
    detail: str
    first: FirstDecision


def reasons_of(item: ReviewItemEvent) -> list[ReviewReason]:
    """The original's firing or failing detectors, each with its reason line when the verdict has one."""
    def line_of(detector: str) -> str:  # streams/judging.py starts each line with the detector's name
        return next((line for line in item.verdict.reasons if line.startswith(f"{detector} ")), "flagged")

    return [ReviewReason(detector=score.detector, reason=line_of(score.detector),
                         score=score.value, threshold=score.threshold)
            for score in item.verdict.scores if score.flagged or score.status == "error"]


def item_view(item: ReviewItemEvent) -> ReviewItemView:
    return ReviewItemView(
        request_id=item.request_id, tenant=item.tenant, prompt=item.generation.prompt, seed=item.generation.seed,
        route=item.route, reasons=reasons_of(item), has_candidate=item.candidate is not None,
        candidate_method=item.candidate.method if item.candidate is not None else None,
        correction_reasons=item.correction_reasons, policy_version=item.policy_version,
        waiting_since=item.waiting_since, deadline=item.deadline, timeout_decision=item.timeout_decision,
    )


def recorded(decision: ReviewDecisionEvent) -> DecisionRecorded:
    return DecisionRecorded(request_id=decision.request_id, decision=decision.decision, reviewer=decision.reviewer,
                            decision_id=decision.id)


def refused(error: AlreadyDecidedError) -> DecisionRefused:
    return DecisionRefused(detail=str(error), first=FirstDecision(
        decision=error.first_decision, reviewer=error.first_reviewer, decided_at=error.first_decided_at,
        decision_id=error.first_decision_id))

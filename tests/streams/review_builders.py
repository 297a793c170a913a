"""Builders of review items and decisions for the review unit tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from swerve.media import ImageRef
from swerve.streams.events import (
    DetectorScore,
    GenerationEvent,
    ReviewCandidate,
    ReviewDecisionEvent,
    ReviewItemEvent,
    ReviewVerdict,
    VerdictEvent,
)
from swerve.streams.ids import derive_id

from .builders import tiny_png

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def verdict(generation_id: str, request_id: str, scores: dict[str, float], flagged: list[str], attempt: int = 0, tenant: str = "default") -> VerdictEvent:
    return VerdictEvent(
        id=derive_id(generation_id, "verdict", attempt), request_id=request_id, tenant=tenant, generation_id=generation_id,
        image_sha256="0" * 64, decision="review", policy_version="unit+abc", attempt=attempt,
        reasons=[f"{name} flagged" for name in flagged],
        scores=[DetectorScore(detector=name, version="1", status="ok", value=value, threshold=0.5, flagged=name in flagged,
                              action="review" if name in flagged else "pass") for name, value in scores.items()],
    )


def item(
    request_id: str = "req-1",
    *,
    tenant: str = "default",
    scores: dict[str, float] | None = None,
    flagged: list[str] | None = None,
    with_candidate: bool = False,
    waiting_since: datetime = T0,
    timeout_s: float = 3600.0,
) -> ReviewItemEvent:
    """A review item of ``request_id``: the original flagged by ``flagged``, a candidate when asked."""
    scores = scores if scores is not None else {"takedowns": 1.0}
    flagged = flagged if flagged is not None else list(scores)
    generation = GenerationEvent(id=derive_id(request_id, "generation"), request_id=request_id, tenant=tenant, prompt="a red star",
                                 seed=7, image=ImageRef.from_bytes(tiny_png((200, 20, 20))))
    candidate = None
    if with_candidate:
        candidate = ReviewCandidate(image=ImageRef.from_bytes(tiny_png((20, 20, 200))), attempt=1, method="testing.mirror",
                                    verdict=verdict(generation.id, request_id, scores, flagged, attempt=1, tenant=tenant))
    return ReviewItemEvent(
        id=derive_id(generation.id, "review"), request_id=request_id, tenant=tenant, route="on_exhausted" if with_candidate else "on_flag",
        generation=generation, verdict=verdict(generation.id, request_id, scores, flagged, tenant=tenant), candidate=candidate,
        policy_version="unit+abc", waiting_since=waiting_since, deadline=waiting_since + timedelta(seconds=timeout_s),
    )


def decision(
    of: ReviewItemEvent, verdict_: ReviewVerdict = "block", reviewer: str = "alice", note: str = "a near-copy",
    *, decision_id: str | None = None, at: datetime | None = None,
) -> ReviewDecisionEvent:
    return ReviewDecisionEvent(
        id=decision_id or f"decision-{reviewer}-{verdict_}", request_id=of.request_id, tenant=of.tenant, item_id=of.id,
        decision=verdict_, reviewer=reviewer, note=note, created_at=at or of.waiting_since + timedelta(minutes=5),
    )

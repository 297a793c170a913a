"""Deciding that a request waits for a person, and what the person is shown.

A request goes to review in one of two places, and both build the item here:

- detect: a firing detector's ``on_flag: review`` (and nothing stronger, i.e. no ``block``)
  makes the verdict's decision ``review`` (``judging.decide``);
- correct: corrections ran out under ``on_exhausted: review``.

The item is published to ``<prefix>.review`` *instead of* a delivery: a request under review
has no delivery until a decision (or the timeout) settles it, so it still gets exactly one
(``review_decisions``). Its ``deadline`` is fixed here from the tenant's ``review_timeout_s``,
so a later policy change does not move the deadline of an item already waiting.

"Best" candidate, when corrections made several that failed re-verification: the one whose
re-verification had the fewest firing or failing detectors, and among equals the latest
attempt. Scores of different detectors are not comparable (a tiled L2 against a CLIP
similarity), so "closest to clearing" is counted in detectors still objecting; the adaptive
loop escalates, so a later attempt is the more strongly steered one. With one detector (the
usual case) that is simply the last candidate.

No broker code here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol, Sequence, TypeVar

from swerve.correctors.adaptive_loop import AttemptRecord
from swerve.streams.events import GenerationEvent, ReviewCandidate, ReviewItemEvent, ReviewRoute, VerdictEvent, utc_now
from swerve.streams.ids import derive_id
from swerve.streams.judging import Judgement
from swerve.streams.policy import Policy, Rules
from swerve.streams.publication import Publication


class JudgedReport(Protocol):
    """A candidate's re-verification, as the correct stage records it."""

    @property
    def judgement(self) -> Judgement: ...

    @property
    def passed(self) -> bool: ...

    @property
    def reasons(self) -> list[str]: ...


ReportT = TypeVar("ReportT", bound=JudgedReport)


def best_attempt(attempts: Sequence[AttemptRecord[ReportT]]) -> AttemptRecord[ReportT] | None:
    """The attempt whose candidate is closest to clearing (module docstring), or None when no
    attempt produced a verified candidate (every one raised)."""
    ranked = [
        (len(a.report.judgement.firing_detectors()), -a.attempt, index)
        for index, a in enumerate(attempts) if a.candidate is not None and a.report is not None
    ]
    return attempts[min(ranked)[2]] if ranked else None


def review_item(
    generation: GenerationEvent,
    verdict: VerdictEvent,
    policy: Policy,
    rules: Rules,
    route: ReviewRoute,
    candidate: ReviewCandidate | None = None,
    correction_reasons: str | None = None,
) -> Publication:
    """The review item that holds ``generation`` for a person, under the tenant's ``rules``.

    Its id derives from the generation id, like the delivery it stands in for, so a replayed
    input yields the same item (readers keep the first item of a request).
    """
    waiting_since = utc_now()
    item = ReviewItemEvent(
        id=derive_id(generation.id, "review"),
        request_id=generation.request_id,
        tenant=generation.tenant,
        route=route,
        generation=generation,
        verdict=verdict,
        candidate=candidate,
        correction_reasons=correction_reasons,
        policy_version=policy.full_version,
        waiting_since=waiting_since,
        deadline=waiting_since + timedelta(seconds=rules.review_timeout_s),
        timeout_decision=rules.on_review_timeout,
    )
    return Publication("review", item)

"""Decided review items as labeled examples: what people said about what the detectors flagged,
in the JSONL that ``swerve calibrate`` reads (``evaluation/calibration.py``).

One line per item a person decided. ``label`` is the person's verdict on the *original* image:

- ``block`` and ``approve_replacement``: 1, the flag was right (a true positive of the
  detectors that fired; with ``approve_replacement`` the person preferred the corrected image);
- ``approve_original``: 0, the flag was wrong (a false positive of every detector that fired).

``scores`` holds each detector's score on the original (``DetectorScore.value``, on the scale
``swerve calibrate`` compares thresholds on), ``flagged_by`` the detectors that fired. Items the
review timeout resolved carry no human judgement and are left out, as are scores of detectors
that failed (no value).

Items reach review only when something fired, so these examples sit above the flagging
detectors' thresholds: they tell where to raise a threshold to cut false positives, not what a
lower one would catch. No I/O here.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

from swerve.streams.events import ReviewDecisionEvent, ReviewItemEvent
from swerve.streams.review_log import RESERVED_REVIEWER_PREFIX


def label_of(decision: ReviewDecisionEvent) -> int:
    """1 when the person agreed the original should not go out as it was, 0 when they approved it."""
    return 0 if decision.decision == "approve_original" else 1


def labeled_example(item: ReviewItemEvent, decision: ReviewDecisionEvent) -> dict[str, Any] | None:
    """The calibration example of one decided item, or None when no person decided it."""
    if decision.reviewer.startswith(RESERVED_REVIEWER_PREFIX):
        return None
    scores = {s.detector: s.value for s in item.verdict.scores if s.status == "ok" and s.value is not None and math.isfinite(s.value)}
    original = item.generation.image
    return {
        "label": label_of(decision),
        "scores": scores,
        "flagged_by": [s.detector for s in item.verdict.scores if s.flagged],
        "request_id": item.request_id,
        "tenant": item.tenant,
        "decision": decision.decision,
        "reviewer": decision.reviewer,
        "note": decision.note,
        "decided_at": decision.created_at.isoformat(),
        "route": item.route,
        "policy_version": item.policy_version,
        "prompt": item.generation.prompt,
        "seed": item.generation.seed,
        "image_sha256": original.sha256,
        "image_uri": original.uri,
    }


def labeled_examples(decided: list[tuple[ReviewItemEvent, ReviewDecisionEvent]]) -> Iterator[dict[str, Any]]:
    """The examples of every item a person decided, in the order given."""
    for item, decision in decided:
        example = labeled_example(item, decision)
        if example is not None:
            yield example

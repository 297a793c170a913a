"""What a stage wants published: an event and the short name of its topic.

Stages return ``Publication`` lists and never touch the broker; the agent sends them and
waits for every acknowledgement before the input offset may be committed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Mapping

from swerve.audit.canonical import canonical_sha256, ijson_record
from swerve.streams.events import AuditEvent, SwerveEvent
from swerve.streams.ids import derive_id

TopicName = Literal["verdicts", "flagged", "replacements", "review", "review_decisions", "delivery", "audit", "prompts_screened"]
AuditStage = Literal["detect", "correct", "screen", "review"]


@dataclass(frozen=True)
class Publication:
    """One event bound for one topic (short name, as in ``TopicNames``)."""

    topic: TopicName
    event: SwerveEvent


def audit_of(
    stage: AuditStage,
    subject: SwerveEvent,
    decision: str,
    outputs: list[Publication],
    context: Mapping[str, Any] | None = None,
    audit_id: str | None = None,
) -> Publication:
    """The audit record of one decision: what was decided about ``subject`` and what was published.

    ``context`` adds what the outputs alone do not say (a review decision: who decided, their
    note, the first decision a late one lost to) under the record's ``context`` key.
    ``audit_id`` replaces the id derived from the subject's id (two records about one subject).

    Output bodies are taken from their wire JSON (NaN and infinities are ``null`` there, as
    consumers see them), with integers beyond 2^53 as strings (``ijson_record``), so that
    ``record_sha256`` (RFC 8785) can be recomputed by any verifier.
    """
    record: dict[str, Any] = {
        "subject_id": subject.id,
        "request_id": subject.request_id,
        "tenant": subject.tenant,
        "decision": decision,
        "outputs": [{"topic": p.topic, "id": p.event.id, "body": ijson_record(json.loads(p.event.model_dump_json()))}
                    for p in outputs],
    }
    if context is not None:
        record["context"] = ijson_record(json.loads(json.dumps(dict(context), default=str)))
    # Inline image bytes are summarized by their sha256 (already in the ImageRef) to keep the log small.
    for output in record["outputs"]:
        _drop_inline_bytes(output["body"])
    event = AuditEvent(
        id=audit_id or derive_id(subject.id, f"audit.{stage}"),
        request_id=subject.request_id,
        tenant=subject.tenant,
        stage=stage,
        decision=decision,
        subject_id=subject.id,
        output_ids=[p.event.id for p in outputs],
        record=record,
        record_sha256=canonical_sha256(record),
    )
    return Publication("audit", event)


def _drop_inline_bytes(body: Any) -> None:
    if isinstance(body, dict):
        if "sha256" in body and "data" in body and body["data"] is not None:
            body["data"] = None
            body["data_omitted"] = True
        for value in body.values():
            _drop_inline_bytes(value)
    elif isinstance(body, list):
        for item in body:
            _drop_inline_bytes(item)

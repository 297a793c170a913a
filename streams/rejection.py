"""The outcome of a request whose message was dead-lettered: ``rejected``, with the reason
and where the dead letter is, so a generator waiting on ``swerve.delivery`` is not left
waiting forever (docs/reliability.md, "An outcome for every request").

The message could not be decoded, so everything here is read defensively from the raw
key, headers and value: the request id from the Kafka key, else from the body's top level.
When neither can be read there is no request to answer, and only the dead letter remains.
No broker code here.
"""

from __future__ import annotations

import json
from typing import Any, Literal, Sequence

from swerve.streams.events import DeadLetterPosition, DeliveryEvent
from swerve.streams.ids import derive_id
from swerve.streams.publication import Publication, audit_of

_MAX_ID_CHARS = 128
_MAX_TENANT_CHARS = 64


def _text(value: object, limit: int) -> str | None:
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if isinstance(value, str) and 0 < len(value) <= limit and value.isprintable():
        return value
    return None


def _body(value: bytes | None) -> dict[str, Any]:
    """The top level of the body when it is a readable JSON object, else nothing."""
    if not value:
        return {}
    try:
        body = json.loads(value)
    except (ValueError, RecursionError):  # the poison that got it dead-lettered, most likely
        return {}
    return body if isinstance(body, dict) else {}


def rejected_outcome(
    stage: Literal["detect", "correct"],
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    error: BaseException,
    dead_letter: DeadLetterPosition,
    policy_version: str,
    outcome_key: str | None = None,
) -> list[Publication]:
    """The rejected delivery and its audit record, or nothing when no request id can be read.

    ``outcome_key`` replaces the input's id as what the delivery id derives from: an input
    refused for reusing another event's id must not share that event's delivery id.
    """
    body = _body(value)
    request_id = _text(key, _MAX_ID_CHARS) or _text(body.get("request_id"), _MAX_ID_CHARS)
    if request_id is None:
        return []
    header = {name: raw for name, raw in headers}
    subject_id = _text(header.get("ce_id"), _MAX_ID_CHARS) or _text(body.get("id"), _MAX_ID_CHARS)
    generation = body.get("generation") if stage == "correct" else body
    generation_id = _text(generation.get("id"), _MAX_ID_CHARS) if isinstance(generation, dict) else None
    # The id a good outcome of this input would have had, so dedupe keeps one of them; with
    # no readable id, the dead letter's origin names the input.
    origin = f"{dead_letter.topic}/{dead_letter.partition}/{dead_letter.offset}"
    outcome_of = outcome_key or generation_id or subject_id
    delivery = DeliveryEvent(
        id=derive_id(outcome_of, "delivery") if outcome_of else derive_id(origin, "rejected"),
        request_id=request_id,
        tenant=_text(body.get("tenant"), _MAX_TENANT_CHARS) or "default",
        generation_id=generation_id or "",
        outcome="rejected",
        reason=f"{type(error).__name__}: {error}"[:2000],
        verdict_id="",
        policy_version=policy_version,
        reason_class="invalid_input",
        dead_letter=dead_letter,
    )
    publications = [Publication("delivery", delivery)]
    return [*publications, audit_of(stage, delivery, "rejected", publications)]

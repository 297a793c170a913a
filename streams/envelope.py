"""CloudEvents Kafka binding, binary mode: the event body is the Kafka value, its attributes
are ``ce_*`` headers, and W3C ``traceparent`` travels beside them.

``encode`` turns a contract model into key, value and headers; ``decode`` does the reverse and
raises a named ``InvalidInputError`` for anything that can never succeed (not UTF-8, not JSON,
wrong schema), so the agent can route it to the DLQ. No broker code lives here.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Sequence

from pydantic import ValidationError

from swerve.errors import MalformedEventError, SchemaViolationError
from swerve.streams.events import EVENT_TYPES, SwerveEvent

CE_SPECVERSION = "1.0"
CE_SOURCE = "/swerve"
CONTENT_TYPE = "application/json"
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class EncodedEvent:
    """What goes on the wire for one event."""

    key: bytes
    value: bytes
    headers: Headers


def new_traceparent() -> str:
    """A fresh W3C trace context (version 00, sampled)."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def child_traceparent(parent: str | None) -> str:
    """Keep the trace id of ``parent`` with a new span id; start a trace if there is none."""
    match = _TRACEPARENT.match(parent or "")
    if match is None:
        return new_traceparent()
    return f"00-{match.group(1)}-{secrets.token_hex(8)}-{match.group(3)}"


def encode(event: SwerveEvent, *, source: str = CE_SOURCE, traceparent: str | None = None) -> EncodedEvent:
    """Encode ``event`` for Kafka: keyed by ``request_id``, CloudEvents binary-mode headers."""
    headers: Headers = [
        ("ce_specversion", CE_SPECVERSION.encode()),
        ("ce_id", event.id.encode()),
        ("ce_type", event.ce_type.encode()),
        ("ce_source", source.encode()),
        ("ce_time", event.created_at.isoformat().encode()),
        ("ce_subject", event.request_id.encode()),
        ("content-type", CONTENT_TYPE.encode()),
        ("traceparent", (traceparent or new_traceparent()).encode()),
    ]
    return EncodedEvent(key=event.request_id.encode(), value=event.model_dump_json().encode(), headers=headers)


def header_map(headers: Sequence[tuple[str, bytes]] | None) -> dict[str, str]:
    """Headers as text. A header that is not UTF-8 makes the whole message malformed."""
    decoded: dict[str, str] = {}
    for name, raw in headers or ():
        try:
            decoded[name] = raw.decode("utf-8") if raw is not None else ""
        except UnicodeDecodeError as exc:
            raise MalformedEventError(f"header {name!r} is not UTF-8: {exc}") from exc
    return decoded


def decode(value: bytes | None, headers: Sequence[tuple[str, bytes]] | None, expected: type[SwerveEvent]) -> SwerveEvent:
    """Decode one Kafka message into the contract model the topic carries.

    Args:
        value: the message value (the JSON body).
        headers: the message headers; ``ce_type`` and ``ce_id`` are checked when present.
        expected: the model this topic carries.

    Raises:
        MalformedEventError: not UTF-8, not JSON, nested too deeply, or an empty value.
        SchemaViolationError: JSON that does not satisfy ``expected``.
    """
    attributes = header_map(headers)
    if not value:
        raise MalformedEventError("empty message value")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedEventError(f"value is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedEventError(f"value is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:  # valid JSON nested deeper than any contract: a poison message
        raise MalformedEventError("value is JSON nested too deeply to decode") from exc
    ce_type = attributes.get("ce_type")
    if ce_type is not None and EVENT_TYPES.get(ce_type) is not expected:
        raise SchemaViolationError(f"ce_type {ce_type!r} is not {expected.ce_type!r}, the type this topic carries")
    try:
        event = expected.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()[:5])
        event_id = body.get("id") if isinstance(body, dict) else None
        raise SchemaViolationError(f"not a valid {expected.__name__}: {problems}", event_id=str(event_id)) from exc
    ce_id = attributes.get("ce_id")
    if ce_id is not None and ce_id != event.id:
        raise SchemaViolationError(f"ce_id header {ce_id!r} differs from body id {event.id!r}", event_id=event.id)
    return event

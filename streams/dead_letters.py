"""Dead-letter messages: the original bytes, unchanged, plus headers that say where they came
from and why they failed (DESIGN.md, "Processing semantics").

The original key, value and headers are kept so ops can fix and re-submit the message as it
was. Nothing here talks to a broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from swerve.streams.envelope import EncodedEvent, Headers

ORIGIN_TOPIC = "swerve_dlq_origin_topic"
ORIGIN_PARTITION = "swerve_dlq_origin_partition"
ORIGIN_OFFSET = "swerve_dlq_origin_offset"
ERROR_CLASS = "swerve_dlq_error_class"
ERROR_MESSAGE = "swerve_dlq_error_message"
STAGE = "swerve_dlq_stage"
MAX_MESSAGE_CHARS = 2000


@dataclass(frozen=True)
class Origin:
    """Where a message was consumed from."""

    topic: str
    partition: int
    offset: int


def dead_letter(
    origin: Origin,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]] | None,
    error: BaseException,
    stage: str,
) -> EncodedEvent:
    """The DLQ message for ``value`` that failed at ``stage`` with ``error``."""
    kept: Headers = [(name, raw) for name, raw in headers or () if not name.startswith("swerve_dlq_")]
    kept += [
        (ORIGIN_TOPIC, origin.topic.encode()),
        (ORIGIN_PARTITION, str(origin.partition).encode()),
        (ORIGIN_OFFSET, str(origin.offset).encode()),
        (ERROR_CLASS, type(error).__name__.encode()),
        (ERROR_MESSAGE, str(error)[:MAX_MESSAGE_CHARS].encode("utf-8", errors="replace")),
        (STAGE, stage.encode()),
    ]
    return EncodedEvent(key=key or b"", value=value or b"", headers=kept)

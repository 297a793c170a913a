"""The decode step of a batch: every message decoded in its own ``swerve.decode`` span, child of
the trace context its ``traceparent`` names. A failure stays with its message (bad input, to be
dead-lettered), except a transient one, which fails the whole step to be retried.

Runs on a stage's thread pool; faust-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, Sequence, TypeVar

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Status, StatusCode

from swerve.streams.dependency_retry import is_transient
from swerve.streams.tracing import decode_span

__all__ = ["Decoded", "Inbound", "Undecodable", "decode_each"]

ItemT = TypeVar("ItemT")
Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class Inbound:
    """One consumed message, as the decode step needs it."""

    value: bytes | None
    headers: Headers
    key: bytes | None = None
    topic: str = ""
    partition: int = -1
    offset: int = -1

    @classmethod
    def of(cls, message: Any, headers: Headers) -> Inbound:
        """From a faust message and its headers as a list."""
        return cls(message.value, headers, message.key, message.topic, message.partition, message.offset)


@dataclass(frozen=True)
class Undecodable:
    """A message decode refused, and why."""

    error: BaseException


@dataclass(frozen=True)
class Decoded(Generic[ItemT]):
    """What decoding one message gave, and the context of its decode span (its outputs' parent)."""

    result: ItemT | Undecodable
    context: Context


def decode_each(stage: str, decode: Callable[[bytes | None, Headers], ItemT], inbound: Sequence[Inbound]) -> list[Decoded[ItemT]]:
    """Decode every message; a failure stays with its message, a transient one fails them all."""
    results: list[Decoded[ItemT]] = []
    for message in inbound:
        with decode_span(stage, message.headers, topic=message.topic, partition=message.partition,
                         offset=message.offset, key=message.key) as span:
            context = trace.set_span_in_context(span)
            try:
                results.append(Decoded(decode(message.value, message.headers), context))
            except Exception as exc:  # noqa: BLE001 - every non-transient decode failure is bad input for this message only
                if is_transient(exc):
                    raise
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: bad input, dead-lettered"))
                results.append(Decoded(Undecodable(exc), context))
    return results

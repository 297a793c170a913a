"""Sends a stage's publications and waits until the broker has acknowledged every one.

The agent returns from its loop body only after ``publish`` returns, and faust acks (and
later commits) the input only then: that is what makes processing at-least-once.

One ``swerve.publish`` span covers a batch's sends; each publication's ``traceparent`` is
injected (``envelope.encode``) from its input's context, so it continues its input's trace.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Mapping, Sequence

import faust
from opentelemetry.context import Context

from swerve.streams.dead_letters import Origin, dead_letter
from swerve.streams.envelope import EncodedEvent, encode
from swerve.streams.events import AuditEvent, DeadLetterPosition
from swerve.streams.metrics import DLQ
from swerve.streams.publication import Publication
from swerve.streams.tracing import publish_span, under


def message_headers(message: Any) -> list[tuple[str, bytes]]:
    """A faust message's headers as a list of (name, bytes), whatever container faust used."""
    headers = message.headers or []
    if isinstance(headers, Mapping):
        return [(str(k), bytes(v) if v is not None else b"") for k, v in headers.items()]
    return [(str(k), bytes(v) if v is not None else b"") for k, v in headers]


# The hook that signs an audit event just before it is sent (``swerve.audit.signing.AuditSigner``).
AuditSigning = Callable[[AuditEvent], AuditEvent]


class Publisher:
    """Publishes to swerve topics by short name and awaits the acknowledgements.

    Args:
        topics: faust topics by short name (``TopicNames``).
        source: the CloudEvents source of what this worker publishes.
        sign_audit: applied to every ``audit`` publication before it is encoded; None
            publishes audit events unsigned.
    """

    def __init__(self, topics: Mapping[str, faust.TopicT], source: str, sign_audit: AuditSigning | None = None):
        self.topics = topics
        self.source = source
        self.sign_audit = sign_audit

    async def _send(self, topic: str, encoded: EncodedEvent) -> Any:
        return await self.topics[topic].send(key=encoded.key, value=encoded.value, headers=encoded.headers)

    async def publish(self, publications: Sequence[Publication], parent: Context | None) -> None:
        """Send every publication, then wait for all acknowledgements (raises if any failed).

        ``parent`` is the trace context the publications continue (their input's); with None
        they are children of the publish span (in the current trace, or a new one).
        """
        await self.publish_batch([(publications, parent)])

    async def publish_batch(self, groups: Sequence[tuple[Sequence[Publication], Context | None]]) -> None:
        """Send the publications of several inputs, each under its input's trace context, then await every ack."""
        topics = [p.topic for publications, _ in groups for p in publications]
        with publish_span(topics, len(topics)):
            pending = []
            for publications, parent in groups:
                with under(parent):
                    for publication in publications:
                        event = publication.event
                        if publication.topic == "audit" and self.sign_audit is not None and isinstance(event, AuditEvent):
                            event = self.sign_audit(event)
                        pending.append(await self._send(publication.topic, encode(event, source=self.source)))
            await asyncio.gather(*pending)

    async def dead_letter(self, event: faust.EventT, error: BaseException, stage: str) -> DeadLetterPosition:
        """Send the original message to the DLQ with its origin and the error; return where it landed once acked."""
        message = event.message
        origin = Origin(message.topic, message.partition, message.offset)
        encoded = dead_letter(origin, message.key, message.value, message_headers(message), error, stage)
        metadata = await (await self._send("dlq", encoded))
        DLQ.labels(stage=stage, error_class=type(error).__name__).inc()
        return DeadLetterPosition(topic=metadata.topic, partition=metadata.partition, offset=metadata.offset)

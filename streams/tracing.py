"""Trace context in and out of Kafka headers, and the spans a worker opens around its steps.

The W3C ``traceparent`` header is read and written by OpenTelemetry's propagator
(``TraceContextTextMapPropagator``), never by hand. Each input message's ``swerve.decode``
span is a child of the context its header names; a stage's micro-batch runs in one
``swerve.<stage>`` span, child of its first input's decode span and linked to the others;
``swerve.publish`` covers the sends of one batch. Every output carries its own input's decode
span as parent, so each request's trace goes on whatever batch it shared (docs/operations.md,
"Tracing").

``request_id`` is the request being processed (the Kafka key of swerve's topics), for log
lines (``json_logs``). Spans come from the global tracer provider: ``tracing_setup`` installs
the SDK's in a worker; elsewhere (the CLI, an application using the SDK) it is whatever the
application installed, or OpenTelemetry's no-op one.

This module must never export spans or configure a provider: see ``tracing_setup``.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, Sequence

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

__all__ = [
    "W3C",
    "current_request_id",
    "decode_span",
    "fresh_trace",
    "incoming_context",
    "publish_span",
    "request_id_of",
    "stage_span",
    "tracer",
    "under",
]

TRACER_NAME = "swerve"
# The one wire format of swerve's trace context: W3C trace context, whatever OTEL_PROPAGATORS says.
W3C = TraceContextTextMapPropagator()
_IDS = RandomIdGenerator()
_REQUEST_ID: ContextVar[str | None] = ContextVar("swerve_request_id", default=None)

Headers = Sequence[tuple[str, bytes]]


def tracer() -> trace.Tracer:
    """swerve's tracer, from the global provider at call time (installed after import)."""
    return trace.get_tracer(TRACER_NAME)


def current_request_id() -> str | None:
    """The request whose event is being processed in this context, if one is."""
    return _REQUEST_ID.get()


def request_id_of(key: bytes | None) -> str | None:
    """A swerve message's request id: its Kafka key (every swerve topic is keyed by ``request_id``)."""
    return key.decode("utf-8", errors="replace") if key else None


def incoming_context(headers: Headers) -> Context:
    """The trace context a message's ``traceparent`` header names; empty (a new trace) when it has none or a bad one."""
    carrier = {name: raw.decode("latin-1") for name, raw in headers if name in W3C.fields and raw is not None}
    return W3C.extract(carrier)


def fresh_trace() -> Context:
    """A context in a new, sampled trace: for an event published outside any span."""
    span_context = SpanContext(_IDS.generate_trace_id(), _IDS.generate_span_id(), is_remote=False,
                               trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return trace.set_span_in_context(NonRecordingSpan(span_context))


@contextmanager
def under(parent: Context | None, request_id: str | None = None) -> Iterator[None]:
    """Make ``parent`` the current context (None: keep the current one), and ``request_id`` the current request."""
    token = otel_context.attach(parent) if parent is not None else None
    request = _REQUEST_ID.set(request_id) if request_id is not None else None
    try:
        yield
    finally:
        if request is not None:
            _REQUEST_ID.reset(request)
        if token is not None:
            otel_context.detach(token)


@contextmanager
def decode_span(stage: str, headers: Headers, *, topic: str, partition: int, offset: int, key: bytes | None) -> Iterator[trace.Span]:
    """``swerve.decode``: one input message, child of its incoming trace context; current while it runs."""
    request_id = request_id_of(key)
    attributes: dict[str, AttributeValue] = {
        "swerve.stage": stage,
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": topic,
        "messaging.destination.partition.id": str(partition),
        "messaging.kafka.offset": offset,
    }
    if request_id is not None:
        attributes["swerve.request_id"] = request_id
    event_id = next((raw.decode("utf-8", errors="replace") for name, raw in headers if name == "ce_id" and raw), None)
    if event_id is not None:
        attributes["swerve.event_id"] = event_id
    span = tracer().start_span("swerve.decode", context=incoming_context(headers), kind=SpanKind.CONSUMER, attributes=attributes)
    with trace.use_span(span, end_on_exit=True), under(None, request_id):
        yield span


@contextmanager
def stage_span(stage: str, inputs: Sequence[Context], request_ids: Sequence[str | None]) -> Iterator[trace.Span]:
    """``swerve.<stage>``: one micro-batch through the stage, child of its first input's span, linked to the others.

    The request is the batch's when all its inputs share one (a correction always does).
    """
    links = [Link(trace.get_current_span(parent).get_span_context()) for parent in inputs[1:]]
    attributes: dict[str, AttributeValue] = {"swerve.stage": stage, "swerve.batch_size": len(inputs), "messaging.batch.message_count": len(inputs)}
    span = tracer().start_span(f"swerve.{stage}", context=inputs[0] if inputs else None, links=links, attributes=attributes)
    single = set(request_ids)
    with trace.use_span(span, end_on_exit=True), under(None, single.pop() if len(single) == 1 else None):
        yield span


@contextmanager
def publish_span(topics: Sequence[str], messages: int) -> Iterator[trace.Span]:
    """``swerve.publish``: the sends of one batch of outputs and their acknowledgements, child of the current span.

    ``topics`` are short names (``delivery``, ``verdicts``), the same whatever the topic prefix.
    """
    attributes: dict[str, AttributeValue] = {"swerve.publish.topics": sorted(set(topics)), "messaging.system": "kafka",
                  "messaging.operation.type": "send", "messaging.batch.message_count": messages}
    with tracer().start_as_current_span("swerve.publish", kind=SpanKind.PRODUCER, attributes=attributes) as span:
        yield span

"""Tracing through a worker's batch runner, in process, with the SDK's in-memory exporter: the
span tree of a batch, the trace context from an input's traceparent to its outputs', one span
per correction attempt, trace fields in log lines, and the exporter settings."""

from __future__ import annotations

import asyncio
import io
import logging
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any, Iterator, Sequence

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from swerve.media import ImageStore, MediaLimits
from swerve.streams import detect_stage
from swerve.streams.batch_runner import BatchRunner, Stage
from swerve.streams.correct_stage import CorrectStage
from swerve.streams.embedded_broker import free_port
from swerve.streams.envelope import EncodedEvent, current_traceparent, encode, header_map
from swerve.streams.events import FlaggedEvent
from swerve.streams.inputs import decode_flagged, decode_generation
from swerve.streams.json_logs import JsonFormatter, trace_fields
from swerve.streams.judging import Judge
from swerve.streams.policy import Policy, parse_policy
from swerve.streams.publisher import Publisher
from swerve.streams.settings import TracingSettings
from swerve.streams.tracing import under
from swerve.streams.tracing_setup import tracer_provider

from .test_stages import BLUE, RED, blocklist_policy, flagged

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"
OTHER_TRACE = "0af7651916cd43dd8448eb211c80319c"


# -- fixtures: an SDK provider with an in-memory exporter, fake faust messages and topics --------


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    """The process's tracer provider (the SDK's; installed here unless a test before did), exporting to memory."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return memory


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter
    exporter.clear()


@dataclass
class Message:
    value: bytes
    headers: list[tuple[str, bytes]]
    key: bytes
    topic: str = "swerve.generations"
    partition: int = 0
    offset: int = 0

    @property
    def tp(self) -> tuple[str, int]:
        return (self.topic, self.partition)


@dataclass
class Event:
    message: Message


@dataclass
class RecordingTopic:
    """A faust topic that acknowledges every send at once and keeps what was sent."""

    name: str
    sent: list[EncodedEvent] = field(default_factory=list)

    async def send(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> "asyncio.Future[Any]":
        self.sent.append(EncodedEvent(key, value, headers))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(SimpleNamespace(topic=self.name, partition=0, offset=len(self.sent) - 1))
        return future


TOPICS = ("verdicts", "flagged", "replacements", "review", "review_decisions", "delivery", "audit", "dlq")


def runner() -> tuple[BatchRunner, dict[str, RecordingTopic]]:
    topics = {name: RecordingTopic(f"swerve.{name}") for name in TOPICS}
    publisher = Publisher(topics, source="/swerve/test")  # type: ignore[arg-type]
    return BatchRunner(publisher, "unit", retry_budget_s=1.0, highwater=lambda tp: None), topics


def message(event: Any, offset: int, traceparent: str | None, topic: str = "swerve.generations") -> Event:
    encoded = encode(event)
    headers = [(name, raw) for name, raw in encoded.headers if name != "traceparent"]
    if traceparent is not None:
        headers.append(("traceparent", traceparent.encode()))
    return Event(Message(encoded.value, headers, encoded.key, topic=topic, offset=offset))


def detect(policy: Policy, run: Any = None) -> Stage[Any]:
    return Stage(
        "detect",
        partial(decode_generation, limits=MediaLimits()),
        run or partial(detect_stage.detect, Judge(), policy),
        partial(detect_stage.fail_closed, policy),
        ThreadPoolExecutor(max_workers=1),
        rejects_to_delivery=True,
    )


def named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def hex_trace(span: ReadableSpan) -> str:
    return trace.format_trace_id(span.context.trace_id)


def hex_span(span: ReadableSpan) -> str:
    return trace.format_span_id(span.context.span_id)


def ids_and_sampled(traceparent: str) -> tuple[str, str, bool]:
    """Trace id, parent span id, sampled flag (the SDK may also set W3C level 2's "random trace id" bit)."""
    version, trace_id, span_id, flags = traceparent.split("-")
    assert version == "00"
    return trace_id, span_id, bool(int(flags, 16) & 1)


def traceparents(topics: dict[str, RecordingTopic]) -> dict[str, list[str]]:
    """Every output's traceparent, by the request it belongs to."""
    by_request: dict[str, list[str]] = {}
    for topic in topics.values():
        for sent in topic.sent:
            by_request.setdefault(sent.key.decode(), []).append(header_map(sent.headers)["traceparent"])
    return by_request


# -- the detect stage ---------------------------------------------------------------------------


def test_given_an_input_with_a_traceparent_when_detected_then_decode_detector_and_publish_spans_continue_its_trace(
    spans: InMemorySpanExporter,
) -> None:
    # Given a generation that arrives in trace TRACE, and a policy with one detector
    policy = parse_policy(blocklist_policy(on_flag="block"))
    batch_runner, topics = runner()
    # When the worker's batch runner takes it
    asyncio.run(batch_runner.run(detect(policy), [message(BLUE.event, 7, f"00-{TRACE}-{PARENT_SPAN}-01")]))
    finished = spans.get_finished_spans()
    # Then the decode span is the child of the incoming context, with the message's place
    (decode,) = named(finished, "swerve.decode")
    assert hex_trace(decode) == TRACE and decode.parent is not None and trace.format_span_id(decode.parent.span_id) == PARENT_SPAN
    assert decode.attributes["messaging.kafka.offset"] == 7 and decode.attributes["swerve.request_id"] == "req-2"
    assert decode.attributes["swerve.event_id"] == "gen-2"
    # ... the stage span its child, the detector's span and the publish span the stage's children
    (stage,) = named(finished, "swerve.detect")
    (detector,) = named(finished, "swerve.detector")
    (publish,) = named(finished, "swerve.publish")
    assert stage.parent is not None and stage.parent.span_id == decode.context.span_id
    assert detector.parent is not None and detector.parent.span_id == stage.context.span_id
    assert publish.parent is not None and publish.parent.span_id == stage.context.span_id
    assert {hex_trace(span) for span in (stage, detector, publish)} == {TRACE}
    assert detector.attributes["swerve.detector.name"] == "takedowns" and detector.attributes["swerve.batch_size"] == 1
    assert set(publish.attributes["swerve.publish.topics"]) == {"verdicts", "delivery", "audit"}
    # ... and every output carries the trace, its parent being the input's decode span
    (outputs,) = traceparents(topics).values()
    assert len(outputs) == 3 and set(outputs) == {f"00-{TRACE}-{hex_span(decode)}-01"}


def test_given_a_batch_from_two_traces_then_each_inputs_outputs_keep_its_own_trace(spans: InMemorySpanExporter) -> None:
    # Given two generations from two traces in one micro-batch
    policy = parse_policy(blocklist_policy(on_flag="block"))
    batch_runner, topics = runner()
    events = [message(RED.event, 1, f"00-{TRACE}-{PARENT_SPAN}-01"), message(BLUE.event, 2, f"00-{OTHER_TRACE}-{PARENT_SPAN}-01")]
    # When they are judged together
    asyncio.run(batch_runner.run(detect(policy), events))
    finished = spans.get_finished_spans()
    # Then one detector call covered both, in one stage span that links the second input
    (detector,) = named(finished, "swerve.detector")
    assert detector.attributes["swerve.batch_size"] == 2
    (stage,) = named(finished, "swerve.detect")
    second = next(span for span in named(finished, "swerve.decode") if hex_trace(span) == OTHER_TRACE)
    assert [link.context.span_id for link in stage.links] == [second.context.span_id]
    # ... and each request's outputs continue the trace it came with
    by_request = traceparents(topics)
    assert {tp.split("-")[1] for tp in by_request["req-1"]} == {TRACE}
    assert {tp.split("-")[1] for tp in by_request["req-2"]} == {OTHER_TRACE}


def test_given_an_input_without_a_traceparent_then_its_outputs_share_a_new_valid_trace(spans: InMemorySpanExporter) -> None:
    policy = parse_policy('version: "empty"')
    batch_runner, topics = runner()
    asyncio.run(batch_runner.run(detect(policy), [message(BLUE.event, 0, None)]))
    (decode,) = named(spans.get_finished_spans(), "swerve.decode")
    assert decode.parent is None, "a new trace starts at the decode span"
    (outputs,) = traceparents(topics).values()
    assert len(outputs) == 3 and {ids_and_sampled(tp) for tp in outputs} == {(hex_trace(decode), hex_span(decode), True)}


def test_given_bad_input_then_its_decode_span_fails_and_its_rejected_delivery_continues_its_trace(spans: InMemorySpanExporter) -> None:
    # Given a message whose value is not JSON, keyed by its request, in trace TRACE
    bad = Event(Message(b"{not json", [("traceparent", f"00-{TRACE}-{PARENT_SPAN}-01".encode())], b"req-bad"))
    batch_runner, topics = runner()
    asyncio.run(batch_runner.run(detect(parse_policy('version: "empty"')), [bad]))
    (decode,) = named(spans.get_finished_spans(), "swerve.decode")
    assert decode.status.status_code is StatusCode.ERROR and decode.events[0].name == "exception"
    # Then the dead letter keeps the original headers, and the rejected delivery is in the input's trace
    assert header_map(topics["dlq"].sent[0].headers)["traceparent"] == f"00-{TRACE}-{PARENT_SPAN}-01"
    assert header_map(topics["delivery"].sent[0].headers)["traceparent"] == f"00-{TRACE}-{hex_span(decode)}-01"


# -- the correct stage --------------------------------------------------------------------------


def test_given_a_flagged_event_when_corrected_then_each_attempt_has_its_span_under_the_stage(
    spans: InMemorySpanExporter, tmp_path: Any
) -> None:
    # Given a corrector that fails its first two attempts and mirrors on the third
    text = blocklist_policy(fail_attempts=2)
    policy = parse_policy(text)
    corrections = CorrectStage(policy, Judge(), ImageStore(tmp_path.as_uri()), MediaLimits())
    stage = Stage(
        "correct",
        partial(decode_flagged, limits=MediaLimits()),
        lambda items: [corrections.correct(event, image) for event, image in items],
        corrections.fail_closed,
        ThreadPoolExecutor(max_workers=1),
        rejects_to_delivery=True,
    )
    event: FlaggedEvent = flagged(text)
    spans.clear()
    batch_runner, topics = runner()
    # When the flagged event, in trace TRACE, is corrected
    asyncio.run(batch_runner.run(stage, [message(event, 0, f"00-{TRACE}-{PARENT_SPAN}-01", topic="swerve.flagged")]))
    finished = spans.get_finished_spans()
    # Then there is one span per attempt, in order, each a child of the correct stage's span
    (stage_span,) = named(finished, "swerve.correct")
    attempts = sorted(named(finished, "swerve.correction_attempt"), key=lambda span: span.attributes["swerve.correction.attempt"])
    assert [span.attributes["swerve.correction.attempt"] for span in attempts] == [1, 2, 3]
    assert {span.attributes["swerve.corrector.name"] for span in attempts} == {"mirror"}
    assert all(span.parent is not None and span.parent.span_id == stage_span.context.span_id for span in attempts)
    # ... the failed ones say why, the third names its method and passed
    assert [span.status.status_code for span in attempts[:2]] == [StatusCode.ERROR] * 2
    assert "configured to fail attempt 1" in (attempts[0].status.description or "")
    assert attempts[2].attributes["swerve.correction.method"] == "testing.mirror" and attempts[2].attributes["swerve.correction.passed"] is True
    # ... the candidate's re-verification is a detector span inside its attempt
    (verification,) = named(finished, "swerve.detector")
    assert verification.parent is not None and verification.parent.span_id == attempts[2].context.span_id
    assert {hex_trace(span) for span in finished} == {TRACE}
    assert {tp.split("-")[1] for tps in traceparents(topics).values() for tp in tps} == {TRACE}


# -- log lines ----------------------------------------------------------------------------------


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Every record of swerve's loggers as a JSON line, formatted where it is logged (as in a worker)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("swerve")
    logger.addHandler(handler)
    try:
        yield buffer
    finally:
        logger.removeHandler(handler)


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_given_inputs_in_a_trace_then_log_lines_about_them_carry_trace_id_and_request_id(
    spans: InMemorySpanExporter, json_lines: io.StringIO
) -> None:
    # Given a stage that fails on its input (logged on the stage's thread) and a poison message
    # (logged on the event loop), both in trace TRACE
    def broken(items: list[Any]) -> list[list[Any]]:
        raise KeyError("a bug")

    policy = parse_policy('version: "empty"')
    batch_runner, _ = runner()
    good = message(BLUE.event, 0, f"00-{TRACE}-{PARENT_SPAN}-01")
    bad = Event(Message(b"{not json", [("traceparent", f"00-{OTHER_TRACE}-{PARENT_SPAN}-01".encode())], b"req-bad", offset=1))
    asyncio.run(batch_runner.run(detect(policy, run=broken), [good, bad]))
    # Then the dead-lettering line names the poison message's request and trace
    logged = lines(json_lines)
    rejected = next(line for line in logged if "dead-lettering swerve.generations[0]@1" in line["message"])
    assert rejected["trace_id"] == OTHER_TRACE and rejected["request_id"] == "req-bad" and rejected["level"] == "warning"
    # ... and the stage's line, logged on its thread, the request it failed closed and its trace
    bug = next(line for line in logged if "failing it closed" in line["message"])
    assert bug["trace_id"] == TRACE and bug["request_id"] == "req-2" and "KeyError" in bug["exc"]


def test_given_no_span_and_no_request_then_a_log_line_has_neither() -> None:
    assert trace_fields() == {}
    with under(None, "req-9"):
        assert trace_fields() == {"request_id": "req-9"}


# -- the propagator outside a worker --------------------------------------------------------------


def test_given_no_current_span_then_an_encoded_event_starts_a_new_sampled_trace() -> None:
    first, second = current_traceparent(), current_traceparent()
    assert first.startswith("00-") and first.endswith("-01") and len(first) == 55
    assert first.split("-")[1] != second.split("-")[1]


def test_given_an_applications_span_then_an_encoded_event_continues_it(spans: InMemorySpanExporter) -> None:
    with trace.get_tracer("app").start_as_current_span("handle request") as span:
        headers = header_map(encode(BLUE.event).headers)
    context = span.get_span_context()
    assert ids_and_sampled(headers["traceparent"]) == (trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id), True)


# -- tracing_setup --------------------------------------------------------------------------------


def test_given_default_settings_then_the_provider_is_named_for_the_role_and_unsampled_traces_still_flow() -> None:
    provider = tracer_provider(TracingSettings(), "detect")
    assert provider.resource.attributes["service.name"] == "swerve-detect"
    never = tracer_provider(TracingSettings(sample_ratio=0.0), "correct").get_tracer("t")
    with never.start_as_current_span("root") as span:
        assert not span.is_recording()
        traceparent = current_traceparent()
    # Not recorded, but the trace id still reaches the output, marked not sampled
    context = span.get_span_context()
    assert ids_and_sampled(traceparent) == (trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id), False)


class Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector that keeps each request's path, content type and body."""

    received: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Collector.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


def test_given_the_otlp_exporter_then_spans_reach_the_collector_with_the_service_name() -> None:
    # Given a collector on a free port and settings that point at it
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Collector.received.clear()
    settings = TracingSettings(exporter="otlp", otlp_endpoint=f"http://127.0.0.1:{port}/v1/traces", service_name="swerve-test")
    provider = tracer_provider(settings, "detect")
    try:
        # When a span ends and the provider flushes
        with provider.get_tracer("t").start_as_current_span("swerve.decode"):
            pass
        assert provider.force_flush(10_000)
    finally:
        provider.shutdown()
        server.shutdown()
    # Then the collector got it as OTLP protobuf, under the configured service name
    (path, content_type, body) = Collector.received[0]
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    request = ExportTraceServiceRequest.FromString(body)
    (resource_spans,) = request.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"]
    assert service == "swerve-test" and resource_spans.scope_spans[0].spans[0].name == "swerve.decode"

"""The SDK against the real thing: a Tansu broker and a `swerve worker` process.

Given a worker, a clean image comes back as the original and a blocklisted one as its mirrored
replacement, many calls share the client's one consumer, a timeout loses nothing, the trace a
call is made in goes on through detect and correct, and the blocking wrapper works from inside a
running event loop (as in Jupyter)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any, Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from PIL import Image, ImageOps

from swerve.client import ModerationRequest, ModerationTimeoutError, Outcome, Swerve, SwerveSync
from swerve.media import sha256_hex
from swerve.streams.envelope import header_map
from swerve.streams.settings import Settings
from swerve.streams.topic_io import collect
from swerve.streams.topics import TopicNames

from ..integration.builders import blocklist_policy
from .builders import png

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# The worker's start-up (faust, the consumer group) counts against the first call's wait.
FIRST_CALL_TIMEOUT_S = 60.0


def count_starts(monkeypatch: pytest.MonkeyPatch, cls: type) -> list[Any]:
    """Every instance of ``cls`` started in this process from now on (the worker is another process)."""
    started: list[Any] = []
    original = cls.start

    async def counting_start(self: Any) -> None:
        started.append(self)
        await original(self)

    monkeypatch.setattr(cls, "start", counting_start)
    return started


def rgb(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def trace_ids(settings: Settings, *short_topics: str) -> dict[str, set[str]]:
    """The trace ids each request's records carry, over ``short_topics``."""
    topics = TopicNames(settings.topic_prefix)
    found: dict[str, set[str]] = {}
    for short in short_topics:
        for record in asyncio.run(collect(settings, getattr(topics, short), idle_timeout_s=0.5)):
            found.setdefault((record.key or b"").decode(), set()).add(header_map(record.headers)["traceparent"].split("-")[1])
    return found


def test_given_a_worker_then_clean_is_original_and_blocklisted_is_its_mirror_through_one_consumer(
    swerve_env: dict[str, str], settings: Settings, start_worker: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a worker whose policy replaces two images by their mirror; 512 bytes inline, so the
    # 32 px images (3 KiB) travel by reference through the image store both ways
    flagged, flagged_too = png(100, size=32), png(101, size=32)
    policy = blocklist_policy(tmp_path / "policy.yaml", [sha256_hex(flagged), sha256_hex(flagged_too)])
    small_inline = {"SWERVE_MEDIA_MAX_INLINE_BYTES": "512"}
    worker = start_worker(SWERVE_POLICY_PATH=str(policy), **small_inline)
    client_settings = Settings.from_env({**swerve_env, **small_inline})
    consumers, producers = count_starts(monkeypatch, AIOKafkaConsumer), count_starts(monkeypatch, AIOKafkaProducer)
    # ... and an application that traces (the SDK's tracer provider in this process)
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    application_traces: list[str] = []

    async def scenario() -> tuple[Outcome, Outcome, list[Outcome], list[Any]]:
        async with Swerve(client_settings) as swerve:
            # When a clean image and a blocklisted one are moderated, the blocklisted one in the application's span
            clean = await swerve.moderate(png(1), prompt="a clean image", seed=1, timeout=FIRST_CALL_TIMEOUT_S)
            with trace.get_tracer("application").start_as_current_span("handle upload") as span:
                application_traces.append(trace.format_trace_id(span.get_span_context().trace_id))
                replaced = await swerve.moderate(flagged, prompt="a taken-down image", seed=2, request_id="sdk-flagged")
            # ... and ten calls at once, then a batch with a flagged item among clean ones
            ten = await asyncio.gather(*(
                swerve.moderate(png(10 + i), prompt=f"image {i}", seed=i, request_id=f"sdk-ten-{i}") for i in range(10)
            ))
            batch = await swerve.moderate_many([
                {"image": png(30), "prompt": "batch clean", "seed": 30, "request_id": "sdk-batch-0"},
                ModerationRequest(image=flagged_too, prompt="batch flagged", seed=31, request_id="sdk-batch-1"),
                {"image": rgb(png(32)), "prompt": "batch pil", "seed": 32, "request_id": "sdk-batch-2"},
            ])
            return clean, replaced, list(ten), batch

    clean, replaced, ten, batch = asyncio.run(scenario())

    # Then the clean image comes back as it was sent
    assert clean.outcome == "original", worker.log_tail()
    assert clean.image == png(1) and clean.reasons == ()
    # ... the blocklisted one as its mirror, read back from the store, with the detector's reason
    assert (replaced.request_id, replaced.outcome) == ("sdk-flagged", "replacement")
    assert replaced.image_uri is not None and replaced.replacement_id is not None
    assert replaced.reasons and "takedowns" in replaced.reasons[0]
    picture = replaced.pil()
    assert picture is not None and picture.tobytes() == ImageOps.mirror(rgb(flagged)).tobytes()
    # ... the ten concurrent calls each get their own outcome
    assert [(o.request_id, o.outcome, o.image) for o in ten] == [(f"sdk-ten-{i}", "original", png(10 + i)) for i in range(10)]
    # ... the batch's flagged item does not fail the others
    assert [(o.request_id, o.outcome) for o in batch if isinstance(o, Outcome)] == [
        ("sdk-batch-0", "original"), ("sdk-batch-1", "replacement"), ("sdk-batch-2", "original")
    ]
    # ... and thirteen calls and a batch went through one consumer and one producer
    assert (len(consumers), len(producers)) == (1, 1)
    # ... the application's trace went on through detect and correct, to the replacement's delivery
    traced = trace_ids(client_settings, "generations", "verdicts", "flagged", "replacements", "delivery")
    assert traced["sdk-flagged"] == set(application_traces)
    # ... and each call made outside a span started a trace of its own, which its outputs continue
    assert all(len(traced[f"sdk-ten-{i}"]) == 1 for i in range(10))
    assert len(set().union(*(traced[f"sdk-ten-{i}"] for i in range(10)))) == 10


def test_given_no_worker_when_a_call_times_out_then_outcome_returns_it_once_a_worker_runs(
    settings: Settings, start_worker: Callable[..., Any]
) -> None:
    async def scenario() -> tuple[ModerationTimeoutError, Outcome]:
        async with Swerve(settings) as swerve:
            # Given no worker, when a call waits one second
            with pytest.raises(ModerationTimeoutError) as raised:
                await swerve.moderate(png(40), prompt="nobody is listening", seed=40, request_id="sdk-late", timeout=1.0)
            # ... then a worker starts
            worker = start_worker()
            # Then the request was not lost: asking again returns its outcome
            later = await swerve.outcome(raised.value.request_id, timeout=FIRST_CALL_TIMEOUT_S)
            assert later.outcome == "original", worker.log_tail()
            return raised.value, later

    timed_out, later = asyncio.run(scenario())

    assert timed_out.request_id == "sdk-late" and isinstance(timed_out, TimeoutError)
    assert (later.request_id, later.image) == ("sdk-late", png(40))


def test_given_a_worker_then_the_blocking_client_works_inside_a_running_loop_and_finds_past_outcomes(
    settings: Settings, start_worker: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = start_worker()

    # Given a request delivered before this client existed (another process published it)
    with SwerveSync(settings) as earlier:
        first = earlier.moderate(png(50), prompt="from an earlier process", seed=50, request_id="sdk-past", timeout=FIRST_CALL_TIMEOUT_S)
    assert first.outcome == "original", worker.log_tail()

    # When a notebook cell (an event loop already running in this thread) uses the blocking client
    consumers = count_starts(monkeypatch, AIOKafkaConsumer)

    async def notebook_cell() -> tuple[Outcome, Outcome]:
        with SwerveSync(settings) as swerve:
            past = swerve.outcome("sdk-past", timeout=30)  # never watched: found by scanning the topic
            fresh = swerve.moderate(png(51), prompt="from the notebook", seed=51, timeout=30)
            return past, fresh

    past, fresh = asyncio.run(notebook_cell())

    # Then both outcomes come back
    assert (past.request_id, past.outcome, past.image) == ("sdk-past", "original", png(50))
    assert (fresh.outcome, fresh.image) == ("original", png(51))
    # ... the past one through a scan: the client's own consumer starts at the end, so a second,
    # short-lived one read the topic from its beginning
    assert len(consumers) == 2

"""The faust agents. Each is a thin loop: decode, call the stage, publish, and only then let
faust ack the input.

- ``detect``: micro-batches ``swerve.generations`` (``take_events``), judges off the event
  loop, publishes verdicts, deliveries, flags and audit records.
- ``correct``: consumes ``swerve.flagged``, runs the adaptive loop off the event loop with
  bounded concurrency, publishes replacements, deliveries and audit records.

Invalid input goes to the DLQ with its reason and the loop goes on. A failure to publish is
not caught: the worker stops, and the unacknowledged input is consumed again on restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Callable, Literal

import faust

from swerve.errors import InvalidInputError
from swerve.media import ImageStore, MediaLimits
from swerve.streams.correct_stage import CorrectStage
from swerve.streams.detect_stage import DecodedGeneration, detect
from swerve.streams.envelope import decode
from swerve.streams.events import PromptEvent
from swerve.streams.inputs import decode_flagged, decode_generation
from swerve.streams.judging import Judge
from swerve.streams.metrics import CORRECTION_ATTEMPTS, EVENTS, READY, STAGE_SECONDS, observe_lag
from swerve.streams.policy import Policy
from swerve.streams.publication import Publication
from swerve.streams.publisher import Publisher, incoming_traceparent, message_headers
from swerve.streams.screen_stage import screen
from swerve.streams.settings import Settings

Role = Literal["screen", "detect", "correct", "all"]


def decode_all(raw: list[tuple[bytes | None, list[tuple[str, bytes]]]], limits: MediaLimits) -> list[DecodedGeneration | InvalidInputError]:
    """Decode a micro-batch in one executor call; invalid inputs come back as their error."""
    results: list[DecodedGeneration | InvalidInputError] = []
    for value, headers in raw:
        try:
            results.append(decode_generation(value, headers, limits))
        except InvalidInputError as exc:
            results.append(exc)
    return results
log = logging.getLogger("swerve.agents")


def install_agents(app: faust.App, topics: dict[str, faust.TopicT], settings: Settings, policy: Policy, role: Role) -> None:
    """Register the agents for ``role`` on ``app``."""
    judge = Judge()
    publisher = Publisher(topics, source=f"/swerve/{settings.worker.app_id}")
    limits = settings.media

    def record_lag(event: faust.EventT) -> None:
        message = event.message
        observe_lag(message.topic, message.partition, message.offset, app.consumer.highwater(message.tp))

    # Ready once this worker owns partitions; not ready while a rebalance takes them away.
    @app.on_partitions_assigned.connect
    async def mark_ready(app: faust.App, assigned: set[Any], **kwargs: Any) -> None:
        READY.set()

    @app.on_partitions_revoked.connect
    async def mark_rebalancing(app: faust.App, revoked: set[Any], **kwargs: Any) -> None:
        READY.clear()

    async def run_batch_stage(stage: str, pool: ThreadPoolExecutor, run: Callable[[list[Any]], list[list[Publication]]],
                              decoded: list[tuple[faust.EventT, Any]]) -> None:
        """Run a batch stage off the event loop, then publish each input's events and await the acks.

        An unexpected stage failure sends the whole batch to the DLQ with its reason.
        """
        if not decoded:
            return
        started = time.perf_counter()
        try:
            outputs = await asyncio.get_running_loop().run_in_executor(pool, run, [item for _, item in decoded])
        except Exception as exc:  # noqa: BLE001 - an unexpected stage failure is routed, never dropped
            log.exception("%s stage failed on a batch of %d; sending it to the DLQ", stage, len(decoded))
            for event, _ in decoded:
                await publisher.dead_letter(event, exc, stage)
            return
        STAGE_SECONDS.labels(stage=stage).observe(time.perf_counter() - started)
        await publisher.publish_batch(
            [(publications, incoming_traceparent(message_headers(event.message))) for (event, _), publications in zip(decoded, outputs)]
        )
        for publications in outputs:
            EVENTS.labels(stage=stage, outcome=publications[0].event.decision).inc()  # type: ignore[attr-defined]

    if role in ("detect", "all"):
        detect_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="swerve-detect")

        @app.agent(topics["generations"], name="swerve.detect")
        async def detect_agent(stream: faust.StreamT[Any]) -> None:
            loop = asyncio.get_running_loop()
            async for events in stream.take_events(settings.worker.detect_batch_size, within=settings.worker.detect_batch_window_s):
                record_lag(events[-1])
                raw = [(event.message.value, message_headers(event.message)) for event in events]
                results = await loop.run_in_executor(detect_pool, decode_all, raw, limits)
                decoded: list[tuple[faust.EventT, Any]] = []
                for event, result in zip(events, results):
                    if isinstance(result, InvalidInputError):
                        await publisher.dead_letter(event, result, "decode")
                    else:
                        decoded.append((event, result))
                await run_batch_stage("detect", detect_pool, partial(detect, judge, policy), decoded)

    if role in ("screen", "all"):
        screen_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="swerve-screen")

        @app.agent(topics["prompts"], name="swerve.screen")
        async def screen_agent(stream: faust.StreamT[Any]) -> None:
            async for events in stream.take_events(settings.worker.detect_batch_size, within=settings.worker.detect_batch_window_s):
                record_lag(events[-1])
                prompts: list[tuple[faust.EventT, Any]] = []
                for event in events:
                    try:
                        prompts.append((event, decode(event.message.value, message_headers(event.message), PromptEvent)))
                    except InvalidInputError as exc:
                        await publisher.dead_letter(event, exc, "decode")
                await run_batch_stage("screen", screen_pool, partial(screen, judge, policy), prompts)

    if role in ("correct", "all"):
        concurrency = settings.worker.correct_concurrency
        correct_pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="swerve-correct")
        stage = CorrectStage(policy, judge, ImageStore(settings.image_store_uri), limits)

        @app.agent(topics["flagged"], name="swerve.correct", concurrency=concurrency)
        async def correct_agent(stream: faust.StreamT[Any]) -> None:
            loop = asyncio.get_running_loop()
            async for event in stream.events():
                record_lag(event)
                headers = message_headers(event.message)
                try:
                    flagged, image = await loop.run_in_executor(correct_pool, decode_flagged, event.message.value, headers, limits)
                except InvalidInputError as exc:
                    await publisher.dead_letter(event, exc, "decode")
                    continue
                started = time.perf_counter()
                try:
                    publications = await loop.run_in_executor(correct_pool, stage.correct, flagged, image)
                except Exception as exc:  # noqa: BLE001 - an unexpected stage failure is routed, never dropped
                    log.exception("correct stage failed for %s; sending it to the DLQ", flagged.id)
                    await publisher.dead_letter(event, exc, "correct")
                    continue
                STAGE_SECONDS.labels(stage="correct").observe(time.perf_counter() - started)
                await publisher.publish(publications, incoming_traceparent(headers))
                delivery = next(p.event for p in publications if p.topic == "delivery")
                EVENTS.labels(stage="correct", outcome=delivery.outcome).inc()  # type: ignore[attr-defined]
                CORRECTION_ATTEMPTS.observe(sum(1 for p in publications if p.topic == "verdicts") or 1)

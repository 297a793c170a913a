"""The faust agents. Each is a thin loop: take input, hand it to ``BatchRunner.run``, which
decodes, runs the stage, publishes, and returns only once the broker acknowledged every
output; only then may faust acknowledge the input.

- ``detect``: micro-batches ``swerve.generations`` (``take_events``), judges them.
- ``screen``: micro-batches ``swerve.prompts``, screens the prompts.
- ``correct``: consumes ``swerve.flagged`` one event per actor, with bounded concurrency,
  and runs the adaptive correction loop.
- ``review`` (in the detect role): consumes ``swerve.review.decisions`` one at a time and
  applies each against the review logs the worker reads into memory; a timer resolves
  items past their deadline (``review_timeout``).

Every stage object the policy names (detectors, correctors, the image store) is built here,
before faust starts, so a wrong path stops the worker at start-up, naming it.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Literal

import faust
import torch

from swerve.audit.signing import audit_signer
from swerve.index.cpu_quota import available_cpus
from swerve.index.threads import configure_faiss_threads
from swerve.media import ImageStore
from swerve.streams import detect_stage, review_decisions, screen_stage
from swerve.streams.batch_runner import BatchRunner, Stage
from swerve.streams.correct_stage import CorrectStage
from swerve.streams.identity_claims import Claim, IdentityClaims
from swerve.streams.start_up import prepared
from swerve.streams.inputs import decode_flagged, decode_generation, decode_prompt
from swerve.streams.judging import Judge
from swerve.streams.metrics import READY, set_build_info
from swerve.streams.policy import Policy
from swerve.streams.publisher import Publisher
from swerve.streams.review_log import ReviewState
from swerve.streams.review_reader import ReviewLogReader
from swerve.streams.review_timeout import ReviewTimeouts, check_review_retention
from swerve.streams.settings import Settings

Role = Literal["screen", "detect", "correct", "all"]
log = logging.getLogger("swerve.agents")


def identity_claims(topics: dict[str, faust.TopicT], settings: Settings) -> IdentityClaims | None:
    """The claims log of event ids, unless ``SWERVE_WORKER_ID_CLAIMS=false``."""
    worker = settings.worker
    if not worker.id_claims:
        log.warning("event-id claims are off (SWERVE_WORKER_ID_CLAIMS=false): an id reused for other content is not detected")
        return None
    return IdentityClaims(
        topics["claims"].get_topic_name(),
        lambda key, value: topics["claims"].send(key=key, value=value),
        settings.kafka.aiokafka_kwargs(),
        fetch_max_wait_ms=worker.id_claims_fetch_wait_ms,
        retention_s=worker.id_claims_retention_h * 3600,
        readback_timeout_s=worker.probe_timeout_s * 2,
    )


def review_log_reader(topics: dict[str, faust.TopicT], settings: Settings) -> ReviewLogReader:
    """The reader of both review topics, into a state bound to the worker's pinned tenant."""
    return ReviewLogReader(
        topics["review"].get_topic_name(),
        topics["review_decisions"].get_topic_name(),
        ReviewState(settings.worker.tenant),
        settings.kafka.aiokafka_kwargs(),
        readback_timeout_s=settings.worker.probe_timeout_s * 2,
    )


def install_agents(app: faust.App, topics: dict[str, faust.TopicT], settings: Settings, policy: Policy, role: Role) -> None:
    """Register the agents for ``role`` on ``app``, after building what they need.

    Raises:
        ConfigurationError: a detector, corrector or the image store cannot be built.
    """
    # Before any detector opens an index: SWERVE_FAISS_THREADS, else the CPU quota.
    configure_faiss_threads(settings.faiss_threads)
    # torch's intra-op pool defaults to the host's cores as well: the container's quota instead.
    torch.set_num_threads(available_cpus())
    judge = Judge()
    sign_audit = audit_signer(settings.audit.signing_key_path)  # None, with one warning, without a key
    publisher = Publisher(topics, source=f"/swerve/{settings.worker.app_id}", sign_audit=sign_audit)
    claims = identity_claims(topics, settings) if role in ("screen", "detect", "all") else None
    runner = BatchRunner(publisher, policy.full_version, settings.worker.dependency_retry_s, lambda tp: app.consumer.highwater(tp), claims)
    store = ImageStore(settings.image_store_uri, create_root=False)
    limits = settings.media
    worker = settings.worker

    # Ready once this worker owns partitions; not ready while a rebalance takes them away.
    @app.on_partitions_assigned.connect
    async def mark_ready(app: faust.App, assigned: set[Any], **kwargs: Any) -> None:
        READY.set()

    @app.on_partitions_revoked.connect
    async def mark_rebalancing(app: faust.App, revoked: set[Any], **kwargs: Any) -> None:
        READY.clear()
        # A warning, not info: a rebalance replays uncommitted input, so duplicates follow it.
        log.warning("partitions revoked in a rebalance (%d); not ready until assigned again", len(revoked))

    if role in ("detect", "correct", "all"):
        prepared(f"the image store {store.base_uri}", partial(store.ensure_root, check_write=role != "detect"))
        check_review_retention(policy, settings)  # both roles put requests in the review queue

    if role in ("detect", "all"):
        for rules in policy.all_rules():
            for spec in rules.detectors:
                prepared(f"detector {spec.name!r} ({spec.kind})", partial(judge.detector, spec))
        detect = Stage(
            "detect",
            partial(decode_generation, limits=limits, store=store, pinned_tenant=worker.tenant),
            partial(detect_stage.detect, judge, policy, bound_tenant=worker.tenant),
            partial(detect_stage.fail_closed, policy),
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="swerve-detect"),
            rejects_to_delivery=True,
            claim=lambda item: Claim.of(item.event),
        )

        @app.agent(topics["generations"], name="swerve.detect")
        async def detect_agent(stream: faust.StreamT[Any]) -> None:
            async for events in stream.take_events(worker.detect_batch_size, within=worker.detect_batch_window_s):
                await runner.run(detect, events)

        # The review queue runs with detect: CPU work with no models, and every deployment runs
        # detect, so no item waits on a role nobody started. It runs whatever the policy says:
        # items a previous policy sent to review must still resolve.
        reader = review_log_reader(topics, settings)
        review = Stage(
            "review",
            lambda value, headers: review_decisions.decode_decision(value, headers, reader.state, worker.tenant),
            lambda items: [review_decisions.apply_decision(settled) for settled in items],
            review_decisions.fail_closed,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="swerve-review"),
            rejects_to_delivery=False,  # the request is still pending: a valid decision or the timeout settles it
            read_up_to=reader.read_through,
        )

        @app.agent(topics["review_decisions"], name="swerve.review")
        async def review_agent(stream: faust.StreamT[Any]) -> None:
            async for event in stream.events():
                await runner.run(review, [event])

        timeouts = ReviewTimeouts(reader, lambda publications: publisher.publish(publications, None))

        @app.timer(interval=worker.review_timeout_check_s, name="swerve.review_timeouts")
        async def review_timeout_timer() -> None:
            await timeouts.tick_or_halt()

        @app.on_before_shutdown.connect
        async def stop_review_reader(app: faust.App, **kwargs: Any) -> None:
            await reader.stop()

    if role in ("screen", "all"):
        for rules in policy.all_rules():
            for spec in rules.prompt_detectors:
                prepared(f"prompt detector {spec.name!r} ({spec.kind})", partial(judge.detector, spec))
        screen = Stage(
            "screen",
            partial(decode_prompt, pinned_tenant=worker.tenant),
            partial(screen_stage.screen, judge, policy, bound_tenant=worker.tenant),
            partial(screen_stage.fail_closed, policy),
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="swerve-screen"),
            rejects_to_delivery=False,
            claim=Claim.of,
        )

        @app.agent(topics["prompts"], name="swerve.screen")
        async def screen_agent(stream: faust.StreamT[Any]) -> None:
            async for events in stream.take_events(worker.detect_batch_size, within=worker.detect_batch_window_s):
                await runner.run(screen, events)

    if role in ("correct", "all"):
        corrections = CorrectStage(policy, judge, store, limits, bound_tenant=worker.tenant)
        prepared("the policy's correctors", corrections.prepare)
        correct = Stage(
            "correct",
            partial(decode_flagged, limits=limits, store=store, pinned_tenant=worker.tenant),
            lambda items: [corrections.correct(flagged, image) for flagged, image in items],
            corrections.fail_closed,
            ThreadPoolExecutor(max_workers=worker.correct_concurrency, thread_name_prefix="swerve-correct"),
            rejects_to_delivery=True,
        )

        @app.agent(topics["flagged"], name="swerve.correct", concurrency=worker.correct_concurrency)
        async def correct_agent(stream: faust.StreamT[Any]) -> None:
            async for event in stream.events():
                await runner.run(correct, [event])

    # Every detector the role needs is built by now: their indexes name the versions running.
    set_build_info(policy.full_version, judge.index_versions())

"""One batch of inputs through decode, stage and publish, under swerve's failure classes
(docs/reliability.md). The agents are loops around ``BatchRunner.run``.

- **Bad input** (decode failed for any reason but a transient one, ``RecursionError``
  included): the message goes to the DLQ, its request gets a ``rejected`` outcome, and
  its batch-mates go on.
- **A transient dependency failure** (image store, broker): the step is retried with
  backoff (``dependency_retry``). If it lasts, the worker halts without committing.
- **A bug on one sample** (an exception from stage code; detectors' own errors are already
  ``error`` scores): the batch is run again one sample at a time, and the sample that
  still fails gets its stage's fail-closed outcome, with the exception as its reason.
- **Anything else**, or a stop with inputs in hand: ``halt`` before faust can acknowledge.

A stage with a ``claim`` has each input's event id claimed (``identity_claims``) while the
batch is judged; an input whose id was first claimed with other content is bad input too. A
stage with ``read_up_to`` (review: decisions are judged against the review logs) first waits
until its log reader has read through the inputs' positions.

Tracing (``tracing``): each input is decoded in its own span (``decode_step``), the batch runs
in one stage span, and every output is published under its own input's decode span.

This module must never let an exception reach faust: faust would acknowledge the batch.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Awaitable, Callable, Generic, Literal, Sequence, TypeVar

import faust
from opentelemetry.context import Context

from swerve.streams import exit_codes
from swerve.streams.decode_step import Inbound, Undecodable, decode_each
from swerve.streams.dependency_retry import is_transient, retry_transient
from swerve.streams.failure_isolation import run_isolated
from swerve.streams.identity_claims import Claim, IdentityClaims
from swerve.streams.metrics import CORRECTION_ATTEMPTS, EVENTS, OUTCOMES, STAGE_SECONDS, observe_lag
from swerve.streams.publication import Publication
from swerve.streams.publisher import Publisher, message_headers
from swerve.streams.rejection import rejected_outcome
from swerve.streams.supervision import halt
from swerve.streams.tracing import request_id_of, stage_span, under

ItemT = TypeVar("ItemT")
Headers = list[tuple[str, bytes]]
log = logging.getLogger("swerve.agents")


@dataclass(frozen=True)
class Stage(Generic[ItemT]):
    """What an agent runs: how to decode one message, judge a batch, and fail one item closed.

    Args:
        name: ``detect``, ``correct``, ``screen`` or ``review``.
        decode: one message's value and headers -> the stage's item; raises on bad input.
        run: items -> per item, the publications.
        fail_closed: an item and the exception the stage raised on it -> its publications.
        pool: where decode and run execute, off the event loop.
        rejects_to_delivery: whether a dead-lettered input gets a ``rejected`` delivery
            (generations and flagged events; a prompt's outcome is not a delivery).
        claim: an item -> its claim to its event id, for inputs that producers name
            (generations, prompts); None for inputs swerve itself made.
        read_up_to: awaited with the inputs' (partition, offset) before they are decoded, for a
            stage whose decode reads a log the worker keeps in memory; retried when transient.
    """

    name: Literal["detect", "correct", "screen", "review"]
    decode: Callable[[bytes | None, Headers], ItemT]
    run: Callable[[list[ItemT]], list[list[Publication]]]
    fail_closed: Callable[[ItemT, BaseException], list[Publication]]
    pool: ThreadPoolExecutor
    rejects_to_delivery: bool
    claim: Callable[[ItemT], Claim] | None = None
    read_up_to: Callable[[list[tuple[int, int]]], Awaitable[None]] | None = None


class BatchRunner:
    """Runs batches for the agents of one worker; publishes through ``publisher``."""

    def __init__(
        self,
        publisher: Publisher,
        policy_version: str,
        retry_budget_s: float,
        highwater: Callable[[Any], int | None],
        claims: IdentityClaims | None = None,
    ):
        self.publisher = publisher
        self.claims = claims
        self.policy_version = policy_version
        self.retry_budget_s = retry_budget_s
        self.highwater = highwater

    async def run(self, stage: Stage[Any], events: Sequence[faust.EventT]) -> None:
        """Decode, run and publish ``events``; return only once every output was acknowledged."""
        try:
            await self._run(stage, list(events))
        except asyncio.CancelledError:
            halt(exit_codes.STOPPED_MID_BATCH, f"{stage.name}: stopped with {len(events)} input(s) in hand; they will be consumed again")
        except Exception as exc:  # noqa: BLE001 - never let faust acknowledge: halt instead
            if is_transient(exc):
                halt(exit_codes.DEPENDENCY_UNAVAILABLE, f"{stage.name}: a dependency stayed unavailable for {self.retry_budget_s} s", exc)
            halt(exit_codes.UNFORESEEN, f"{stage.name}: unforeseen {type(exc).__name__}", exc)

    async def _retrying(self, step: str, call: Callable[[], Any]) -> Any:
        return await retry_transient(call, step=step, budget_s=self.retry_budget_s)

    async def _run(self, stage: Stage[Any], events: list[faust.EventT]) -> None:
        loop = asyncio.get_running_loop()
        last = events[-1].message
        observe_lag(last.topic, last.partition, last.offset, self.highwater(last.tp))
        inbound = [Inbound.of(event.message, message_headers(event.message)) for event in events]
        if stage.read_up_to is not None:
            read_up_to = stage.read_up_to
            positions = [(event.message.partition, event.message.offset) for event in events]
            await self._retrying(f"{stage.name}.read", lambda: read_up_to(positions))
        results = await self._retrying(f"{stage.name}.decode", lambda: loop.run_in_executor(stage.pool, decode_each, stage.name, stage.decode, inbound))
        # Each input with its decode span's context: the parent of everything published for it.
        decoded: list[tuple[faust.EventT, Any, Context]] = []
        for event, result in zip(events, results):
            if isinstance(result.result, Undecodable):
                await self._reject(stage, event, result.result.error, result.context)
            else:
                decoded.append((event, result.result, result.context))
        if not decoded:
            return
        with stage_span(stage.name, [context for *_, context in decoded], [request_id_of(event.message.key) for event, *_ in decoded]):
            await self._judge_and_publish(stage, decoded)

    async def _judge_and_publish(self, stage: Stage[Any], decoded: list[tuple[faust.EventT, Any, Context]]) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        items = [item for _, item, _ in decoded]
        claims = [stage.claim(item) for item in items] if stage.claim is not None and self.claims is not None else []
        # Claims travel to the broker and back while the batch is judged.
        settling = None
        if claims and self.claims is not None:
            settling = asyncio.ensure_future(self._retrying(f"{stage.name}.identity", partial(self.claims.settle, claims)))
        # The pool's thread runs in a copy of this context, so detector and correction spans are the stage span's children.
        outputs = await self._retrying(stage.name, lambda: loop.run_in_executor(
            stage.pool, contextvars.copy_context().run, run_isolated, stage.name, stage.run, stage.fail_closed, items))
        STAGE_SECONDS.labels(stage=stage.name).observe(time.perf_counter() - started)
        conflicts = await settling if settling is not None else [None] * len(items)
        kept: list[tuple[list[Publication], Context]] = []
        for index, ((event, _, context), publications, conflict) in enumerate(zip(decoded, outputs, conflicts)):
            if conflict is None:
                kept.append((publications, context))
            else:  # only a claimed input can conflict
                claim = claims[index]
                await self._reject(stage, event, conflict, context, "identity", outcome_key=f"{claim.key}#{claim.digest}")
        await self._retrying(f"{stage.name}.publish", lambda: self.publisher.publish_batch(kept))
        for publications, _ in kept:
            self._count(stage.name, publications)

    async def _reject(
        self, stage: Stage[Any], event: faust.EventT, error: BaseException, context: Context, step: str = "decode", outcome_key: str | None = None
    ) -> None:
        """Dead-letter ``event`` and, when its request can be named, publish its ``rejected`` outcome (under ``context``)."""
        message = event.message
        with under(context, request_id_of(message.key)):
            log.warning("%s: dead-lettering %s[%d]@%d: %s: %s", stage.name, message.topic, message.partition, message.offset, type(error).__name__, error)
            position = await self._retrying("dlq", lambda: self.publisher.dead_letter(event, error, step))
            if not stage.rejects_to_delivery:
                return
            headers = message_headers(message)
            publications = rejected_outcome(stage.name, message.key, message.value, headers, error, position, self.policy_version, outcome_key)  # type: ignore[arg-type]
            if publications:
                await self._retrying("dlq.outcome", lambda: self.publisher.publish(publications, context))
                OUTCOMES.labels(stage=stage.name, outcome="rejected", reason_class="invalid_input").inc()

    @staticmethod
    def _count(stage: str, publications: list[Publication]) -> None:
        delivery = next((p.event for p in publications if p.topic == "delivery"), None)
        if delivery is not None:
            OUTCOMES.labels(stage=stage, outcome=delivery.outcome, reason_class=delivery.reason_class or "none").inc()  # type: ignore[attr-defined]
        if stage == "correct":
            held = any(p.topic == "review" for p in publications)
            EVENTS.labels(stage=stage, outcome=delivery.outcome if delivery is not None else "review" if held else "none").inc()  # type: ignore[attr-defined]
            CORRECTION_ATTEMPTS.observe(sum(1 for p in publications if p.topic == "verdicts") or 1)
        else:
            # detect, screen: the first publication is the verdict; review: the last is the audit
            # record, whose decision is the reviewer's or `refused`.
            EVENTS.labels(stage=stage, outcome=publications[-1].event.decision if stage == "review" else publications[0].event.decision).inc()  # type: ignore[attr-defined]

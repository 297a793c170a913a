"""The gateway's one SDK client, connected in the background, and whether it is ready.

Every request goes through one ``swerve.client.Swerve``: one producer, one consumer of
``<prefix>.delivery``, whatever the number of requests. It is started when the app starts;
while the broker cannot be reached (or ``<prefix>.delivery`` does not exist yet: the workers
create it), starting is retried every few seconds and ``/readyz`` says why it is not ready.
Readiness also asks the broker, each time, whether it answers and lists the topics the gateway
writes and reads. A client whose delivery reader stopped can never get an outcome again (the SDK
says: open a new one); the gateway then reports itself broken on ``/healthz`` too, so the
orchestrator restarts it rather than leave it answering 503 for ever.

This module must never open a second client, nor commit offsets (the SDK never does).
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka.errors import KafkaError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from swerve.client import Swerve
from swerve.errors import BrokerUnavailableError, ConfigurationError
from swerve.streams.broker_probe import BrokerProbe, BrokerUnreachable
from swerve.streams.settings import Settings

__all__ = ["GatewayNotReady", "SdkConnection"]

log = logging.getLogger("swerve.gateway")

# Seconds between two tries to start the client: doubling from the first, up to the last.
_FIRST_RETRY_S = 0.5
_LAST_RETRY_S = 5.0


class GatewayNotReady(Exception):
    """The SDK client is not started (yet); the message says why. Answered 503."""


class SdkConnection:
    """Owns the shared ``Swerve`` client from the app's start to its end.

    Args:
        settings (`Settings`): the broker, topics, image store and media limits.
        cache_size (`int`): how many recent requests the client remembers with their outcomes.
    """

    def __init__(self, settings: Settings, cache_size: int) -> None:
        self.settings = settings
        self.client = Swerve(settings, cache_size=cache_size)
        self._started = False
        self._problem = "the SDK client is not started yet"
        self._broken: str | None = None
        self._task: asyncio.Task[None] | None = None
        # Only listed topics are asked for (no partitions): the group id is never used.
        self._probe = BrokerProbe(settings.kafka, f"{settings.worker.app_id}-gateway", settings.worker.probe_timeout_s)
        self._probe_lock = asyncio.Lock()

    @property
    def started(self) -> bool:
        """Whether the client's producer and delivery consumer are started."""
        return self._started

    @property
    def broken(self) -> str | None:
        """Why the client can never answer again (its delivery reader stopped), or None."""
        return self._broken

    def mark_broken(self, error: BrokerUnavailableError) -> None:
        """Record that ``error`` came from a stopped delivery reader (stage ``delivery``)."""
        if error.stage == "delivery" and self._broken is None:
            self._broken = str(error)
            log.error("the gateway's SDK client cannot receive outcomes any more; restart the gateway: %s", error)

    def start(self) -> None:
        """Start connecting in the background; returns at once."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._connect(), name="swerve-gateway-connect")

    async def close(self) -> None:
        """Stop connecting, and close the client and the readiness probe."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        self._started = False
        self._problem = "the gateway is shutting down"
        await self.client.close()
        await self._probe.close()

    def ready_client(self) -> Swerve:
        """The started client.

        Raises:
            GatewayNotReady: it is not started; the message says why.
        """
        if not self._started:
            raise GatewayNotReady(f"the gateway is not connected to the broker yet: {self._problem}")
        return self.client

    async def readiness(self) -> str | None:
        """None when ready: the client is started, the broker answers and lists the
        generations and delivery topics. Otherwise why not."""
        if not self._started:
            return self._problem
        if self._broken is not None:
            return self._broken
        async with self._probe_lock:
            answer = await self._probe.probe(())
        if isinstance(answer, BrokerUnreachable):
            return f"broker unreachable: {answer.reason}"
        needed = (self.client.topics.generations, self.client.topics.delivery)
        missing = [topic for topic in needed if topic not in answer.topics]
        if missing:
            return f"topics missing on {self.settings.kafka.bootstrap}: {', '.join(missing)} (`swerve topics create`)"
        return None

    async def _connect(self) -> None:
        def note_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            self._problem = _describe(error) if error is not None else "the SDK client did not start"
            delay = state.next_action.sleep if state.next_action is not None else 0.0
            log.warning("the gateway's SDK client cannot start (%s); retrying in %.1f s", self._problem, delay)

        # Until it starts or the app stops (close() cancels this task): 0.5 s, 1 s, 2 s, 4 s, then every 5 s.
        retrying = AsyncRetrying(
            wait=wait_exponential(multiplier=_FIRST_RETRY_S, max=_LAST_RETRY_S),
            retry=retry_if_exception_type((KafkaError, OSError, TimeoutError, ConfigurationError)),
            before_sleep=note_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self.client.start()
        self._started = True
        log.info("the gateway's SDK client is started on %s", self.settings.kafka.bootstrap)


def _describe(exc: BaseException) -> str:
    # aiokafka's errors already start with their class name; others do not.
    text = str(exc)
    return text if text.startswith(type(exc).__name__) else f"{type(exc).__name__}: {text}"

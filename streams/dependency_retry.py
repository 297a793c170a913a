"""Retries a step that failed because a dependency blinked (the image store, the broker),
with bounded exponential backoff and jitter, through tenacity.

What counts as transient is decided in one place, ``is_transient``: swerve's
``TransientError`` (the store did not answer, the broker did not acknowledge in time) and
the Kafka client's retriable errors. Bad input and bugs are never retried here: retrying
cannot fix them, and they have outcomes of their own. When the budget runs out the last
error is raised again, and the agent stops the worker without committing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, TypeVar

from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_delay, wait_exponential_jitter

from swerve.errors import TransientError
from swerve.streams.metrics import TRANSIENT_RETRIES

T = TypeVar("T")
log = logging.getLogger("swerve.retry")


def is_transient(error: BaseException) -> bool:
    """Whether retrying later may succeed: a dependency did not answer, nothing is wrong with the input."""
    if isinstance(error, TransientError):
        return True
    if isinstance(error, KafkaError):
        return bool(getattr(error, "retriable", False)) or isinstance(error, (KafkaTimeoutError, KafkaConnectionError))
    return isinstance(error, (asyncio.TimeoutError, ConnectionError))


async def retry_transient(call: Callable[[], Awaitable[T]], *, step: str, budget_s: float, max_wait_s: float = 5.0) -> T:
    """Await ``call()``; on a transient failure wait (exponential, jittered) and call again.

    Args:
        call: makes a fresh awaitable for each try.
        step: what is retried (``decode``, ``detect``, ``publish`` ...), for logs and metrics.
        budget_s: give up once this many seconds have passed since the first try.
        max_wait_s: longest single wait between tries.

    Raises:
        The last transient error once ``budget_s`` is spent; any other error at once.
    """

    def note_retry(state: RetryCallState) -> None:
        TRANSIENT_RETRIES.labels(step=step).inc()
        error = state.outcome.exception() if state.outcome is not None else None
        log.warning("%s failed on a dependency (try %d), retrying: %s: %s", step, state.attempt_number, type(error).__name__, error)

    retrying = AsyncRetrying(
        stop=stop_after_delay(budget_s),
        wait=wait_exponential_jitter(multiplier=0.1, max=max_wait_s),
        retry=retry_if_exception(is_transient),
        before_sleep=note_retry,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

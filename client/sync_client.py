"""``SwerveSync``: the blocking face of ``Swerve``, for scripts and notebooks.

It runs one ``Swerve`` on an event loop of its own, in a background thread, and each method
waits for the coroutine it hands that loop. The caller's thread needs no event loop, and may
already run one (Jupyter does): nothing is scheduled on it. The thread is a daemon, so a
forgotten ``close()`` cannot keep the interpreter alive; closing still releases the
connections cleanly. Each call runs under the caller's OpenTelemetry context, so what it
publishes continues the caller's trace.

This module must never hold a second client: every method goes to the one ``Swerve``.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any, Coroutine, Mapping, Sequence, TypeVar

from opentelemetry import context as otel_context
from opentelemetry.context import Context

from swerve.errors import SwerveError
from swerve.streams.settings import Settings
from swerve.streams.tracing import under

from swerve.client.async_client import Swerve
from swerve.client.correlation import DEFAULT_CAPACITY
from swerve.client.image_input import ImageInput
from swerve.client.outcome import Outcome
from swerve.client.request import ModerationRequest

__all__ = ["SwerveSync"]

_T = TypeVar("_T")


class SwerveSync:
    """``Swerve`` with blocking methods; a context manager.

    ::

        with SwerveSync() as swerve:
            outcome = swerve.moderate(png_bytes, prompt="a red star", seed=7)

    Args:
        settings (`Settings`, *optional*): as for ``Swerve``.
        cache_size (`int`, *optional*, defaults to 10,000): as for ``Swerve``.
    """

    def __init__(self, settings: Settings | None = None, *, cache_size: int = DEFAULT_CAPACITY) -> None:
        self.client = Swerve(settings, cache_size=cache_size)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the loop thread and the client. Does nothing when already started.

        Raises:
            ConfigurationError, KafkaError: as for ``Swerve.start``; the thread is stopped again.
        """
        if self._loop is not None:
            return
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="swerve-client-loop", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            self._call(self.client.start())
        except BaseException:
            self._stop_loop()
            raise

    def close(self) -> None:
        """Close the client, then stop its loop and thread."""
        if self._loop is None:
            return
        try:
            self._call(self.client.close())
        finally:
            self._stop_loop()

    def __enter__(self) -> SwerveSync:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def moderate(
        self,
        image: ImageInput,
        *,
        prompt: str,
        seed: int | None = None,
        tenant: str | None = None,
        negative_prompt: str | None = None,
        model_id: str | None = None,
        request_id: str | None = None,
        timeout: float = 30.0,
    ) -> Outcome:
        """Blocking ``Swerve.moderate``: same arguments, result and errors."""
        return self._call(self.client.moderate(
            image, prompt=prompt, seed=seed, tenant=tenant, negative_prompt=negative_prompt,
            model_id=model_id, request_id=request_id, timeout=timeout,
        ))

    def moderate_many(
        self, items: Sequence[ModerationRequest | Mapping[str, Any]], *, timeout: float = 30.0
    ) -> list[Outcome | SwerveError]:
        """Blocking ``Swerve.moderate_many``: same arguments, result and errors."""
        return self._call(self.client.moderate_many(items, timeout=timeout))

    def outcome(self, request_id: str, *, timeout: float = 30.0, scan: bool = True) -> Outcome:
        """Blocking ``Swerve.outcome``: same arguments, result and errors."""
        return self._call(self.client.outcome(request_id, timeout=timeout, scan=scan))

    def _call(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("the SwerveSync client is not started: use `with SwerveSync(...)` or call start()")
        future = asyncio.run_coroutine_threadsafe(_under(otel_context.get_current(), coroutine), self._loop)
        try:
            return future.result()
        except KeyboardInterrupt:
            # Ctrl-C in the caller's thread: stop the call on the loop too, then let it rise.
            future.cancel()
            raise

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None:
            return
        try:
            # Finish the loop's async generators and worker threads (asyncio.to_thread) on the
            # loop itself, as asyncio.run does: the caller's thread may run a loop of its own.
            asyncio.run_coroutine_threadsafe(_drain(loop), loop).result()
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join()
            loop.close()


async def _under(parent: Context, coroutine: Coroutine[Any, Any, _T]) -> _T:
    """``coroutine`` with the caller's trace context current: the loop's thread has a context of its own."""
    with under(parent):
        return await coroutine


async def _drain(loop: asyncio.AbstractEventLoop) -> None:
    await loop.shutdown_asyncgens()
    await loop.shutdown_default_executor()

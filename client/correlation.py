"""Correlation of deliveries with the requests a client waits for: by request id, deduped by
event id, with a bounded memory of recent outcomes.

``<prefix>.delivery`` is at-least-once: a worker that crashed after publishing, or a replay,
may deliver the same event again. Dedupe is by event id, and the first delivery of a request
wins. A later delivery of the same id is a ``duplicate`` and is dropped silently; a later
delivery with another id for the same request is a ``conflict``, logged as a warning and
ignored (the caller already has, or will get, the first).

Only requests the client watches (it published them, or someone asked for them) are
remembered; deliveries of other producers' requests are ``unwatched`` and dropped. At most
``capacity`` requests are remembered, the most recently watched or delivered; a request
someone is waiting for is never forgotten. Each remembered delivery keeps its inline image
(up to ``SWERVE_MEDIA_MAX_INLINE_BYTES``), which is what bounds the memory.

This module must never do I/O: it is plain bookkeeping on one event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

from swerve.errors import ModerationTimeoutError
from swerve.streams.events import DeliveryEvent

__all__ = ["Acceptance", "DEFAULT_CAPACITY", "DeliveryCorrelator"]

log = logging.getLogger("swerve.client")

#: How many recent requests (and their deliveries) a client remembers by default.
DEFAULT_CAPACITY = 10_000

#: What ``accept`` did with a delivery.
Acceptance = Literal["first", "duplicate", "conflict", "unwatched"]


@dataclass
class _Entry:
    """One watched request: its first delivery once it came, and who waits for it."""

    delivery: DeliveryEvent | None = None
    waiters: list[asyncio.Future[DeliveryEvent]] = field(default_factory=list)


class DeliveryCorrelator:
    """Matches deliveries to watched requests.

    Args:
        capacity (`int`, *optional*, defaults to 10,000): how many requests to remember.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def watches(self, request_id: str) -> bool:
        """Whether a delivery of ``request_id`` would be kept."""
        return request_id in self._entries

    def delivery_of(self, request_id: str) -> DeliveryEvent | None:
        """The first delivery of ``request_id``, if it came and is still remembered."""
        entry = self._entries.get(request_id)
        return entry.delivery if entry is not None else None

    def watch(self, request_id: str) -> None:
        """Remember ``request_id``: its delivery will be kept when it comes."""
        if request_id in self._entries:
            self._entries.move_to_end(request_id)
        else:
            self._entries[request_id] = _Entry()
            self._forget_oldest()

    def waiter(self, request_id: str) -> asyncio.Future[DeliveryEvent]:
        """A future of the first delivery of ``request_id`` (already done when it came).

        The caller must ``discard`` it when it stops waiting (a timeout, a cancellation).
        """
        self.watch(request_id)
        entry = self._entries[request_id]
        future: asyncio.Future[DeliveryEvent] = asyncio.get_running_loop().create_future()
        if entry.delivery is not None:
            future.set_result(entry.delivery)
        else:
            entry.waiters.append(future)
        return future

    def discard(self, request_id: str, future: asyncio.Future[DeliveryEvent]) -> None:
        """Stop counting ``future`` as waiting for ``request_id``."""
        entry = self._entries.get(request_id)
        if entry is not None and future in entry.waiters:
            entry.waiters.remove(future)

    def accept(self, delivery: DeliveryEvent) -> Acceptance:
        """Take one record of ``<prefix>.delivery``; resolve its waiters if it is the first."""
        entry = self._entries.get(delivery.request_id)
        if entry is None:
            return "unwatched"
        if entry.delivery is not None:
            if entry.delivery.id == delivery.id:
                return "duplicate"
            log.warning(
                "request %s has a second, different delivery %s (%s) after %s (%s); keeping the first",
                delivery.request_id, delivery.id, delivery.outcome, entry.delivery.id, entry.delivery.outcome,
            )
            return "conflict"
        entry.delivery = delivery
        waiters, entry.waiters = entry.waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(delivery)
        self._entries.move_to_end(delivery.request_id)
        self._forget_oldest()
        return "first"

    def fail_waiters(self, error: BaseException) -> None:
        """Hand ``error`` to everyone waiting: no delivery can come any more (the reader stopped)."""
        for entry in self._entries.values():
            waiters, entry.waiters = entry.waiters, []
            for future in waiters:
                if not future.done():
                    future.set_exception(error)

    def cancel_waiters(self) -> None:
        """Cancel every wait (the client is closing)."""
        for entry in self._entries.values():
            waiters, entry.waiters = entry.waiters, []
            for future in waiters:
                future.cancel()

    def _forget_oldest(self) -> None:
        excess = len(self._entries) - self.capacity
        if excess <= 0:
            return
        forgotten = []
        for request_id, entry in self._entries.items():  # oldest first
            if not entry.waiters:
                forgotten.append(request_id)
                if len(forgotten) == excess:
                    break
        for request_id in forgotten:
            del self._entries[request_id]


async def wait_for_delivery(
    correlator: DeliveryCorrelator, request_id: str, timeout: float, *, event_id: str | None = None
) -> DeliveryEvent:
    """Wait up to ``timeout`` seconds for the first delivery of ``request_id``.

    Raises:
        ModerationTimeoutError: nothing came in time; the request stays watched.
    """
    future = correlator.waiter(request_id)
    try:
        return await asyncio.wait_for(future, timeout)
    except TimeoutError:
        raise timeout_error(request_id, timeout, event_id) from None
    finally:
        correlator.discard(request_id, future)


def timeout_error(request_id: str, timeout: float, event_id: str | None = None) -> ModerationTimeoutError:
    """The error for a request whose outcome did not come within ``timeout`` seconds."""
    return ModerationTimeoutError(
        f"no outcome for request {request_id!r} within {timeout:g} s; it is not lost: "
        f"ask again with outcome({request_id!r})",
        request_id=request_id,
        event_id=event_id,
    )

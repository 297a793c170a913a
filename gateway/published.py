"""The requests this gateway published, each under its tenant-scoped request id.

A caller names its requests by its own ids; two tenants may well pick the same one. So the
gateway publishes ``<tenant>:<request id>``: the SDK's correlation, the event ids derived from
it and the workers' id claims then keep two tenants' requests apart, and a key can only ever
address its own tenant's requests. ``GET`` answers for the ids remembered here (202 while
pending) and 404 for any other, which is also what another tenant's id looks like.

This module must never do I/O: it is bookkeeping on one event loop.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["PublishedRequests", "scoped_request_id"]


def scoped_request_id(tenant: str, request_id: str) -> str:
    """The request id the gateway publishes for ``tenant``'s ``request_id``.

    A tenant never contains ``:``, so the first ``:`` splits the two unambiguously.
    """
    return f"{tenant}:{request_id}"


class PublishedRequests:
    """The most recent ``capacity`` scoped request ids this gateway published.

    Args:
        capacity (`int`): how many to remember; the oldest is forgotten first.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, scoped_id: object) -> bool:
        return scoped_id in self._ids

    def add(self, scoped_id: str) -> None:
        """Remember ``scoped_id`` as the most recent."""
        self._ids[scoped_id] = None
        self._ids.move_to_end(scoped_id)
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)

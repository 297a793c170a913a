"""Each API key's request budget on ``/v1``, kept by the ``limits`` package (moving window).

The window lives in this process's memory: with several gateway replicas each grants the full
budget, so divide it by the replica count. A request over budget is answered 429 with the
seconds until the window has room again (``Retry-After``). This module must never sleep to
slow a caller down: it only says yes or no.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from swerve.gateway.api_keys import ApiKey
from swerve.gateway.settings import check_rate_limit

__all__ = ["KeyRateLimiter", "RateLimited"]


@dataclass(frozen=True)
class RateLimited:
    """A key over its budget: who, the budget, and how long until it has room again."""

    key_name: str
    limit: str
    retry_after_s: int


class KeyRateLimiter:
    """Counts each key's requests against its budget.

    Args:
        default_limit (`str`): the budget of a key that names none, e.g. ``"10/second"``.
    """

    def __init__(self, default_limit: str) -> None:
        self._default = check_rate_limit(default_limit)
        self._items: dict[str, RateLimitItem] = {}
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def hit(self, key: ApiKey) -> RateLimited | None:
        """Count one request of ``key``; what refuses it when it is over budget, else None."""
        item = self._item(key)
        if await self._limiter.hit(item, key.name):
            return None
        stats = await self._limiter.get_window_stats(item, key.name)
        # The window frees its first slot at reset_time: never advise less than a second.
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        return RateLimited(key.name, str(item), retry_after)

    def _item(self, key: ApiKey) -> RateLimitItem:
        if key.rate_limit is None:
            return self._default
        item = self._items.get(key.rate_limit)
        if item is None:
            item = self._items[key.rate_limit] = check_rate_limit(key.rate_limit)
        return item

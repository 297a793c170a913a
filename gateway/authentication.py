"""The FastAPI dependency that turns a request's key into an ``ApiKey`` with a role, in budget.

A key comes as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. In order: no key or
an unknown one is 401, a key without the route's role is 403, a key over its budget is 429
(with ``Retry-After``). This module must never log a key's text.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from swerve.gateway.api_keys import ApiKey, KeySource, Role
from swerve.gateway.rate_limit import KeyRateLimiter

__all__ = ["Gatekeeper", "require"]

# auto_error=False: a missing key is ours to answer (401 with a message), not the scheme's.
_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>`")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: <key>`")


class Gatekeeper:
    """Who may call: the key source and the rate limiter, held in ``app.state.gatekeeper``.

    Args:
        keys (`KeySource`): the keys file, or the development tenant.
        rate_limiter (`KeyRateLimiter`): each key's budget.
    """

    def __init__(self, keys: KeySource, rate_limiter: KeyRateLimiter) -> None:
        self.keys = keys
        self.rate_limiter = rate_limiter

    async def admit(self, presented: str | None, role: Role, rate_limited: bool = True) -> ApiKey:
        """The key of ``presented`` when it may act as ``role`` now (within its budget, when ``rate_limited``).

        Raises:
            HTTPException: 401, 403 or 429.
        """
        key = self.keys.identify(presented)
        if key is None:
            why = "no API key was sent" if not presented else "the API key is not known"
            raise HTTPException(
                401, f"{why}: send `Authorization: Bearer <key>` or `X-API-Key: <key>`",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not key.may(role):
            raise HTTPException(403, f"the key {key.name!r} has roles {list(key.roles)}; this needs the role {role!r}")
        limited = await self.rate_limiter.hit(key) if rate_limited else None
        if limited is not None:
            raise HTTPException(
                429, f"the key {limited.key_name!r} is over its rate limit of {limited.limit}; retry in {limited.retry_after_s} s",
                headers={"Retry-After": str(limited.retry_after_s)},
            )
        return key


def require(role: Role, rate_limited: bool = True) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency giving the caller's ``ApiKey``, admitted for ``role``.

    ``rate_limited=False`` only for bounded reads a page makes in bursts (the review page's
    images: two per listed item); the key is still checked.
    """

    async def admitted(
        request: Request,
        bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
        header_key: str | None = Depends(_api_key_header),
    ) -> ApiKey:
        if bearer is not None and header_key is not None and bearer.credentials != header_key:
            raise HTTPException(400, "two different API keys were sent (Authorization and X-API-Key): send one")
        presented = bearer.credentials if bearer is not None else header_key
        gatekeeper: Gatekeeper = request.app.state.gatekeeper
        return await gatekeeper.admit(presented, role, rate_limited)

    return admitted

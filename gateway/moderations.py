"""Moderation through the shared client: publish a key's request under its tenant, wait a
bounded time for the outcome, and answer for it later.

A request is checked and built first (``generation_event``: the fields, the image's format,
size and pixels, a URI's place), so an invalid one is refused before anything is published,
and an error after that is never the caller's: the image of the outcome could not be read
(``OutcomeUnreadable``, 502) or a dependency did not answer (503). The built image reference
is what the SDK then publishes, so a large image goes to the store once.

This module must never open a client of its own, nor scan the delivery topic: a request is
known here only if this gateway published it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass

from fastapi.responses import JSONResponse

from swerve.client import ModerationRequest, ModerationTimeoutError, Outcome
from swerve.client.request import generation_event
from swerve.errors import BrokerUnavailableError, InvalidInputError
from swerve.media import ImageStore

from swerve.gateway.connection import SdkConnection
from swerve.gateway.image_uri import check_tenant_uri
from swerve.gateway.published import PublishedRequests, scoped_request_id
from swerve.gateway.request_body import Submission
from swerve.gateway.responses import ModerationOutcome, outcome_body, pending_response
from swerve.gateway.settings import GatewaySettings

__all__ = ["Moderations", "OutcomeUnreadable"]


class OutcomeUnreadable(Exception):
    """The outcome came, but its delivered image cannot be read (502); the message says why."""


@dataclass
class Moderations:
    """The gateway's requests, published through one client.

    Args:
        connection (`SdkConnection`): the shared client.
        published (`PublishedRequests`): the scoped ids this gateway published.
        settings (`GatewaySettings`): the waits.
        store (`ImageStore`): where an image over the inline limit goes (the SDK's store).
    """

    connection: SdkConnection
    published: PublishedRequests
    settings: GatewaySettings
    store: ImageStore

    def wait_of(self, requested_s: float | None) -> float:
        """How long to wait: the request's own wait, else the default, at most the maximum."""
        wanted = self.settings.default_wait_s if requested_s is None else requested_s
        return min(wanted, self.settings.max_wait_s)

    async def submit(self, tenant: str, submission: Submission) -> ModerationOutcome | JSONResponse:
        """Publish ``submission`` as ``tenant``'s and wait for its outcome: 200, or 202 when
        the wait runs out.

        Raises:
            GatewayNotReady: the client is not started.
            InvalidInputError: the request is invalid; nothing was published.
            MediaUnreachableError: its ``image_uri`` is outside the tenant's places.
            TransientError: the store or the broker did not answer.
            OutcomeUnreadable: the outcome's image cannot be read.
        """
        client = self.connection.ready_client()
        fields = submission.fields
        request_id = fields.request_id or str(uuid.uuid4())
        scoped = scoped_request_id(tenant, request_id)
        if isinstance(submission.image, str):
            check_tenant_uri(submission.image, self.connection.settings, tenant)
        request = ModerationRequest(
            image=submission.image, prompt=fields.prompt, seed=fields.seed, tenant=tenant,
            negative_prompt=fields.negative_prompt, model_id=fields.model_id, request_id=scoped,
        )
        # 1. check and build (blocking: the store, a URI image), before anything is published
        generation = await asyncio.to_thread(
            generation_event, request, limits=self.connection.settings.media, store=self.store
        )
        # 2. publish and wait; remembered first, so a GET racing the answer finds it pending
        self.published.add(scoped)
        wait = self.wait_of(fields.timeout)
        settled = await self._settled(request_id, wait, client.moderate(
            generation.image, prompt=fields.prompt, seed=fields.seed, tenant=tenant,
            negative_prompt=fields.negative_prompt, model_id=fields.model_id, request_id=scoped, timeout=wait,
        ))
        return settled if isinstance(settled, JSONResponse) else outcome_body(settled, request_id)

    async def look_up(self, tenant: str, request_id: str, wait_s: float) -> ModerationOutcome | JSONResponse | None:
        """``tenant``'s request ``request_id``: its outcome (200), pending (202), or None when
        this gateway did not publish it for that tenant (404).

        Raises:
            GatewayNotReady: the client is not started.
            TransientError: the store did not answer, or the delivery reader stopped.
            OutcomeUnreadable: the outcome's image cannot be read.
        """
        scoped = scoped_request_id(tenant, request_id)
        if scoped not in self.published:
            return None
        client = self.connection.ready_client()
        wait = self.wait_of(wait_s)
        settled = await self._settled(request_id, wait, client.outcome(scoped, timeout=wait, scan=False))
        if isinstance(settled, JSONResponse):
            return settled
        return outcome_body(settled, request_id) if _belongs_to(settled, tenant) else None

    async def _settled(self, request_id: str, wait: float, answer: Awaitable[Outcome]) -> Outcome | JSONResponse:
        """The outcome ``answer`` gives, or 202 when the wait ran out.

        Raises:
            OutcomeUnreadable: the outcome's image cannot be read.
            BrokerUnavailableError: the delivery reader stopped (the gateway is marked broken).
        """
        try:
            return await answer
        except ModerationTimeoutError:
            return pending_response(request_id, wait, self.settings.retry_after_s)
        except InvalidInputError as exc:
            raise _unreadable(request_id, exc) from exc
        except BrokerUnavailableError as exc:
            self.connection.mark_broken(exc)
            raise


def _belongs_to(outcome: Outcome, tenant: str) -> bool:
    # The scoped id already keeps tenants apart; the delivery's own tenant is a second check.
    return outcome.delivery.tenant == tenant


def _unreadable(request_id: str, exc: InvalidInputError) -> OutcomeUnreadable:
    return OutcomeUnreadable(f"the outcome of request {request_id!r} came, but its image cannot be read: {exc}")

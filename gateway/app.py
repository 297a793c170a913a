"""The gateway's FastAPI app: the wiring of one shared SDK client, the keys, the limits and
the endpoints.

::

    app = create_app(Settings.from_env(), GatewaySettings.from_env())   # keys from the settings
    # uvicorn serves it (swerve.gateway.server); /docs shows the OpenAPI description

The SDK client starts with the app (in the background: ``/readyz`` says when it is connected)
and closes with it. This module must never hold logic of its own: each piece lives in its
module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from swerve.media import ImageStore
from swerve.streams.settings import Settings

from swerve.gateway.api_keys import KeySource
from swerve.gateway.key_source import key_source
from swerve.gateway.authentication import Gatekeeper
from swerve.gateway.body_limit import BodySizeLimit
from swerve.gateway.connection import SdkConnection
from swerve.gateway.moderations import Moderations
from swerve.gateway.problems import install_problem_handlers
from swerve.gateway.published import PublishedRequests
from swerve.gateway.rate_limit import KeyRateLimiter
from swerve.gateway.review_queue import ReviewQueue
from swerve.gateway.review_routes import review_router
from swerve.gateway.routes import router
from swerve.gateway.settings import GatewaySettings

__all__ = ["create_app"]

# The review page: static files shipped in the package (no CDN), served at /review/.
REVIEW_PAGE = Path(__file__).parent / "review_page"

_DESCRIPTION = """\
swerve's HTTP gateway: moderate generated images over HTTP.

Send an image with `POST /v1/moderations` and an API key (`Authorization: Bearer <key>` or
`X-API-Key`); the tenant comes from the key. The answer is the outcome (`original`,
`replacement`, `blocked` or `rejected`), or 202 with a `Location` to ask again when it did not
come within the wait.
"""


def create_app(settings: Settings, gateway: GatewaySettings, keys: KeySource | None = None) -> FastAPI:
    """The gateway app over one ``Swerve`` client.

    Args:
        settings (`Settings`): the broker, topics, image store and media limits (``SWERVE_*``).
        gateway (`GatewaySettings`): the gateway's own settings (``SWERVE_GATEWAY_*``).
        keys (`KeySource`, *optional*): who may call; ``key_source(gateway)`` when not given.

    Raises:
        ConfigurationError: no keys are configured, or the keys file is invalid.
    """
    keys = keys if keys is not None else key_source(gateway)
    connection = SdkConnection(settings, gateway.remembered_requests)
    review_queue = ReviewQueue(settings)  # follows the review topics from the first review call
    moderations = Moderations(
        connection, PublishedRequests(gateway.remembered_requests), gateway, ImageStore(settings.image_store_uri)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        connection.start()
        try:
            yield
        finally:
            await review_queue.close()
            await connection.close()

    app = FastAPI(title="swerve gateway", version="1", description=_DESCRIPTION, lifespan=lifespan)
    app.state.connection = connection
    app.state.moderations = moderations
    app.state.review_queue = review_queue
    app.state.gatekeeper = Gatekeeper(keys, KeyRateLimiter(gateway.rate_limit))
    app.add_middleware(BodySizeLimit, max_bytes=gateway.body_limit(settings.media))
    install_problem_handlers(app)
    app.include_router(router)
    app.include_router(review_router)
    app.mount("/review", StaticFiles(directory=REVIEW_PAGE, html=True), name="review-page")
    return app

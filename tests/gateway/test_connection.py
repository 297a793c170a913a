"""The shared client's state as /healthz and /readyz report it, with no broker: not ready
before it connects, and broken (liveness fails) once its delivery reader stopped."""

from __future__ import annotations

import httpx

from swerve.errors import BrokerUnavailableError
from swerve.gateway.connection import SdkConnection

from .harness import OfflineGateway, over_asgi


def health(offline: OfflineGateway, *errors: BrokerUnavailableError) -> tuple[httpx.Response, httpx.Response]:
    app = offline.app()
    connection: SdkConnection = app.state.connection
    for error in errors:
        connection.mark_broken(error)

    async def calls(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        return await client.get("/healthz"), await client.get("/readyz")

    return over_asgi(app, calls)


def test_given_no_connection_then_alive_but_not_ready(offline: OfflineGateway) -> None:
    alive, ready = health(offline)

    assert (alive.status_code, alive.json()) == (200, {"status": "alive", "detail": None})
    assert (ready.status_code, ready.json()) == (503, {"status": "unready", "detail": "the SDK client is not started yet"})


def test_given_a_publish_that_failed_then_the_gateway_stays_alive(offline: OfflineGateway) -> None:
    alive, _ = health(offline, BrokerUnavailableError("the broker did not acknowledge", stage="publish"))
    assert alive.status_code == 200


def test_given_a_stopped_delivery_reader_then_the_gateway_reports_itself_broken(offline: OfflineGateway) -> None:
    stopped = BrokerUnavailableError("the reader of t.delivery stopped (KafkaError: gone)", stage="delivery")

    alive, _ = health(offline, stopped)

    assert alive.status_code == 503
    assert alive.json() == {"status": "broken", "detail": "the reader of t.delivery stopped (KafkaError: gone) (stage=delivery)"}

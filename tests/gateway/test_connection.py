"""The shared client's state as /healthz and /readyz report it, with no broker: not ready
before it connects, and broken (liveness fails) once its delivery reader stopped."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from aiokafka.errors import KafkaConnectionError

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


def test_given_a_broker_that_answers_on_the_second_try_then_the_client_starts_and_the_problem_was_reported(
        offline: OfflineGateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    connection: SdkConnection = offline.app().state.connection
    problems: list[str] = []

    async def start() -> None:
        if not problems:
            problems.append(connection._problem)
            raise KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9)]")

    monkeypatch.setattr(connection.client, "start", start)

    async def connect() -> tuple[bool, str]:
        connection.start()
        assert connection._task is not None
        await asyncio.wait_for(connection._task, timeout=5)
        return connection.started, connection._problem

    with caplog.at_level(logging.WARNING, logger="swerve.gateway"):
        started, problem = asyncio.run(connect())

    assert started
    assert "KafkaConnectionError" in problem and "Unable to bootstrap" in problem, "the reason stays for /readyz meanwhile"
    assert "retrying in 0.5 s" in caplog.text, "the first wait is the shortest"

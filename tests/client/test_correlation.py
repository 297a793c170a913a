"""Correlation of deliveries with waiting requests: by request id, deduped by event id,
bounded, and a named timeout that loses nothing. No broker: the bookkeeping alone."""

from __future__ import annotations

import asyncio
import logging

import pytest

from swerve.client.correlation import DeliveryCorrelator, wait_for_delivery
from swerve.errors import ModerationTimeoutError, SwerveError

from .builders import delivery


def test_given_a_watched_request_when_its_delivery_arrives_twice_then_the_waiter_gets_it_once() -> None:
    async def scenario() -> None:
        correlator = DeliveryCorrelator()
        waiter = correlator.waiter("r-1")
        first = delivery("r-1")

        assert correlator.accept(first) == "first"
        assert correlator.accept(first.model_copy()) == "duplicate"
        assert await waiter == first
        assert correlator.delivery_of("r-1") == first

    asyncio.run(scenario())


def test_given_a_delivered_request_when_another_delivery_with_a_new_id_comes_then_it_is_logged_and_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    correlator = DeliveryCorrelator()
    correlator.watch("r-2")
    first = delivery("r-2", "original")
    other = delivery("r-2", "blocked", id="another-delivery-id", reason="late", reason_class="policy")

    assert correlator.accept(first) == "first"
    with caplog.at_level(logging.WARNING, logger="swerve.client"):
        assert correlator.accept(other) == "conflict"

    assert correlator.delivery_of("r-2") == first
    assert "another-delivery-id" in caplog.text and "keeping the first" in caplog.text


def test_given_a_request_nobody_watches_then_its_delivery_is_not_remembered() -> None:
    correlator = DeliveryCorrelator()

    assert correlator.accept(delivery("someone-else")) == "unwatched"
    assert len(correlator) == 0 and correlator.delivery_of("someone-else") is None


def test_given_a_full_memory_then_the_oldest_idle_request_is_forgotten_but_never_a_waited_one() -> None:
    async def scenario() -> None:
        correlator = DeliveryCorrelator(capacity=2)
        waiter = correlator.waiter("waited")  # the oldest, but someone waits for it
        correlator.watch("a")
        correlator.watch("b")

        assert correlator.watches("waited") and not correlator.watches("a") and correlator.watches("b")
        assert correlator.accept(delivery("waited")) == "first"
        assert (await waiter).request_id == "waited"

    asyncio.run(scenario())


def test_given_a_delivery_already_remembered_then_a_new_waiter_is_done_at_once() -> None:
    async def scenario() -> None:
        correlator = DeliveryCorrelator()
        correlator.watch("r-3")
        correlator.accept(delivery("r-3"))

        assert (await wait_for_delivery(correlator, "r-3", timeout=0)).request_id == "r-3"

    asyncio.run(scenario())


def test_given_no_delivery_when_the_wait_times_out_then_a_named_timeout_and_the_request_stays_watched() -> None:
    async def scenario() -> None:
        correlator = DeliveryCorrelator()

        with pytest.raises(ModerationTimeoutError) as raised:
            await wait_for_delivery(correlator, "r-4", timeout=0.01, event_id="gen-4")

        error = raised.value
        assert isinstance(error, SwerveError) and isinstance(error, TimeoutError)
        assert error.request_id == "r-4" and error.event_id == "gen-4" and error.stage == "delivery"
        assert "outcome('r-4')" in str(error)
        # Then the late delivery is still remembered for whoever asks again
        assert correlator.accept(delivery("r-4")) == "first"
        assert (await wait_for_delivery(correlator, "r-4", timeout=0)).request_id == "r-4"

    asyncio.run(scenario())


def test_given_waiters_when_the_reader_fails_then_each_gets_the_error() -> None:
    async def scenario() -> None:
        correlator = DeliveryCorrelator()
        waiter = correlator.waiter("r-5")

        correlator.fail_waiters(SwerveError("reader stopped"))

        with pytest.raises(SwerveError, match="reader stopped"):
            await waiter

    asyncio.run(scenario())


def test_given_a_capacity_below_one_then_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        DeliveryCorrelator(capacity=0)

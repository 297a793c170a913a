"""The repeated-record filter: one line per cause per interval, with the count of what it dropped."""

from __future__ import annotations

import logging

import pytest
from mode.utils.logging import DefaultFormatter, ExtensionFormatter

from swerve.streams.log_rate_limit import RepeatedRecordFilter, record_cause


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(name: str, msg: str, *args: object, level: int = logging.ERROR, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord(name, level, __file__, 1, msg, args or None, exc_info)


def connect_failed(port: int) -> logging.LogRecord:
    # aiokafka's reconnect error, as it logs it: a template and arguments
    return record("aiokafka", "Unable connect to node with id %s: %s", 111, f"[Errno 111] Connect call failed ('127.0.0.1', {port})")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(clock: FakeClock) -> RepeatedRecordFilter:
    return RepeatedRecordFilter(interval_s=30, clock=clock)


def test_given_a_reconnect_storm_then_one_line_per_interval_tells_how_many_were_dropped(
        limiter: RepeatedRecordFilter, clock: FakeClock) -> None:
    # Given 75 reconnect errors a second for 60 s (what one worker logged with the broker gone)
    passed = []
    for tick in range(60 * 75):
        clock.now = tick / 75
        candidate = connect_failed(40000 + tick % 7)
        if limiter.filter(candidate):
            passed.append(candidate)
    # Then one line per 30 s window got through
    assert len(passed) == 2
    # ... the second tells how many repeats the first window dropped
    assert not hasattr(passed[0], "suppressed_repeats")
    assert passed[1].suppressed_repeats == 30 * 75 - 1
    assert passed[1].getMessage().endswith(f"[{30 * 75 - 1} similar suppressed in the last 30 s]")
    assert "Unable connect to node with id 111" in passed[1].getMessage()


def test_given_different_causes_then_each_gets_its_own_line(limiter: RepeatedRecordFilter) -> None:
    assert limiter.filter(connect_failed(1))
    assert limiter.filter(record("aiokafka", "Unable to update metadata from %s", [111]))
    assert limiter.filter(record("aiokafka.consumer.fetcher", "Unable to update metadata from %s", [111]))
    assert limiter.filter(record("aiokafka", "Unable to update metadata from %s", [111], level=logging.WARNING))
    assert not limiter.filter(record("aiokafka", "Unable to update metadata from %s", [112]))


def test_given_the_same_message_with_another_exception_class_then_it_is_another_cause(limiter: RepeatedRecordFilter) -> None:
    assert limiter.filter(record("faust.transport", "Send failed", exc=ConnectionError("gone")))
    assert limiter.filter(record("faust.transport", "Send failed", exc=TimeoutError("slow")))
    assert not limiter.filter(record("faust.transport", "Send failed", exc=TimeoutError("slower")))


def test_given_preformatted_messages_that_differ_only_by_numbers_then_they_are_one_cause() -> None:
    first = record("aiokafka.consumer.fetcher", "Failed fetch messages from 111: Connection at 127.0.0.1:40001 closed")
    second = record("aiokafka.consumer.fetcher", "Failed fetch messages from 112: Connection at 127.0.0.1:40002 closed")
    assert record_cause(first) == record_cause(second)


def test_given_swerve_records_or_info_lines_then_they_are_never_limited(limiter: RepeatedRecordFilter) -> None:
    for _ in range(5):
        assert limiter.filter(record("swerve.agents", "correct stage failed for %s", "gen-1"))
        assert limiter.filter(record("aiokafka", "Subscribed to topic(s): %s", {"t"}, level=logging.INFO))


def test_given_interval_zero_then_everything_passes(clock: FakeClock) -> None:
    limiter = RepeatedRecordFilter(interval_s=0, clock=clock)
    assert all(limiter.filter(connect_failed(1)) for _ in range(10))


def test_given_a_negative_interval_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        RepeatedRecordFilter(interval_s=-1)


def test_given_the_filter_on_a_handler_then_records_from_child_loggers_are_limited(limiter: RepeatedRecordFilter) -> None:
    # Given a handler on a parent logger, as the worker installs it on the root's handlers
    seen: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Collect()
    handler.addFilter(limiter)
    parent = logging.getLogger("swerve-test-parent")
    parent.addHandler(handler)
    try:
        child = logging.getLogger("swerve-test-parent.aiokafka")
        limiter.loggers = ("swerve-test-parent.aiokafka",)
        # When a child logs the same error 100 times
        for _ in range(100):
            child.error("Unable to update metadata from %s", [111])
        # Then the handler emitted it once
        assert len(seen) == 1
    finally:
        parent.removeHandler(handler)


@pytest.mark.parametrize("formatter", [logging.Formatter(), DefaultFormatter(), ExtensionFormatter()],
                         ids=["stdlib", "mode-default", "faust-text"])
def test_given_a_noted_record_then_every_formatter_the_worker_uses_formats_it(
        limiter: RepeatedRecordFilter, clock: FakeClock, formatter: logging.Formatter) -> None:
    # Given a cause repeated, whose message has a literal % once formatted
    def repeated() -> logging.LogRecord:
        return record("aiokafka", "Unable to update metadata from %s (%s)", [111], "100% down")

    limiter.filter(repeated())
    limiter.filter(repeated())
    clock.now = 31
    noted = repeated()
    assert limiter.filter(noted)
    # Then it formats, with the note, in JSON's stdlib path and in faust's text path alike
    assert formatter.format(noted).endswith("Unable to update metadata from [111] (100% down) [1 similar suppressed in the last 31 s]")

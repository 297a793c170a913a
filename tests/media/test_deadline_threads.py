"""DeadlineThreads: reads on reused daemon threads, each waited for at most its deadline."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from swerve.media.deadline_threads import DeadlineExceeded, DeadlineThreads


def test_given_sequential_calls_when_run_then_results_come_back_and_one_thread_serves_them_all() -> None:
    threads = DeadlineThreads("test-reuse")
    assert [threads.run(lambda n=n: n * n, timeout_s=5) for n in range(200)] == [n * n for n in range(200)]
    assert threads.threads == 1


def test_given_a_call_that_raises_when_run_then_the_caller_gets_that_exception() -> None:
    threads = DeadlineThreads("test-raise")
    failure = PermissionError("denied")

    def refuse() -> None:
        raise failure

    with pytest.raises(PermissionError) as raised:
        threads.run(refuse, timeout_s=5)
    assert raised.value is failure
    assert threads.run(lambda: "next", timeout_s=5) == "next" and threads.threads == 1


def test_given_a_stuck_call_when_its_deadline_passes_then_the_caller_is_told_and_later_calls_do_not_wait_behind_it() -> None:
    threads = DeadlineThreads("test-stuck")
    release, entered = threading.Event(), threading.Event()

    def stuck() -> str:
        entered.set()
        release.wait(30)
        return "late"

    with pytest.raises(DeadlineExceeded):
        threads.run(stuck, timeout_s=0.05)
    assert entered.is_set()
    # the stuck thread is not idle: the next call gets a thread of its own and finishes
    assert threads.run(lambda: "healthy", timeout_s=5) == "healthy"
    assert threads.threads == 2
    release.set()
    deadline = time.monotonic() + 10
    while threads.idle < 2 and time.monotonic() < deadline:  # the stuck call returns, its thread goes idle
        time.sleep(0.01)
    assert threads.idle == 2
    # once the stuck read ends its thread serves again: no third thread is needed for two calls at once
    barrier = threading.Barrier(2, timeout=10)
    with ThreadPoolExecutor(2) as callers:
        results = list(callers.map(lambda n: threads.run(lambda: (barrier.wait(), n)[1], timeout_s=10), range(2)))
    assert results == [0, 1] and threads.threads == 2


def test_given_many_callers_at_once_when_run_then_every_call_is_answered_with_its_own_result() -> None:
    threads = DeadlineThreads("test-many")
    with ThreadPoolExecutor(8) as callers:
        results = list(callers.map(lambda n: threads.run(lambda: n + 1, timeout_s=10), range(400)))
    assert results == [n + 1 for n in range(400)]
    assert 1 <= threads.threads <= 8

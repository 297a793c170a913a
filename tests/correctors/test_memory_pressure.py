"""Out of GPU memory: free the cache, retry once alone, then give up as infrastructure."""

from __future__ import annotations

import threading

import pytest
import torch

from swerve.correctors.memory_pressure import MemoryPressureGate
from swerve.errors import ResourceExhaustedError


def test_given_a_call_that_runs_out_of_memory_once_then_the_retry_returns_its_result() -> None:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return "done"

    assert MemoryPressureGate().run(call) == "done" and len(calls) == 2


def test_given_a_call_that_always_runs_out_of_memory_then_resource_exhausted_after_one_retry() -> None:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    with pytest.raises(ResourceExhaustedError, match="twice.*Tried to allocate 20.00 GiB"):
        MemoryPressureGate().run(call, "nudging attempt 1")
    assert len(calls) == 2


def test_given_another_error_then_it_passes_through_untouched_and_is_not_retried() -> None:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        MemoryPressureGate().run(call)
    assert len(calls) == 1


def test_given_a_retry_after_out_of_memory_then_it_runs_alone_once_the_others_finish() -> None:
    # Given one call in flight, holding its slot until released
    gate = MemoryPressureGate()
    release = threading.Event()
    started = threading.Event()
    overlap: list[bool] = []
    running = threading.Event()

    def long_call() -> None:
        started.set()
        running.set()
        release.wait(timeout=10)
        running.clear()

    def oom_then_record() -> None:
        if not hasattr(oom_then_record, "failed"):
            oom_then_record.failed = True  # type: ignore[attr-defined]
            raise torch.OutOfMemoryError("out of memory")
        overlap.append(running.is_set())

    first = threading.Thread(target=gate.run, args=(long_call,))
    first.start()
    assert started.wait(timeout=10)
    # When another call runs out of memory, its retry waits for the first to finish
    second = threading.Thread(target=gate.run, args=(oom_then_record,))
    second.start()
    second.join(timeout=0.3)
    assert second.is_alive() and overlap == [], "the retry must not run beside another proposal"
    release.set()
    first.join(timeout=10)
    second.join(timeout=10)
    # Then it ran, alone
    assert overlap == [False]

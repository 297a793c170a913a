"""Blocking reads under a deadline, on daemon threads that are kept and reused.

fsspec reads block and have no uniform timeout across backends, so the fetch deadline is kept
by running each read on another thread and waiting at most that long for it. On timeout the
thread is abandoned (it ends when its read does) and the caller is told at once, so a stuck
store cannot stall a worker.

Written here rather than on ``concurrent.futures.ThreadPoolExecutor``: that pool's threads are
joined when the interpreter exits, so one read stuck in the kernel would keep a stopping
worker from ever exiting, and its fixed size would queue healthy reads behind stuck ones.
Here every thread is a daemon, and a read that finds no idle thread starts a new one: a
stuck read holds only its own thread, as it did when each read had a thread of its own.
Reusing the threads is what this module is for: starting and joining one thread per read was
a third of a local read's cost (``benchmarks/pass_through_profile.py``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

__all__ = ["DeadlineExceeded", "DeadlineThreads"]

_T = TypeVar("_T")


class DeadlineExceeded(Exception):
    """The call did not finish within its deadline; it may still be running on its thread."""


class _Call(Generic[_T]):
    """One call handed to a thread, with its result or exception once it is done."""

    def __init__(self, call: Callable[[], _T]):
        self.call = call
        self.value: _T | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def run(self) -> None:
        try:
            self.value = self.call()
        except BaseException as exc:  # carried to the caller and raised there
            self.error = exc


class DeadlineThreads:
    """Runs blocking calls on reused daemon threads and waits at most a deadline for each.

    Args:
        name (`str`): the threads' name (seen in thread dumps and profiles).
    """

    def __init__(self, name: str):
        self.name = name
        self._calls: queue.SimpleQueue[_Call[Any]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting for a call and not yet promised one
        self._started = 0

    @property
    def threads(self) -> int:
        """How many threads were started so far (stuck ones included)."""
        return self._started

    @property
    def idle(self) -> int:
        """How many threads wait for a call that none has been promised."""
        return self._idle

    def run(self, call: Callable[[], _T], timeout_s: float) -> _T:
        """``call()``'s result, raised exception, or ``DeadlineExceeded`` after ``timeout_s``."""
        handed: _Call[_T] = _Call(call)
        with self._lock:
            if self._idle:
                self._idle -= 1  # that idle thread takes this call: none waits behind a stuck one
            else:
                threading.Thread(target=self._serve, name=f"{self.name}-{self._started + 1}", daemon=True).start()
                self._started += 1  # counted once it runs: a thread that cannot start raises here, to the caller
        self._calls.put(handed)
        if not handed.done.wait(timeout_s):
            raise DeadlineExceeded(f"not done within {timeout_s} s")
        if handed.error is not None:
            raise handed.error
        return cast(_T, handed.value)

    def _serve(self) -> None:
        while True:
            handed = self._calls.get()
            handed.run()
            with self._lock:
                self._idle += 1  # before the caller hears: its next call finds this thread idle
            handed.done.set()

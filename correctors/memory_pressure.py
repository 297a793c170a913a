"""GPU memory exhaustion during a correction: free the cache, retry once alone, then give up
as an infrastructure fault (docs/reliability.md, "Resource exhaustion").

Several corrections may share one GPU (``SWERVE_WORKER_CORRECT_CONCURRENCY``). When one runs
out of memory the retry waits until no other proposal is running and keeps others from
starting: the same work with less concurrency. A second ``torch.OutOfMemoryError`` becomes
``ResourceExhaustedError``, which the adaptive loop never counts as an escalation attempt.

This module must never swallow any other exception, and never import torch itself: a
worker whose correctors need no torch (a blocklist and the testing mirror) must not pay for
loading it. A corrector that can run out of GPU memory has imported torch already.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

from swerve.errors import ResourceExhaustedError

T = TypeVar("T")
log = logging.getLogger("swerve.correctors.memory")


class _NeverRaised(Exception):
    """Stands for torch's out-of-memory error while torch is not loaded."""


def out_of_memory_error() -> type[BaseException]:
    """``torch.OutOfMemoryError`` once torch is loaded (CUDA's and other accelerators')."""
    torch: Any = sys.modules.get("torch")
    return torch.OutOfMemoryError if torch is not None else _NeverRaised


def free_accelerator_cache() -> None:
    """Drop unreachable tensors and hand cached blocks back to the driver."""
    gc.collect()
    torch: Any = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


class MemoryPressureGate:
    """Runs proposals side by side, and a retry after an out-of-memory error alone."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running = 0
        self._alone = False

    @contextmanager
    def _shared(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._alone)
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._alone and self._running == 0)
            self._alone = True
        try:
            yield
        finally:
            with self._changed:
                self._alone = False
                self._changed.notify_all()

    def run(self, call: Callable[[], T], what: str = "proposal") -> T:
        """``call()``; after an out-of-memory error, free the cache and call once more, alone.

        Raises:
            ResourceExhaustedError: the retry ran out of memory too.
        """
        first: str | None = None
        with self._shared():
            try:
                return call()
            except out_of_memory_error() as exc:
                first = str(exc).splitlines()[0] if str(exc) else "out of memory"
        # Outside the except block, so the failed call's frames (and their tensors) are gone.
        log.warning("%s ran out of GPU memory (%s); retrying alone once the others finish", what, first)
        with self._exclusive():
            free_accelerator_cache()  # now that no other proposal holds memory
            try:
                return call()
            except out_of_memory_error() as exc:
                second = str(exc).splitlines()[0] if str(exc) else "out of memory"
                raise ResourceExhaustedError(f"{what} ran out of GPU memory twice, the retry alone too: {second}") from exc

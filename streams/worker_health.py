"""What a worker's ``/readyz`` and ``/healthz`` answer, apart from how the facts are gathered.

Three sources write here: the agents, through ``metrics.observe_lag`` (they took an input,
so the one before it was processed); the broker probe (``broker_watch``: does the broker
answer, do swerve's topics exist, where do the assigned partitions stand); and the
rebalance signals, through ``metrics.READY``. The metrics server's thread reads verdicts.

- **Ready**: the broker answered the last probe, every swerve topic exists, and the worker
  has its partitions assigned.
- **Live**: not stalled. Stalled means messages wait (lag above 0, from the probe) and no
  input offset was processed for ``stall_timeout_s``. While the broker is unreachable the
  stall clock is paused: an outage is readiness's concern, and restarting the worker would
  not end it. A probe that has not run for ``stall_timeout_s`` (it runs on the event loop,
  the HTTP server on its own thread) means the event loop is blocked: not live either.

This module must never talk to a broker, sleep, or read a clock of its own choosing: the
clock is injected, so tests drive time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Collection, Mapping

Partition = tuple[str, int]  # (topic, partition)


@dataclass(frozen=True)
class Verdict:
    """One probe's answer: ``ok`` decides 200 or 503, ``reason`` is the response body."""

    ok: bool
    reason: str


@dataclass(frozen=True)
class PartitionPosition:
    """Where the consumer group stands on one partition, as the broker sees it.

    Args:
        committed: the offset the group resumes from (its committed offset, or the log start
            when it has none).
        end: the high watermark, the offset the next message will get.
    """

    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(self.end - self.committed, 0)


class WorkerHealth:
    """Readiness and liveness of one worker. Thread-safe: written on the event loop, read by HTTP.

    Args:
        stall_timeout_s: seconds without progress, while lag is above 0, before ``liveness``
            fails. Must exceed the longest legitimate stage call (a correction on a busy GPU).
        clock: monotonic seconds; ``time.monotonic`` unless a test drives time.
    """

    def __init__(self, stall_timeout_s: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self._lock = threading.Lock()
        self._clock = clock
        self._stall_timeout_s = stall_timeout_s
        self._last_progress = clock()
        self._probed = False
        self._last_probe = 0.0
        self._down_since: float | None = None
        self._down_reason = ""
        self._missing: tuple[str, ...] = ()
        self._positions: dict[Partition, PartitionPosition] = {}

    def configure(self, stall_timeout_s: float) -> None:
        """Set the stall timeout (the worker does this from its settings before it starts)."""
        if stall_timeout_s <= 0:
            raise ValueError(f"stall_timeout_s must be above 0, got {stall_timeout_s}")
        with self._lock:
            self._stall_timeout_s = stall_timeout_s

    # --- what the agents and the probe report ---------------------------------------------

    def progress(self) -> None:
        """An input offset was processed (the agents took the next input)."""
        with self._lock:
            self._last_progress = self._clock()

    def broker_answered(self, missing_topics: Collection[str], positions: Mapping[Partition, PartitionPosition]) -> None:
        """The probe reached the broker: which swerve topics are missing, where the assigned partitions stand.

        A committed offset that moved since the last probe counts as progress. The stall clock
        (re)starts at the first answer, so start-up (loading models can take minutes) is not
        taken for a stall, and when the broker comes back from an outage, so the outage is not.
        """
        with self._lock:
            now = self._clock()
            first_answer = not self._probed
            back_from_outage = self._down_since is not None
            committed_moved = any(p in self._positions and position.committed > self._positions[p].committed
                                  for p, position in positions.items())
            if first_answer or back_from_outage or committed_moved:
                self._last_progress = now
            self._probed = True
            self._last_probe = now
            self._down_since = None
            self._down_reason = ""
            self._missing = tuple(sorted(missing_topics))
            self._positions = dict(positions)

    def broker_unreachable(self, reason: str) -> None:
        """The probe could not reach the broker within its timeout."""
        with self._lock:
            now = self._clock()
            if self._down_since is None:
                self._down_since = now
            self._probed = True
            self._last_probe = now
            self._down_reason = reason

    # --- what the worker acts on ------------------------------------------------------------

    def broker_down_for(self) -> float | None:
        """Seconds since the broker stopped answering, or None while it answers."""
        with self._lock:
            return None if self._down_since is None else self._clock() - self._down_since

    def missing_topics(self) -> tuple[str, ...]:
        """Swerve topics the broker did not list at the last successful probe."""
        with self._lock:
            return self._missing

    def lag(self) -> int:
        """Messages waiting on the assigned partitions, summed, at the last successful probe."""
        with self._lock:
            return sum(position.lag for position in self._positions.values())

    # --- the verdicts ------------------------------------------------------------------------

    def readiness(self, assigned: bool) -> Verdict:
        """Ready to take traffic: broker reachable, topics present, partitions ``assigned``."""
        with self._lock:
            if not self._probed:
                return Verdict(False, "waiting for the first broker probe")
            if self._down_since is not None:
                return Verdict(False, f"broker unreachable for {self._clock() - self._down_since:.0f} s: {self._down_reason}")
            if self._missing:
                return Verdict(False, f"topics missing on the broker: {', '.join(self._missing)}")
        if not assigned:
            return Verdict(False, "no partitions assigned (starting, or rebalancing)")
        return Verdict(True, "ready")

    def liveness(self) -> Verdict:
        """Alive unless stalled: lag above 0 and no progress for the stall timeout, or no probe for as long."""
        with self._lock:
            since_probe_s = self._clock() - self._last_probe
            if self._probed and since_probe_s > self._stall_timeout_s:
                return Verdict(False, f"no broker probe for {since_probe_s:.0f} s: the worker's event loop is blocked")
            if self._down_since is not None:
                return Verdict(True, "alive; broker unreachable, stall check paused")
            idle_s = self._clock() - self._last_progress
            lag = sum(position.lag for position in self._positions.values())
            if lag > 0 and idle_s > self._stall_timeout_s:
                return Verdict(False, f"stalled: no input processed for {idle_s:.0f} s "
                                      f"(SWERVE_WORKER_STALL_TIMEOUT_S={self._stall_timeout_s:g}) while {lag} messages wait")
            return Verdict(True, f"alive; lag {lag}, last progress {idle_s:.0f} s ago")

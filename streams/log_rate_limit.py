"""Rate-limits repeated warnings and errors of the Kafka client libraries in the worker's log.

With the broker gone, aiokafka logs every failed reconnect and metadata refresh: about 75
lines a second from one worker (measured, docs/health.md.draft). ``RepeatedRecordFilter``
lets the first record of each cause through per interval, drops the repeats, and tells how
many it dropped on the next record of that cause it lets through (``suppressed_repeats``
field, and a note at the end of the message). The count of the last interval of an outage
is never told: no record of that cause comes after it.

A cause is the logger's name, the level, the first line of the message *template* (before
its arguments are filled in), with digit runs masked, and the exception class. Messages
that differ only by node id, port or offset are one cause.

Hand-written, on purpose: the stdlib has no such filter, and the small package that comes
closest (``log-rate-limit`` on PyPI) keys by the formatted message or the call site, with
no key function, no limit to chosen loggers, and no injectable clock. This module must
never touch swerve's own loggers by default: their messages carry event ids an operator needs.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable

# Loggers whose repeats are limited by default: the Kafka client and the stream framework.
CLIENT_LOGGERS = ("aiokafka", "kafka", "faust", "mode")
_DIGITS = re.compile(r"\d+")
# Causes kept at most; past this, causes whose interval has run out are forgotten.
_MAX_CAUSES = 1000


@dataclass
class _Window:
    started: float
    suppressed: int = 0


def record_cause(record: logging.LogRecord) -> tuple[str, int, str, str]:
    """The key under which repeats of ``record`` are counted."""
    template = str(record.msg).splitlines()[0] if str(record.msg) else ""
    exc_class = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
    return record.name, record.levelno, _DIGITS.sub("#", template), exc_class


class RepeatedRecordFilter(logging.Filter):
    """Let one record per cause through every ``interval_s``; count the rest.

    Install it on handlers (``handler.addFilter``), not on a logger: a logger's filters do
    not see records that propagate from its children.

    Args:
        interval_s: seconds between two records of one cause; 0 lets everything through.
        loggers: names (and their children) whose records are limited; others always pass.
        min_level: records below this level always pass.
        clock: monotonic seconds; injected by tests.
    """

    def __init__(self, interval_s: float = 30.0, loggers: tuple[str, ...] = CLIENT_LOGGERS,
                 min_level: int = logging.WARNING, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        if interval_s < 0:
            raise ValueError(f"interval_s must be 0 or more, got {interval_s}")
        self.interval_s = interval_s
        self.loggers = loggers
        self.min_level = min_level
        self._clock = clock
        self._windows: dict[tuple[str, int, str, str], _Window] = {}
        self._lock = threading.Lock()

    def limits(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` is subject to the limit at all."""
        return (self.interval_s > 0 and record.levelno >= self.min_level
                and any(record.name == name or record.name.startswith(name + ".") for name in self.loggers))

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.limits(record):
            return True
        cause = record_cause(record)
        with self._lock:
            now = self._clock()
            window = self._windows.get(cause)
            if window is not None and now - window.started < self.interval_s:
                window.suppressed += 1
                return False
            if len(self._windows) >= _MAX_CAUSES:
                self._forget_expired(now)
            self._windows[cause] = _Window(started=now)
        if window is not None and window.suppressed:
            _note_suppressed(record, window.suppressed, now - window.started)
        return True

    def _forget_expired(self, now: float) -> None:
        for cause in [c for c, w in self._windows.items() if now - w.started >= self.interval_s]:
            del self._windows[cause]


def _note_suppressed(record: logging.LogRecord, count: int, over_s: float) -> None:
    """Tell, on the record let through, how many repeats were dropped before it."""
    # The message is formatted here, once, so the note cannot collide with %-placeholders. The
    # arguments become an empty tuple, not None: faust's text formatter turns None into (None,).
    record.msg = f"{record.getMessage()} [{count} similar suppressed in the last {over_s:.0f} s]"
    record.args = ()
    record.suppressed_repeats = count

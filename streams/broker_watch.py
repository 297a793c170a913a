"""Watches the broker from inside a worker, so an outage shows and lost topics do not leave it idle.

Every ``SWERVE_WORKER_PROBE_INTERVAL_S`` the watch probes the broker (``broker_probe``) and
reports to ``WorkerHealth``, which ``/readyz`` and ``/healthz`` read; it sets
``swerve_consumer_lag`` from the broker's committed offsets, so a stuck consumer's lag keeps
growing where it shows. Then it acts (``outage_policy``):

- swerve's topics missing (a broker that restarted empty, like the in-memory Tansu) and
  ``SWERVE_WORKER_CREATE_TOPICS=true``: exit ``TOPICS_LOST`` (75), and the fresh start
  recreates them. The worker does not recreate them and carry on: its consumer's positions,
  and faust's read, acked and committed offsets, belong to the log that is gone. Resumed on a
  new log, it skipped the new records below those offsets as already read (the restart test
  lost generations published after the restart that way in 3 of 11 runs);
- topics missing and creating them not allowed: exit ``TOPICS_MISSING`` (78);
- broker unreachable for ``SWERVE_WORKER_BROKER_DOWN_EXIT_S``: exit ``BROKER_UNAVAILABLE`` (69);
- the watch itself failing unexpectedly: exit ``UNFORESEEN`` (70), never a frozen probe.

The exits use ``supervision.halt`` (a critical log line, then ``os._exit``), not faust's
graceful stop: with the broker or its topics gone there is nothing a graceful stop could
commit, it can hang on the dead broker, and a batch in hand is consumed again either way.

This module must never consume, produce or commit.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

from mode import Service

from swerve.errors import ConfigurationError
from swerve.streams import exit_codes
from swerve.streams.broker_probe import BrokerAnswer, BrokerProbe
from swerve.streams.metrics import observe_probed_lag
from swerve.streams.outage_policy import OutageAction, outage_action
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames
from swerve.streams.worker_health import Partition, WorkerHealth

log = logging.getLogger("swerve.broker_watch")

# The worker's consumer as the watch sees it: assigned partition -> high watermark it fetched, if any.
AssignmentView = Callable[[], Mapping[Partition, "int | None"]]
# Ends the process: (exit code, reason) -> never returns in production.
StopWorker = Callable[[int, str], Any]


def check_watch_settings(settings: Settings) -> None:
    """Refuse settings under which the watch would misjudge (the stall clock needs fresh lag)."""
    worker = settings.worker
    if worker.stall_timeout_s <= worker.probe_interval_s:
        raise ConfigurationError(
            f"SWERVE_WORKER_STALL_TIMEOUT_S ({worker.stall_timeout_s:g}) must exceed "
            f"SWERVE_WORKER_PROBE_INTERVAL_S ({worker.probe_interval_s:g})")
    if 0 < worker.broker_down_exit_s < worker.probe_interval_s:
        raise ConfigurationError(
            f"SWERVE_WORKER_BROKER_DOWN_EXIT_S ({worker.broker_down_exit_s:g}) must be 0 (never exit) or at least "
            f"SWERVE_WORKER_PROBE_INTERVAL_S ({worker.probe_interval_s:g})")


class BrokerWatch(Service):  # type: ignore[misc]  # mode is untyped for mypy (pyproject: follow_imports=skip)
    """Probes the broker on a fixed interval while the worker runs, and acts on what it finds.

    Args:
        settings: the worker's settings (topics, connection, the ``SWERVE_WORKER_*`` knobs).
        health: where probe results go.
        probe: the broker probe; closed when the watch stops.
        assignment: the worker consumer's partitions and the high watermarks it fetched.
        stop_worker: ends the process with a code from ``exit_codes``.
    """

    def __init__(self, settings: Settings, health: WorkerHealth, probe: BrokerProbe, assignment: AssignmentView,
                 stop_worker: StopWorker, **kwargs: Any):
        check_watch_settings(settings)
        self.settings = settings
        self.health = health
        self.probe = probe
        self.assignment = assignment
        self.stop_worker = stop_worker
        self.topics = TopicNames(settings.topic_prefix).all()
        super().__init__(**kwargs)

    async def on_started(self) -> None:
        self.add_future(self._watch())

    async def _watch(self) -> None:
        while not self.should_stop:
            try:
                await self.check()
            except Exception as exc:  # noqa: BLE001 - a dead watch would freeze the probes green: end the worker
                self.stop_worker(exit_codes.UNFORESEEN, f"the broker watch failed: {type(exc).__name__}: {exc}")
                raise
            await self.sleep(self.settings.worker.probe_interval_s)

    async def on_stop(self) -> None:
        await self.probe.close()

    async def check(self) -> OutageAction:
        """Probe once, report, and act. Returns what it decided (for tests and logs)."""
        view = self.assignment()
        seen_ends = {partition: end for partition, end in view.items() if end is not None}
        was_down_for = self.health.broker_down_for()
        answer = await self.probe.probe(view.keys(), seen_ends)
        if isinstance(answer, BrokerAnswer):
            missing = [topic for topic in self.topics if topic not in answer.topics]
            self.health.broker_answered(missing, answer.positions)
            observe_probed_lag(answer.positions)
            if was_down_for is not None:
                log.warning("broker %s answers again after %.0f s", self.settings.kafka.bootstrap, was_down_for)
        else:
            self.health.broker_unreachable(answer.reason)
            if was_down_for is None:
                log.error("broker unreachable: %s; /readyz answers 503 until it answers", answer.reason)
        worker = self.settings.worker
        action = outage_action(down_for_s=self.health.broker_down_for(), missing_topics=self.health.missing_topics(),
                               may_create_topics=worker.create_topics, broker_down_exit_s=worker.broker_down_exit_s)
        await self._act(action)
        return action

    async def _act(self, action: OutageAction) -> None:
        missing = ", ".join(self.health.missing_topics())
        bootstrap = self.settings.kafka.bootstrap
        if action is OutageAction.EXIT_TOPICS_LOST:
            self.stop_worker(exit_codes.TOPICS_LOST,
                             f"swerve topics missing on the broker {bootstrap} (it restarted empty, or they were deleted): {missing}. "
                             "This worker's offsets belong to the log that is gone; exiting so that a fresh start recreates "
                             "the topics and reads them from their start")
        elif action is OutageAction.EXIT_TOPICS_MISSING:
            self.stop_worker(exit_codes.TOPICS_MISSING,
                             f"swerve topics missing on the broker {bootstrap}: {missing}. SWERVE_WORKER_CREATE_TOPICS=false "
                             "forbids this worker to create them: create them (swerve topics create), then restart it")
        elif action is OutageAction.EXIT_BROKER_DOWN:
            self.stop_worker(exit_codes.BROKER_UNAVAILABLE,
                             f"broker {bootstrap} unreachable for {self.health.broker_down_for() or 0:.0f} s "
                             f"(SWERVE_WORKER_BROKER_DOWN_EXIT_S={self.settings.worker.broker_down_exit_s:g})")

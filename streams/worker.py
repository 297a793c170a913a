"""Runs a swerve worker: ensure topics, load the policy, build the app, start faust.

faust's ``Worker`` owns the event loop and stops cleanly on SIGINT and SIGTERM, committing
what has been acknowledged. Beside the agents runs a ``BrokerWatch`` (``broker_watch``): it
probes the broker for ``/readyz`` and ``/healthz``, recreates topics a restarted broker lost,
and ends the worker with a code from ``exit_codes`` when it must not go on. The log handlers
drop repeats of the client libraries' warnings and errors (``log_rate_limit``). Tracing is set
up from ``SWERVE_TRACING_*`` before the app is built (``tracing_setup``).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any, NoReturn

import faust
from aiokafka.errors import KafkaError
from faust.exceptions import ConsumerNotStarted

from swerve.streams import exit_codes
from swerve.streams.admin import ensure_topics, missing_topics
from swerve.streams.agents import Role, install_agents
from swerve.streams.app import create_app, topic_map
from swerve.streams.broker_probe import BrokerProbe
from swerve.streams.broker_watch import BrokerWatch, check_watch_settings
from swerve.streams.json_logs import logging_config
from swerve.streams.log_rate_limit import RepeatedRecordFilter
from swerve.streams.metrics import HEALTH, clear_lag, resume_lag, serve_metrics
from swerve.streams.policy import PASS_EVERYTHING, Policy, load_policy
from swerve.streams.settings import Settings
from swerve.streams.supervision import halt
from swerve.streams.topics import TopicNames
from swerve.streams.tracing_setup import configure_tracing
from swerve.streams.worker_health import Partition


class SwerveWorker(faust.Worker):  # type: ignore[misc]  # faust is untyped for mypy (pyproject: follow_imports=skip)
    """faust's worker, whose root log handlers also drop repeated client errors, without faust's spinner.

    The filter goes on the handlers once faust has configured logging (its
    ``on_setup_root_logger`` hook), so it works for both ``--log-format json`` and ``text``.

    faust draws a terminal spinner at log levels of WARNING and above: it writes cursor escape
    codes into the log stream (a JSON line reader sees garbage) and lowers the root logger to
    DEBUG so that every library's debug record is built and handed to it. That made each
    published event cost a formatted debug record at ``--loglevel warning`` (about 6% of a
    pass-through worker's CPU, measured with py-spy under ``benchmarks/stream_throughput.py``).
    """

    def __init__(self, app: faust.App, *, repeated_records: logging.Filter, **kwargs: Any):
        self.repeated_records = repeated_records
        super().__init__(app, **kwargs)
        self.spinner = None

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        for handler in logger.handlers:
            handler.addFilter(self.repeated_records)


def build_worker_app(settings: Settings, role: Role, policy: Policy | None = None) -> faust.App:
    """A faust app with the agents of ``role`` installed, under ``policy`` (or the settings' policy file)."""
    if policy is None:
        policy = load_policy(settings.policy_path) if settings.policy_path else PASS_EVERYTHING
    app = create_app(settings)
    install_agents(app, topic_map(app, TopicNames(settings.topic_prefix)), settings, policy, role)
    return app


def consumer_view(app: faust.App) -> dict[Partition, int | None]:
    """The partitions ``app``'s consumer owns, each with the high watermark it last fetched (or None)."""
    try:
        consumer = app.consumer
        assigned = consumer.assignment()
    except ConsumerNotStarted:
        return {}
    view: dict[Partition, int | None] = {}
    for tp in assigned:
        try:
            view[(tp.topic, tp.partition)] = consumer.highwater(tp)
        except (AssertionError, KeyError):
            # Revoked between the two calls (the consumer runs in its own thread): the next probe sees it gone.
            view[(tp.topic, tp.partition)] = None
    return view


def install_broker_watch(app: faust.App, settings: Settings) -> BrokerWatch:
    """Run a ``BrokerWatch`` with ``app``, and drop the lag series of partitions a rebalance takes away."""
    probe = BrokerProbe(settings.kafka, settings.worker.app_id, settings.worker.probe_timeout_s)
    watch = BrokerWatch(settings, HEALTH, probe, lambda: consumer_view(app), halt)
    app.service(watch)  # faust starts and stops it with the app (an instance is accepted as well as a class)
    track_lag_ownership(app)
    return watch


def track_lag_ownership(app: faust.App) -> None:
    """Drop the ``swerve_consumer_lag`` series of revoked partitions, and record lag again for assigned ones."""

    async def forget_revoked_lag(app: faust.App, revoked: set[Any], **kwargs: Any) -> None:
        clear_lag((tp.topic, tp.partition) for tp in revoked)

    async def resume_assigned_lag(app: faust.App, assigned: set[Any], **kwargs: Any) -> None:
        resume_lag((tp.topic, tp.partition) for tp in assigned)

    app.on_partitions_revoked.connect(forget_revoked_lag)
    app.on_partitions_assigned.connect(resume_assigned_lag)


def prepare_topics(settings: Settings) -> None:
    """Create the missing swerve topics, or, when the worker may not, make sure none is missing.

    Ends the process with ``BROKER_UNAVAILABLE`` when the broker cannot be reached, and with
    ``TOPICS_MISSING`` when topics are missing and ``SWERVE_WORKER_CREATE_TOPICS`` is false.
    """
    try:
        if settings.worker.create_topics:
            asyncio.run(ensure_topics(settings))
            return
        missing = asyncio.run(missing_topics(settings))
    except (KafkaError, OSError) as exc:
        exit_at_start(exit_codes.BROKER_UNAVAILABLE, f"cannot reach the broker {settings.kafka.bootstrap}: {type(exc).__name__}: {exc}")
    if missing:
        exit_at_start(exit_codes.TOPICS_MISSING,
                      f"swerve topics missing on the broker {settings.kafka.bootstrap}: {', '.join(missing)}. "
                      "SWERVE_WORKER_CREATE_TOPICS=false forbids this worker to create them: run `swerve topics create` first")


def exit_at_start(code: int, reason: str) -> NoReturn:
    """End the process before faust runs (logging is not configured yet): one line on stderr, then ``code``."""
    sys.stderr.write(f"swerve worker cannot start (exit {code}): {reason}\n")
    sys.stderr.flush()
    raise SystemExit(code)


def run_worker(settings: Settings, role: Role, *, loglevel: str = "info", metrics_port: int | None = None, json_logs: bool = True) -> None:
    """Run a worker until it is signalled to stop. Logs are JSON lines unless ``json_logs`` is False."""
    check_watch_settings(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    prepare_topics(settings)
    configure_tracing(settings.tracing, role)
    app = build_worker_app(settings, role)
    HEALTH.configure(stall_timeout_s=settings.worker.stall_timeout_s)
    install_broker_watch(app, settings)
    if metrics_port is not None:
        serve_metrics(metrics_port)
    logging.getLogger("swerve").setLevel(loglevel.upper())
    worker = SwerveWorker(app, repeated_records=RepeatedRecordFilter(interval_s=settings.worker.log_repeat_interval_s),
                          loglevel=loglevel, logging_config=logging_config(loglevel) if json_logs else None)
    worker.execute_from_commandline()

"""Runs a swerve worker: ensure topics, load the policy, build the app, start faust.

faust's ``Worker`` owns the event loop and stops cleanly on SIGINT and SIGTERM, committing
what has been acknowledged.
"""

from __future__ import annotations

import asyncio
import logging

import faust

from swerve.streams.admin import ensure_topics
from swerve.streams.agents import Role, install_agents
from swerve.streams.app import create_app, topic_map
from swerve.streams.json_logs import logging_config
from swerve.streams.metrics import serve_metrics
from swerve.streams.policy import PASS_EVERYTHING, Policy, load_policy
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames


def build_worker_app(settings: Settings, role: Role, policy: Policy | None = None) -> faust.App:
    """A faust app with the agents of ``role`` installed, under ``policy`` (or the settings' policy file)."""
    if policy is None:
        policy = load_policy(settings.policy_path) if settings.policy_path else PASS_EVERYTHING
    app = create_app(settings)
    install_agents(app, topic_map(app, TopicNames(settings.topic_prefix)), settings, policy, role)
    return app


def run_worker(settings: Settings, role: Role, *, loglevel: str = "info", metrics_port: int | None = None, json_logs: bool = True) -> None:
    """Run a worker until it is signalled to stop. Logs are JSON lines unless ``json_logs`` is False."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(ensure_topics(settings))
    app = build_worker_app(settings, role)
    if metrics_port is not None:
        serve_metrics(metrics_port)
    logging.getLogger("swerve").setLevel(loglevel.upper())
    worker = faust.Worker(app, loglevel=loglevel, logging_config=logging_config(loglevel) if json_logs else None)
    worker.execute_from_commandline()

"""Given a worker on a broker of its own, when the broker goes away or comes back empty, then
the outage shows on /readyz, the log stays readable, and the worker either recovers by
itself or exits loudly; it never idles with green probes. A broker that comes back empty
ends the worker (75), and the fresh start an orchestrator makes recreates the topics.

Each test runs its own Tansu broker (in memory) on a fixed port, so it can be stopped and
started again at the same address: the restarted broker has lost every topic and offset.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import urllib.error
import urllib.request
from typing import Callable

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from swerve.streams import exit_codes
from swerve.streams.topic_io import collect, publish_events
from swerve.streams.embedded_broker import EmbeddedBroker, free_port
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames

from ..integration.builders import generation
from ..integration.conftest import WorkerProcess, wait_until
from .conftest import read_outcomes

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

OUTAGE_S = 20
# Lines a worker may log over the whole outage: one per cause per 30 s window, plus swerve's
# own (broker unreachable, back, topics recreated). Without the limit it was about 1,500.
MAX_OUTAGE_LINES = 40


@pytest.fixture
def swerve_env(swerve_env: dict[str, str], own_broker: EmbeddedBroker) -> dict[str, str]:
    """conftest's worker environment, on this test's own broker (``own_broker``), probing every second."""
    return {**swerve_env, "SWERVE_KAFKA_BOOTSTRAP": own_broker.bootstrap,
            "SWERVE_WORKER_PROBE_INTERVAL_S": "1", "SWERVE_WORKER_PROBE_TIMEOUT_S": "2"}


def probe(worker: WorkerProcess, path: str) -> tuple[int, str]:
    """Status and body of ``path`` on the worker's metrics port; 0 while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.metrics_port}{path}", timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return 0, repr(error)


def log_lines(worker: WorkerProcess) -> int:
    return len(worker.log_path.read_text(errors="replace").splitlines())


def unreachable_for_s(worker: WorkerProcess) -> int:
    """How long /readyz says the broker has been unreachable (0 when it does not say so)."""
    found = re.search(r"broker unreachable for (\d+) s", probe(worker, "/readyz")[1])
    return int(found.group(1)) if found else 0


def delivered(settings: Settings) -> set[str]:
    records = asyncio.run(collect(settings, TopicNames(settings.topic_prefix).delivery, idle_timeout_s=0.5))
    return {record.decoded(settings.topic_prefix).request_id for record in records}  # type: ignore[union-attr]


def ready_worker(start_worker: Callable[..., WorkerProcess], **env: str) -> WorkerProcess:
    worker = start_worker(metrics_port=free_port(), **env)
    assert wait_until(lambda: probe(worker, "/readyz")[0] == 200, timeout_s=90), worker.log_tail()
    return worker


def test_given_a_ready_worker_when_the_broker_is_killed_and_restarts_empty_then_it_shows_exits_and_a_fresh_start_delivers(
        settings: Settings, own_broker: EmbeddedBroker, start_worker: Callable[..., WorkerProcess]) -> None:
    # Given a ready worker that has delivered a first set of generations
    worker = ready_worker(start_worker)
    first = [generation(i, "before-kill") for i in range(20)]
    asyncio.run(publish_events(settings, "generations", first))
    assert wait_until(lambda: delivered(settings) >= {e.request_id for e in first}, timeout_s=60), worker.log_tail()
    read_outcomes(settings).assert_exactly_one_each({e.request_id for e in first})
    before = log_lines(worker)

    # When the broker is killed (SIGKILL: no goodbye to its clients)
    os.kill(own_broker._process.pid, signal.SIGKILL)  # type: ignore[union-attr]
    own_broker.stop()

    # Then /readyz turns 503 within a few probes, naming the cause, while /healthz stays 200
    assert wait_until(lambda: probe(worker, "/readyz")[0] == 503, timeout_s=15), worker.log_tail()
    assert "broker unreachable" in probe(worker, "/readyz")[1]
    assert probe(worker, "/healthz")[0] == 200
    # ... and over an outage of OUTAGE_S seconds the log stays short
    assert wait_until(lambda: unreachable_for_s(worker) >= OUTAGE_S, timeout_s=OUTAGE_S + 15), worker.log_tail()
    outage_lines = log_lines(worker) - before
    print(f"log lines over a {OUTAGE_S} s outage: {outage_lines}")
    assert outage_lines < MAX_OUTAGE_LINES, worker.log_tail(60)

    # When the broker comes back on the same address, empty
    own_broker.start()

    # Then the worker exits with TOPICS_LOST, naming the topics: its offsets belong to the old log
    assert wait_until(lambda: not worker.alive, timeout_s=30), worker.log_tail()
    assert worker.stop() == exit_codes.TOPICS_LOST
    assert f"swerve topics missing on the broker {own_broker.bootstrap}" in worker.log_path.read_text(errors="replace")
    # ... and the fresh start an orchestrator makes recreates the topics and is ready
    fresh = ready_worker(start_worker)
    # ... and every generation published after the restart has exactly one outcome (the broker
    # kept nothing of before: those outcomes were counted above, before the kill)
    after = [generation(i, "after-restart") for i in range(20)]
    asyncio.run(publish_events(settings, "generations", after))
    assert wait_until(lambda: delivered(settings) >= {e.request_id for e in after}, timeout_s=60), fresh.log_tail()
    read_outcomes(settings).assert_exactly_one_each({e.request_id for e in after})
    assert fresh.alive


def test_given_a_worker_that_may_not_create_topics_when_the_broker_restarts_empty_then_it_exits_78_naming_them(
        settings: Settings, own_broker: EmbeddedBroker, start_worker: Callable[..., WorkerProcess]) -> None:
    # Given a ready worker that may not create topics
    worker = ready_worker(start_worker, SWERVE_WORKER_CREATE_TOPICS="false")

    # When the broker restarts without its topics
    own_broker.stop()
    assert wait_until(lambda: probe(worker, "/readyz")[0] == 503, timeout_s=15), worker.log_tail()
    own_broker.start()

    # Then the worker exits with TOPICS_MISSING and says which topics and why
    assert wait_until(lambda: not worker.alive, timeout_s=60), worker.log_tail()
    assert worker.stop() == exit_codes.TOPICS_MISSING
    log = worker.log_path.read_text(errors="replace")
    assert f"swerve topics missing on the broker {own_broker.bootstrap}" in log
    assert TopicNames(settings.topic_prefix).generations in log and "SWERVE_WORKER_CREATE_TOPICS=false" in log


def test_given_a_worker_that_may_not_create_topics_when_they_do_not_exist_at_start_then_it_exits_78(
        own_broker: EmbeddedBroker, start_worker: Callable[..., WorkerProcess]) -> None:
    # Given no topics for this prefix (the `settings` fixture, which creates them, is not used)
    worker = start_worker(SWERVE_WORKER_CREATE_TOPICS="false")
    # Then the worker refuses to start, naming a missing topic
    assert wait_until(lambda: not worker.alive, timeout_s=60), worker.log_tail()
    assert worker.stop() == exit_codes.TOPICS_MISSING
    assert "swerve topics missing on the broker" in worker.log_tail()
    assert not asyncio.run(_topics_exist(own_broker)), "the worker created topics it was told not to"


async def _topics_exist(broker: EmbeddedBroker) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        return any(not name.startswith("__") for name in await admin.list_topics())
    finally:
        await admin.close()


def test_given_a_broker_that_stays_down_past_the_limit_then_the_worker_exits_69(
        settings: Settings, own_broker: EmbeddedBroker, start_worker: Callable[..., WorkerProcess]) -> None:
    # Given a ready worker told to give up on the broker after 5 s
    worker = ready_worker(start_worker, SWERVE_WORKER_BROKER_DOWN_EXIT_S="5")
    # When the broker goes away and stays away
    own_broker.stop()
    # Then the worker exits with BROKER_UNAVAILABLE, saying so
    assert wait_until(lambda: not worker.alive, timeout_s=60), worker.log_tail()
    assert worker.stop() == exit_codes.BROKER_UNAVAILABLE
    assert f"broker {own_broker.bootstrap} unreachable for" in worker.log_path.read_text(errors="replace")

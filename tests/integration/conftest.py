"""Fixtures that run the real thing: a Tansu broker process and swerve workers as subprocesses."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

from swerve.streams.admin import ensure_topics
from swerve.streams.embedded_broker import EmbeddedBroker
from swerve.streams.settings import Settings


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    embedded = EmbeddedBroker(log_path=log)
    embedded.start()
    yield embedded
    embedded.stop()


@pytest.fixture
def swerve_env(broker: EmbeddedBroker, tmp_path: Path) -> dict[str, str]:
    """Environment for one test's workers: its own topic prefix, consumer group and data dir."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    return {
        "SWERVE_KAFKA_BOOTSTRAP": broker.bootstrap,
        "SWERVE_TOPIC_PREFIX": prefix,
        "SWERVE_WORKER_APP_ID": f"swerve-{prefix}",
        "SWERVE_WORKER_SESSION_TIMEOUT_S": "6",
        "SWERVE_WORKER_HEARTBEAT_INTERVAL_S": "1",
        "SWERVE_WORKER_COMMIT_INTERVAL_S": "0.5",
        "SWERVE_WORKER_TOPIC_PARTITIONS": "4",
        "SWERVE_IMAGE_STORE_URI": (tmp_path / "images").as_uri(),
        "SWERVE_DATA_DIR": str(tmp_path / "data"),
    }


@pytest.fixture
def settings(swerve_env: dict[str, str]) -> Settings:
    built = Settings.from_env(swerve_env)
    asyncio.run(ensure_topics(built))
    return built


class LoggedProcess:
    """A swerve subprocess whose output goes to a log file."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen(command, env={**os.environ, **env}, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
        return self.process.returncode

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class WorkerProcess(LoggedProcess):
    """A `swerve worker` subprocess with its log file."""

    def __init__(self, env: dict[str, str], log_path: Path, role: str = "all", metrics_port: int | None = None):
        self.metrics_port = metrics_port
        # SWERVE_TEST_WORKER_LOGLEVEL=info shows faust's and aiokafka's rebalance steps when a test needs reading.
        loglevel = os.environ.get("SWERVE_TEST_WORKER_LOGLEVEL", "warning")
        command = [sys.executable, "-m", "swerve.cli.main", "worker", "--role", role, "--loglevel", loglevel]
        if metrics_port is not None:
            command += ["--metrics-port", str(metrics_port)]
        super().__init__(command, env, log_path)


@pytest.fixture
def start_worker(swerve_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(role: str = "all", metrics_port: int | None = None, **extra_env: str) -> WorkerProcess:
        worker = WorkerProcess({**swerve_env, **extra_env}, tmp_path / f"worker-{len(started)}.log", role, metrics_port)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()

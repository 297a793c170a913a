"""How the gateway's tests run it.

Offline: the real app over ASGI (httpx), its SDK client never started (no broker), for what is
decided before anything is published. Deployed: a real `swerve worker` and `swerve gateway
serve` as subprocesses on the integration suite's broker, called over real HTTP."""

from __future__ import annotations

import asyncio
import re
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, TypeVar

import httpx
from fastapi import FastAPI

from swerve.gateway import GatewaySettings, create_app
from swerve.media import sha256_hex
from swerve.streams.admin import ensure_topics
from swerve.streams.settings import Settings

from ..integration.builders import blocklist_policy
from ..integration.conftest import LoggedProcess, WorkerProcess, wait_until
from .builders import KEYS, keys_file, memorized_png

__all__ = ["DEPLOYED_MAX_BODY_BYTES", "Deployment", "OfflineGateway", "bearer", "deployed", "over_asgi", "wait_until"]

T = TypeVar("T")

# Nothing listens on the discard port: the offline app's client cannot connect.
OFFLINE_BOOTSTRAP = "127.0.0.1:9"
# The deployed gateway's body cap: far above the test images, small enough to send past quickly.
DEPLOYED_MAX_BODY_BYTES = 256 * 1024
_LISTENING = re.compile(r"gateway listening on (http://\S+)")


def bearer(holder: str) -> dict[str, str]:
    """The Authorization header of a test key's holder (``KEYS``)."""
    return {"Authorization": f"Bearer {KEYS[holder]}"}


@dataclass(frozen=True)
class OfflineGateway:
    """Builds the real app over settings whose broker does not answer, with the test keys."""

    settings: Settings
    keys_path: Path

    @classmethod
    def in_folder(cls, folder: Path) -> OfflineGateway:
        settings = Settings.from_env({
            "SWERVE_KAFKA_BOOTSTRAP": OFFLINE_BOOTSTRAP,
            "SWERVE_IMAGE_STORE_URI": (folder / "images").as_uri(),
            "SWERVE_DATA_DIR": str(folder / "data"),
        })
        return cls(settings, keys_file(folder / "keys.json"))

    def app(self, **gateway: Any) -> FastAPI:
        return create_app(self.settings, GatewaySettings.checked({"api_keys_file": self.keys_path, **gateway}))


def over_asgi(app: FastAPI, scenario: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """Run ``scenario`` with a client of ``app`` (in process, no server, no lifespan)."""

    async def run() -> T:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
            return await scenario(client)

    return asyncio.run(run())


class GatewayProcess(LoggedProcess):
    """A `swerve gateway serve --port 0` subprocess; its output goes to a log file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        super().__init__([sys.executable, "-m", "swerve.cli.main", "gateway", "serve", "--port", "0", "--log-level", "warning"],
                         env, log_path)

    def url(self, timeout_s: float) -> str:
        """The URL it announced, once it did."""
        found: list[str] = []

        def announced() -> bool:
            match = _LISTENING.search(self.log_path.read_text(errors="replace"))
            if match:
                found.append(match[1])
            return bool(match) or not self.alive

        assert wait_until(announced, timeout_s, interval_s=0.1) and found, f"no URL announced:\n{self.log_tail()}"
        return found[0]


@dataclass(frozen=True)
class Deployment:
    """A worker whose policy replaces the memorized image by its mirror, and a gateway."""

    url: str
    store: Path
    worker: WorkerProcess
    gateway: GatewayProcess

    def logs(self) -> str:
        return f"--- worker\n{self.worker.log_tail()}\n--- gateway\n{self.gateway.log_tail()}"


@contextmanager
def deployed(bootstrap: str, folder: Path) -> Iterator[Deployment]:
    """A worker and a ready gateway on the broker at ``bootstrap``, under a topic prefix of their own."""
    prefix = f"g{uuid.uuid4().hex[:8]}"
    env = {
        "SWERVE_KAFKA_BOOTSTRAP": bootstrap,
        "SWERVE_TOPIC_PREFIX": prefix,
        "SWERVE_WORKER_APP_ID": f"swerve-{prefix}",
        "SWERVE_WORKER_SESSION_TIMEOUT_S": "6",
        "SWERVE_WORKER_HEARTBEAT_INTERVAL_S": "1",
        "SWERVE_WORKER_COMMIT_INTERVAL_S": "0.5",
        "SWERVE_WORKER_TOPIC_PARTITIONS": "4",
        "SWERVE_IMAGE_STORE_URI": (folder / "images").as_uri(),
        "SWERVE_DATA_DIR": str(folder / "data"),
    }
    asyncio.run(ensure_topics(Settings.from_env(env)))
    # A worker whose policy corrects the memorized image (a takedown of its digest) by mirroring it
    policy = blocklist_policy(folder / "policy.yaml", [sha256_hex(memorized_png())])
    worker = WorkerProcess({**env, "SWERVE_POLICY_PATH": str(policy)}, folder / "worker.log")
    gateway = GatewayProcess({
        **env,
        "SWERVE_GATEWAY_API_KEYS_FILE": str(keys_file(folder / "keys.json")),
        "SWERVE_GATEWAY_MAX_BODY_BYTES": str(DEPLOYED_MAX_BODY_BYTES),
        # The first outcome waits for the worker's start-up (faust, the consumer group).
        "SWERVE_GATEWAY_MAX_WAIT_S": "90",
        "SWERVE_GATEWAY_RATE_LIMIT": "100/second",
    }, folder / "gateway.log")
    try:
        url = gateway.url(timeout_s=30)
        ready = wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, 30, interval_s=0.2)
        assert ready, f"the gateway never got ready:\n{gateway.log_tail()}"
        yield Deployment(url, folder / "images", worker, gateway)
    finally:
        gateway.stop()
        worker.stop()

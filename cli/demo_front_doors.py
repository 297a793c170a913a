"""`make demo`, the front doors a platform uses, and the review page a person uses.

While the demo's worker runs, one memorized caption's image is moderated through each door:
- ``SwerveSync.moderate`` (one producer, one shared delivery consumer);
- ``swerve gateway serve`` as a real process on a free port, under a keys file with a new
  producer key (tenant ``demo``) and a new reviewer key, called over HTTP with httpx.

Each returns the request's one outcome; with the toy policy a memorized image comes back as a
replacement. Then one more memorized image goes in as the tenant ``review-desk``, whose rules
send what memorization flags to a person: it waits on the gateway's review page.
"""

from __future__ import annotations

import base64
import io
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import yaml
from PIL import Image

from swerve.client import ModerationTimeoutError, SwerveSync
from swerve.gateway.api_keys import key_digest, new_key
from swerve.streams.settings import Settings

__all__ = ["DemoGateway", "FrontDoorOutcome", "leave_for_review", "moderate_through_gateway", "moderate_through_sdk", "running_gateway"]

DEMO_TENANT = "demo"
# The toy policy's tenant whose memorization flags go to a person (streams/policies/toyworld.yaml).
REVIEW_TENANT = "review-desk"
GATEWAY_START_S = 60.0
REVIEW_WAIT_S = 120.0


@dataclass(frozen=True)
class FrontDoorOutcome:
    """What one front door answered for one image."""

    door: str
    request_id: str
    outcome: str
    reasons: tuple[str, ...]
    image: Image.Image | None
    seconds: float


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def moderate_through_sdk(settings: Settings, image: Image.Image, prompt: str, seed: int) -> FrontDoorOutcome:
    """One image through the blocking SDK client."""
    started = time.perf_counter()
    with SwerveSync(settings) as swerve:
        outcome = swerve.moderate(image, prompt=prompt, seed=seed, tenant=DEMO_TENANT, timeout=300)
    delivered = outcome.pil()
    return FrontDoorOutcome("SDK", outcome.request_id, outcome.outcome, outcome.reasons, delivered,
                            time.perf_counter() - started)


@dataclass(frozen=True)
class DemoGateway:
    """A running `swerve gateway serve`: its URL and the keys of its keys file."""

    url: str
    producer_key: str  # tenant demo
    reviewer_key: str  # tenants demo and review-desk


def _write_keys_file(run_dir: Path) -> tuple[Path, str, str]:
    """A keys file with a new producer key (tenant demo) and a new reviewer key; the keys are returned."""
    producer, reviewer = new_key(), new_key()
    path = run_dir / "gateway-keys.yaml"
    entries = [
        {"name": "demo-generator", "sha256": key_digest(producer), "roles": ["producer"], "tenants": [DEMO_TENANT]},
        {"name": "demo-reviewer", "sha256": key_digest(reviewer), "roles": ["reviewer"], "tenants": [DEMO_TENANT, REVIEW_TENANT]},
    ]
    path.write_text(yaml.safe_dump({"keys": entries}, sort_keys=False))
    return path, producer, reviewer


def _announced_url(lines: queue.Queue[str], gateway: subprocess.Popen[str], deadline: float) -> str:
    """The URL the gateway prints once it listens."""
    while time.monotonic() < deadline:
        if gateway.poll() is not None:
            raise RuntimeError(f"the gateway exited with {gateway.returncode} before listening")
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if line.startswith("gateway listening on "):
            return line.removeprefix("gateway listening on ").strip()
    raise TimeoutError(f"the gateway did not listen within {GATEWAY_START_S:.0f} s")


def _wait_ready(http: httpx.Client, deadline: float) -> None:
    """Poll /readyz until 200 (the gateway's client is connected and the topics exist)."""
    answer = None
    while time.monotonic() < deadline:
        answer = http.get("/readyz")
        if answer.status_code == 200:
            return
        time.sleep(0.5)  # poll interval of a wait bounded by `deadline`
    raise TimeoutError(f"the gateway was not ready within {GATEWAY_START_S:.0f} s: {answer.text if answer else ''}")


def _pump(stream: IO[str], lines: queue.Queue[str], log: IO[str]) -> None:
    for line in stream:
        log.write(line)
        log.flush()
        lines.put(line)


@contextmanager
def running_gateway(env: dict[str, str], run_dir: Path) -> Iterator[DemoGateway]:
    """`swerve gateway serve` on a free port under a new keys file, ready, until the block ends."""
    keys_file, producer, reviewer = _write_keys_file(run_dir)
    gateway = subprocess.Popen(
        [sys.executable, "-m", "swerve.cli.main", "gateway", "serve", "--port", "0", "--api-keys-file", str(keys_file),
         "--log-level", "warning"],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    with open(run_dir / "gateway.log", "w") as log:
        assert gateway.stdout is not None
        threading.Thread(target=_pump, args=(gateway.stdout, lines, log), daemon=True).start()
        try:
            deadline = time.monotonic() + GATEWAY_START_S
            url = _announced_url(lines, gateway, deadline)
            with httpx.Client(base_url=url, timeout=10) as http:
                _wait_ready(http, deadline)
            yield DemoGateway(url, producer, reviewer)
        finally:
            gateway.terminate()
            gateway.wait(timeout=30)


def moderate_through_gateway(gateway: DemoGateway, image: Image.Image, prompt: str, seed: int) -> FrontDoorOutcome:
    """POST one image with the producer key; follow a 202's Location until the outcome comes."""
    started = time.perf_counter()
    with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {gateway.producer_key}"}, timeout=120) as http:
        answer = http.post("/v1/moderations", json={
            "image_base64": base64.b64encode(_png(image)).decode("ascii"), "prompt": prompt, "seed": seed,
        })
        while answer.status_code == 202:  # past the gateway's wait: ask where it says, as a client would
            answer = http.get(answer.headers["Location"], params={"wait": 30})
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
    delivered = Image.open(io.BytesIO(base64.b64decode(body["image_base64"]))) if body.get("image_base64") else None
    return FrontDoorOutcome(f"gateway ({gateway.url})", body["request_id"], body["outcome"], tuple(body.get("reasons", ())),
                            delivered, time.perf_counter() - started)


def leave_for_review(settings: Settings, gateway: DemoGateway, image: Image.Image, prompt: str, seed: int) -> str:
    """Send one memorized image as the tenant review-desk (memorization sends it to a person) and
    wait until the review page lists it; its request id is returned."""
    with SwerveSync(settings) as swerve:
        try:
            outcome = swerve.moderate(image, prompt=prompt, seed=seed, tenant=REVIEW_TENANT, timeout=1)
        except ModerationTimeoutError as waiting:  # no outcome until a person decides: expected
            request_id = waiting.request_id
        else:
            raise RuntimeError(f"the review-desk request was not held for review: {outcome.outcome} {outcome.reasons}")
    deadline = time.monotonic() + REVIEW_WAIT_S
    with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {gateway.reviewer_key}"}, timeout=30) as http:
        while time.monotonic() < deadline:
            answer = http.get("/v1/review/items", params={"tenant": REVIEW_TENANT})
            if answer.status_code == 200 and any(i["request_id"] == request_id for i in answer.json()["items"]):
                return request_id
            time.sleep(0.5)  # poll interval of a wait bounded by `deadline`
    raise TimeoutError(f"request {request_id} was not listed for review within {REVIEW_WAIT_S:.0f} s")

"""`make demo`, the two front doors a platform uses: the Python SDK and the HTTP gateway.

While the demo's worker runs, one memorized caption's image is moderated through each:
- ``SwerveSync.moderate`` (one producer, one shared delivery consumer);
- ``swerve gateway serve`` as a real process on a free port, under a keys file with one new
  producer key for the tenant ``demo``, called over HTTP with httpx and that key.

Each returns the request's one outcome; with the toy policy a memorized image comes back as a
replacement.
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
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import yaml
from PIL import Image

from swerve.client import SwerveSync
from swerve.gateway.api_keys import key_digest, new_key
from swerve.streams.settings import Settings

__all__ = ["FrontDoorOutcome", "moderate_through_gateway", "moderate_through_sdk"]

DEMO_TENANT = "demo"
GATEWAY_START_S = 60.0


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


def _write_keys_file(run_dir: Path) -> tuple[Path, str]:
    """A keys file with one new producer key for the demo tenant; the key itself is returned."""
    key = new_key()
    path = run_dir / "gateway-keys.yaml"
    entry = {"name": "demo-generator", "sha256": key_digest(key), "roles": ["producer"], "tenants": [DEMO_TENANT]}
    path.write_text(yaml.safe_dump({"keys": [entry]}, sort_keys=False))
    return path, key


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


def moderate_through_gateway(env: dict[str, str], run_dir: Path, image: Image.Image, prompt: str, seed: int) -> FrontDoorOutcome:
    """Start `swerve gateway serve` with a new key, POST one image with it, stop the gateway."""
    keys_file, key = _write_keys_file(run_dir)
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
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as http:
                _wait_ready(http, deadline)
                started = time.perf_counter()
                answer = http.post("/v1/moderations", json={
                    "image_base64": base64.b64encode(_png(image)).decode("ascii"), "prompt": prompt, "seed": seed,
                })
                while answer.status_code == 202:  # past the gateway's wait: ask where it says, as a client would
                    answer = http.get(answer.headers["Location"], params={"wait": 30})
                answer.raise_for_status()
                body: dict[str, Any] = answer.json()
        finally:
            gateway.terminate()
            gateway.wait(timeout=30)
    delivered = Image.open(io.BytesIO(base64.b64decode(body["image_base64"]))) if body.get("image_base64") else None
    return FrontDoorOutcome(f"gateway ({url})", body["request_id"], body["outcome"], tuple(body.get("reasons", ())),
                            delivered, time.perf_counter() - started)

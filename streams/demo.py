"""`make demo`: the whole flow on the embedded defaults, end to end, in about a minute.

1. start the embedded broker (Tansu) on a free loopback port and create the topics;
2. start a real `swerve worker` process under the demo policy;
3. submit sample generations, as a generator would, plus one malformed message;
4. read `swerve.delivery` and `swerve.dlq` back and print each request's outcome;
5. stop the worker (SIGTERM) and the broker.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from PIL import Image, ImageDraw
from rich.console import Console
from rich.table import Table

from swerve.media import ImageRef, ImageStore
from swerve.streams.admin import ensure_topics
from swerve.streams.client import collect, dlq_reason, publish_events, publish_raw
from swerve.streams.embedded_broker import EmbeddedBroker
from swerve.streams.envelope import EncodedEvent
from swerve.streams.events import DeliveryEvent, GenerationEvent
from swerve.streams.ids import derive_id
from swerve.streams.settings import KafkaSettings, Settings
from swerve.streams.topics import TopicNames

SAMPLES = [
    ("a red circle on a white background", "circle", (220, 30, 30)),
    ("a blue square in the corner", "square", (30, 60, 220)),
    ("a green triangle, large", "triangle", (30, 170, 60)),
    ("the takedown-listed logo", "square", (250, 200, 0)),
]


def draw(shape: str, colour: tuple[int, int, int]) -> bytes:
    """A 64x64 drawing of ``shape`` in ``colour``, as PNG bytes."""
    image = Image.new("RGB", (64, 64), (245, 245, 245))
    pen = ImageDraw.Draw(image)
    box = (14, 14, 50, 50)
    if shape == "circle":
        pen.ellipse(box, fill=colour)
    elif shape == "triangle":
        pen.polygon([(32, 10), (54, 52), (10, 52)], fill=colour)
    else:
        pen.rectangle(box, fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def demo_policy(path: Path, listed: list[str]) -> Path:
    digests = ", ".join(f'"{d}"' for d in listed)
    path.write_text(
        f"""version: "demo-1"
on_detector_error: block
detectors:
  - name: takedowns
    kind: hash_blocklist
    on_flag: block
    params: {{digests: [{digests}]}}
""",
        encoding="utf-8",
    )
    return path


def main() -> int:
    console = Console()
    workdir = Path(tempfile.mkdtemp(prefix="swerve-demo-"))
    with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
        console.print(f"[bold]1.[/] embedded broker on {broker.bootstrap}")
        env = {
            "SWERVE_KAFKA_BOOTSTRAP": broker.bootstrap,
            "SWERVE_IMAGE_STORE_URI": (workdir / "images").as_uri(),
            "SWERVE_DATA_DIR": str(workdir / "data"),
        }
        settings = Settings.from_env(env)
        asyncio.run(ensure_topics(settings))

        store = ImageStore(settings.image_store_uri)
        events = []
        for prompt, shape, colour in SAMPLES:
            request_id = f"demo-{uuid.uuid4().hex[:8]}"
            ref = ImageRef.from_bytes(draw(shape, colour), limits=settings.media, store=store)
            events.append(GenerationEvent(id=derive_id(request_id, "generation"), request_id=request_id, prompt=prompt, seed=0, image=ref))
        policy = demo_policy(workdir / "policy.yaml", [events[-1].image.sha256])

        console.print(f"[bold]2.[/] starting `swerve worker --role all` (policy {policy})")
        log = open(workdir / "worker.log", "wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "swerve.streams.cli", "worker", "--role", "all", "--loglevel", "warning"],
            env={**os.environ, **env, "SWERVE_POLICY_PATH": str(policy)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            console.print(f"[bold]3.[/] submitting {len(events)} generations and 1 malformed message")
            asyncio.run(publish_events(settings, "generations", events))
            asyncio.run(publish_raw(settings, TopicNames().generations, [EncodedEvent(b"demo-malformed", b"{not json", [])]))

            console.print("[bold]4.[/] waiting for outcomes on swerve.delivery and swerve.dlq")
            deliveries, letters = wait_for_outcomes(settings, len(events), deadline_s=90)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
            log.close()

        table = Table(title="swerve outcomes")
        for column in ("request", "prompt", "outcome", "reason"):
            table.add_column(column)
        for event in events:
            delivery = deliveries.get(event.request_id)
            outcome = delivery.outcome if delivery else "[red]missing[/]"
            reason = (delivery.reason or "") if delivery else ""
            table.add_row(event.request_id, event.prompt, outcome, reason[:80])
        for key, letter in letters.items():
            table.add_row(key, "(malformed message)", "dead-lettered", f"{letter['error_class']}: {letter['error_message'][:60]}")
        console.print(table)
        console.print(f"[bold]5.[/] worker stopped (exit {worker.returncode}); logs in {workdir}")
        missing = [e.request_id for e in events if e.request_id not in deliveries]
        return 1 if missing or worker.returncode not in (0, -signal.SIGTERM) else 0


def wait_for_outcomes(settings: Settings, expected: int, deadline_s: float) -> tuple[dict[str, DeliveryEvent], dict[str, dict[str, str]]]:
    topics = TopicNames(settings.topic_prefix)
    started = time.monotonic()
    deliveries: dict[str, DeliveryEvent] = {}
    letters: dict[str, dict[str, str]] = {}
    while time.monotonic() - started < deadline_s:
        for record in asyncio.run(collect(settings, topics.delivery, idle_timeout_s=0.5)):
            event = record.decoded()
            assert isinstance(event, DeliveryEvent)
            deliveries[event.request_id] = event
        for record in asyncio.run(collect(settings, topics.dlq, idle_timeout_s=0.5)):
            letters[(record.key or b"").decode()] = dlq_reason(record)
        if len(deliveries) >= expected and letters:
            break
        time.sleep(0.5)
    return deliveries, letters


if __name__ == "__main__":
    sys.exit(main())

"""`make demo`: the whole loop on the embedded defaults (the toy world), end to end.

1. start the embedded broker (Tansu) on a free loopback port and create the topics;
2. build the toy world's training-image index on first run (cached under ``.swerve/``);
3. generate sample images with the toy generator, as a platform's generator would: captions it
   memorized, ordinary captions, and one showing the colour the toy policy forbids (red);
4. start a real `swerve worker` process under the toy policy (streams/policies/toyworld.yaml);
5. submit the generations, plus one malformed message;
6. read `swerve.delivery` and `swerve.dlq` back, print each request's outcome;
7. moderate two more memorized images through the front doors a platform uses: the Python SDK
   and the HTTP gateway (`swerve gateway serve`, a real process, with a new API key);
8. write a contact sheet of original vs replacement for every corrected request, and stop the
   worker (SIGTERM) and the broker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from PIL import Image
from rich.console import Console
from rich.table import Table

from swerve.cli.demo_front_doors import moderate_through_gateway, moderate_through_sdk
from swerve.media import ImageRef, ImageStore, decode_image
from swerve.streams.admin import ensure_topics
from swerve.streams.topic_io import collect, dlq_reason, publish_events, publish_raw
from swerve.streams.embedded_broker import EmbeddedBroker
from swerve.streams.embedded_defaults import TOY_POLICY, ensure_toy_index
from swerve.streams.envelope import EncodedEvent
from swerve.streams.events import DeliveryEvent, GenerationEvent, ReplacementEvent
from swerve.streams.ids import derive_id
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames


def sample_generations(settings: Settings) -> list[tuple[str, GenerationEvent, Image.Image]]:
    """(kind, event, image) for memorized, ordinary and forbidden-colour captions."""
    from swerve.toyworld import generate_batch, load_pipeline, memorized_captions, sample_ordinary_captions

    captions = sample_ordinary_captions(200, seed=7)
    ordinary = [c for c in captions if "red" not in c.split()][:3]
    red = [c for c in captions if c.split()[2] == "red"][:1]  # "a <size> red <shape> at ..."
    chosen = [("memorized", c) for c in memorized_captions()[:3]] + [("ordinary", c) for c in ordinary] + [("red", c) for c in red]
    images = generate_batch(load_pipeline(), [c for _, c in chosen], [0] * len(chosen))
    store = ImageStore(settings.image_store_uri)
    samples = []
    for (kind, caption), image in zip(chosen, images):
        request_id = f"demo-{kind}-{uuid.uuid4().hex[:6]}"
        ref = ImageRef.from_image(image, limits=settings.media, store=store)
        event = GenerationEvent(id=derive_id(request_id, "generation"), request_id=request_id, prompt=caption, seed=0, model_id="toyworld", image=ref)
        samples.append((kind, event, image))
    return samples


def front_door_samples() -> list[tuple[str, int, Image.Image]]:
    """(caption, seed, image) of two memorized captions the topic path did not use."""
    from swerve.toyworld import generate_batch, load_pipeline, memorized_captions

    captions = memorized_captions()[3:5]
    return [(caption, 1, image) for caption, image in zip(captions, generate_batch(load_pipeline(), captions, [1] * len(captions)))]


def wait_for_outcomes(settings: Settings, expected: set[str], deadline_s: float) -> tuple[dict[str, DeliveryEvent], dict[str, ReplacementEvent], dict[str, dict[str, str]]]:
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
        if set(deliveries) >= expected and letters:
            break
        time.sleep(1.0)
    replacements = {}
    for record in asyncio.run(collect(settings, topics.replacements, idle_timeout_s=0.5)):
        event = record.decoded()
        assert isinstance(event, ReplacementEvent)
        replacements[event.request_id] = event
    return deliveries, replacements, letters


def main() -> int:
    console = Console()
    workdir = Path(".swerve").resolve()
    run_dir = workdir / "demo" / time.strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    with EmbeddedBroker(log_path=run_dir / "broker.log") as broker:
        console.print(f"[bold]1.[/] embedded broker on {broker.bootstrap}")
        env = {
            "SWERVE_KAFKA_BOOTSTRAP": broker.bootstrap,
            "SWERVE_IMAGE_STORE_URI": (workdir / "images").as_uri(),
            "SWERVE_DATA_DIR": str(workdir),
            "SWERVE_POLICY_PATH": str(TOY_POLICY),
        }
        settings = Settings.from_env(env)
        asyncio.run(ensure_topics(settings))

        started = time.perf_counter()
        index = ensure_toy_index(workdir)
        console.print(f"[bold]2.[/] toy-world training index ready at {index} ({time.perf_counter() - started:.1f} s)")
        samples = sample_generations(settings)
        console.print(f"[bold]3.[/] generated {len(samples)} images with the toy generator")

        console.print(f"[bold]4.[/] starting `swerve worker --role all` under {TOY_POLICY.name}")
        log = open(run_dir / "worker.log", "wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "swerve.cli.main", "worker", "--role", "all", "--loglevel", "warning"],
            env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            console.print(f"[bold]5.[/] submitting {len(samples)} generations and 1 malformed message")
            asyncio.run(publish_events(settings, "generations", [event for _, event, _ in samples]))
            asyncio.run(publish_raw(settings, TopicNames().generations, [EncodedEvent(b"demo-malformed", b"{not json", [])]))
            console.print("[bold]6.[/] waiting for every outcome (corrections regenerate on CPU: allow a minute or two)")
            deliveries, replacements, letters = wait_for_outcomes(settings, {event.request_id for _, event, _ in samples} | {"demo-malformed"}, deadline_s=600)
            (sdk_caption, sdk_seed, sdk_image), (http_caption, http_seed, http_image) = front_door_samples()
            console.print("[bold]7.[/] the same loop through the Python SDK (SwerveSync) and the HTTP gateway")
            front_doors = [moderate_through_sdk(settings, sdk_image, sdk_caption, sdk_seed),
                           moderate_through_gateway(env, run_dir, http_image, http_caption, http_seed)]
            front_door_inputs = [(sdk_caption, sdk_image), (http_caption, http_image)]
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
            log.close()

    table = Table(title="swerve outcomes (toy world)")
    for column in ("request", "kind", "prompt", "outcome", "how"):
        table.add_column(column)
    rows = []
    for kind, event, image in samples:
        delivery = deliveries.get(event.request_id)
        replacement = replacements.get(event.request_id)
        if delivery is None:
            table.add_row(event.request_id, kind, event.prompt, "[red]missing[/]", "")
            continue
        how = delivery.reason or ""
        if replacement is not None:
            how = f"{replacement.method} after {replacement.attempts} attempt(s); was: {delivery.reason}"
            rows.append((f"{kind}: {event.prompt[:40]}", image, decode_image(replacement.image, settings.media)))
        table.add_row(event.request_id, kind, event.prompt, delivery.outcome, how[:90])
    for key, letter in letters.items():
        rejected = deliveries.get(key)
        where = f" (dead letter {rejected.dead_letter.topic}/{rejected.dead_letter.partition}@{rejected.dead_letter.offset})" if rejected and rejected.dead_letter else ""
        outcome = rejected.outcome if rejected is not None else "dead-lettered"
        table.add_row(key, "malformed", "", outcome, f"{letter['error_class']}: {letter['error_message'][:50]}{where}")
    console.print(table)
    doors = Table(title="the same, through the front doors")
    for column in ("door", "request", "prompt", "outcome", "seconds"):
        doors.add_column(column)
    for door, (caption, original) in zip(front_doors, front_door_inputs):
        doors.add_row(door.door, door.request_id, caption, door.outcome, f"{door.seconds:.1f}")
        if door.image is not None and door.outcome == "replacement":
            rows.append((f"{door.door.split()[0]}: {caption[:40]}", original, door.image))
    console.print(doors)
    if rows:
        from swerve.evaluation.contact_sheet import SheetRow, render_rows

        sheet = run_dir / "contact_sheet.png"
        render_rows([SheetRow(label, (original, replaced)) for label, original, replaced in rows], title="original | replacement").save(sheet)
        console.print(f"[bold]8.[/] contact sheet of original vs replacement: {sheet}")
    console.print(f"worker stopped (exit {worker.returncode}); logs in {run_dir}")
    missing = [event.request_id for _, event, _ in samples if event.request_id not in deliveries]
    return 1 if missing or any(door.outcome != "replacement" for door in front_doors) or worker.returncode not in (0, -signal.SIGTERM) else 0


if __name__ == "__main__":
    sys.exit(main())

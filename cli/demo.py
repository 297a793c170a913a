"""`make demo`: the whole loop on the embedded defaults (the toy world), end to end.

1. start the embedded broker (Tansu) on a free loopback port and create the topics;
2. build the toy world's training-image index on first run (cached under ``.swerve/``);
3. generate sample images with the toy generator, as a platform's generator would: captions it
   memorized, ordinary captions, and one showing the colour the toy policy forbids (red);
4. start a real `swerve worker` process under the toy policy (streams/policies/toyworld.yaml);
5. submit the generations, plus one malformed message;
6. read `swerve.delivery` and `swerve.dlq` back, print each request's outcome;
7. moderate two more memorized images through the front doors a platform uses: the Python SDK
   and the HTTP gateway (`swerve gateway serve`, a real process, with new API keys);
8. print every outcome and write a contact sheet of original vs replacement;
9. leave one memorized image waiting for a person (tenant review-desk), print the review page's
   URL and its reviewer key, and at a terminal keep everything running until Enter;
10. stop the gateway, the worker (SIGTERM) and the broker.
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

from swerve.cli.demo_front_doors import leave_for_review, moderate_through_gateway, moderate_through_sdk, running_gateway
from swerve.cli.demo_report import DemoOutcomes, print_outcomes
from swerve.media import ImageRef, ImageStore
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
    """(caption, seed, image) of three memorized captions the topic path did not use: for the SDK,
    the gateway and the review page."""
    from swerve.toyworld import generate_batch, load_pipeline, memorized_captions

    captions = memorized_captions()[3:6]
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
            sdk_sample, http_sample, review_sample = front_door_samples()
            console.print("[bold]7.[/] the same loop through the Python SDK (SwerveSync) and the HTTP gateway")
            with running_gateway(env, run_dir) as gateway:
                front_doors = [(moderate_through_sdk(settings, sdk_sample[2], sdk_sample[0], sdk_sample[1]), sdk_sample),
                               (moderate_through_gateway(gateway, http_sample[2], http_sample[0], http_sample[1]), http_sample)]
                outcomes = DemoOutcomes(samples, deliveries, replacements, letters, front_doors)
                print_outcomes(console, settings, outcomes, run_dir)
                console.print("[bold]9.[/] one more memorized image, as the tenant review-desk: its memorization flags go to a person")
                waiting = leave_for_review(settings, gateway, review_sample[2], review_sample[0], review_sample[1])
                console.print(f"    request {waiting} waits for review. Open [bold]{gateway.url}/review/[/] in a browser and sign in "
                              f"with the reviewer key\n    {gateway.reviewer_key}\n    (shown only here: the keys file "
                              f"{run_dir / 'gateway-keys.yaml'} holds its digest)")
                hold_for_reviewer(console)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
            log.close()
    console.print(f"worker and gateway stopped (worker exit {worker.returncode}); logs in {run_dir}")
    return 1 if outcomes.failed() or worker.returncode not in (0, -signal.SIGTERM) else 0


def hold_for_reviewer(console: Console) -> None:
    """Keep the worker and the gateway up until Enter (or Ctrl-C) at a terminal; not otherwise."""
    if not sys.stdin.isatty():
        console.print("    (not at a terminal: stopping now)")
        return
    try:
        input("    The worker and the gateway run until you press Enter (decide the item first to see it delivered). ")
    except (EOFError, KeyboardInterrupt):
        console.print()


if __name__ == "__main__":
    sys.exit(main())

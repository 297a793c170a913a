"""Clean-path latency: how long a clean image waits in swerve, beside a raw aiokafka relay.

Generations are produced at a steady rate (default 20/s and 200/s) to the embedded broker. A
request's latency is its delivery's broker timestamp minus its generation's broker timestamp,
so neither process start-up nor the reading back counts. Measured in one run, on one broker:

- baseline: one aiokafka consumer in a group, at the same fetch wait as swerve's workers
  (``--fetch-max-wait-ms``); for each batch it produces every message to an output topic with
  acks=all, waits for the acks, then commits (at-least-once, no decoding);
- swerve, no detectors: a `swerve worker --role detect` under the default policy (nothing to
  judge: decode, fetch and verify the image, claim the id, verdict + delivery + audit, commit);
- swerve, the toy policy: the same worker under the toy world's policy (memorization and
  concept detectors, both passing these images).

Each side runs on topics of its own prefix. ``--worker-env KEY=VALUE`` passes settings to the
workers (e.g. the batch window), to compare settings in one run.

Usage: python benchmarks/clean_path_latency.py [--rates 20,200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from PIL import Image

from swerve.media import ImageRef, ImageStore
from swerve.streams.admin import ensure_topics
from swerve.streams.embedded_broker import EmbeddedBroker
from swerve.streams.embedded_defaults import TOY_POLICY, ensure_toy_index
from swerve.streams.envelope import encode
from swerve.streams.events import GenerationEvent
from swerve.streams.ids import derive_id
from swerve.streams.settings import Settings
from swerve.streams.topic_io import collect
from swerve.streams.topics import TopicNames

WARM_UP_S = 120.0


@dataclass(frozen=True)
class Latencies:
    """Delivery minus generation broker timestamps, in ms, of every request of one run."""

    values_ms: list[int]

    def row(self, label: str) -> str:
        p50, p99 = np.percentile(self.values_ms, [50, 99])
        return f"{label:<48} {len(self.values_ms):>6} {p50:>8.0f} {p99:>8.0f} {max(self.values_ms):>8}"


def clean_image_ref(store: ImageStore) -> ImageRef:
    """A 64x64 PNG an ordinary toy caption could have drawn (purple on navy), by reference."""
    image = Image.new("RGB", (64, 64), (10, 10, 60))
    image.paste((140, 40, 200), (20, 20, 44, 44))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    ref = ImageRef.from_bytes(data)
    return ImageRef(media_type=ref.media_type, sha256=ref.sha256, width=ref.width, height=ref.height,
                    uri=store.put(data, sha256=ref.sha256, media_type=ref.media_type))


async def produce_steadily(settings: Settings, topic: str, events: list[GenerationEvent], rate: float) -> None:
    """One event every 1/rate s, on a fixed schedule (a late send does not shift the next)."""
    producer = AIOKafkaProducer(acks="all", **settings.kafka.aiokafka_kwargs())
    await producer.start()
    try:
        started = time.monotonic()
        pending = []
        for index, event in enumerate(events):
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # the schedule itself, not a wait for a condition
            encoded = encode(event)
            pending.append(await producer.send(topic, key=encoded.key, value=encoded.value, headers=encoded.headers))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def raw_relay(settings: Settings, source: str, sink: str, expected: int, fetch_max_wait_ms: int) -> None:
    """The baseline: consume, produce with acks=all, await the acks, commit; until ``expected`` relayed."""
    kwargs = settings.kafka.aiokafka_kwargs()
    consumer = AIOKafkaConsumer(source, group_id=f"{source}-relay", enable_auto_commit=False, auto_offset_reset="earliest",
                                fetch_max_wait_ms=fetch_max_wait_ms, **kwargs)
    producer = AIOKafkaProducer(acks="all", **kwargs)
    await consumer.start()
    await producer.start()
    relayed = 0
    try:
        while relayed < expected:
            batches = await consumer.getmany(timeout_ms=fetch_max_wait_ms, max_records=500)
            futures = [await producer.send(sink, key=record.key, value=record.value, headers=list(record.headers or []))
                       for records in batches.values() for record in records]
            await asyncio.gather(*futures)
            await consumer.commit()
            relayed += len(futures)
    finally:
        await consumer.stop()
        await producer.stop()


def events_for(prefix: str, count: int, ref: ImageRef) -> list[GenerationEvent]:
    return [GenerationEvent(id=derive_id(f"{prefix}-{i}", "generation"), request_id=f"{prefix}-{i}", prompt="a medium purple square",
                            seed=i, image=ref) for i in range(count)]


def latencies(settings: Settings, topics: TopicNames, events: list[GenerationEvent]) -> Latencies:
    """Pair each of ``events``' deliveries with its generation by key (the request id); subtract timestamps."""
    generated = {r.key: r.timestamp_ms for r in asyncio.run(collect(settings, topics.generations, idle_timeout_s=1.0))}
    delivered = {r.key: r.timestamp_ms for r in asyncio.run(collect(settings, topics.delivery, idle_timeout_s=1.0))}
    keys = [event.request_id.encode() for event in events]
    paired = [delivered[key] - generated[key] for key in keys if key in delivered]
    if len(paired) < len(events):
        raise RuntimeError(f"{topics.prefix}: {len(paired)} of {len(events)} requests delivered")
    return Latencies(paired)


def measure_raw(settings: Settings, rate: float, seconds: float, ref: ImageRef, fetch_max_wait_ms: int) -> Latencies:
    prefix = f"raw{int(rate)}"
    topics, scoped = TopicNames(prefix), settings.model_copy(update={"topic_prefix": prefix})
    asyncio.run(ensure_topics(scoped))
    events = events_for(prefix, int(rate * seconds), ref)

    async def run() -> None:
        relay = asyncio.create_task(raw_relay(settings, topics.generations, topics.delivery, len(events) + 1, fetch_max_wait_ms))
        # one request first: the relay has joined its group and is assigned before the clock starts
        await produce_steadily(settings, topics.generations, events_for(f"{prefix}-warm", 1, ref), rate)
        deadline = time.monotonic() + WARM_UP_S
        while not await collect(settings, topics.delivery, idle_timeout_s=0.5):
            if time.monotonic() > deadline or relay.done():
                raise RuntimeError(f"{prefix}: the relay did not relay its first request within {WARM_UP_S:.0f} s")
        await produce_steadily(settings, topics.generations, events, rate)
        await asyncio.wait_for(relay, timeout=120)

    asyncio.run(run())
    return latencies(settings, topics, events)


def wait_delivered(settings: Settings, topics: TopicNames, count: int, deadline_s: float, log: Path) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if len(asyncio.run(collect(settings, topics.delivery, idle_timeout_s=0.5))) >= count:
            return
    raise RuntimeError(f"{topics.prefix}: fewer than {count} deliveries within {deadline_s:.0f} s; see {log}")


def measure_swerve(base_env: dict[str, str], prefix: str, rate: float, seconds: float, ref: ImageRef, workdir: Path) -> Latencies:
    env = {**base_env, "SWERVE_TOPIC_PREFIX": prefix, "SWERVE_WORKER_APP_ID": prefix}
    settings = Settings.from_env(env)
    topics = TopicNames(prefix)
    asyncio.run(ensure_topics(settings))
    log_path = workdir / f"worker-{prefix}.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "swerve.cli.main", "worker", "--role", "detect", "--loglevel", "warning"],
                                  env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
        try:
            # one request first: the worker is up, assigned and warm before the clock starts
            asyncio.run(produce_steadily(settings, topics.generations, events_for(f"{prefix}-warm", 1, ref), rate))
            wait_delivered(settings, topics, 1, WARM_UP_S, log_path)
            events = events_for(prefix, int(rate * seconds), ref)
            asyncio.run(produce_steadily(settings, topics.generations, events, rate))
            wait_delivered(settings, topics, len(events) + 1, 120, log_path)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
    return latencies(settings, topics, events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="20,200", help="requests per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each rate is produced")
    parser.add_argument("--fetch-max-wait-ms", type=int, default=None,
                        help="the baseline's fetch wait; defaults to the workers' (SWERVE_WORKER_FETCH_MAX_WAIT_MS or its default)")
    parser.add_argument("--worker-env", action="append", default=[], metavar="KEY=VALUE", help="a setting for the workers")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="swerve-latency-"))
    extra = dict(item.split("=", 1) for item in args.worker_env)
    with EmbeddedBroker() as broker:
        env = {"SWERVE_KAFKA_BOOTSTRAP": broker.bootstrap, "SWERVE_IMAGE_STORE_URI": (workdir / "images").as_uri(),
               "SWERVE_DATA_DIR": str(workdir / "data"), **extra}
        settings = Settings.from_env(env)
        fetch_wait = args.fetch_max_wait_ms or settings.worker.fetch_max_wait_ms
        ref = clean_image_ref(ImageStore(settings.image_store_uri))
        ensure_toy_index(workdir / "data")
        rows = []
        for rate in [float(r) for r in args.rates.split(",")]:
            rows.append(measure_raw(settings, rate, args.seconds, ref, fetch_wait).row(f"raw aiokafka relay, {rate:.0f}/s"))
            rows.append(measure_swerve(env, f"pass{int(rate)}", rate, args.seconds, ref, workdir).row(f"swerve, no detectors, {rate:.0f}/s"))
            toy_env = {**env, "SWERVE_POLICY_PATH": str(TOY_POLICY)}
            rows.append(measure_swerve(toy_env, f"toy{int(rate)}", rate, args.seconds, ref, workdir).row(f"swerve, toy policy, {rate:.0f}/s"))
    print(f"broker: embedded Tansu; cores: {os.cpu_count()}; fetch wait (baseline): {fetch_wait} ms; worker settings: {extra or 'defaults'}")
    print(f"{'pipeline':<48} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    print("\n".join(rows))


if __name__ == "__main__":
    main()

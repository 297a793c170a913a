"""Stream throughput: swerve's pass-through pipeline vs a raw aiokafka consume-and-produce loop.

Both run on the same embedded broker, in the same run, over the same N small generation
events (images by reference, file://). Each side's rate is measured from the broker
timestamps of its first and last output, so process start-up is not counted.

- baseline: one aiokafka consumer in a group; for each batch it produces every message to an
  output topic with acks=all, waits for the acks, then commits (at-least-once, no decoding).
- the contract's floor: the same loop, producing each message to three topics (verdicts,
  delivery, audit: the outputs swerve owes every input), still without decoding anything.
  No implementation of swerve's contract on this client and broker can beat it; the ratio
  of the issue is taken against the baseline, this row says how much of it is left to win.
- swerve: a `swerve worker --role detect` process under a policy with no detectors: it decodes
  the CloudEvents envelope and contract, fetches and verifies each image (sha256, bounds),
  claims each event id (unless claims are off), writes a verdict, a delivery and an audit
  record, and commits after the acks. Measured ``--repeats`` times each with event-id claims
  on (the default) and off, alternating, each run on topics of its own prefix; the median is
  printed beside every run's rate.

Usage: python benchmarks/stream_throughput.py [--events 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from PIL import Image

from swerve.media import ImageRef, ImageStore
from swerve.streams.admin import ensure_topics
from swerve.streams.topic_io import collect, publish_events, publish_raw
from swerve.streams.embedded_broker import EmbeddedBroker
from swerve.streams.envelope import encode
from swerve.streams.events import GenerationEvent
from swerve.streams.ids import derive_id
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames


def make_events(count: int, store: ImageStore) -> list[GenerationEvent]:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 30, 200)).save(buffer, format="PNG")
    data = buffer.getvalue()
    ref = ImageRef.from_bytes(data)
    ref = ImageRef(media_type=ref.media_type, sha256=ref.sha256, width=ref.width, height=ref.height,
                   uri=store.put(data, sha256=ref.sha256, media_type=ref.media_type))
    return [
        GenerationEvent(id=derive_id(f"bench-{i}", "generation"), request_id=f"bench-{i}", prompt="benchmark", seed=i, image=ref)
        for i in range(count)
    ]


def listed(rates: list[float]) -> str:
    return ", ".join(f"{rate:.0f}" for rate in rates)


def rate(timestamps_ms: list[int]) -> float:
    span = (max(timestamps_ms) - min(timestamps_ms)) / 1000
    return (len(timestamps_ms) - 1) / span if span > 0 else float("inf")


async def raw_relay(settings: Settings, source: str, sinks: list[str], expected: int) -> None:
    """The baseline: consume, produce to each sink with acks=all, await acks, commit; until ``expected`` relayed."""
    kwargs = settings.kafka.aiokafka_kwargs()
    consumer = AIOKafkaConsumer(source, group_id=f"bench-raw-{len(sinks)}", enable_auto_commit=False, auto_offset_reset="earliest", **kwargs)
    producer = AIOKafkaProducer(acks="all", **kwargs)
    await consumer.start()
    await producer.start()
    relayed = 0
    try:
        while relayed < expected:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            futures = [
                await producer.send(sink, key=record.key, value=record.value, headers=list(record.headers or []))
                for records in batches.values()
                for record in records
                for sink in sinks
            ]
            await asyncio.gather(*futures)
            await consumer.commit()
            relayed += len(futures) // len(sinks)
    finally:
        await consumer.stop()
        await producer.stop()


def measure_baseline(settings: Settings, events: list[GenerationEvent], prefix: str, outputs: tuple[str, ...]) -> float:
    """The relay's rate, from the timestamps of its delivery records, producing each input to ``outputs``."""
    topics = TopicNames(prefix)
    raw_settings = settings.model_copy(update={"topic_prefix": prefix})
    asyncio.run(ensure_topics(raw_settings))
    asyncio.run(publish_raw(settings, topics.generations, [encode(e) for e in events]))
    asyncio.run(raw_relay(settings, topics.generations, [topics.full(name) for name in outputs], len(events)))
    records = asyncio.run(collect(settings, topics.delivery, idle_timeout_s=1.0))
    assert len(records) >= len(events), f"baseline relayed {len(records)} of {len(events)}"
    return rate([r.timestamp_ms for r in records])


def measure_swerve(base_env: dict[str, str], events: list[GenerationEvent], workdir: Path, prefix: str, id_claims: bool) -> float:
    env = {**base_env, "SWERVE_TOPIC_PREFIX": prefix, "SWERVE_WORKER_APP_ID": prefix, "SWERVE_WORKER_ID_CLAIMS": str(id_claims).lower()}
    settings = Settings.from_env(env)
    asyncio.run(ensure_topics(settings))
    asyncio.run(publish_events(settings, "generations", events))
    log = open(workdir / f"worker-{prefix}.log", "wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "swerve.cli.main", "worker", "--role", "detect", "--loglevel", "warning"],
        env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            records = asyncio.run(collect(settings, TopicNames(settings.topic_prefix).delivery, idle_timeout_s=1.0))
            if len(records) >= len(events):
                break
            time.sleep(1)
        else:
            raise RuntimeError(f"swerve delivered {len(records)} of {len(events)} within 600 s; see {workdir}/worker-{prefix}.log")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        log.close()
    return rate([r.timestamp_ms for r in records])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--worker-env", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for the workers (after the defaults below), to compare settings in one run")
    parser.add_argument("--no-unclaimed", action="store_true", help="skip the runs with event-id claims off")
    parser.add_argument("--repeats", type=int, default=3, help="worker runs per configuration, alternated; the median is printed")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="swerve-bench-"))
    with EmbeddedBroker() as broker:
        env = {
            "SWERVE_KAFKA_BOOTSTRAP": broker.bootstrap,
            "SWERVE_IMAGE_STORE_URI": (workdir / "images").as_uri(),
            "SWERVE_DATA_DIR": str(workdir / "data"),
            "SWERVE_WORKER_DETECT_BATCH_SIZE": "64",
            **dict(item.split("=", 1) for item in args.worker_env),
        }
        settings = Settings.from_env(env)
        events = make_events(args.events, ImageStore(settings.image_store_uri))
        baseline = measure_baseline(settings, events, "raw", ("delivery",))
        floor = measure_baseline(settings, events, "floor", ("verdicts", "delivery", "audit"))
        # Worker runs alternate (claims on, off, on, off, ...): one run differs from the next by
        # about a tenth, so a single pair cannot tell the two apart; the medians of alternated
        # runs keep drift and order out of the comparison.
        claimed_runs: list[float] = []
        unclaimed_runs: list[float] = []
        for repeat in range(args.repeats):
            claimed_runs.append(measure_swerve(env, events, workdir, f"swerve{repeat}", id_claims=True))
            if not args.no_unclaimed:
                unclaimed_runs.append(measure_swerve(env, events, workdir, f"unclaimed{repeat}", id_claims=False))
        swerve = statistics.median(claimed_runs)
        unclaimed = statistics.median(unclaimed_runs) if unclaimed_runs else None
    print(f"events: {args.events} (64x64 PNG by file:// reference), broker: embedded Tansu, cores: {os.cpu_count()}, "
          f"worker settings: {args.worker_env or 'batch 64, defaults'}")
    print(f"{'pipeline':<56} {'events/s':>10}")
    print(f"{'raw aiokafka consume -> produce -> commit':<56} {baseline:>10.0f}")
    print(f"{'the same, three outputs per input (the contract floor)':<56} {floor:>10.0f}")
    print(f"{'swerve detect worker (no detectors, pass-through)':<56} {swerve:>10.0f}  (runs: {listed(claimed_runs)})")
    if unclaimed is not None:
        print(f"{'swerve detect worker, event-id claims off':<56} {unclaimed:>10.0f}  (runs: {listed(unclaimed_runs)})")
    print(f"ratio swerve / raw: {swerve / baseline:.2f}" + (f" (claims off: {unclaimed / baseline:.2f})" if unclaimed is not None else "")
          + f"; floor / raw: {floor / baseline:.2f}; swerve / floor: {swerve / floor:.2f}")


if __name__ == "__main__":
    main()

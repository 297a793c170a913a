"""Where a clean image's time goes: each step of one pass-through event, timed on its own.

The detect worker's steps for one generation under a policy with no detectors, each run over
``--events`` events with the worker's own functions, in process (CPU), and the broker round
trips on the embedded broker (one run, one machine):

- envelope decode (CloudEvents headers + contract validation), image fetch from the store
  (file://, with the sha256 check), sha256 alone, image decode (PIL, bounded), the verdict
  (``detect_stage.detect``: verdict, delivery and audit publications), encoding the three
  outputs (the audit record signed with Ed25519);
- the three publishes with acks=all and the wait for the acks, and the event-id claim (produce,
  then read back by a consumer at the claims reader's fetch wait). The group consumer's fetch
  wait, the rest of a clean image's latency, is what benchmarks/clean_path_latency.py's raw
  relay measures.

Usage: python benchmarks/pass_through_profile.py [--events 500]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from swerve.audit.signing import audit_signer, generate_key_pair
from swerve.media import ImageStore, decode_bytes, read_image_bytes
from swerve.media.fetch import _run_with_deadline as run_with_deadline  # private: timed on its own here
from swerve.streams import detect_stage
from swerve.streams.admin import ensure_topics
from swerve.streams.detect_stage import DecodedGeneration
from swerve.streams.embedded_broker import EmbeddedBroker
from swerve.streams.envelope import decode, encode
from swerve.streams.events import AuditEvent, GenerationEvent
from swerve.streams.judging import Judge
from swerve.streams.policy import PASS_EVERYTHING
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames

from clean_path_latency import clean_image_ref, events_for  # noqa: E402  (benchmarks/ is the script's folder)


def timed(step: Callable[[], Any], runs: int) -> float:
    """Median microseconds of ``step``."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        step()
        samples.append((time.perf_counter() - started) * 1e6)
    return statistics.median(samples)


async def broker_round_trips(settings: Settings, encoded: list[Any], runs: int) -> dict[str, float]:
    """Median ms of: three sends + their acks; one claim produced and read back at the claims reader's fetch wait."""
    fetch_max_wait_ms = settings.worker.id_claims_fetch_wait_ms
    topics = TopicNames(settings.topic_prefix)
    kwargs = settings.kafka.aiokafka_kwargs()
    producer = AIOKafkaProducer(acks="all", **kwargs)
    consumer = AIOKafkaConsumer(topics.claims, group_id=None, auto_offset_reset="latest", fetch_max_wait_ms=fetch_max_wait_ms, **kwargs)
    await producer.start()
    await consumer.start()
    publish, claim = [], []
    try:
        await consumer.getmany(timeout_ms=200)  # assigned and positioned at the end
        for index in range(runs):
            started = time.perf_counter()
            futures = [await producer.send(topics.full(short), key=e.key, value=e.value, headers=e.headers)
                       for short, e in zip(("verdicts", "delivery", "audit"), encoded)]
            await asyncio.gather(*futures)
            publish.append((time.perf_counter() - started) * 1e3)
            started = time.perf_counter()
            await (await producer.send(topics.claims, key=f"generation/{index}".encode(), value=b'{"digest": "x"}'))
            while not await consumer.getmany(timeout_ms=fetch_max_wait_ms * 4):
                pass  # a wait for the claim to be read back: each call is bounded by its timeout
            claim.append((time.perf_counter() - started) * 1e3)
    finally:
        await consumer.stop()
        await producer.stop()
    return {"three publishes + acks": statistics.median(publish), "claim: produce + read back": statistics.median(claim)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=500)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="swerve-profile-"))
    with EmbeddedBroker() as broker:
        settings = Settings.from_env({"SWERVE_KAFKA_BOOTSTRAP": broker.bootstrap, "SWERVE_IMAGE_STORE_URI": (workdir / "images").as_uri(),
                                      "SWERVE_DATA_DIR": str(workdir / "data")})
        fetch_wait = settings.worker.fetch_max_wait_ms
        asyncio.run(ensure_topics(settings))
        store = ImageStore(settings.image_store_uri)
        ref = clean_image_ref(store)
        [event] = events_for("profile", 1, ref)
        wire = encode(event)
        data = read_image_bytes(ref, settings.media, store)
        judge = Judge()
        private, _public = generate_key_pair(workdir / "keys")
        sign = audit_signer(private)
        assert sign is not None
        generation = decode(wire.value, wire.headers, GenerationEvent)
        assert isinstance(generation, GenerationEvent)
        image = decode_bytes(data, settings.media)
        [publications] = detect_stage.detect(judge, PASS_EVERYTHING, [DecodedGeneration(generation, image)])

        def encode_outputs() -> list[Any]:
            return [encode(sign(p.event) if isinstance(p.event, AuditEvent) else p.event) for p in publications]

        cpu = {
            "envelope decode (headers + contract)": timed(lambda: decode(wire.value, wire.headers, GenerationEvent), args.events),
            "image fetch from the store (sha256 checked)": timed(lambda: read_image_bytes(ref, settings.media, store), args.events),
            "  of which sha256": timed(lambda: hashlib.sha256(data).hexdigest(), args.events),
            # media/fetch.py runs each read on another thread, for its deadline: that hand-off, empty
            "  of which the deadline's hand-off": timed(lambda: run_with_deadline(lambda: None, 10.0, ref.uri or ""), args.events),
            "image decode (PIL, bounded)": timed(lambda: decode_bytes(data, settings.media), args.events),
            "verdict, delivery and audit built (no detectors)": timed(
                lambda: detect_stage.detect(judge, PASS_EVERYTHING, [DecodedGeneration(generation, image)]), args.events),
            "three outputs encoded, audit signed (Ed25519)": timed(encode_outputs, args.events),
        }
        broker_ms = asyncio.run(broker_round_trips(settings, encode_outputs(), min(args.events, 200)))
    print(f"one pass-through event, medians; broker: embedded Tansu; claims reader's fetch wait "
          f"{settings.worker.id_claims_fetch_wait_ms} ms (the group consumer's, {fetch_wait} ms, is clean_path_latency.py's)")
    print(f"{'step (CPU, in process)':<56} {'us':>9}")
    for name, micros in cpu.items():
        print(f"{name:<56} {micros:>9.0f}")
    print(f"{'CPU total (sha256 counted once)':<56} {sum(v for k, v in cpu.items() if not k.startswith('  ')):>9.0f}")
    print(f"{'step (broker round trips)':<56} {'ms':>9}")
    for name, millis in broker_ms.items():
        print(f"{name:<56} {millis:>9.1f}")


if __name__ == "__main__":
    main()

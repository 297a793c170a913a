"""Messages as other clients write them: compressed by librdkafka (the client behind kcat,
confluent-kafka and most non-Python services) with every codec Kafka has, and from a newer
producer with fields this worker does not know."""

from __future__ import annotations

import asyncio
import json

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from swerve.streams.topic_io import collect, publish_events
from swerve.streams.envelope import decode, encode
from swerve.streams.events import DeliveryEvent
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames

from ..integration.builders import generation
from ..integration.conftest import wait_until
from .conftest import delivered_requests, read_dead_letters, settled_outcomes

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

CODECS = ["gzip", "snappy", "lz4", "zstd"]


def produce_with_librdkafka(settings: Settings, topic: str, codec: str, events: list) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap, "compression.type": codec, "acks": "all", "linger.ms": 50})
    failures: list[str] = []
    for event in events:
        encoded = encode(event)
        producer.produce(topic, key=encoded.key, value=encoded.value, headers=encoded.headers,
                         on_delivery=lambda err, msg: failures.append(str(err)) if err else None)
    assert producer.flush(30) == 0 and failures == [], failures


def test_given_messages_compressed_by_librdkafka_with_every_codec_then_each_is_delivered_and_tail_reads_them(
    settings: Settings, start_worker
) -> None:
    # Given generations written by a librdkafka producer, five per codec, several per batch
    topics = TopicNames(settings.topic_prefix)
    by_codec = {codec: [generation(i, f"codec-{codec}") for i in range(5)] for codec in CODECS}
    for codec, events in by_codec.items():
        produce_with_librdkafka(settings, topics.generations, codec, events)
    # ... and a worker that compresses what it writes with zstd
    worker = start_worker(SWERVE_KAFKA_COMPRESSION_TYPE="zstd")

    # When it has consumed them, then every one is delivered, none dead-lettered, the worker up
    expected = {e.request_id for events in by_codec.values() for e in events}
    settled_outcomes(settings, expected, worker, timeout_s=120)
    assert read_dead_letters(settings) == [] and worker.alive

    # ... swerve's own reader (behind `swerve tail`) decodes the compressed input topic
    generations = asyncio.run(collect(settings, topics.generations, idle_timeout_s=0.5))
    assert {record.decoded(settings.topic_prefix).request_id for record in generations} == expected  # type: ignore[union-attr]

    # ... and a librdkafka consumer reads swerve's zstd-compressed deliveries
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap, "group.id": f"reader-{settings.topic_prefix}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topics.delivery, p, 0) for p in range(settings.worker.topic_partitions)])
    seen: set[str] = set()
    try:
        def read_some() -> bool:
            for message in consumer.consume(num_messages=100, timeout=0.5):
                assert message.error() is None, message.error()
                delivery = decode(message.value(), message.headers() or [], DeliveryEvent)
                seen.add(delivery.request_id)
            return seen >= expected
        assert wait_until(read_some, timeout_s=30, interval_s=0.1)
    finally:
        consumer.close()


def test_given_a_generation_with_unknown_fields_at_the_top_and_in_the_image_then_it_is_delivered(
    settings: Settings, start_worker
) -> None:
    # Given a newer producer's generations: an extra optional field at the top level and in `image`
    events = [generation(i, "newer") for i in range(4)]
    topic = TopicNames(settings.topic_prefix).generations
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap})
    for event in events:
        encoded = encode(event)
        body = json.loads(encoded.value)
        body["watermark"] = {"kind": "c2pa"}
        body["image"]["colour_profile"] = "sRGB"
        producer.produce(topic, key=encoded.key, value=json.dumps(body).encode(), headers=encoded.headers)
    assert producer.flush(30) == 0
    worker = start_worker()

    # Then each is delivered as it was generated, and nothing is dead-lettered
    expected = {e.request_id for e in events}
    outcomes = settled_outcomes(settings, expected, worker, timeout_s=120)
    assert {d.outcome for d in outcomes.final().values()} == {"original"}
    assert read_dead_letters(settings) == []
    # ... and an older event (the generation as this version writes it) still decodes too
    asyncio.run(publish_events(settings, "generations", [generation(99, "older")]))
    assert wait_until(lambda: "older-req-00099" in delivered_requests(settings), timeout_s=60), worker.log_tail()

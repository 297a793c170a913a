"""Creates swerve's topics on the broker (idempotent): ``swerve topics create``, worker start-up, and a
worker whose broker lost them (``broker_watch``). ``missing_topics`` only looks."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from swerve.errors import BrokerError
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames


async def ensure_topics(settings: Settings) -> dict[str, str]:
    """Create every swerve topic that does not exist yet. Returns ``{topic: "created" | "exists"}``."""
    names = TopicNames(settings.topic_prefix).all()
    admin = AIOKafkaAdminClient(**settings.kafka.aiokafka_kwargs())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in names if name not in existing]
        status = {name: "exists" for name in names if name in existing}
        if missing:
            new = [NewTopic(name, settings.worker.topic_partitions, settings.worker.replication_factor, topic_configs=_configs(settings, name)) for name in missing]
            response = await admin.create_topics(new)
            for topic, code, message in _topic_errors(response):
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise BrokerError(f"cannot create topic {topic}: error {code} {message}")
                status[topic] = "created" if code == 0 else "exists"
        return status
    finally:
        await admin.close()


async def missing_topics(settings: Settings) -> list[str]:
    """The swerve topics that do not exist on the broker, in flow order. Creates nothing."""
    names = TopicNames(settings.topic_prefix).all()
    admin = AIOKafkaAdminClient(**settings.kafka.aiokafka_kwargs())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    return [name for name in names if name not in existing]


def _configs(settings: Settings, name: str) -> dict[str, str]:
    """Per-topic configs: the claims topic keeps claims as long as workers remember them; the
    review topics keep items and decisions for ``SWERVE_WORKER_REVIEW_RETENTION_H``."""
    topics = TopicNames(settings.topic_prefix)
    if name == topics.claims:
        return {"retention.ms": str(int(settings.worker.id_claims_retention_h * 3_600_000))}
    if name in (topics.review, topics.review_decisions):
        return {"retention.ms": str(int(settings.worker.review_retention_h * 3_600_000))}
    return {}


def _topic_errors(response: object) -> list[tuple[str, int, str | None]]:
    rows = getattr(response, "topic_errors", [])
    return [(row[0], row[1], row[2] if len(row) > 2 else None) for row in rows]

"""The faust application: broker connection, topics, and the agents for the chosen roles.

``create_app`` builds a fresh app from settings (no module-level global), so tests, the CLI
and benchmarks can run differently configured workers. The agents themselves live in
``streams/agents.py``.
"""

from __future__ import annotations

from typing import Any, Iterable

import faust

from swerve.streams.faust_transport import SwerveApp
from swerve.streams.settings import KafkaSettings, Settings
from swerve.streams.topics import TopicNames


def faust_broker_url(bootstrap: str) -> str:
    """``host1:9092,host2:9092`` as faust wants it: ``kafka://host1:9092;kafka://host2:9092``."""
    return ";".join(f"kafka://{server.strip()}" for server in bootstrap.split(",") if server.strip())


def faust_credentials(kafka: KafkaSettings) -> Any:
    """SASL or TLS credentials for faust, mirroring what aiokafka gets."""
    if kafka.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
            mechanism=kafka.sasl_mechanism,
            ssl_context=kafka.ssl_context(),
        )
    if kafka.security_protocol == "SSL":
        return faust.SSLCredentials(kafka.ssl_context())
    return None


def create_app(settings: Settings) -> faust.App:
    """A faust app configured for at-least-once processing on raw bytes."""
    worker = settings.worker
    return SwerveApp(
        worker.app_id,
        fetch_max_wait_ms=worker.fetch_max_wait_ms,
        broker=faust_broker_url(settings.kafka.bootstrap),
        broker_credentials=faust_credentials(settings.kafka),
        broker_client_id=settings.kafka.client_id,
        # Bodies are decoded by swerve.streams.envelope, so bad input reaches the DLQ
        # instead of crashing faust's codec.
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=worker.topic_partitions,
        topic_replication_factor=worker.replication_factor,
        broker_session_timeout=worker.session_timeout_s,
        broker_heartbeat_interval=worker.heartbeat_interval_s,
        broker_commit_interval=worker.commit_interval_s,
        broker_max_poll_interval=worker.max_poll_interval_s,
        broker_rebalance_timeout=worker.rebalance_timeout_s,
        producer_acks=-1,
        producer_linger=worker.producer_linger_ms / 1000,
        producer_request_timeout=settings.kafka.request_timeout_s,
        producer_compression_type=None if settings.kafka.compression_type == "none" else settings.kafka.compression_type,
        # A dead letter carries the original message, which may be as large as the biggest image.
        producer_max_request_size=settings.media.max_bytes + 1024 * 1024,
        # swerve does not use faust's leader election; without this faust creates an extra topic.
        topic_disable_leader=True,
        processing_guarantee="exactly_once" if worker.exactly_once else "at_least_once",
        consumer_auto_offset_reset="earliest",
        store="memory://",
        datadir=str(settings.data_dir / "faust"),
        web_enabled=worker.web_port is not None,
        web_port=worker.web_port or 6066,
        web_bind="0.0.0.0",
    )


def raw_topics(app: faust.App, names: Iterable[str]) -> dict[str, faust.TopicT]:
    """Faust topic objects for ``names``, carrying raw bytes."""
    return {name: app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw") for name in names}


def topic_map(app: faust.App, topics: TopicNames) -> dict[str, faust.TopicT]:
    """Short name (``delivery``) -> faust topic, for every swerve topic."""
    full = raw_topics(app, topics.all())
    return {short: full[name] for short, name in topics.by_short().items()}

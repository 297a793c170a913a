"""Runtime settings of the swerve workers and CLI, read from ``SWERVE_*`` environment variables.

Every knob an operator may turn lives here, with its default and its variable name, so the
Helm chart and the docs can point at one place. ``Settings`` is a pydantic-settings
``BaseSettings``: ``SWERVE_<FIELD>`` for a top-level setting, ``SWERVE_<MODEL>_<FIELD>`` for a
nested model's (``SWERVE_KAFKA_BOOTSTRAP``), read by ``settings_source.SwerveEnvironment``
(empty means unset, tuples are comma lists). This module must never open a connection.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import SettingsConfigDict

from swerve.errors import ConfigurationError
from swerve.media import MediaLimits
from swerve.media.confinement import covers
from swerve.streams.settings_source import SwerveSettingsBase, read_settings

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
# Mechanisms that work with a username and password; OAUTHBEARER and GSSAPI need more than
# swerve passes through, so they are refused here rather than failing at connect time.
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
# Every codec Kafka has; consuming any of them needs no setting (cramjam decodes snappy, lz4, zstd).
CompressionType = Literal["none", "gzip", "snappy", "lz4", "zstd"]


class KafkaSettings(BaseModel):
    """How to reach the broker. Defaults suit the embedded development broker."""

    bootstrap: str = "127.0.0.1:9092"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    client_id: str = "swerve"
    # How long one produce request may wait for the broker's acknowledgement before it counts
    # as failed and is retried (faust's default of 20 minutes hides an outage).
    request_timeout_s: float = Field(default=30.0, gt=0)
    compression_type: CompressionType = "none"

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for SSL or SASL_SSL, built from the configured files."""
        if self.security_protocol not in ("SSL", "SASL_SSL"):
            return None
        context = ssl.create_default_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None)
        if self.ssl_certfile:
            context.load_cert_chain(str(self.ssl_certfile), str(self.ssl_keyfile) if self.ssl_keyfile else None)
        return context

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments shared by aiokafka producers, consumers and admin clients."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
            "client_id": self.client_id,
        }
        if self.security_protocol.startswith("SASL"):
            if self.sasl_mechanism is None:
                raise ConfigurationError(
                    f"SWERVE_KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs SWERVE_KAFKA_SASL_MECHANISM"
                )
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password.get_secret_value() if self.sasl_password else None
        context = self.ssl_context()
        if context is not None:
            kwargs["ssl_context"] = context
        return kwargs


class WorkerSettings(BaseModel):
    """How a worker consumes and batches."""

    app_id: str = "swerve"
    topic_partitions: int = Field(default=4, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    detect_batch_size: int = Field(default=16, ge=1)
    # Latency against throughput (docs/operations.md, "Latency and throughput"). How long a
    # micro-batch waits for more input after its first event: under load the fetched records
    # fill it at once, so the window only delays a sparse stream.
    detect_batch_window_s: float = Field(default=0.005, gt=0)
    # How long the group consumer's fetch may wait for records (faust's own is 1500 ms). Real
    # Kafka answers as soon as a record comes, so this only paces an idle consumer's polls; the
    # embedded broker answers late, so there it bounds what a fetch adds to every record. And
    # how long the producer waits to fill a batch before sending.
    fetch_max_wait_ms: int = Field(default=100, ge=1, le=30000)
    producer_linger_ms: float = Field(default=0.0, ge=0, le=10000)
    correct_concurrency: int = Field(default=1, ge=1)
    session_timeout_s: float = Field(default=10.0, gt=0)
    heartbeat_interval_s: float = Field(default=3.0, gt=0)
    commit_interval_s: float = Field(default=1.0, gt=0)
    # How long a transient dependency failure (store, broker) is retried before the worker
    # stops without committing (exit 69).
    dependency_retry_s: float = Field(default=60.0, gt=0)
    # A correction may take minutes on a busy GPU: the consumer must not be thrown out of the
    # group meanwhile (work runs off the event loop, so heartbeats continue).
    max_poll_interval_s: float = Field(default=1800.0, gt=0)
    rebalance_timeout_s: float = Field(default=60.0, gt=0)
    # The tenant this worker is pinned to: it judges every request under that tenant's rules
    # (relaxing overrides included) and refuses a body that claims another. Pin a worker only
    # to a topic prefix that Kafka ACLs reserve to that tenant's producers.
    tenant: str | None = Field(default=None, min_length=1, max_length=64)
    web_port: int | None = None
    exactly_once: bool = False
    # Health and outages (docs/operations.md, "Metrics, health and logs").
    # How often the worker probes the broker, and how long one probe may take.
    probe_interval_s: float = Field(default=5.0, gt=0)
    probe_timeout_s: float = Field(default=5.0, gt=0)
    # /healthz fails after this long without an input processed while lag is above 0. It must
    # exceed the longest legitimate gap between two inputs, a correction of max_attempts on a
    # busy GPU (minutes), or the orchestrator would restart a worker that is only slow.
    stall_timeout_s: float = Field(default=300.0, gt=0)
    # Exit 69 when the broker stays unreachable this long, so the orchestrator restarts the
    # worker and alerts see it; 0 waits for the broker forever.
    broker_down_exit_s: float = Field(default=120.0, ge=0)
    # false: never create topics (start-up included); missing topics end the worker with exit 78.
    create_topics: bool = True
    # One log line per cause of a repeated client warning or error per interval; 0 logs every one.
    log_repeat_interval_s: float = Field(default=30.0, ge=0)
    # Event-id conflicts (docs/security.md, "Event ids"): every generation and prompt id is
    # claimed on <prefix>.claims before its outputs are published. false skips the claim (and
    # its cost of one produce and one read-back, docs/operations.md); only for producers whose
    # ids are unique by construction.
    id_claims: bool = True
    # How long an id is remembered, and the claims topic's retention.ms: an id reused after
    # this is taken as new. Memory: each remembered id costs a worker about 320 bytes.
    id_claims_retention_h: float = Field(default=6.0, gt=0)
    # The claims reader's long-poll wait. On the embedded broker a claim is read back only when
    # it runs out, so it bounds what claiming adds to a batch; real Kafka answers as data comes.
    id_claims_fetch_wait_ms: int = Field(default=10, ge=1, le=5000)
    # The review queue (docs/operations.md, "Review"). How long <prefix>.review and
    # <prefix>.review.decisions keep records when swerve creates them: it must exceed the
    # longest review timeout of the policy, or a pending item could vanish before it resolves
    # (the worker refuses to start otherwise), and it bounds how long "first decision wins" is
    # enforced. How often the detect role looks for items past their review deadline.
    review_retention_h: float = Field(default=720.0, gt=0)
    review_timeout_check_s: float = Field(default=10.0, gt=0)


class AuditSettings(BaseModel):
    """Keys of the audit log (docs/security.md, "Audit log")."""

    # Ed25519 private key of the workers (and of `swerve audit checkpoint`): a PEM (PKCS#8) file
    # or a file of the 32-byte raw seed. Unset: audit events are published unsigned.
    signing_key_path: Path | None = None
    # Directory of trusted Ed25519 public keys (*.pem, *.pub): `swerve audit sync` admits only
    # events they signed, `verify --checkpoint` only checkpoints they signed. Several keys: rotation.
    trusted_keys_dir: Path | None = None


class TracingSettings(BaseModel):
    """OpenTelemetry tracing of the workers (docs/operations.md, "Tracing"): ``SWERVE_TRACING_*``.

    Spans are made whatever the exporter, so trace ids flow from inputs to outputs; ``none``
    (the default) sends them nowhere.
    """

    exporter: Literal["none", "otlp"] = "none"
    # The full URL of an OTLP/HTTP traces endpoint, e.g. http://otel-collector:4318/v1/traces.
    # Unset: the exporter's own OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, else http://localhost:4318/v1/traces.
    otlp_endpoint: str | None = Field(default=None, pattern=r"^https?://\S+$")
    # The service.name of the spans; unset: swerve-<role> (swerve-detect, swerve-correct, ...).
    service_name: str | None = Field(default=None, min_length=1)
    # The share of new traces recorded (1: all, 0: none); a trace an input arrives with keeps
    # the sampling decision of its traceparent.
    sample_ratio: float = Field(default=1.0, ge=0, le=1)


class Settings(SwerveSettingsBase):
    """All swerve settings. Build with :meth:`from_env`.

    Constructed directly (``Settings(data_dir=...)``), it reads ``os.environ`` for whatever the
    arguments leave out, as any ``BaseSettings``; ``from_env(environ)`` reads only ``environ``.
    """

    # Nested models are SWERVE_<MODEL>_<FIELD>: split once after the prefix, because field names
    # have underscores of their own (SWERVE_WORKER_DETECT_BATCH_SIZE).
    model_config = SettingsConfigDict(env_prefix="SWERVE_", env_nested_delimiter="_", env_nested_max_split=1)

    kafka: KafkaSettings = KafkaSettings()
    worker: WorkerSettings = WorkerSettings()
    topic_prefix: str = "swerve"
    policy_path: Path | None = None
    image_store_uri: str = Field(default_factory=lambda: (Path.cwd() / ".swerve" / "images").resolve().as_uri())
    media: MediaLimits = MediaLimits()
    data_dir: Path = Field(default_factory=lambda: Path.cwd() / ".swerve")
    audit: AuditSettings = AuditSettings()
    tracing: TracingSettings = TracingSettings()
    # SWERVE_FAISS_THREADS: faiss's OpenMP threads, process-wide (torch's OpenMP included).
    # Unset: the CPUs this process may use, its container's CPU quota included
    # (swerve.index.cpu_quota.available_cpus). Entry points hand it to
    # swerve.index.threads.configure_faiss_threads; the index never reads the environment.
    faiss_threads: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _confine_references(self) -> Settings:
        # Unset, SWERVE_MEDIA_ALLOWED_URI_BASES is the worker's own image store: a reference
        # an event carries can point nowhere else (docs/security.md, "Image references").
        if self.media.allowed_uri_bases is None:
            try:
                self.media = MediaLimits.model_validate({**self.media.model_dump(), "allowed_uri_bases": (self.image_store_uri,)})
            except ValidationError as exc:
                raise ValueError(
                    f"SWERVE_IMAGE_STORE_URI {self.image_store_uri!r} cannot serve as the default "
                    f"SWERVE_MEDIA_ALLOWED_URI_BASES: {exc.errors()[0]['msg']}"
                ) from exc
        elif not any(covers(base, self.image_store_uri) for base in self.media.allowed_uri_bases):
            raise ValueError(
                f"SWERVE_IMAGE_STORE_URI {self.image_store_uri!r} is not under any of "
                f"SWERVE_MEDIA_ALLOWED_URI_BASES ({', '.join(self.media.allowed_uri_bases) or 'none'}): "
                "the worker could not read back the images it stores"
            )
        return self


    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Read ``SWERVE_*`` variables from ``environ`` (default ``os.environ``); unset ones keep their defaults.

        ``SWERVE_KAFKA_BOOTSTRAP`` points every worker and CLI command at a real cluster.

        Raises:
            ConfigurationError: a value is invalid; the message names its variable.
        """
        return read_settings(cls, environ, "swerve settings")
